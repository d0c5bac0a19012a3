// SPDX-License-Identifier: MIT
// bf16 and f16 conversions, bit for bit: rounding ties, specials, overflow, subnormals; f16 against _Float16.
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>

#include <pmc/core/dtype.hpp>
#include <support/paths.hpp>

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace dtype_test {

namespace {
using pmc::bf16;
using pmc::f16;

float from_bits(std::uint32_t u) { return std::bit_cast<float>(u); }
std::uint32_t bits_of(float f) { return std::bit_cast<std::uint32_t>(f); }
std::uint16_t b16(float f) { return bf16(f).bits; }
std::uint16_t h16(float f) { return f16(f).bits; }

/// bf16 rounding by another route: pick the nearer of the two bf16 neighbours in double; ties to even.
std::uint16_t bf16_reference(float f) {
  const std::uint32_t u = bits_of(f);
  const std::uint32_t lo = u & 0xffff0000u;
  const std::uint32_t hi = lo + 0x10000u;  // next bf16 away from zero (may be infinity)
  // Past the largest finite value IEEE rounds as if the exponent were unbounded: the neighbour is 2^128.
  const bool hi_inf = (hi & 0x7fffffffu) == 0x7f800000u;
  const double hv = hi_inf ? std::copysign(0x1p128, double(f)) : double(from_bits(hi));
  const double dl = std::abs(double(f) - double(from_bits(lo)));
  const double dh = std::abs(hv - double(f));
  std::uint32_t pick = dl < dh ? lo : dh < dl ? hi : (((lo >> 16) & 1u) ? hi : lo);
  return static_cast<std::uint16_t>(pick >> 16);
}

#if defined(__FLT16_MAX__)
constexpr bool kHasFloat16 = true;
std::uint16_t float16_bits(float f) { return std::bit_cast<std::uint16_t>(static_cast<_Float16>(f)); }
float float16_value(std::uint16_t b) { return static_cast<float>(std::bit_cast<_Float16>(b)); }
#else
constexpr bool kHasFloat16 = false;
std::uint16_t float16_bits(float) { return 0; }
float float16_value(std::uint16_t) { return 0; }
#endif

bool is_nan16(std::uint16_t h) { return (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu) != 0; }
}  // namespace

TEST_CASE("bf16 rounds to nearest, ties to even, in both directions") {
  CHECK(b16(from_bits(0x3f808000u)) == 0x3f80);  // 1 + 2^-8: tie, 0x3f80 is even → down
  CHECK(b16(from_bits(0x3f818000u)) == 0x3f82);  // tie, 0x3f81 is odd → up
  CHECK(b16(from_bits(0x3f808001u)) == 0x3f81);  // just above the tie → up
  CHECK(b16(from_bits(0x3f817fffu)) == 0x3f81);  // just below the tie → down
  CHECK(b16(from_bits(0xbf818000u)) == 0xbf82);  // negative tie, odd → away from zero
  CHECK(b16(from_bits(0xbf808000u)) == 0xbf80);
  CHECK(b16(1.f) == 0x3f80);
  CHECK(float(bf16::from_bits(0x4049)) == 3.140625f);
}

TEST_CASE("bf16 keeps NaN, infinities and signed zeros, overflows to infinity, rounds subnormals") {
  const float inf = std::numeric_limits<float>::infinity();
  CHECK(std::isnan(float(bf16(std::numeric_limits<float>::quiet_NaN()))));
  CHECK(std::isnan(float(bf16(from_bits(0x7f800001u)))));  // signalling NaN whose payload is in the low bits
  CHECK(std::isnan(float(bf16(from_bits(0xff800001u)))));
  CHECK(std::isnan(float(bf16(from_bits(0x7fffffffu)))));  // would round into the next exponent if treated as a number
  CHECK(b16(inf) == 0x7f80);
  CHECK(b16(-inf) == 0xff80);
  CHECK(b16(0.f) == 0x0000);
  CHECK(b16(-0.f) == 0x8000);
  CHECK(float(bf16::from_bits(0x7f7f)) == from_bits(0x7f7f0000u));  // max finite, 3.3895e38
  CHECK(b16(from_bits(0x7f7f7fffu)) == 0x7f7f);                     // below the tie: stays finite
  CHECK(b16(from_bits(0x7f7f8000u)) == 0x7f80);                     // tie with an odd max: rounds to infinity
  CHECK(b16(std::numeric_limits<float>::max()) == 0x7f80);
  CHECK(b16(from_bits(0x00010000u)) == 0x0001);  // subnormals are exact when representable
  CHECK(b16(from_bits(0x00008000u)) == 0x0000);  // tie to even (0)
  CHECK(b16(from_bits(0x00018000u)) == 0x0002);  // tie to even (2)
  CHECK(b16(from_bits(0x80008001u)) == 0x8001);
  CHECK(b16(from_bits(0x007fffffu)) == 0x0080);  // the largest subnormal rounds up to the smallest normal
}

TEST_CASE("bf16: every bit pattern round-trips, random floats match an independent rounding") {
  for (std::uint32_t b = 0; b < 0x10000u; ++b) {
    const auto h = static_cast<std::uint16_t>(b);
    const float f = bf16::to_float(h);
    if (std::isnan(f))
      CHECK(std::isnan(float(bf16(f))));
    else
      REQUIRE(bf16(f).bits == h);
  }
  std::mt19937 rng(1);
  std::uniform_int_distribution<std::uint32_t> u;
  int mismatches = 0;
  for (int i = 0; i < 1000000; ++i) {
    const float f = from_bits(u(rng));
    if (std::isnan(f)) continue;
    mismatches += b16(f) != bf16_reference(f);
  }
  CHECK(mismatches == 0);
}

TEST_CASE("f16 rounds to nearest even at normal and subnormal boundaries") {
  CHECK(h16(1.f) == 0x3c00);
  CHECK(h16(1.f + 0x1p-11f) == 0x3c00);      // tie, even → down
  CHECK(h16(1.f + 3 * 0x1p-11f) == 0x3c02);  // tie, odd → up
  CHECK(h16(1.f + 0x1p-11f + 0x1p-20f) == 0x3c01);
  CHECK(h16(65504.f) == 0x7bff);  // max finite
  CHECK(h16(65519.99f) == 0x7bff);
  CHECK(h16(65520.f) == 0x7c00);  // the tie above max rounds to infinity
  CHECK(h16(-65520.f) == 0xfc00);
  CHECK(h16(1e10f) == 0x7c00);
  CHECK(h16(0x1p-24f) == 0x0001);  // smallest subnormal
  CHECK(h16(0x1p-25f) == 0x0000);  // half of it: tie to even (0)
  CHECK(h16(-0x1p-25f) == 0x8000);
  CHECK(h16(0x1p-25f * (1 + 0x1p-10f)) == 0x0001);  // slightly more rounds up
  CHECK(h16(0x1p-26f) == 0x0000);
  CHECK(h16(3 * 0x1p-25f) == 0x0002);        // 1.5 units: tie, odd 1 → 2
  CHECK(h16(5 * 0x1p-25f) == 0x0002);        // 2.5 units: tie, even 2 stays
  CHECK(h16(1023.5f * 0x1p-24f) == 0x0400);  // between the largest subnormal and the smallest normal
  CHECK(h16(0x1p-14f) == 0x0400);            // smallest normal
  CHECK(float(f16::from_bits(0x0001)) == 0x1p-24f);
  CHECK(float(f16::from_bits(0x7bff)) == 65504.f);
  CHECK(std::isinf(float(f16::from_bits(0x7c00))));
  CHECK(std::isnan(float(f16(std::numeric_limits<float>::quiet_NaN()))));
  CHECK(is_nan16(h16(from_bits(0x7f800001u))));  // a NaN payload only in bits f16 drops must stay NaN
  CHECK(h16(-0.f) == 0x8000);
}

TEST_CASE("f16: every bit pattern round-trips through float") {
  for (std::uint32_t b = 0; b < 0x10000u; ++b) {
    const auto h = static_cast<std::uint16_t>(b);
    const float f = f16::to_float(h);
    if (is_nan16(h)) {
      REQUIRE(std::isnan(f));
      REQUIRE(is_nan16(f16(f).bits));
    } else {
      REQUIRE(f16(f).bits == h);
    }
  }
}

TEST_CASE("f16 conversions agree with the compiler's _Float16") {
  if (!kHasFloat16) PMC_SKIP("this compiler has no _Float16");
  for (std::uint32_t b = 0; b < 0x10000u; ++b) {
    const auto h = static_cast<std::uint16_t>(b);
    const float mine = f16::to_float(h), theirs = float16_value(h);
    if (is_nan16(h))
      REQUIRE(std::isnan(mine));
    else
      REQUIRE(bits_of(mine) == bits_of(theirs));
  }
  auto agree = [](float f) {
    const std::uint16_t mine = h16(f), theirs = float16_bits(f);
    return std::isnan(f) ? is_nan16(mine) && is_nan16(theirs) : mine == theirs;
  };
  std::mt19937 rng(2);
  std::uniform_int_distribution<std::uint32_t> any;
  int bad = 0;
  for (int i = 0; i < 500000; ++i) bad += !agree(from_bits(any(rng)));  // all of float's range
  // floats whose exponents lie in and around f16's range (subnormal and normal), all mantissas
  std::uniform_int_distribution<std::uint32_t> exp(127 - 27, 127 + 17), man(0, 0x7fffff), sign(0, 1);
  for (int i = 0; i < 1000000; ++i) bad += !agree(from_bits(sign(rng) << 31 | exp(rng) << 23 | man(rng)));
  // every float between 65000 and 66000 and between 0 and 2^-13 (the subnormal range, every 509th bit pattern)
  for (std::uint32_t u = bits_of(65000.f); u <= bits_of(66000.f); ++u) bad += !agree(from_bits(u));
  for (std::uint32_t u = 0; u <= bits_of(0x1p-13f); u += 509) bad += !agree(from_bits(u)) + !agree(-from_bits(u));
  // exact ties and their neighbours at every f16 step
  for (std::uint32_t b = 0; b < 0x7bffu; ++b) {
    const double mid = (double(f16::to_float(static_cast<std::uint16_t>(b))) +
                        double(f16::to_float(static_cast<std::uint16_t>(b + 1)))) /
                       2;
    const float t = static_cast<float>(mid);  // exact: f16 midpoints need at most 12 significant bits
    bad += !agree(t) + !agree(std::nextafter(t, 0.f)) + !agree(std::nextafter(t, 1e9f));
  }
  CHECK(bad == 0);
}

TEST_CASE("dtype metadata") {
  static_assert(std::is_same_v<pmc::compute_t<bf16>, float>);
  static_assert(std::is_same_v<pmc::compute_t<f16>, float>);
  static_assert(std::is_same_v<pmc::compute_t<double>, double>);
  static_assert(pmc::dtype_of<bf16>() == pmc::DType::bf16);
  static_assert(pmc::dtype_size(pmc::DType::f16) == 2 && pmc::dtype_size(pmc::DType::i64) == 8);
  CHECK(pmc::dtype_name(pmc::DType::bf16) == "bfloat16");
  CHECK(pmc::dtype_name(pmc::dtype_of<std::int32_t>()) == "int32");
  static_assert(bf16(1.5f).bits == 0x3fc0, "bf16 conversion is constexpr");
  static_assert(f16(-2.f).bits == 0xc000, "f16 conversion is constexpr");
}

}  // namespace dtype_test

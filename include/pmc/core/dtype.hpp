// SPDX-License-Identifier: MIT
// Element types: float, double, the 16-bit bf16 / f16 storage types with round-to-nearest-even conversion, and the
// integers int32, int64 and uint8 (the bytes of quantized weights' codes, ops/quantize.hpp).
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include <pmc/config.hpp>

namespace pmc {

/// bfloat16: the top 16 bits of an IEEE float32. Conversion from float rounds to nearest, ties to even;
/// NaN stays NaN (quiet), infinities and signed zeros are kept. Arithmetic happens in float.
struct bf16 {
  std::uint16_t bits = 0;

  constexpr bf16() = default;
  PMC_HOST_DEVICE constexpr bf16(float f) : bits(from_float(f)) {}  // NOLINT: implicit like a float
  PMC_HOST_DEVICE constexpr operator float() const { return to_float(bits); }

  static constexpr bf16 from_bits(std::uint16_t b) {
    bf16 r;
    r.bits = b;
    return r;
  }
  PMC_HOST_DEVICE static constexpr std::uint16_t from_float(float f) {
    std::uint32_t u = std::bit_cast<std::uint32_t>(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((u >> 16) | 0x0040u);  // quiet NaN
    std::uint32_t lsb = (u >> 16) & 1u;
    u += 0x7fffu + lsb;  // round to nearest even; overflow to infinity is the IEEE result
    return static_cast<std::uint16_t>(u >> 16);
  }
  PMC_HOST_DEVICE static constexpr float to_float(std::uint16_t b) {
    return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16);
  }
  friend constexpr bool operator==(bf16 a, bf16 b) { return float(a) == float(b); }
};

/// IEEE 754 binary16 (half). Conversion from float rounds to nearest, ties to even, including into the
/// subnormal range; values beyond 65504 (after rounding) become infinity; NaN stays NaN.
struct f16 {
  std::uint16_t bits = 0;

  constexpr f16() = default;
  PMC_HOST_DEVICE constexpr f16(float f) : bits(from_float(f)) {}  // NOLINT
  PMC_HOST_DEVICE constexpr operator float() const { return to_float(bits); }

  static constexpr f16 from_bits(std::uint16_t b) {
    f16 r;
    r.bits = b;
    return r;
  }
  PMC_HOST_DEVICE static constexpr std::uint16_t from_float(float f) {
    const std::uint32_t u = std::bit_cast<std::uint32_t>(f);
    const std::uint16_t sign = static_cast<std::uint16_t>((u >> 16) & 0x8000u);
    const std::uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return sign | 0x7e00u | static_cast<std::uint16_t>((a >> 13) & 0x3ffu);  // NaN
    if (a >= 0x477ff000u) return sign | 0x7c00u;  // >= 65520 rounds to infinity (and inf itself)
    const int exp = static_cast<int>(a >> 23) - 127;
    if (exp >= -14) {  // normal half: keep 10 mantissa bits, round the 13 dropped
      std::uint32_t m = a & 0x7fffffu;
      std::uint32_t h = (static_cast<std::uint32_t>(exp + 15) << 10) | (m >> 13);
      const std::uint32_t rest = m & 0x1fffu;
      if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // carry may roll into the exponent: correct
      return sign | static_cast<std::uint16_t>(h);
    }
    if (exp < -25) return sign;  // below half the smallest subnormal: rounds to zero
    // subnormal half: value = m * 2^-24, with the implicit bit made explicit
    const std::uint32_t m = (a & 0x7fffffu) | 0x800000u;
    const int shift = -exp - 1;  // 14..24 bits: 24-bit mantissa scaled to units of 2^-24
    std::uint32_t h = m >> shift;
    const std::uint32_t rest = m & ((1u << shift) - 1u);
    const std::uint32_t half = 1u << (shift - 1);
    if (rest > half || (rest == half && (h & 1u))) ++h;
    return sign | static_cast<std::uint16_t>(h);
  }
  PMC_HOST_DEVICE static constexpr float to_float(std::uint16_t h) {
    const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
    const std::uint32_t exp = (h >> 10) & 0x1fu;
    std::uint32_t m = h & 0x3ffu;
    if (exp == 0x1fu) return std::bit_cast<float>(sign | 0x7f800000u | (m << 13));
    if (exp != 0) return std::bit_cast<float>(sign | ((exp + 112u) << 23) | (m << 13));
    if (m == 0) return std::bit_cast<float>(sign);
    int e = -1;  // normalize the subnormal
    do {
      ++e;
      m <<= 1;
    } while ((m & 0x400u) == 0);
    return std::bit_cast<float>(sign | (static_cast<std::uint32_t>(112 - e) << 23) | ((m & 0x3ffu) << 13));
  }
  friend constexpr bool operator==(f16 a, f16 b) { return float(a) == float(b); }
};

/// The element types a Tensor may hold.
template <class T>
concept Element = std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, bf16> ||
                  std::is_same_v<T, f16> || std::is_same_v<T, std::int32_t> || std::is_same_v<T, std::int64_t> ||
                  std::is_same_v<T, std::uint8_t>;

/// Floating element types (those ops compute with).
template <class T>
concept Floating = std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, bf16> ||
                   std::is_same_v<T, f16>;

/// The type arithmetic on T is carried out in: float for the 16-bit types, T otherwise.
template <class T>
using compute_t = std::conditional_t<std::is_same_v<T, double>, double, float>;

enum class DType : std::uint8_t { f32, f64, bf16, f16, i32, i64, u8 };

template <class T>
constexpr DType dtype_of() {
  if constexpr (std::is_same_v<T, float>) return DType::f32;
  else if constexpr (std::is_same_v<T, double>) return DType::f64;
  else if constexpr (std::is_same_v<T, bf16>) return DType::bf16;
  else if constexpr (std::is_same_v<T, f16>) return DType::f16;
  else if constexpr (std::is_same_v<T, std::int32_t>) return DType::i32;
  else if constexpr (std::is_same_v<T, std::uint8_t>) return DType::u8;
  else return DType::i64;
}

constexpr std::string_view dtype_name(DType d) {
  switch (d) {
    case DType::f32: return "float32";
    case DType::f64: return "float64";
    case DType::bf16: return "bfloat16";
    case DType::f16: return "float16";
    case DType::i32: return "int32";
    case DType::i64: return "int64";
    case DType::u8: return "uint8";
  }
  return "?";
}

constexpr std::size_t dtype_size(DType d) {
  switch (d) {
    case DType::f32: case DType::i32: return 4;
    case DType::f64: case DType::i64: return 8;
    case DType::bf16: case DType::f16: return 2;
    case DType::u8: return 1;
  }
  return 0;
}

}  // namespace pmc

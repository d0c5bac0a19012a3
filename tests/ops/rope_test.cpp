// SPDX-License-Identifier: MIT
// Rope<Cpu>: both pair layouts against the formula in double, pos0 > 0, in place and strided, backward by
// finite differences.
#include <doctest/doctest.h>

#include <cmath>
#include <random>

#include <pmc/backends/cpu/rope.hpp>
#include <support/compare.hpp>
#include <support/gradcheck.hpp>

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace rope_test {

namespace {
using pmc::Tensor;
using pmc::ops::RopeLayout;
using Rope = pmc::ops::Rope<pmc::Cpu>;
using pmc::test::random_tensor;

Tensor<double> reference(const Tensor<double>& x, std::int64_t pos0, double theta, RopeLayout layout) {
  const auto xc = x.contiguous();
  const std::int64_t nb = x.size(0), nt = x.size(1), nh = x.size(2), dh = x.size(3);
  Tensor<double> y(x.shape());
  for (std::int64_t b = 0; b < nb; ++b)
    for (std::int64_t t = 0; t < nt; ++t)
      for (std::int64_t h = 0; h < nh; ++h)
        for (std::int64_t i = 0; i < dh / 2; ++i) {
          const double ang = double(pos0 + t) / std::pow(theta, 2.0 * double(i) / double(dh));
          const std::int64_t a = layout == RopeLayout::interleaved ? 2 * i : i;
          const std::int64_t bb = layout == RopeLayout::interleaved ? 2 * i + 1 : i + dh / 2;
          const double xa = xc.at({b, t, h, a}), xb = xc.at({b, t, h, bb});
          y.at({b, t, h, a}) = xa * std::cos(ang) - xb * std::sin(ang);
          y.at({b, t, h, bb}) = xa * std::sin(ang) + xb * std::cos(ang);
        }
  return y;
}
}  // namespace

TEST_CASE("rope forward matches the formula in both layouts, from pos0 > 0") {
  std::mt19937 rng(41);
  for (auto layout : {RopeLayout::interleaved, RopeLayout::rotate_half})
    for (std::int64_t pos0 : {0, 7}) {
      CAPTURE(int(layout));
      CAPTURE(pos0);
      const auto x = random_tensor<double>({2, 5, 3, 6}, rng);
      Tensor<double> y(x.shape());
      Rope::forward(x, pos0, 10000.f, layout, y);
      CHECK(pmc::test::max_abs_diff(y, reference(x, pos0, 10000.0, layout)) < 1e-12);
      // float, in place
      auto xf = x.to<float>();
      Rope::forward(xf, pos0, 10000.f, layout, xf);
      CHECK(pmc::test::max_abs_diff(xf, reference(x, pos0, 10000.0, layout)) < 1e-5);
      // bf16 within its rounding
      auto xb = x.to<pmc::bf16>();
      Rope::forward(xb, pos0, 10000.f, layout, xb);
      CHECK(pmc::test::max_abs_diff(xb, reference(x, pos0, 10000.0, layout)) < 4.0 / 256);
    }
  // the two layouts differ (a test that swapped them would pass the other way otherwise)
  const auto x = random_tensor<double>({1, 3, 1, 4}, rng);
  Tensor<double> yi(x.shape()), yr(x.shape());
  Rope::forward(x, 1, 10000.f, RopeLayout::interleaved, yi);
  Rope::forward(x, 1, 10000.f, RopeLayout::rotate_half, yr);
  CHECK(pmc::test::max_abs_diff(yi, yr) > 1e-3);
}

TEST_CASE("rope reads and writes strided head views (q of a fused projection)") {
  std::mt19937 rng(42);
  const auto fused = random_tensor<double>({2, 3, 8, 4}, rng);  // (B, T, 2H, Dh): q heads then k heads
  const auto q = fused.slice(2, 0, 4), k = fused.slice(2, 4, 8);
  const auto expect_q = reference(q, 3, 500.0, RopeLayout::rotate_half);
  const auto k_before = k.clone();
  Rope::forward(q, 3, 500.f, RopeLayout::rotate_half, q);
  CHECK(pmc::test::max_abs_diff(q, expect_q) < 1e-12);
  CHECK(pmc::test::max_abs_diff(k, k_before) == 0);
}

TEST_CASE("rope backward matches finite differences and accumulates") {
  std::mt19937 rng(43);
  for (auto layout : {RopeLayout::interleaved, RopeLayout::rotate_half}) {
    CAPTURE(int(layout));
    const auto x = random_tensor<double>({2, 3, 3, 6}, rng), dy = random_tensor<double>({2, 3, 3, 6}, rng);
    Tensor<double> dx(x.shape()), y(x.shape());
    Rope::backward(dy, 5, 10000.f, layout, dx);
    auto loss = [&] {
      Rope::forward(x, 5, 10000.f, layout, y);
      return pmc::test::dot(dy, y);
    };
    CHECK(pmc::test::gradcheck("rope dx", x, dx, loss) < 1e-6);
    const auto once = dx.clone();
    Rope::backward(dy, 5, 10000.f, layout, dx);
    for (std::int64_t i = 0; i < dx.numel(); ++i) CHECK(dx[i] == doctest::Approx(2 * once[i]));
  }
}

TEST_CASE("rope with scaled frequencies (linear, llama3, yarn, dynamic): the formula, backward by differences") {
  using pmc::ops::RopeParams;
  using pmc::ops::RopeScaling;
  using pmc::ops::RopeScalingType;
  std::mt19937 rng(44);
  const auto x = random_tensor<double>({1, 4, 2, 8}, rng), dy = random_tensor<double>({1, 4, 2, 8}, rng);
  for (auto type :
       {RopeScalingType::linear, RopeScalingType::llama3, RopeScalingType::yarn, RopeScalingType::dynamic}) {
    CAPTURE(int(type));
    RopeScaling s;
    s.type = type;
    s.factor = 4;
    s.original_max_position = type == RopeScalingType::dynamic ? 5 : 64;  // dynamic: the call (3..6) exceeds it
    s.attention_factor = type == RopeScalingType::yarn ? 1.1386 : 1.0;
    const RopeParams r(10000.f, s);
    // forward: pair i of the token at position p rotated by p·f_i and scaled by m, f_i from rope_inv_freq
    Tensor<double> y(x.shape());
    Rope::forward(x, 3, r, RopeLayout::rotate_half, y);
    for (std::int64_t t = 0; t < 4; ++t)
      for (std::int64_t i = 0; i < 4; ++i) {
        const double a = static_cast<double>(3 + t) * pmc::ops::rope_inv_freq(r, i, 8, 3 + 4);
        const double m = pmc::ops::rope_amplitude(r);
        const double xa = x.at({0, t, 1, i}), xb = x.at({0, t, 1, i + 4});
        CHECK(y.at({0, t, 1, i}) == doctest::Approx(m * (xa * std::cos(a) - xb * std::sin(a))).epsilon(1e-13));
        CHECK(y.at({0, t, 1, i + 4}) == doctest::Approx(m * (xa * std::sin(a) + xb * std::cos(a))).epsilon(1e-13));
      }
    Tensor<double> dx(x.shape());
    Rope::backward(dy, 3, r, RopeLayout::rotate_half, dx);
    auto loss = [&] {
      Rope::forward(x, 3, r, RopeLayout::rotate_half, y);
      return pmc::test::dot(dy, y);
    };
    CHECK(pmc::test::gradcheck("scaled rope dx", x, dx, loss) < 1e-6);
  }
  // linear scaling is position interpolation: position p with factor 4 is position p / 4 unscaled
  RopeScaling lin;
  lin.type = RopeScalingType::linear;
  lin.factor = 4;
  CHECK(pmc::ops::rope_inv_freq(RopeParams(10000.f, lin), 2, 8, 1) == doctest::Approx(0.01 / 4).epsilon(1e-14));
}

TEST_CASE("rope with dynamic NTK scaling: the call's length pos0 + T sets the frequencies") {
  using pmc::ops::RopeParams;
  using pmc::ops::RopeScaling;
  using pmc::ops::RopeScalingType;
  RopeScaling s;
  s.type = RopeScalingType::dynamic;
  s.factor = 4;
  s.original_max_position = 6;
  const RopeParams dyn(10000.f, s), plain(10000.f);
  // up to the original length exactly the unscaled frequencies; beyond, theta·(4·S/6 − 3)^(8/6)
  for (std::int64_t i = 0; i < 4; ++i)
    for (std::int64_t len : {1, 5, 6})
      CHECK(pmc::ops::rope_inv_freq(dyn, i, 8, len) == pmc::ops::rope_inv_freq(plain, i, 8, len));
  const double base = 1e4 * std::pow(4.0 * 9 / 6 - 3, 8.0 / 6);  // S = 9
  for (std::int64_t i = 0; i < 4; ++i)
    CHECK(pmc::ops::rope_inv_freq(dyn, i, 8, 9) == doctest::Approx(std::pow(base, -2.0 * i / 8)).epsilon(1e-14));
  CHECK(pmc::ops::rope_inv_freq(dyn, 0, 8, 100) == 1.0);  // pair 0 never turns slower
  CHECK(pmc::ops::rope_inv_freq(dyn, 3, 8, 10) < pmc::ops::rope_inv_freq(dyn, 3, 8, 9));
  CHECK(pmc::ops::rope_amplitude(dyn) == 1.0);

  std::mt19937 rng(45);
  const auto x = random_tensor<double>({2, 6, 3, 8}, rng);
  // a call that ends within the original length rotates exactly as unscaled RoPE (forward and backward)
  const auto head = x.slice(1, 0, 4).contiguous();  // at positions 2..5: S = 6
  Tensor<double> a(head.shape()), b(head.shape());
  Rope::forward(head, 2, dyn, RopeLayout::rotate_half, a);
  Rope::forward(head, 2, plain, RopeLayout::rotate_half, b);
  CHECK(pmc::test::max_abs_diff(a, b) == 0);
  Tensor<double> da(head.shape()), db(head.shape());
  Rope::backward(head, 2, dyn, RopeLayout::interleaved, da);
  Rope::backward(head, 2, plain, RopeLayout::interleaved, db);
  CHECK(pmc::test::max_abs_diff(da, db) == 0);
  // one position more (S = 7) scales every position of the call, the first one too
  Rope::forward(head, 3, dyn, RopeLayout::rotate_half, a);
  Rope::forward(head, 3, plain, RopeLayout::rotate_half, b);
  CHECK(pmc::test::max_abs_diff(a.slice(1, 0, 1), b.slice(1, 0, 1)) > 1e-3);
  // positions 0..3 as the head of a call of 6 (S = 6) are unscaled, as a call of 4 (S = 4) too: the same bits
  Tensor<double> y(x.shape());
  Rope::forward(x, 0, dyn, RopeLayout::rotate_half, y);
  Rope::forward(head, 0, dyn, RopeLayout::rotate_half, a);
  CHECK(pmc::test::max_abs_diff(y.slice(1, 0, 4), a) == 0);
}

TEST_CASE("rope rejects odd head dimensions and mismatched shapes") {
  Tensor<float> x({1, 2, 2, 5}), y({1, 2, 2, 5});
  CHECK_THROWS_AS(Rope::forward(x, 0, 1e4f, RopeLayout::interleaved, y), pmc::Error);
  Tensor<float> a({1, 2, 2, 4}), b({1, 2, 3, 4});
  CHECK_THROWS_AS(Rope::forward(a, 0, 1e4f, RopeLayout::interleaved, b), pmc::Error);
  CHECK_THROWS_WITH(Rope::forward(a, 0, 1e4f, RopeLayout::interleaved, b), doctest::Contains("(1, 2, 3, 4)"));
}

}  // namespace rope_test

// SPDX-License-Identifier: MIT
// SwiGlu<Cpu>: SiLU and SwiGLU against the formulas, backward by finite differences, 16-bit forward.
#include <doctest/doctest.h>

#include <cmath>
#include <random>

#include <pmc/backends/cpu/swiglu.hpp>
#include <support/compare.hpp>
#include <support/gradcheck.hpp>

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace swiglu_test {

namespace {
using pmc::Tensor;
using Sg = pmc::ops::SwiGlu<pmc::Cpu>;
using pmc::test::random_tensor;
double silu(double x) { return x / (1 + std::exp(-x)); }
}  // namespace

TEST_CASE("silu and swiglu forward match the formulas, including large |a|") {
  std::mt19937 rng(51);
  auto a = random_tensor<double>({7, 9}, rng, -6, 6);
  a[0] = 800;  // exp(-a) underflows, exp(a) would overflow: σ must stay finite
  a[1] = -800;
  const auto b = random_tensor<double>({7, 9}, rng);
  Tensor<double> y({7, 9}), h({7, 9});
  Sg::silu_forward(a, y);
  Sg::forward(a, b, h);
  for (std::int64_t i = 0; i < a.numel(); ++i) {
    CHECK(y[i] == doctest::Approx(silu(a[i])).epsilon(1e-14));
    CHECK(h[i] == doctest::Approx(silu(a[i]) * b[i]).epsilon(1e-14));
  }
  CHECK(std::abs(y[1]) < 1e-30);  // silu(−800) underflows to (nearly) zero
}

TEST_CASE("swiglu forward in bf16 and f16 agrees with float") {
  std::mt19937 rng(52);
  const auto a = random_tensor<float>({5, 301}, rng, -4, 4), b = random_tensor<float>({5, 301}, rng);
  Tensor<float> h({5, 301});
  Sg::forward(a, b, h);
  Tensor<pmc::bf16> hb({5, 301});
  Tensor<pmc::f16> hh({5, 301});
  Sg::forward(a.to<pmc::bf16>(), b.to<pmc::bf16>(), hb);
  Sg::forward(a.to<pmc::f16>(), b.to<pmc::f16>(), hh);
  CHECK(pmc::test::max_rel_diff(hb, h) < 8.0 / 256);
  CHECK(pmc::test::max_rel_diff(hh, h) < 8.0 / 2048);
}

TEST_CASE("silu and swiglu backward match finite differences and accumulate") {
  std::mt19937 rng(53);
  const auto a = random_tensor<double>({5, 7}, rng, -4, 4), b = random_tensor<double>({5, 7}, rng);
  const auto dy = random_tensor<double>({5, 7}, rng);
  Tensor<double> da({5, 7}), y({5, 7});
  Sg::silu_backward(a, dy, da);
  auto silu_loss = [&] {
    Sg::silu_forward(a, y);
    return pmc::test::dot(dy, y);
  };
  CHECK(pmc::test::gradcheck("silu da", a, da, silu_loss) < 1e-6);

  Tensor<double> ga({5, 7}), gb({5, 7});
  Sg::backward(a, b, dy, ga, gb);
  auto loss = [&] {
    Sg::forward(a, b, y);
    return pmc::test::dot(dy, y);
  };
  CHECK(pmc::test::gradcheck("swiglu da", a, ga, loss) < 1e-6);
  CHECK(pmc::test::gradcheck("swiglu db", b, gb, loss) < 1e-6);
  const auto once = gb.clone();
  Sg::backward(a, b, dy, Tensor<double>{}, gb);
  for (std::int64_t i = 0; i < gb.numel(); ++i) CHECK(gb[i] == doctest::Approx(2 * once[i]));
}

TEST_CASE("swiglu rejects mismatched shapes") {
  Tensor<float> a({2, 3}), b({3, 2}), h({2, 3});
  CHECK_THROWS_AS(Sg::forward(a, b, h), pmc::Error);
  CHECK_THROWS_WITH(Sg::forward(a, b, h), doctest::Contains("(3, 2)"));
}

}  // namespace swiglu_test

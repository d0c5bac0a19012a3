// SPDX-License-Identifier: MIT
// RmsNorm<Cpu>: forward against a double reference, dx and dw by finite differences, 16-bit forward.
#include <doctest/doctest.h>

#include <cmath>
#include <random>

#include <pmc/backends/cpu/rms_norm.hpp>
#include <support/compare.hpp>
#include <support/gradcheck.hpp>

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace rms_norm_test {

namespace {
using pmc::Tensor;
using Rms = pmc::ops::RmsNorm<pmc::Cpu>;
using pmc::test::random_tensor;

Tensor<double> reference(const Tensor<double>& x, const Tensor<double>& w, double eps) {
  const std::int64_t d = x.size(-1), n = x.numel() / d;
  Tensor<double> y(x.shape());
  for (std::int64_t i = 0; i < n; ++i) {
    double ss = 0;
    for (std::int64_t j = 0; j < d; ++j) ss += x[i * d + j] * x[i * d + j];
    const double r = 1 / std::sqrt(ss / double(d) + eps);
    for (std::int64_t j = 0; j < d; ++j) y[i * d + j] = x[i * d + j] * r * w[j];
  }
  return y;
}
}  // namespace

TEST_CASE("rms_norm forward matches a double reference and saves rstd") {
  std::mt19937 rng(31);
  const auto x = random_tensor<double>({3, 5, 13}, rng), w = random_tensor<double>({13}, rng, 0.5, 1.5);
  Tensor<double> y({3, 5, 13}), rstd({15});
  Rms::forward(x, w, 1e-5f, y, rstd);
  CHECK(pmc::test::max_abs_diff(y, reference(x, w, 1e-5f)) < 1e-14);
  double ss = 0;
  for (int j = 0; j < 13; ++j) ss += x[j] * x[j];
  CHECK(rstd[0] == doctest::Approx(1 / std::sqrt(ss / 13 + double(1e-5f))).epsilon(1e-14));
  // float, and in place (y aliases x); rstd may be omitted for inference
  auto xf = x.to<float>();
  Rms::forward(xf, w.to<float>(), 1e-5f, xf, Tensor<float>{});
  CHECK(pmc::test::max_abs_diff(xf, reference(x, w, 1e-5f)) < 1e-5);
}

TEST_CASE("rms_norm forward in bf16 and f16 agrees with float") {
  std::mt19937 rng(32);
  const auto x = random_tensor<float>({9, 257}, rng, -3, 3), w = random_tensor<float>({257}, rng, 0.5, 1.5);
  Tensor<float> y({9, 257}), r({9});
  Rms::forward(x, w, 1e-6f, y, r);
  Tensor<pmc::bf16> yb({9, 257});
  Tensor<pmc::f16> yh({9, 257});
  Tensor<float> rb({9});
  Rms::forward(x.to<pmc::bf16>(), w.to<pmc::bf16>(), 1e-6f, yb, rb);
  Rms::forward(x.to<pmc::f16>(), w.to<pmc::f16>(), 1e-6f, yh, Tensor<float>{});
  // inputs rounded to 8 (11) significant bits, output rounded again: a few units of 2^-8 (2^-11) relative
  CHECK(pmc::test::max_rel_diff(yb, y) < 4.0 / 256);
  CHECK(pmc::test::max_rel_diff(yh, y) < 4.0 / 2048);
  CHECK(pmc::test::max_rel_diff(rb, r) < 2.0 / 256);
}

TEST_CASE("rms_norm backward matches finite differences for dx and dw") {
  std::mt19937 rng(33);
  for (std::int64_t d : {7, 65, 200}) {  // 200 spans several column blocks of dw
    CAPTURE(d);
    const auto x = random_tensor<double>({5, d}, rng), w = random_tensor<double>({d}, rng, 0.5, 1.5);
    const auto dy = random_tensor<double>({5, d}, rng);
    Tensor<double> y({5, d}), rstd({5}), dx({5, d}), dw({d});
    Rms::forward(x, w, 1e-5f, y, rstd);
    Rms::backward(x, w, rstd, dy, dx, dw);
    auto loss = [&] {
      Tensor<double> r({5});
      Rms::forward(x, w, 1e-5f, y, r);
      return pmc::test::dot(dy, y);
    };
    CHECK(pmc::test::gradcheck("rms_norm dx", x, dx, loss) < 1e-6);
    CHECK(pmc::test::gradcheck("rms_norm dw", w, dw, loss) < 1e-6);
    // accumulation, and an undefined dw is skipped
    const auto once = dx.clone();
    Rms::backward(x, w, rstd, dy, dx, Tensor<double>{});
    for (std::int64_t i = 0; i < dx.numel(); ++i) CHECK(dx[i] == doctest::Approx(2 * once[i]));
  }
}

TEST_CASE("rms_norm rejects a weight of the wrong size") {
  Tensor<float> x({2, 4}), w({5}), y({2, 4}), r({2});
  CHECK_THROWS_AS(Rms::forward(x, w, 1e-5f, y, r), pmc::Error);
  CHECK_THROWS_WITH(Rms::forward(x, w, 1e-5f, y, r), doctest::Contains("(5,)"));
  Tensor<float> w4({4}), r3({3});
  CHECK_THROWS_AS(Rms::forward(x, w4, 1e-5f, y, r3), pmc::Error);
}

}  // namespace rms_norm_test

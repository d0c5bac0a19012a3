// SPDX-License-Identifier: MIT
// clip_grad_norm and grad_norm against hand computations (torch's are compared in golden_test.cpp).
#include <cmath>
#include <limits>
#include <vector>

#include <doctest/doctest.h>

#include <pmc/backends/cpu/ops.hpp>
#include <pmc/optim/grad_clip.hpp>

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace grad_clip_test {

using namespace pmc;
using namespace pmc::optim;

namespace {
std::vector<Param<double>> two_params() {
  // grads (3, 4) and (12): norm sqrt(9 + 16 + 144) = 13
  return {{.name = "a", .value = Tensor<double>({2}), .grad = Tensor<double>::from({2}, {3.0, -4.0})},
          {.name = "b", .value = Tensor<double>({1, 1}), .grad = Tensor<double>::from({1, 1}, {12.0})}};
}
}  // namespace

TEST_CASE("grad_norm is the L2 norm of all grads as one vector") {
  auto ps = two_params();
  CHECK(grad_norm(ps) == 13.0);
}

TEST_CASE("clip_grad_norm scales by max_norm / (norm + 1e-6) and returns the pre-clip norm") {
  auto ps = two_params();
  const double norm = clip_grad_norm(ps, 6.5);
  CHECK(norm == 13.0);
  const double c = 6.5 / (13.0 + 1e-6);
  CHECK(ps[0].grad[0] == 3.0 * c);
  CHECK(ps[0].grad[1] == -4.0 * c);
  CHECK(ps[1].grad[0] == 12.0 * c);
  CHECK(grad_norm(ps) == doctest::Approx(6.5 * 13.0 / (13.0 + 1e-6)).epsilon(1e-14));
  CHECK(grad_norm(ps) < 6.5);
}

TEST_CASE("clip_grad_norm leaves grads alone under the threshold") {
  auto ps = two_params();
  CHECK(clip_grad_norm(ps, 100.0) == 13.0);
  CHECK(ps[0].grad[0] == 3.0);
  CHECK(ps[1].grad[0] == 12.0);
  // torch clamps the coefficient to 1, so at norm == max_norm it still scales by max/(max+1e-6)
  auto qs = two_params();
  clip_grad_norm(qs, 13.0);
  CHECK(qs[1].grad[0] == 12.0 * (13.0 / (13.0 + 1e-6)));
}

TEST_CASE("clip_grad_norm over many chunks, in float, accumulates in double") {
  // 3·4096+5 elements of 1e-3 in float: the norm must be computed in double to match sqrt(n)·1e-3 closely
  const std::int64_t n = 3 * 4096 + 5;
  std::vector<Param<float>> ps{{.name = "w", .value = Tensor<float>({n}), .grad = Tensor<float>({n})}};
  ps[0].grad.fill(1e-3f);
  const double want = std::sqrt(static_cast<double>(n)) * static_cast<double>(1e-3f);
  CHECK(grad_norm(ps) == doctest::Approx(want).epsilon(1e-14));
  CHECK(clip_grad_norm(ps, 0.01) == doctest::Approx(want).epsilon(1e-14));
  CHECK(grad_norm(ps) == doctest::Approx(0.01).epsilon(1e-6));
}

TEST_CASE("a non-finite norm is returned, not applied, or thrown on request") {
  for (double bad : {std::numeric_limits<double>::infinity(), std::nan("")}) {
    auto ps = two_params();
    ps[1].grad[0] = bad;
    const double norm = clip_grad_norm(ps, 1.0);
    CHECK_FALSE(std::isfinite(norm));
    CHECK(ps[0].grad[0] == 3.0);  // untouched
    CHECK_THROWS_WITH_AS(clip_grad_norm(ps, 1.0, {.error_if_nonfinite = true}), doctest::Contains("non-finite"),
                         Error);
  }
  auto ps = two_params();
  CHECK_THROWS_AS(clip_grad_norm(ps, 0.0), Error);
}

}  // namespace grad_clip_test

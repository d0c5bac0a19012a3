// SPDX-License-Identifier: MIT
// Finite-difference gradient checks in double: the analytic gradient of L(x) = Σ dy ⊙ f(x) from an op's
// backward against central differences of L.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>

#include <pmc/core/tensor.hpp>

namespace pmc::test {

/// max |analytic − numeric| / max(1, max |numeric|) over the elements of x, where numeric[i] is
/// (L(x + h eᵢ) − L(x − h eᵢ)) / 2h. `loss` recomputes L from the current values of x (x must be
/// contiguous; it is perturbed in place and restored). A shape mismatch or a NaN gives infinity.
inline double gradcheck(const Tensor<double>& x, const Tensor<double>& analytic, const std::function<double()>& loss,
                        double h = 1e-6) {
  if (!(x.shape() == analytic.shape()) || !x.is_contiguous()) return INFINITY;
  const auto ga = analytic.contiguous();
  double worst = 0, scale = 1;
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    double& xi = x.data()[i];
    const double saved = xi;
    xi = saved + h;
    const double lp = loss();
    xi = saved - h;
    const double lm = loss();
    xi = saved;
    const double numeric = (lp - lm) / (2 * h);
    if (std::isnan(numeric) || std::isnan(ga.data()[i])) return INFINITY;
    worst = std::max(worst, std::abs(ga.data()[i] - numeric));
    scale = std::max(scale, std::abs(numeric));
  }
  return worst / scale;
}

/// Σ dy ⊙ y: the scalar whose gradient with respect to y is dy.
inline double dot(const Tensor<double>& dy, const Tensor<double>& y) {
  const auto a = dy.contiguous(), b = y.contiguous();
  double s = 0;
  for (std::int64_t i = 0; i < a.numel(); ++i) s += a.data()[i] * b.data()[i];
  return s;
}

/// gradcheck that also prints "gradcheck <name>: <error>" when PMC_GRADCHECK_LOG is set in the environment
/// (how the largest errors are collected for the docs).
inline double gradcheck(const char* name, const Tensor<double>& x, const Tensor<double>& analytic,
                        const std::function<double()>& loss, double h = 1e-6) {
  const double e = gradcheck(x, analytic, loss, h);
  if (std::getenv("PMC_GRADCHECK_LOG")) std::printf("gradcheck %s: %.3g\n", name, e);
  return e;
}

}  // namespace pmc::test

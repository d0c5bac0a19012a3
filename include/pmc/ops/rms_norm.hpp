// SPDX-License-Identifier: MIT
// RMSNorm: y = x / sqrt(mean(x²) + eps) ⊙ w = x · rstd ⊙ w
//   x, y: (N, D)   w: (D)   rstd: (N) float, saved by forward for backward (undefined: not saved)
//   backward: with g = dy ⊙ w,  dx += rstd · g − x · rstd³ · (Σ_d g·x) / D,   dw += Σ_n dy ⊙ x · rstd
#pragma once

#include <pmc/core/device.hpp>
#include <pmc/core/tensor.hpp>

namespace pmc::ops {

/// Specialized per device:
///   template <class T> static void forward(const Tensor<T, D>& x, const Tensor<T, D>& w, float eps,
///                                          const Tensor<T, D>& y, const Tensor<compute_t<T>, D>& rstd);
///   template <class T> static void backward(const Tensor<T, D>& x, const Tensor<T, D>& w,
///                                           const Tensor<compute_t<T>, D>& rstd, const Tensor<T, D>& dy,
///                                           const Tensor<T, D>& dx, const Tensor<T, D>& dw);
template <Device D>
struct RmsNorm;

}  // namespace pmc::ops

// SPDX-License-Identifier: MIT
// RMSNorm: y = x / sqrt(mean(x²) + eps) ⊙ w = x · rstd ⊙ w
//   x, y: (N, D)   w: (D)   rstd: (N) float, saved by forward for backward (undefined: not saved)
//   backward: with g = dy ⊙ w,  dx += rstd · g − x · rstd³ · (Σ_d g·x) / D,   dw += Σ_n dy ⊙ x · rstd
#pragma once

#include <cstdint>

#include <pmc/core/device.hpp>
#include <pmc/core/tensor.hpp>
#include <pmc/ops/checks.hpp>

namespace pmc::ops {

/// Specialized per device:
///   template <class T> static void forward(const Tensor<T, D>& x, const Tensor<T, D>& w, float eps,
///                                          const Tensor<T, D>& y, const Tensor<compute_t<T>, D>& rstd);
///   template <class T> static void backward(const Tensor<T, D>& x, const Tensor<T, D>& w,
///                                           const Tensor<compute_t<T>, D>& rstd, const Tensor<T, D>& dy,
///                                           const Tensor<T, D>& dx, const Tensor<T, D>& dw);
template <Device D>
struct RmsNorm;

/// D specializes the contract (T = float stands for every T).
template <class D>
concept ImplementsRmsNorm = Device<D> && requires(const Tensor<float, D>& t, float eps) {
  RmsNorm<D>::forward(t, t, eps, t, t);
  RmsNorm<D>::backward(t, t, t, t, t, t);
};

/// The extents of one call: n rows of d features (x of any rank ≥ 1 is rows of its last dimension).
struct RmsNormDims {
  std::int64_t n, d;
};

namespace detail {
template <class T, Device D>
RmsNormDims check_rms_norm_x_w(const Tensor<T, D>& x, const Tensor<T, D>& w, const char* op) {
  check_defined(x, op, "x");
  PMC_CHECK(x.rank() >= 1, op, ": x must have at least one dimension, got ", x.shape().str());
  check_defined(w, op, "weight");
  const std::int64_t d = x.size(-1);
  PMC_CHECK(w.rank() == 1 && w.size(0) == d && w.is_contiguous(), op, ": weight ", w.shape().str(),
            " does not match the last dimension of x ", x.shape().str(), " (or is not contiguous)");
  return {d == 0 ? 0 : x.numel() / d, d};
}
template <class C, Device D>
void check_rstd(const Tensor<C, D>& rstd, std::int64_t n, const char* op) {
  PMC_CHECK(rstd.defined() && rstd.numel() == n && rstd.is_contiguous(), op, ": rstd ", rstd.shape().str(),
            " must be a contiguous tensor holding one value per row (", n, ")");
}
}  // namespace detail

/// The forward's checks: w is (D) for x's last dimension D, y is shaped as x, and rstd, if defined, holds one
/// value per row. Layouts of x and y are the backend's to check.
template <class T, class C, Device D>
RmsNormDims check_rms_norm_args(const Tensor<T, D>& x, const Tensor<T, D>& w, const Tensor<T, D>& y,
                                const Tensor<C, D>& rstd) {
  const RmsNormDims dims = detail::check_rms_norm_x_w(x, w, "rms_norm");
  detail::check_shape_of(y, "y", x, "x", "rms_norm");
  if (rstd.defined()) detail::check_rstd(rstd, dims.n, "rms_norm");
  return dims;
}

/// The backward's checks: x, w as in forward, rstd as saved by forward, dy and dx (if defined) shaped as x, and
/// dw (if defined) a contiguous tensor shaped as w.
template <class T, class C, Device D>
RmsNormDims check_rms_norm_backward_args(const Tensor<T, D>& x, const Tensor<T, D>& w, const Tensor<C, D>& rstd,
                                         const Tensor<T, D>& dy, const Tensor<T, D>& dx, const Tensor<T, D>& dw) {
  constexpr const char* op = "rms_norm backward";
  const RmsNormDims dims = detail::check_rms_norm_x_w(x, w, op);
  detail::check_rstd(rstd, dims.n, op);
  detail::check_shape_of(dy, "dy", x, "x", op);
  if (dx.defined()) detail::check_shape_of(dx, "dx", x, "x", op);
  if (dw.defined()) {
    detail::check_shape_of(dw, "dw", w, "weight", op);
    detail::check_contiguous(dw, op, "dw");
  }
  return dims;
}

}  // namespace pmc::ops

// SPDX-License-Identifier: MIT
// SiLU and SwiGLU, LLaMA's MLP gate:  silu(a) = a · σ(a),   h = silu(a) ⊙ b
//   a, b, h: (N, F)
//   silu backward:   da += dy ⊙ σ(a) (1 + a (1 − σ(a)))
//   swiglu backward: da += dh ⊙ b ⊙ σ(a) (1 + a (1 − σ(a))),   db += dh ⊙ silu(a)
#pragma once

#include <pmc/core/device.hpp>
#include <pmc/core/tensor.hpp>
#include <pmc/ops/checks.hpp>

namespace pmc::ops {

/// Specialized per device:
///   template <class T> static void silu_forward(const Tensor<T, D>& a, const Tensor<T, D>& y);
///   template <class T> static void silu_backward(const Tensor<T, D>& a, const Tensor<T, D>& dy, const Tensor<T, D>& da);
///   template <class T> static void forward(const Tensor<T, D>& a, const Tensor<T, D>& b, const Tensor<T, D>& h);
///   template <class T> static void backward(const Tensor<T, D>& a, const Tensor<T, D>& b, const Tensor<T, D>& dh,
///                                           const Tensor<T, D>& da, const Tensor<T, D>& db);
template <Device D>
struct SwiGlu;

/// D specializes the contract (T = float stands for every T).
template <class D>
concept ImplementsSwiGlu = Device<D> && requires(const Tensor<float, D>& t) {
  SwiGlu<D>::silu_forward(t, t);
  SwiGlu<D>::silu_backward(t, t, t);
  SwiGlu<D>::forward(t, t, t);
  SwiGlu<D>::backward(t, t, t, t, t);
};

/// The checks: every tensor has the shape of a (da, db only if defined). Layouts are the backend's to check.
template <class T, Device D>
void check_silu_args(const Tensor<T, D>& a, const Tensor<T, D>& y) {
  detail::check_defined(a, "silu", "a");
  detail::check_shape_of(y, "y", a, "a", "silu");
}
template <class T, Device D>
void check_silu_backward_args(const Tensor<T, D>& a, const Tensor<T, D>& dy, const Tensor<T, D>& da) {
  detail::check_defined(a, "silu backward", "a");
  detail::check_shape_of(dy, "dy", a, "a", "silu backward");
  if (da.defined()) detail::check_shape_of(da, "da", a, "a", "silu backward");
}
template <class T, Device D>
void check_swiglu_args(const Tensor<T, D>& a, const Tensor<T, D>& b, const Tensor<T, D>& h) {
  detail::check_defined(a, "swiglu", "a");
  detail::check_shape_of(b, "b", a, "a", "swiglu");
  detail::check_shape_of(h, "h", a, "a", "swiglu");
}
template <class T, Device D>
void check_swiglu_backward_args(const Tensor<T, D>& a, const Tensor<T, D>& b, const Tensor<T, D>& dh,
                                const Tensor<T, D>& da, const Tensor<T, D>& db) {
  constexpr const char* op = "swiglu backward";
  detail::check_defined(a, op, "a");
  detail::check_shape_of(b, "b", a, "a", op);
  detail::check_shape_of(dh, "dh", a, "a", op);
  if (da.defined()) detail::check_shape_of(da, "da", a, "a", op);
  if (db.defined()) detail::check_shape_of(db, "db", a, "a", op);
}

}  // namespace pmc::ops

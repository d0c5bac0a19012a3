// SPDX-License-Identifier: MIT
// SiLU and SwiGLU, LLaMA's MLP gate:  silu(a) = a · σ(a),   h = silu(a) ⊙ b
//   a, b, h: (N, F)
//   silu backward:   da += dy ⊙ σ(a) (1 + a (1 − σ(a)))
//   swiglu backward: da += dh ⊙ b ⊙ σ(a) (1 + a (1 − σ(a))),   db += dh ⊙ silu(a)
#pragma once

#include <pmc/core/device.hpp>
#include <pmc/core/tensor.hpp>

namespace pmc::ops {

/// Specialized per device:
///   template <class T> static void silu_forward(const Tensor<T, D>& a, const Tensor<T, D>& y);
///   template <class T> static void silu_backward(const Tensor<T, D>& a, const Tensor<T, D>& dy, const Tensor<T, D>& da);
///   template <class T> static void forward(const Tensor<T, D>& a, const Tensor<T, D>& b, const Tensor<T, D>& h);
///   template <class T> static void backward(const Tensor<T, D>& a, const Tensor<T, D>& b, const Tensor<T, D>& dh,
///                                           const Tensor<T, D>& da, const Tensor<T, D>& db);
template <Device D>
struct SwiGlu;

}  // namespace pmc::ops

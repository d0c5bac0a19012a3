// SPDX-License-Identifier: MIT
// Matmul: C = alpha * op(A) · op(B) + beta * C, with op(X) = X or Xᵀ (of the last two dimensions).
//   A: (M, K) or (Bt, M, K)   [(K, M) / (Bt, K, M) when trans_a]
//   B: (K, N) or (Bt, K, N)   [(N, K) / (Bt, N, K) when trans_b]; a 2-D B is shared by every batch
//   C: (M, N) or (Bt, M, N), contiguous, preallocated
// A linear layer y = x · Wᵀ with PyTorch's weight layout W: (out, in) is forward(x, W, y, false, true).
// Operands may be strided views whose last dimension is contiguous (stride 1) or whose last two are
// swapped (a transposed view); other layouts are copied first. T: float, double; bf16/f16 compute in float.
#pragma once

#include <pmc/core/device.hpp>
#include <pmc/core/tensor.hpp>

namespace pmc::ops {

/// Specialized per device in backends/<device>/matmul.hpp:
///   template <class T> static void forward(const Tensor<T, D>& a, const Tensor<T, D>& b, const Tensor<T, D>& c,
///                                          bool trans_a, bool trans_b, float alpha = 1, float beta = 0);
///   // Given dC, accumulates dA += dC · op(B)ᵀ-as-laid-out and dB += ... (each only if defined()).
///   template <class T> static void backward(const Tensor<T, D>& a, const Tensor<T, D>& b, const Tensor<T, D>& dc,
///                                           const Tensor<T, D>& da, const Tensor<T, D>& db,
///                                           bool trans_a, bool trans_b);
template <Device D>
struct Matmul;

}  // namespace pmc::ops

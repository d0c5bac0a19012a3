// SPDX-License-Identifier: MIT
// Matmul: C = alpha * op(A) · op(B) + beta * C, with op(X) = X or Xᵀ (of the last two dimensions).
//   A: (M, K) or (Bt, M, K)   [(K, M) / (Bt, K, M) when trans_a]
//   B: (K, N) or (Bt, K, N)   [(N, K) / (Bt, N, K) when trans_b]; a 2-D B is shared by every batch
//   C: (M, N) or (Bt, M, N), contiguous, preallocated
// A linear layer y = x · Wᵀ with PyTorch's weight layout W: (out, in) is forward(x, W, y, false, true).
// Operands may be strided views whose last dimension is contiguous (stride 1) or whose last two are
// swapped (a transposed view); other layouts are copied first. T: float, double; bf16/f16 compute in float.
#pragma once

#include <cstdint>
#include <string>

#include <pmc/core/device.hpp>
#include <pmc/core/tensor.hpp>
#include <pmc/ops/checks.hpp>

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

/// D specializes the contract: forward and backward take float tensors (T = float stands for every T).
template <class D>
concept ImplementsMatmul = Device<D> && requires(const Tensor<float, D>& t, bool trans, float s) {
  Matmul<D>::forward(t, t, t, trans, trans, s, s);
  Matmul<D>::backward(t, t, t, t, t, trans, trans);
};

/// The extents of one product: batch × (m × k) · (k × n); batch = 1 for a 2-D product.
struct MatmulDims {
  std::int64_t batch, m, n, k;
};

namespace detail {
inline std::string matmul_op_str(const Shape& s, bool trans) { return s.str() + (trans ? "ᵀ" : ""); }
}  // namespace detail

/// Checks ranks and extents of C = op(A)·op(B) (c: C for forward, dC for backward; `op` names the call).
/// Layouts are the backend's to check.
template <class T, Device D>
MatmulDims check_matmul_args(const Tensor<T, D>& a, const Tensor<T, D>& b, const Tensor<T, D>& c, bool trans_a,
                             bool trans_b, const char* op = "matmul") {
  using detail::matmul_op_str;
  PMC_CHECK(a.defined() && b.defined() && c.defined(), op, ": an operand is undefined");
  PMC_CHECK((a.rank() == 2 || a.rank() == 3) && (b.rank() == 2 || b.rank() == 3), op,
            ": A and B must be 2-D or 3-D, got A ", a.shape().str(), " and B ", b.shape().str());
  PMC_CHECK(b.rank() <= a.rank(), op, ": a 3-D B ", b.shape().str(), " needs a 3-D A, got ", a.shape().str());
  PMC_CHECK(c.rank() == a.rank(), op, ": C ", c.shape().str(), " must have the rank of A ", a.shape().str());
  const std::int64_t batch = a.rank() == 3 ? a.size(0) : 1;
  PMC_CHECK(b.rank() == 2 || b.size(0) == batch, op, ": batch of A ", a.shape().str(), " and B ", b.shape().str(),
            " differ");
  PMC_CHECK(c.rank() == 2 || c.size(0) == batch, op, ": batch of A ", a.shape().str(), " and C ", c.shape().str(),
            " differ");
  const std::int64_t m = a.size(trans_a ? -1 : -2), k = a.size(trans_a ? -2 : -1);
  const std::int64_t kb = b.size(trans_b ? -1 : -2), n = b.size(trans_b ? -2 : -1);
  PMC_CHECK(k == kb, op, ": inner dimensions differ: op(A) of A ", matmul_op_str(a.shape(), trans_a), " has ", k,
            " columns, op(B) of B ", matmul_op_str(b.shape(), trans_b), " has ", kb, " rows");
  PMC_CHECK(c.size(-2) == m && c.size(-1) == n, op, ": C ", c.shape().str(), " is not (", m, ", ", n,
            ") = rows of A ", matmul_op_str(a.shape(), trans_a), " by columns of B ",
            matmul_op_str(b.shape(), trans_b));
  return {batch, m, n, k};
}

/// The backward's checks: A, B and dC as in forward, and dA, dB (each only if defined) shaped as A, B.
template <class T, Device D>
MatmulDims check_matmul_backward_args(const Tensor<T, D>& a, const Tensor<T, D>& b, const Tensor<T, D>& dc,
                                      const Tensor<T, D>& da, const Tensor<T, D>& db, bool trans_a, bool trans_b) {
  const MatmulDims d = check_matmul_args(a, b, dc, trans_a, trans_b, "matmul backward");
  if (da.defined()) detail::check_shape_of(da, "dA", a, "A", "matmul backward");
  if (db.defined()) detail::check_shape_of(db, "dB", b, "B", "matmul backward");
  return d;
}

}  // namespace pmc::ops

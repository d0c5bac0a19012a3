// SPDX-License-Identifier: MIT
// Elementwise arithmetic and reductions. All tensors of one call have the same shape and are contiguous.
//   add:        out = a + b                 backward: da += dout, db += dout
//   mul:        out = a ⊙ b                 backward: da += dout ⊙ b, db += dout ⊙ a
//   scale:      out = s · a                 backward: da += s · dout
//   accumulate: dst += alpha · src          (the gradient-accumulation primitive)
//   sum:        Σ a   → a scalar in compute_t<T>      mean: Σ a / numel
#pragma once

#include <concepts>

#include <pmc/core/device.hpp>
#include <pmc/core/tensor.hpp>
#include <pmc/ops/checks.hpp>

namespace pmc::ops {

/// Specialized per device in backends/<device>/elementwise.hpp:
///   template <class T> static void add(const Tensor<T, D>& a, const Tensor<T, D>& b, const Tensor<T, D>& out);
///   template <class T> static void mul(const Tensor<T, D>& a, const Tensor<T, D>& b, const Tensor<T, D>& out);
///   template <class T> static void scale(const Tensor<T, D>& a, float s, const Tensor<T, D>& out);
///   template <class T> static void accumulate(const Tensor<T, D>& dst, const Tensor<T, D>& src, float alpha = 1);
///   template <class T> static compute_t<T> sum(const Tensor<T, D>& a);
///   template <class T> static compute_t<T> mean(const Tensor<T, D>& a);  // 0 for an empty tensor
///   template <class T> static void mul_backward(a, b, dout, da, db);   // each of da, db only if defined()
template <Device D>
struct Elementwise;

/// D specializes the contract (T = float stands for every T).
template <class D>
concept ImplementsElementwise = Device<D> && requires(const Tensor<float, D>& t, float s) {
  Elementwise<D>::add(t, t, t);
  Elementwise<D>::mul(t, t, t);
  Elementwise<D>::scale(t, s, t);
  Elementwise<D>::accumulate(t, t, s);
  { Elementwise<D>::sum(t) } -> std::same_as<float>;
  { Elementwise<D>::mean(t) } -> std::same_as<float>;
  Elementwise<D>::mul_backward(t, t, t, t, t);
};

/// The checks of one call `op` ("add", "mul backward", ...): every tensor given is contiguous and shaped as the
/// first.
template <class T, Device D, class... Rest>
void check_elementwise_args(const char* op, const Tensor<T, D>& first, const Rest&... rest) {
  for (const Tensor<T, D>* t : {&first, &rest...}) {
    detail::check_contiguous(*t, op, "operand");
    PMC_CHECK(t->shape() == first.shape(), op, ": shapes ", first.shape().str(), " and ", t->shape().str(),
              " differ");
  }
}

}  // namespace pmc::ops

// SPDX-License-Identifier: MIT
// Rotary position embedding. Head vector x ∈ R^Dh at absolute position p is rotated pairwise:
//   (x_a, x_b) ← (x_a cos θ_i − x_b sin θ_i,  x_a sin θ_i + x_b cos θ_i),   θ_i = p · theta^(−2i/Dh), i < Dh/2
// where the pair (a, b) is (2i, 2i+1) in Meta's interleaved layout (llama2.c, the original checkpoints) and
// (i, i + Dh/2) in Hugging Face's rotate-half layout (whose q/k weights are permuted accordingly).
//   x, y: (B, T, H, Dh); the token at t has position pos0 + t. y may alias x (in place).
//   backward: the inverse rotation of dy, accumulated: dx += R(−θ) dy.
#pragma once

#include <cstdint>

#include <pmc/core/device.hpp>
#include <pmc/core/tensor.hpp>
#include <pmc/ops/checks.hpp>

namespace pmc::ops {

enum class RopeLayout : std::uint8_t { interleaved, rotate_half };

/// Specialized per device:
///   template <class T> static void forward(const Tensor<T, D>& x, std::int64_t pos0, float theta,
///                                          RopeLayout layout, const Tensor<T, D>& y);
///   template <class T> static void backward(const Tensor<T, D>& dy, std::int64_t pos0, float theta,
///                                           RopeLayout layout, const Tensor<T, D>& dx);
template <Device D>
struct Rope;

/// D specializes the contract (T = float stands for every T).
template <class D>
concept ImplementsRope = Device<D> && requires(const Tensor<float, D>& t, std::int64_t pos0, float theta,
                                               RopeLayout layout) {
  Rope<D>::forward(t, pos0, theta, layout, t);
  Rope<D>::backward(t, pos0, theta, layout, t);
};

namespace detail {
template <class T, Device D>
void check_rope(const Tensor<T, D>& src, const char* src_name, const Tensor<T, D>& dst, const char* dst_name,
                std::int64_t pos0, const char* op) {
  check_defined(src, op, src_name);
  PMC_CHECK(src.rank() == 4, op, ": ", src_name, " must be (B, T, H, Dh), got ", src.shape().str());
  check_shape_of(dst, dst_name, src, src_name, op);
  PMC_CHECK(src.size(3) % 2 == 0, op, ": head dimension ", src.size(3), " of ", src.shape().str(), " is odd");
  PMC_CHECK(pos0 >= 0, op, ": negative start position ", pos0);
}
}  // namespace detail

/// The forward's checks: x is (B, T, H, Dh) with Dh even, y has its shape, pos0 ≥ 0. Layouts are the backend's.
template <class T, Device D>
void check_rope_args(const Tensor<T, D>& x, const Tensor<T, D>& y, std::int64_t pos0) {
  detail::check_rope(x, "x", y, "y", pos0, "rope");
}

/// The backward's checks: as forward's, for dy and dx.
template <class T, Device D>
void check_rope_backward_args(const Tensor<T, D>& dy, const Tensor<T, D>& dx, std::int64_t pos0) {
  detail::check_rope(dy, "dy", dx, "dx", pos0, "rope backward");
}

}  // namespace pmc::ops

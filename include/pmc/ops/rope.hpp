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

namespace pmc::ops {

enum class RopeLayout : std::uint8_t { interleaved, rotate_half };

/// Specialized per device:
///   template <class T> static void forward(const Tensor<T, D>& x, std::int64_t pos0, float theta,
///                                          RopeLayout layout, const Tensor<T, D>& y);
///   template <class T> static void backward(const Tensor<T, D>& dy, std::int64_t pos0, float theta,
///                                           RopeLayout layout, const Tensor<T, D>& dx);
template <Device D>
struct Rope;

}  // namespace pmc::ops

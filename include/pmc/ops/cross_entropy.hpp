// SPDX-License-Identifier: MIT
// Cross-entropy over the vocabulary with an ignore index (label masking):
//   loss = (1/C) Σ_{n: y_n ≠ ignore} (logsumexp(z_n) − z_n[y_n]),   C = #{n : y_n ≠ ignore}  (loss = 0 if C = 0)
//   z: (N, V) logits   y: (N) int32 targets   lse: (N) float, saved by forward
//   backward: dz_n += dloss / C · (softmax(z_n) − onehot(y_n)) for counted rows; 0 for ignored rows
// A target outside [0, V) that is not the ignore index is a pmc::Error naming it.
#pragma once

#include <cstdint>

#include <pmc/core/device.hpp>
#include <pmc/core/tensor.hpp>

namespace pmc::ops {

inline constexpr std::int32_t kIgnoreIndex = -100;

/// Specialized per device:
///   struct Result { double loss; std::int64_t count; };
///   template <class T> static Result forward(const Tensor<T, D>& logits, const Tensor<std::int32_t, D>& targets,
///                                            const Tensor<compute_t<T>, D>& lse, std::int32_t ignore = kIgnoreIndex);
///   template <class T> static void backward(const Tensor<T, D>& logits, const Tensor<std::int32_t, D>& targets,
///                                           const Tensor<compute_t<T>, D>& lse, double dloss, std::int64_t count,
///                                           const Tensor<T, D>& dlogits, std::int32_t ignore = kIgnoreIndex);
template <Device D>
struct CrossEntropy;

}  // namespace pmc::ops

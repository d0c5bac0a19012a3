// SPDX-License-Identifier: MIT
// Embedding lookup: out[n, :] = W[tokens[n], :]
//   W: (V, D)   tokens: (N) int32   out: (N, D)
//   backward: dW[tokens[n], :] += dout[n, :]
// A token outside [0, V) is a pmc::Error naming the token and V.
#pragma once

#include <cstdint>

#include <pmc/core/device.hpp>
#include <pmc/core/tensor.hpp>

namespace pmc::ops {

/// Specialized per device:
///   template <class T> static void forward(const Tensor<T, D>& weight, const Tensor<std::int32_t, D>& tokens,
///                                          const Tensor<T, D>& out);
///   template <class T> static void backward(const Tensor<std::int32_t, D>& tokens, const Tensor<T, D>& dout,
///                                           const Tensor<T, D>& dweight);
template <Device D>
struct Embedding;

}  // namespace pmc::ops

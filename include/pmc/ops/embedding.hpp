// SPDX-License-Identifier: MIT
// Embedding lookup: out[n, :] = W[tokens[n], :]
//   W: (V, D)   tokens: (N) int32   out: (N, D)
//   backward: dW[tokens[n], :] += dout[n, :]
// A token outside [0, V) is a pmc::Error naming the token and V.
#pragma once

#include <cstdint>

#include <pmc/core/device.hpp>
#include <pmc/core/tensor.hpp>
#include <pmc/ops/checks.hpp>

namespace pmc::ops {

/// Specialized per device:
///   template <class T> static void forward(const Tensor<T, D>& weight, const Tensor<std::int32_t, D>& tokens,
///                                          const Tensor<T, D>& out);
///   template <class T> static void backward(const Tensor<std::int32_t, D>& tokens, const Tensor<T, D>& dout,
///                                           const Tensor<T, D>& dweight);
template <Device D>
struct Embedding;

/// D specializes the contract (T = float stands for every T).
template <class D>
concept ImplementsEmbedding = Device<D> && requires(const Tensor<float, D>& t, const Tensor<std::int32_t, D>& y) {
  Embedding<D>::forward(t, y, t);
  Embedding<D>::backward(y, t, t);
};

/// The extents of one call: n tokens, a vocabulary of v, rows of d.
struct EmbeddingDims {
  std::int64_t n, v, d;
};

namespace detail {
template <class T, Device D>
EmbeddingDims check_embedding(const Tensor<T, D>& w, const char* w_name, const Tensor<std::int32_t, D>& tokens,
                              const Tensor<T, D>& rows, const char* rows_name, const char* op) {
  check_defined(w, op, w_name);
  PMC_CHECK(w.rank() == 2, op, ": ", w_name, " must be (V, D), got ", w.shape().str());
  check_contiguous(tokens, op, "tokens");
  check_defined(rows, op, rows_name);
  const std::int64_t n = tokens.numel(), d = w.size(1);
  PMC_CHECK(rows.rank() >= 1 && rows.size(-1) == d && rows.numel() == n * d, op, ": ", rows_name, " ",
            rows.shape().str(), " must hold ", n, " rows of ", d, " (tokens ", tokens.shape().str(), ", ", w_name, " ",
            w.shape().str(), ")");
  return {n, w.size(0), d};
}
}  // namespace detail

/// The forward's checks: weight is (V, D), tokens contiguous (any shape), out holds tokens.numel() rows of D.
/// Layouts of weight and out are the backend's to check; the tokens' range is checked with check_token.
template <class T, Device D>
EmbeddingDims check_embedding_args(const Tensor<T, D>& weight, const Tensor<std::int32_t, D>& tokens,
                                   const Tensor<T, D>& out) {
  return detail::check_embedding(weight, "weight", tokens, out, "out", "embedding");
}

/// The backward's checks: as forward's, for dweight and dout.
template <class T, Device D>
EmbeddingDims check_embedding_backward_args(const Tensor<std::int32_t, D>& tokens, const Tensor<T, D>& dout,
                                            const Tensor<T, D>& dweight) {
  return detail::check_embedding(dweight, "dweight", tokens, dout, "dout", "embedding backward");
}

/// The error for a token outside [0, vocab); position < 0 where the backend does not know it.
inline void check_token(std::int64_t token, std::int64_t position, std::int64_t vocab, const char* op) {
  if (token >= 0 && token < vocab) return;
  if (position >= 0)
    fail(op, ": token ", token, " at position ", position, " is out of range for a vocabulary of ", vocab);
  fail(op, ": token ", token, " is out of range for a vocabulary of ", vocab);
}

}  // namespace pmc::ops

// SPDX-License-Identifier: MIT
// Embedding<Cpu>: row gather (forward) and scatter-add (backward) with token range checks.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include <pmc/backends/cpu/eigen.hpp>
#include <pmc/core/tensor.hpp>
#include <pmc/ops/embedding.hpp>

namespace pmc::ops {

template <>
struct Embedding<Cpu> {
  /// out[n, :] = weight[tokens[n], :]; tokens may have any shape (out then has rows = tokens.numel()).
  template <class T>
  static void forward(const Tensor<T, Cpu>& weight, const Tensor<std::int32_t, Cpu>& tokens,
                      const Tensor<T, Cpu>& out) {
    check_embedding_args(weight, tokens, out);
    const auto w = backends::cpu::as_rows(weight, "embedding weight");
    const auto o = backends::cpu::as_rows(out, "embedding out");
    const std::int32_t* tok = check_tokens(tokens, w.n, "embedding");
    backends::cpu::parallel_for(o.n, o.d, [&](std::int64_t n) {
      std::memcpy(o.row(n), w.row(tok[n]), static_cast<std::size_t>(o.d) * sizeof(T));
    });
  }

  /// dweight[tokens[n], :] += dout[n, :]. Threads own column ranges, so repeated tokens never race.
  template <class T>
  static void backward(const Tensor<std::int32_t, Cpu>& tokens, const Tensor<T, Cpu>& dout,
                       const Tensor<T, Cpu>& dweight) {
    if (!dweight.defined()) return;
    check_embedding_backward_args(tokens, dout, dweight);
    const auto w = backends::cpu::as_rows(dweight, "embedding dweight");
    const auto g = backends::cpu::as_rows(dout, "embedding dout");
    const std::int32_t* tok = check_tokens(tokens, w.n, "embedding backward");
    using C = compute_t<T>;
    constexpr std::int64_t block = 256;
    const std::int64_t nblocks = (g.d + block - 1) / block;
    backends::cpu::parallel_for(nblocks, g.n * block, [&](std::int64_t b) {
      const std::int64_t j0 = b * block, j1 = std::min(g.d, j0 + block);
      for (std::int64_t n = 0; n < g.n; ++n) {
        T* dst = w.row(tok[n]);
        const T* src = g.row(n);
        for (std::int64_t j = j0; j < j1; ++j) dst[j] = static_cast<T>(static_cast<C>(dst[j]) + static_cast<C>(src[j]));
      }
    });
  }

 private:
  /// The tokens' range, checked on the host before any row is touched.
  static const std::int32_t* check_tokens(const Tensor<std::int32_t, Cpu>& tokens, std::int64_t vocab, const char* op) {
    const std::int32_t* tok = tokens.data();
    for (std::int64_t n = 0; n < tokens.numel(); ++n) check_token(tok[n], n, vocab, op);
    return tok;
  }
};

}  // namespace pmc::ops

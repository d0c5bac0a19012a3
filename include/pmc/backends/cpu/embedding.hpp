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
    const auto w = backends::cpu::as_rows(weight, "embedding weight");
    const auto o = backends::cpu::as_rows(out, "embedding out");
    const std::int32_t* tok = check(w, tokens, o, "embedding", weight.shape(), out.shape());
    backends::cpu::parallel_for(o.n, o.d, [&](std::int64_t n) {
      std::memcpy(o.row(n), w.row(tok[n]), static_cast<std::size_t>(o.d) * sizeof(T));
    });
  }

  /// dweight[tokens[n], :] += dout[n, :]. Threads own column ranges, so repeated tokens never race.
  template <class T>
  static void backward(const Tensor<std::int32_t, Cpu>& tokens, const Tensor<T, Cpu>& dout,
                       const Tensor<T, Cpu>& dweight) {
    if (!dweight.defined()) return;
    const auto w = backends::cpu::as_rows(dweight, "embedding dweight");
    const auto g = backends::cpu::as_rows(dout, "embedding dout");
    const std::int32_t* tok = check(w, tokens, g, "embedding backward", dweight.shape(), dout.shape());
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
  template <class T>
  static const std::int32_t* check(const backends::cpu::Rows<T>& w, const Tensor<std::int32_t, Cpu>& tokens,
                                   const backends::cpu::Rows<T>& o, const char* what, const Shape& w_shape,
                                   const Shape& o_shape) {
    PMC_CHECK(w_shape.rank() == 2, what, ": weight must be (V, D), got ", w_shape.str());
    backends::cpu::check_contiguous(tokens, what);
    PMC_CHECK(o.n == tokens.numel() && o.d == w.d, what, ": expected ", tokens.numel(), " rows of ", w.d, " (tokens ",
              tokens.shape().str(), ", weight ", w_shape.str(), "), got ", o_shape.str());
    const std::int32_t* tok = tokens.data();
    for (std::int64_t n = 0; n < tokens.numel(); ++n)
      PMC_CHECK(tok[n] >= 0 && tok[n] < w.n, what, ": token ", tok[n], " at position ", n,
                " is out of range for a vocabulary of ", w.n, " (weight ", w_shape.str(), ")");
    return tok;
  }
};

}  // namespace pmc::ops

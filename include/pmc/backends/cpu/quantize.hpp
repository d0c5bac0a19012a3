// SPDX-License-Identifier: MIT
// Quantize<Cpu> (see pmc/ops/quantize.hpp): int8 and NF4 blockwise quantization of a frozen weight, OpenMP over
// blocks. Every block (and every group of 256 absmaxes) is computed by one thread from its own inputs, so the bytes
// do not depend on the thread count; the absmaxes' mean is summed serially in double.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <type_traits>

#include <pmc/backends/cpu/eigen.hpp>
#include <pmc/core/tensor.hpp>
#include <pmc/ops/quantize.hpp>

namespace pmc::ops {

template <>
struct Quantize<Cpu> {
  template <class T>
  static QuantizedMatrix<Cpu> quantize(const Tensor<T, Cpu>& w, QuantFormat f,
                                       std::optional<float> nf4_offset = std::nullopt) {
    static_assert(Floating<T>, "quantize: T must be float, double, bf16 or f16");
    check_quantize_args(w, f);
    using backends::cpu::parallel_for;
    constexpr std::int64_t B = quant::kBlock;
    QuantizedMatrix<Cpu> q;
    q.format = f;
    q.rows = w.size(0);
    q.cols = w.size(1);
    const std::int64_t n = q.numel(), blocks = q.blocks();
    const T* x = w.data();
    if (f == QuantFormat::int8) {
      q.codes = Tensor<std::uint8_t, Cpu>::empty(Shape{n});
      q.absmax = Tensor<float, Cpu>::empty(Shape{blocks});
      std::uint8_t* c = q.codes.data();
      float* am = q.absmax.data();
      parallel_for(blocks, 4 * B, [&](std::int64_t b) {
        const T* xb = x + b * B;
        const float a = quant::absmax_of(xb, B);
        am[b] = a;
        for (std::int64_t i = 0; i < B; ++i) c[b * B + i] = quant::int8_code(static_cast<float>(xb[i]), a);
      });
      return q;
    }
    q.codes = Tensor<std::uint8_t, Cpu>::empty(Shape{n / 2});
    Tensor<float, Cpu> absmax = Tensor<float, Cpu>::empty(Shape{blocks});
    std::uint8_t* c = q.codes.data();
    float* am = absmax.data();
    parallel_for(blocks, 8 * B, [&](std::int64_t b) {
      const T* xb = x + b * B;
      const float a = quant::absmax_of(xb, B);
      am[b] = a;
      const float inv = 1.0f / std::fmax(a, 1e-38f);
      for (std::int64_t i = 0; i < B; i += 2) {
        const float s0 = std::fmax(-1.f, std::fmin(1.f, static_cast<float>(xb[i]) * inv));
        const float s1 = std::fmax(-1.f, std::fmin(1.f, static_cast<float>(xb[i + 1]) * inv));
        c[(b * B + i) / 2] = static_cast<std::uint8_t>((quant::nf4_code(s0) << 4) | quant::nf4_code(s1));
      }
    });
    q.offset = nf4_offset ? *nf4_offset : quant::absmax_mean(am, blocks);
    const std::int64_t groups = (blocks + quant::kGroup - 1) / quant::kGroup;
    q.absmax_codes = Tensor<std::uint8_t, Cpu>::empty(Shape{blocks});
    q.absmax2 = Tensor<float, Cpu>::empty(Shape{groups});
    std::uint8_t* ac = q.absmax_codes.data();
    float* a2 = q.absmax2.data();
    const float offset = q.offset;
    parallel_for(groups, 4 * quant::kGroup, [&](std::int64_t g) {
      const std::int64_t b0 = g * quant::kGroup, len = std::min(quant::kGroup, blocks - b0);
      a2[g] = quant::quantize_absmax_group(am + b0, len, offset, ac + b0);
    });
    return q;
  }

  template <class T>
  static void dequantize(const QuantizedMatrix<Cpu>& q, const Tensor<T, Cpu>& out) {
    static_assert(Floating<T>, "dequantize: T must be float, double, bf16 or f16");
    check_dequantize_args(q, out);
    using backends::cpu::parallel_for;
    constexpr std::int64_t B = quant::kBlock;
    const std::uint8_t* c = q.codes.data();
    T* y = out.data();
    if (q.format == QuantFormat::int8) {
      const float* am = q.absmax.data();
      parallel_for(q.blocks(), B, [&](std::int64_t b) {
        const float a = am[b];
        for (std::int64_t i = b * B; i < (b + 1) * B; ++i) y[i] = static_cast<T>(quant::int8_value(c[i], a));
      });
      return;
    }
    const std::uint8_t* ac = q.absmax_codes.data();
    const float* a2 = q.absmax2.data();
    const float offset = q.offset;
    parallel_for(q.blocks(), B, [&](std::int64_t b) {
      const float a = quant::nf4_absmax(ac[b], a2[b / quant::kGroup], offset);
      for (std::int64_t i = b * B; i < (b + 1) * B; i += 2) {
        const std::uint8_t byte = c[i / 2];
        y[i] = static_cast<T>(quant::kNf4[byte >> 4] * a);
        y[i + 1] = static_cast<T>(quant::kNf4[byte & 0x0f] * a);
      }
    });
  }
};

}  // namespace pmc::ops

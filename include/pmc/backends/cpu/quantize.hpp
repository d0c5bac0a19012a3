// SPDX-License-Identifier: MIT
// Quantize<Cpu> (see pmc/ops/quantize.hpp): int8, NF4, q8_0 and q4_0 blockwise quantization of a frozen weight,
// OpenMP over blocks; matmul straight from the blocks (quant_matmul.hpp). Every block (and every group of 256 absmaxes) is computed by one thread from its own inputs, so the bytes
// do not depend on the thread count; the absmaxes' mean is summed serially in double.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <type_traits>
#include <vector>

#include <pmc/backends/cpu/eigen.hpp>
#include <pmc/backends/cpu/quant_matmul.hpp>
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
    const std::int64_t n = q.numel(), blocks = n / quant::block_size(f);
    const T* x = w.data();
    if (is_ggml_format(f)) {
      q.block = quant::kGgmlBlock;
      const std::int64_t bb = quant::ggml_block_bytes(f);
      q.codes = Tensor<std::uint8_t, Cpu>::empty(Shape{blocks * bb});
      std::uint8_t* c = q.codes.data();
      parallel_for(q.blocks(), 8 * quant::kGgmlBlock, [&](std::int64_t b) {
        float v[quant::kGgmlBlock];
        for (std::int64_t j = 0; j < quant::kGgmlBlock; ++j) v[j] = static_cast<float>(x[b * quant::kGgmlBlock + j]);
        if (f == QuantFormat::q8_0) quant::quantize_q8_0_block(v, c + b * bb);
        else quant::quantize_q4_0_block(v, c + b * bb);
      });
      return q;
    }
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
    if (is_ggml_format(q.format)) {
      constexpr std::int64_t G = quant::kGgmlBlock;
      const std::int64_t bb = quant::ggml_block_bytes(q.format);
      const bool q8 = q.format == QuantFormat::q8_0;
      const std::int64_t nb = q.cols / G;
      const QuantLayout layout = q.layout;
      parallel_for(q.blocks(), G, [&](std::int64_t b) {
        std::uint8_t own[quant::kQ8_0Bytes];
        const std::uint8_t* blk = c + b * bb;
        if (layout != QuantLayout::blocks) {
          quant::ggml_block_at(q.format, layout, c, nb, b / nb, b % nb, own);
          blk = own;
        }
        const float d = quant::ggml_block_scale(blk);
        for (int j = 0; j < G; ++j)
          y[b * G + j] = static_cast<T>(q8 ? quant::q8_0_value(blk, d, j) : quant::q4_0_value(blk, d, j));
      });
      return;
    }
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

  /// q laid out for matmul: q8_0 / q4_0 with rows % 16 == 0 regrouped to the rows16 layout when the AVX512-VNNI
  /// int8 kernel is the one that runs (qmm::rows16_pays()), into a new tensor, group by group; else q itself.
  static QuantizedMatrix<Cpu> for_matmul(QuantizedMatrix<Cpu> q) {
    if (!is_ggml_format(q.format) || q.layout != QuantLayout::blocks || q.rows % quant::kInterleavedRows != 0 ||
        !backends::cpu::qmm::rows16_pays())
      return q;
    check_quantized_matrix(q, "for_matmul");
    constexpr std::int64_t R = quant::kInterleavedRows;
    const std::int64_t nb = q.cols / quant::kGgmlBlock, bb = quant::ggml_block_bytes(q.format);
    auto out = Tensor<std::uint8_t, Cpu>::empty(q.codes.shape());
    const std::uint8_t* in = q.codes.data();
    std::uint8_t* o = out.data();
    backends::cpu::parallel_for(q.rows / R, R * nb * bb, [&](std::int64_t g) {
      quant::rows16_group(q.format, in + g * R * nb * bb, nb, o + g * R * nb * bb);
    });
    q.codes = std::move(out);
    q.layout = QuantLayout::rows16;
    return q;
  }

  /// y (M, rows) = x (M, cols) · dequant(q)ᵀ from the blocks (quant_matmul.hpp), T float or bf16 (staged to float;
  /// y accumulated in float and rounded once).
  template <class T>
  static void matmul(const Tensor<T, Cpu>& x, const QuantizedMatrix<Cpu>& q, const Tensor<T, Cpu>& y) {
    matmul_on(backends::cpu::qmm::chosen(), x, q, y);
  }

  /// The same on a given kernel (tests compare them).
  template <class T>
  static void matmul_on(backends::cpu::qmm::Isa isa, const Tensor<T, Cpu>& x, const QuantizedMatrix<Cpu>& q,
                        const Tensor<T, Cpu>& y) {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, bf16>, "quantized matmul: T must be float or bf16");
    check_quant_matmul_args(x, q, y);
    const std::int64_t M = x.size(0);
    if constexpr (std::is_same_v<T, float>) {
      backends::cpu::qmm::matmul_f32(isa, x.data(), M, q, y.data());
    } else {
      std::vector<float> xf(static_cast<std::size_t>(x.numel())), yf(static_cast<std::size_t>(y.numel()));
      for (std::size_t i = 0; i < xf.size(); ++i) xf[i] = static_cast<float>(x.data()[i]);
      backends::cpu::qmm::matmul_f32(isa, xf.data(), M, q, yf.data());
      for (std::size_t i = 0; i < yf.size(); ++i) y.data()[i] = static_cast<T>(yf[i]);
    }
  }
};

}  // namespace pmc::ops

// SPDX-License-Identifier: MIT
// Quantize<Cuda> (see pmc/ops/quantize.hpp). quantize runs on the host (a frozen weight is quantized once, at
// load): the weight is copied to the host, quantized by Quantize<Cpu>'s routines (the same bytes as on the CPU)
// and the codes and scales copied back. dequantize is a kernel, grid-stride, one thread per code byte (int8: one
// element; nf4: the two elements of a byte, 2i from the high nibble). Products and sums use __fmul_rn / __fadd_rn
// so that nothing is fused into an FMA: the floats are the CPU's (and bitsandbytes') bit for bit. q8_0 / q4_0: one
// thread per element, x̂ = d · q (d · (q − 8)), the CPU's floats. matmul: dequantize into a temporary, then
// Matmul<Cuda> (cuBLASLt); a fused small-M kernel is not written yet.
#pragma once

#include <cstdint>
#include <optional>

#include <pmc/backends/cpu/quantize.hpp>
#include <pmc/backends/cuda/copy.hpp>
#include <pmc/backends/cuda/cublaslt.hpp>
#include <pmc/backends/cuda/elementwise.cuh>
#include <pmc/backends/cuda/kernels/common.cuh>
#include <pmc/core/transfer.hpp>
#include <pmc/ops/quantize.hpp>

namespace pmc::cuda::kernels {

/// The two tables by value (kernel parameter memory; 1088 bytes).
struct QuantTables {
  float nf4[16];
  float dynamic[256];
};

template <class T>
__global__ void dequantize_int8_kernel(const std::uint8_t* __restrict__ codes, const float* __restrict__ absmax,
                                       T* __restrict__ out, std::int64_t n) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const float c = static_cast<float>(static_cast<std::int8_t>(codes[i]));
    out[i] = store<T>(__fdiv_rn(__fmul_rn(c, absmax[i / ops::quant::kBlock]), 127.f));
  }
}

template <class T>
__global__ void dequantize_nf4_kernel(const std::uint8_t* __restrict__ codes,
                                      const std::uint8_t* __restrict__ absmax_codes,
                                      const float* __restrict__ absmax2, float offset, QuantTables tables,
                                      T* __restrict__ out, std::int64_t bytes) {
  for (std::int64_t j = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; j < bytes;
       j += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t i = 2 * j, b = i / ops::quant::kBlock;  // both elements of a byte lie in one block
    const float a = __fadd_rn(__fmul_rn(tables.dynamic[absmax_codes[b]], absmax2[b / ops::quant::kGroup]), offset);
    const std::uint8_t byte = codes[j];
    out[i] = store<T>(__fmul_rn(tables.nf4[byte >> 4], a));
    out[i + 1] = store<T>(__fmul_rn(tables.nf4[byte & 0x0f], a));
  }
}

template <class T, bool Q8>
__global__ void dequantize_ggml_kernel(const std::uint8_t* __restrict__ blocks, T* __restrict__ out, std::int64_t n) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t b = i / ops::quant::kGgmlBlock;
    const int j = static_cast<int>(i % ops::quant::kGgmlBlock);
    const std::uint8_t* blk = blocks + b * (Q8 ? ops::quant::kQ8_0Bytes : ops::quant::kQ4_0Bytes);
    const float d = ops::quant::ggml_block_scale(blk);
    out[i] = store<T>(Q8 ? ops::quant::q8_0_value(blk, d, j) : ops::quant::q4_0_value(blk, d, j));
  }
}

}  // namespace pmc::cuda::kernels

namespace pmc::ops {

template <>
struct Quantize<Cuda> {
  /// On the host: a copy to the host, Quantize<Cpu>, the codes and scales copied back.
  template <class T>
  static QuantizedMatrix<Cuda> quantize(const Tensor<T, Cuda>& w, QuantFormat f,
                                        std::optional<float> nf4_offset = std::nullopt) {
    check_quantize_args(w, f);
    const QuantizedMatrix<Cpu> h = Quantize<Cpu>::quantize(to_host(w), f, nf4_offset);
    QuantizedMatrix<Cuda> q;
    q.format = h.format;
    q.rows = h.rows;
    q.cols = h.cols;
    q.block = h.block;
    q.offset = h.offset;
    q.codes = to_device<Cuda>(h.codes);
    if (h.absmax.defined()) q.absmax = to_device<Cuda>(h.absmax);
    if (h.absmax_codes.defined()) q.absmax_codes = to_device<Cuda>(h.absmax_codes);
    if (h.absmax2.defined()) q.absmax2 = to_device<Cuda>(h.absmax2);
    return q;
  }

  template <class T>
  static void dequantize(const QuantizedMatrix<Cuda>& q, const Tensor<T, Cuda>& out) {
    check_dequantize_args(q, out);
    PMC_CHECK(q.layout == QuantLayout::blocks, "dequantize: the CUDA kernels read row-major blocks, not rows16 ",
              "(a CPU layout: quantize on the device, or copy row_major_blocks)");
    constexpr int threads = 256;
    if (is_ggml_format(q.format)) {
      const std::int64_t n = q.numel();
      if (q.format == QuantFormat::q8_0)
        cuda::kernels::dequantize_ggml_kernel<T, true>
            <<<cuda::kernels::grid_for(n, threads), threads, 0, cuda::current_stream()>>>(q.codes.data(), out.data(), n);
      else
        cuda::kernels::dequantize_ggml_kernel<T, false>
            <<<cuda::kernels::grid_for(n, threads), threads, 0, cuda::current_stream()>>>(q.codes.data(), out.data(), n);
      PMC_CUDA_CHECK_LAUNCH();
      return;
    }
    if (q.format == QuantFormat::int8) {
      const std::int64_t n = q.numel();
      cuda::kernels::dequantize_int8_kernel<<<cuda::kernels::grid_for(n, threads), threads, 0,
                                              cuda::current_stream()>>>(q.codes.data(), q.absmax.data(),
                                                                        out.data(), n);
      PMC_CUDA_CHECK_LAUNCH();
      return;
    }
    cuda::kernels::QuantTables tables{};
    for (int i = 0; i < 16; ++i) tables.nf4[i] = quant::kNf4[i];
    for (int i = 0; i < 256; ++i) tables.dynamic[i] = quant::kDynamicMap[i];
    const std::int64_t bytes = q.codes.numel();
    cuda::kernels::dequantize_nf4_kernel<<<cuda::kernels::grid_for(bytes, threads), threads, 0,
                                           cuda::current_stream()>>>(q.codes.data(), q.absmax_codes.data(),
                                                                     q.absmax2.data(), q.offset, tables,
                                                                     out.data(), bytes);
    PMC_CUDA_CHECK_LAUNCH();
  }

  /// The CUDA kernels read the row-major blocks: q itself.
  static QuantizedMatrix<Cuda> for_matmul(QuantizedMatrix<Cuda> q) { return q; }

  /// y = x · dequant(q)ᵀ: dequantized into a temporary, then Matmul<Cuda>.
  template <class T>
  static void matmul(const Tensor<T, Cuda>& x, const QuantizedMatrix<Cuda>& q, const Tensor<T, Cuda>& y) {
    check_quant_matmul_args(x, q, y);
    const auto wd = Tensor<T, Cuda>::empty(q.shape());
    dequantize(q, wd);
    Matmul<Cuda>::forward(x, wd, y, false, true);
  }
};

}  // namespace pmc::ops

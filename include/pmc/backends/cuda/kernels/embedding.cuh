// SPDX-License-Identifier: MIT
// Embedding kernels: row-gather forward, and a deterministic, sort-free, atomic-free backward.
//
// Backward scheme ("vocabulary buckets"): block (c, v) is one warp owning 32 columns [32c, 32c+32) of the
// rows [v·VB, (v+1)·VB) of dW. It scans every token in order; a token in its bucket adds dout[n, cols] into a
// float accumulator in shared memory (acc[row][lane]: lane-indexed, bank-conflict free). At the end each
// touched row is written once: dW[row] = T(float(dW[row]) + acc). So
//   * every dW element has exactly one writer: no atomics, no races;
//   * its terms are summed in token order n = 0, 1, ..., in float, whatever the GPU: bitwise reproducible;
//   * repeated tokens accumulate in float even for a bf16 dW (one rounding per call, not per occurrence).
// Cost: ceil(D/32)·ceil(V/VB) warps each read all N tokens (broadcast loads, L1-resident); dout and dW are
// touched once. For LLaMA-7B (D = 4096, V = 32000, VB = 256) and N = 16k tokens that is 256M warp-steps of a
// compare: about a millisecond, small next to the step it belongs to. (A sort-based variant would cut the scan.)
#pragma once

#include <pmc/backends/cuda/kernels/common.cuh>

namespace pmc::cuda::kernels {

/// The first out-of-range token seen by a kernel: flag set once by atomicCAS, then `value` written.
struct BadIndex {
  int flag;
  int value;
};

__device__ __forceinline__ void report_bad(BadIndex* bad, int value) {
  if (atomicCAS(&bad->flag, 0, 1) == 0) bad->value = value;
}

/// out[n, :] = W[tokens[n], :].   grid: N blocks (grid-stride over rows when N is larger)
template <class T>
__global__ void embedding_forward_kernel(const T* w, const std::int32_t* tokens, T* out, std::int64_t n,
                                         std::int64_t d, std::int64_t v, BadIndex* bad) {
  for (std::int64_t r = blockIdx.x; r < n; r += gridDim.x) {
    const std::int32_t tok = tokens[r];
    if (tok < 0 || tok >= v) {
      if (threadIdx.x == 0) report_bad(bad, tok);
      continue;
    }
    const T* src = w + static_cast<std::int64_t>(tok) * d;
    T* dst = out + r * d;
    for (std::int64_t j = threadIdx.x; j < d; j += blockDim.x) dst[j] = src[j];
  }
}

inline constexpr int kEmbeddingBucket = 256;  // VB: rows of dW per block (32 KiB of float accumulators)

/// dW[tokens[n], :] += dout[n, :] (see the scheme above).   grid: (ceil(D/32), ceil(V/VB)), block: 32 threads
template <class T>
__global__ void __launch_bounds__(32) embedding_backward_kernel(const std::int32_t* tokens, const T* dout, T* dw,
                                                                std::int64_t n, std::int64_t d, std::int64_t v,
                                                                BadIndex* bad) {
  __shared__ float acc[kEmbeddingBucket][32];
  __shared__ unsigned char touched[kEmbeddingBucket];
  const int lane = threadIdx.x;
  const std::int64_t col = blockIdx.x * 32 + lane;
  const std::int64_t v0 = static_cast<std::int64_t>(blockIdx.y) * kEmbeddingBucket;
  const std::int64_t v1 = min(v, v0 + kEmbeddingBucket);
  for (int r = 0; r < kEmbeddingBucket; ++r) acc[r][lane] = 0.f;
  for (int r = lane; r < kEmbeddingBucket; r += 32) touched[r] = 0;
  __syncwarp();
  const bool reporter = blockIdx.x == 0 && blockIdx.y == 0 && lane == 0;
#pragma unroll 4
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int32_t tok = __ldg(tokens + i);  // the same address in every lane: one broadcast load
    if (tok >= v0 && tok < v1) {
      const int r = static_cast<int>(tok - v0);
      if (col < d) acc[r][lane] += static_cast<float>(load(dout[i * d + col]));
      if (lane == 0) touched[r] = 1;
    } else if (reporter && (tok < 0 || tok >= v)) {
      report_bad(bad, tok);
    }
  }
  __syncwarp();
  if (col >= d) return;
  for (std::int64_t r = v0; r < v1; ++r) {
    const int lr = static_cast<int>(r - v0);
    if (touched[lr]) dw[r * d + col] = store<T>(load(dw[r * d + col]) + acc[lr][lane]);
  }
}

}  // namespace pmc::cuda::kernels

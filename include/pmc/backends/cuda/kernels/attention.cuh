// SPDX-License-Identifier: MIT
// Kernels of the GEMM-based attention: the causal masked softmax over saved scores and its backward.
// Rows are (b, h, t) of a (B, H, T, S) float tensor; query t (absolute position pos0 + t) sees keys s ≤ pos0 + t,
// and with a sliding window W > 0 only the W latest of them (s > pos0 + t − W), as the CPU's attention.
#pragma once

#include <pmc/backends/cuda/kernels/common.cuh>

namespace pmc::cuda::kernels {

/// In place on the scores: P = softmax over first ≤ s ≤ pos0 + t (first = 0, or pos0 + t − window + 1 with a
/// sliding window), 0 elsewhere. When `copy` is set, P is also written there in TP (the 16-bit operand of the
/// following P·V GEMM).   grid: B·H·T blocks
template <class TP>
__global__ void causal_softmax_kernel(float* scores, TP* copy, std::int64_t t_len, std::int64_t s_len,
                                      std::int64_t pos0, std::int64_t window = 0) {
  __shared__ float scratch[32];
  const std::int64_t row = blockIdx.x, t = row % t_len, last = pos0 + t;  // keys first..last are visible
  const std::int64_t first = window > 0 && last + 1 > window ? last + 1 - window : 0;
  float* x = scores + row * s_len;
  float m = -INFINITY;
  for (std::int64_t s = first + threadIdx.x; s <= last; s += blockDim.x) m = fmaxf(m, x[s]);
  m = block_max(m, scratch);
  float sum = 0;
  for (std::int64_t s = first + threadIdx.x; s <= last; s += blockDim.x) sum += expf(x[s] - m);
  sum = block_sum(sum, scratch);
  const float inv = 1.f / sum;
  for (std::int64_t s = threadIdx.x; s < s_len; s += blockDim.x) {
    const float p = s >= first && s <= last ? expf(x[s] - m) * inv : 0.f;
    x[s] = p;
    if (copy) copy[row * s_len + s] = store<TP>(p);
  }
}

/// dS = P ⊙ (dP − Σ_s P ⊙ dP), written in TD (may alias dP when TD is float).   grid: B·H·T blocks
template <class TD>
__global__ void softmax_backward_kernel(const float* probs, const float* dprobs, TD* ds, std::int64_t s_len) {
  __shared__ float scratch[32];
  const std::int64_t off = blockIdx.x * s_len;
  float dot = 0;
  for (std::int64_t s = threadIdx.x; s < s_len; s += blockDim.x) dot += probs[off + s] * dprobs[off + s];
  dot = block_sum(dot, scratch);
  for (std::int64_t s = threadIdx.x; s < s_len; s += blockDim.x) {
    const float p = probs[off + s];
    ds[off + s] = store<TD>(p * (dprobs[off + s] - dot));
  }
}

}  // namespace pmc::cuda::kernels

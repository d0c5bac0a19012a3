// SPDX-License-Identifier: MIT
// RMSNorm kernels: one block per row for the forward and dx (D up to a few thousand: 128-1024 threads, each
// a strided slice), and a deterministic two-pass column reduction for dw.
#pragma once

#include <pmc/backends/cuda/kernels/common.cuh>

namespace pmc::cuda::kernels {

/// y[n] = x[n] · rstd[n] ⊙ w,  rstd[n] = 1 / sqrt(mean(x[n]²) + eps).   grid: N blocks
template <class T>
__global__ void __launch_bounds__(512) rms_norm_forward_kernel(const T* x, const T* w, T* y, compute_t<T>* rstd, std::int64_t d,
                                        float eps) {
  using C = compute_t<T>;
  __shared__ C scratch[32];
  const T* xr = x + blockIdx.x * d;
  T* yr = y + blockIdx.x * d;
  C ss = 0;
  for (std::int64_t i = threadIdx.x; i < d; i += blockDim.x) {
    const C v = load(xr[i]);
    ss += v * v;
  }
  ss = block_sum(ss, scratch);
  const C r = C(1) / sqrt(ss / static_cast<C>(d) + static_cast<C>(eps));
  if (threadIdx.x == 0) rstd[blockIdx.x] = r;
  for (std::int64_t i = threadIdx.x; i < d; i += blockDim.x) yr[i] = store<T>(load(xr[i]) * r * load(w[i]));
}

/// dx[n] += rstd · g − x · rstd³ · (Σ_d g·x) / D,  g = dy ⊙ w.   grid: N blocks
template <class T>
__global__ void __launch_bounds__(512) rms_norm_backward_dx_kernel(const T* x, const T* w, const compute_t<T>* rstd, const T* dy, T* dx,
                                            std::int64_t d) {
  using C = compute_t<T>;
  __shared__ C scratch[32];
  const std::int64_t off = blockIdx.x * d;
  C dot = 0;
  for (std::int64_t i = threadIdx.x; i < d; i += blockDim.x) dot += load(dy[off + i]) * load(w[i]) * load(x[off + i]);
  dot = block_sum(dot, scratch);
  const C r = rstd[blockIdx.x];
  const C k = r * r * r * dot / static_cast<C>(d);
  for (std::int64_t i = threadIdx.x; i < d; i += blockDim.x) {
    const C g = load(dy[off + i]) * load(w[i]);
    dx[off + i] = store<T>(load(dx[off + i]) + r * g - load(x[off + i]) * k);
  }
}

/// partial[p, j] = Σ_{n in chunk p} dy[n, j] · x[n, j] · rstd[n].   grid: (ceil(D / blockDim), P)
template <class T>
__global__ void rms_norm_dw_partial_kernel(const T* x, const compute_t<T>* rstd, const T* dy, compute_t<T>* partial,
                                           std::int64_t n, std::int64_t d, std::int64_t rows_per_chunk) {
  using C = compute_t<T>;
  const std::int64_t j = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  if (j >= d) return;
  const std::int64_t begin = blockIdx.y * rows_per_chunk, end = min(n, begin + rows_per_chunk);
  C acc = 0;
  for (std::int64_t r = begin; r < end; ++r) acc += load(dy[r * d + j]) * load(x[r * d + j]) * rstd[r];
  partial[blockIdx.y * d + j] = acc;
}

/// dw[j] += Σ_p partial[p, j] in order p = 0, 1, ...
template <class T>
__global__ void rms_norm_dw_final_kernel(const compute_t<T>* partial, T* dw, std::int64_t chunks, std::int64_t d) {
  using C = compute_t<T>;
  const std::int64_t j = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  if (j >= d) return;
  C acc = 0;
  for (std::int64_t p = 0; p < chunks; ++p) acc += partial[p * d + j];
  dw[j] = store<T>(load(dw[j]) + acc);
}

}  // namespace pmc::cuda::kernels

// SPDX-License-Identifier: MIT
// Elementwise kernels (grid-stride loops over flat contiguous buffers) and the deterministic two-pass sum.
#pragma once

#include <pmc/backends/cuda/kernels/common.cuh>

namespace pmc::cuda::kernels {

/// out[i] = f(a[i], b[i]) in the compute type; out may alias a or b.
template <class T, class F>
__global__ void map2_kernel(const T* a, const T* b, T* out, std::int64_t n, F f) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    out[i] = store<T>(f(load(a[i]), load(b[i])));
}

/// acc[i] = f(acc[i], x[i], y[i]) in the compute type (the gradient-accumulating form).
template <class T, class F>
__global__ void map3_kernel(T* acc, const T* x, const T* y, std::int64_t n, F f) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    acc[i] = store<T>(f(load(acc[i]), load(x[i]), load(y[i])));
}

/// dst[i] = U(src[i]) (a dtype conversion, rounding to nearest even).
template <class S, class U>
__global__ void convert_kernel(const S* src, U* dst, std::int64_t n) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    dst[i] = store<U>(load(src[i]));
}

/// Gathers a strided view (rank ≤ 6, shape/strides in elements) into a contiguous buffer.
struct StridedView {
  std::int64_t shape[6];
  std::int64_t strides[6];
  int rank;
};
template <class T>
__global__ void gather_kernel(const T* src, StridedView v, T* dst, std::int64_t n) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    std::int64_t rest = i, off = 0;
    for (int d = v.rank - 1; d >= 0; --d) {
      off += (rest % v.shape[d]) * v.strides[d];
      rest /= v.shape[d];
    }
    dst[i] = src[off];
  }
}

/// Block b sums elements [b·chunk, (b+1)·chunk) of f(x) in double into partial[b]. The partition depends on n
/// only, and each block's tree is fixed, so the result is the same on every run and every GPU.
template <class T, class F>
__global__ void partial_sum_kernel(const T* x, std::int64_t n, std::int64_t chunk, double* partial, F f) {
  __shared__ double scratch[32];
  const std::int64_t begin = blockIdx.x * chunk, end = min(n, begin + chunk);
  double acc = 0;
  for (std::int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) acc += static_cast<double>(f(load(x[i])));
  acc = block_sum(acc, scratch);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

/// out[0] = Σ partial[0..p) in a fixed order (one block).
template <class Out>
__global__ void __launch_bounds__(1024) final_sum_kernel(const double* partial, int p, Out* out, double scale) {
  __shared__ double scratch[32];
  double acc = 0;
  for (int i = threadIdx.x; i < p; i += blockDim.x) acc += partial[i];
  acc = block_sum(acc, scratch);
  if (threadIdx.x == 0) out[0] = static_cast<Out>(acc * scale);
}

}  // namespace pmc::cuda::kernels

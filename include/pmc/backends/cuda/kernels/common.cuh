// SPDX-License-Identifier: MIT
// Device helpers shared by pmc's kernels: element loads/stores in the compute type, warp and block reductions,
// grid sizing. Every function here is inline or a template (headers are included by many .cu files).
#pragma once

#if !defined(__CUDACC__)
#error "pmc/backends/cuda/kernels/*.cuh are device code: include them from a .cu file compiled by nvcc"
#endif

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include <pmc/backends/cuda/runtime.hpp>
#include <pmc/core/dtype.hpp>

namespace pmc::cuda::kernels {

static_assert(sizeof(bf16) == 2 && sizeof(f16) == 2, "pmc::bf16/f16 must be bare 16-bit words");

/// x in the compute type (float for the 16-bit types, the type itself otherwise).
template <class T>
__device__ __forceinline__ compute_t<T> load(T x) {
  if constexpr (std::is_same_v<T, bf16>) return __uint_as_float(static_cast<unsigned>(x.bits) << 16);
  else if constexpr (std::is_same_v<T, f16>) return __half2float(__ushort_as_half(x.bits));
  else return x;
}

/// v rounded to T (round to nearest even, as the CPU conversions do).
template <class T, class C>
__device__ __forceinline__ T store(C v) {
  if constexpr (std::is_same_v<T, bf16>) {
    T r;
    r.bits = __bfloat16_as_ushort(__float2bfloat16_rn(static_cast<float>(v)));
    return r;
  } else if constexpr (std::is_same_v<T, f16>) {
    T r;
    r.bits = __half_as_ushort(__float2half_rn(static_cast<float>(v)));
    return r;
  } else {
    return static_cast<T>(v);
  }
}

template <class C>
__device__ __forceinline__ C warp_sum(C v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

template <class C>
__device__ __forceinline__ C warp_max(C v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const C w = __shfl_xor_sync(0xffffffffu, v, o);
    v = w > v ? w : v;
  }
  return v;
}

/// Sum over the block, returned to every thread. blockDim.x must be a multiple of 32 (at most 1024); every
/// thread must call it. `scratch`: 32 elements of shared memory, reusable after the call returns.
template <class C>
__device__ __forceinline__ C block_sum(C v, C* scratch) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  v = warp_sum(v);
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < warps ? scratch[lane] : C(0);
  return warp_sum(v);  // the same fixed tree in every warp: deterministic
}

template <class C>
__device__ __forceinline__ C block_max(C v, C* scratch) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < warps ? scratch[lane] : C(-INFINITY);
  return warp_max(v);
}

/// Blocks for a grid-stride loop over n items: enough to fill the GPU a few times over, no more.
inline unsigned grid_for(std::int64_t n, int threads) {
  const std::int64_t want = (n + threads - 1) / threads;
  const std::int64_t cap = static_cast<std::int64_t>(device_properties().multiProcessorCount) * 32;
  return static_cast<unsigned>(std::max<std::int64_t>(1, std::min(want, cap)));
}

/// Threads for a block-per-row kernel over rows of `d` elements: a multiple of 32 in [32, max_threads].
inline int threads_for_row(std::int64_t d, int max_threads = 1024) {
  std::int64_t t = (d + 31) / 32 * 32;
  return static_cast<int>(std::clamp<std::int64_t>(t, 32, max_threads));
}

}  // namespace pmc::cuda::kernels

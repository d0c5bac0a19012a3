// SPDX-License-Identifier: MIT
// SiLU / SwiGLU kernels: h = silu(a) ⊙ b and its gradients, one element per thread (grid-stride).
#pragma once

#include <pmc/backends/cuda/kernels/common.cuh>

namespace pmc::cuda::kernels {

template <class C>
__device__ __forceinline__ C sigmoid(C x) {
  if constexpr (std::is_same_v<C, double>) return 1.0 / (1.0 + exp(-x));
  else return 1.f / (1.f + expf(-x));
}

/// h = silu(a) ⊙ b, or y = silu(a) when b is null.
template <class T>
__global__ void swiglu_forward_kernel(const T* a, const T* b, T* h, std::int64_t n) {
  using C = compute_t<T>;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const C x = load(a[i]);
    const C s = x * sigmoid(x);
    h[i] = store<T>(b ? s * load(b[i]) : s);
  }
}

/// With s = σ(a):  da += dh ⊙ b ⊙ s (1 + a (1 − s)),  db += dh ⊙ a s. A null b means plain SiLU (b ≡ 1);
/// a null da or db is skipped.
template <class T>
__global__ void swiglu_backward_kernel(const T* a, const T* b, const T* dh, T* da, T* db, std::int64_t n) {
  using C = compute_t<T>;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const C x = load(a[i]), g = load(dh[i]);
    const C s = sigmoid(x);
    if (da) {
      const C gb = b ? g * load(b[i]) : g;
      da[i] = store<T>(load(da[i]) + gb * s * (C(1) + x * (C(1) - s)));
    }
    if (db) db[i] = store<T>(load(db[i]) + g * x * s);
  }
}

}  // namespace pmc::cuda::kernels

// SPDX-License-Identifier: MIT
// Optimizer kernels: AdamW (one buffer, and multi-tensor: one launch over a list of buffers), the
// deterministic two-pass sum of squares behind the global gradient norm, and flat-buffer helpers.
#pragma once

#include <pmc/backends/cuda/kernels/common.cuh>

namespace pmc::cuda::kernels {

/// AdamW scalars in the parameter type (see ops::AdamWCoefficients for their meaning and the order).
template <class C>
struct AdamWScalars {
  C decay, one_minus_beta1, beta2, one_minus_beta2, neg_step_size, bc2_sqrt, eps;
};

/// torch's order, per element (ops/optimizer.hpp):  p ← p·decay;  m ← m + (1−β1)(g − m);
/// v ← v·β2 + (1−β2)·g·g;  p ← p + (−step·m) / (sqrt(v)/bc2_sqrt + eps).   g is multiplied by *grad_scale first
/// when grad_scale is set (clipping without a pass over the gradients).
template <class T>
__device__ __forceinline__ void adamw_element(T* p, const T* g, T* m, T* v, std::int64_t i,
                                              const AdamWScalars<compute_t<T>>& s, compute_t<T> gs) {
  using C = compute_t<T>;
  C pi = load(p[i]), mi = load(m[i]), vi = load(v[i]);
  const C gi = load(g[i]) * gs;
  if (s.decay != C(1)) pi *= s.decay;
  mi += s.one_minus_beta1 * (gi - mi);
  vi = vi * s.beta2 + (s.one_minus_beta2 * gi) * gi;
  pi += (s.neg_step_size * mi) / (sqrt(vi) / s.bc2_sqrt + s.eps);
  p[i] = store<T>(pi);
  m[i] = store<T>(mi);
  v[i] = store<T>(vi);
}

template <class T>
__global__ void adamw_kernel(T* p, const T* g, T* m, T* v, std::int64_t n, AdamWScalars<compute_t<T>> s,
                             const float* grad_scale) {
  const compute_t<T> gs = grad_scale ? static_cast<compute_t<T>>(*grad_scale) : compute_t<T>(1);
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    adamw_element(p, g, m, v, i, s, gs);
}

/// One tensor of a multi-tensor launch.
template <class T>
struct AdamWTensorDesc {
  T* p;
  const T* g;
  T* m;
  T* v;
  std::int64_t n;
  AdamWScalars<compute_t<T>> s;
};

/// A chunk of one tensor: block b updates elements [begin, begin + kMultiTensorChunk) of tensors[tensor].
struct ChunkDesc {
  int tensor;
  std::int64_t begin;
};
inline constexpr std::int64_t kMultiTensorChunk = 1 << 16;

template <class T>
__global__ void adamw_multi_tensor_kernel(const AdamWTensorDesc<T>* tensors, const ChunkDesc* chunks,
                                          const float* grad_scale) {
  const ChunkDesc c = chunks[blockIdx.x];
  const AdamWTensorDesc<T>& t = tensors[c.tensor];
  const compute_t<T> gs = grad_scale ? static_cast<compute_t<T>>(*grad_scale) : compute_t<T>(1);
  const std::int64_t end = min(t.n, c.begin + kMultiTensorChunk);
  for (std::int64_t i = c.begin + threadIdx.x; i < end; i += blockDim.x) adamw_element(t.p, t.g, t.m, t.v, i, t.s, gs);
}

/// One buffer of a sum of squares.
template <class G>
struct SquaresDesc {
  const G* x;
  std::int64_t n;
};

/// partial[b] = Σ x² over chunk b (double). The chunking depends on the tensor sizes only: deterministic.
template <class G>
__global__ void sum_squares_partial_kernel(const SquaresDesc<G>* tensors, const ChunkDesc* chunks, double* partial) {
  __shared__ double scratch[32];
  const ChunkDesc c = chunks[blockIdx.x];
  const SquaresDesc<G> t = tensors[c.tensor];
  const std::int64_t end = min(t.n, c.begin + kMultiTensorChunk);
  double acc = 0;
  for (std::int64_t i = c.begin + threadIdx.x; i < end; i += blockDim.x) {
    const double x = static_cast<double>(load(t.x[i]));
    acc += x * x;
  }
  acc = block_sum(acc, scratch);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

/// norm[0] = sqrt(Σ partial) (fixed order) and, when sum is set, sum[0] = Σ partial; when clip_scale is set, also clip_scale[0] = min(1, max_norm /
/// (norm + 1e-6)) as torch's clip_grad_norm_ (1 when the norm is not finite: the caller decides).
template <int Threads>
__global__ void __launch_bounds__(Threads) grad_norm_final_kernel(const double* partial, int p, double* norm,
                                                                  float* clip_scale, double max_norm,
                                                                  double* sum) {
  __shared__ double scratch[32];
  double acc = 0;
  for (int i = threadIdx.x; i < p; i += Threads) acc += partial[i];
  acc = block_sum(acc, scratch);
  if (threadIdx.x == 0) {
    const double nrm = sqrt(acc);
    norm[0] = nrm;
    if (sum) sum[0] = acc;
    if (clip_scale) {
      const double coef = max_norm / (nrm + 1e-6);
      clip_scale[0] = (isfinite(nrm) && coef < 1.0) ? static_cast<float>(coef) : 1.f;
    }
  }
}

template <class T>
__global__ void scale_kernel(T* x, std::int64_t n, compute_t<T> f) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    x[i] = store<T>(load(x[i]) * f);
}

template <class G, class T>
__global__ void axpy_kernel(const G* x, T* y, std::int64_t n, compute_t<T> alpha) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    y[i] = store<T>(load(y[i]) + alpha * static_cast<compute_t<T>>(load(x[i])));
}

template <class T>
__global__ void fill_kernel(T* x, std::int64_t n, T value) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    x[i] = value;
}

/// *nonfinite = 1 if any element is inf or NaN.
template <class T>
__global__ void nonfinite_kernel(const T* x, std::int64_t n, int* nonfinite) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    if (!isfinite(static_cast<double>(load(x[i])))) *nonfinite = 1;  // benign race: every writer writes 1
}

/// One buffer of a multi-tensor scale or finiteness check.
template <class T>
struct ScaleDesc {
  T* x;
  std::int64_t n;
};

/// x ← x·f over chunk b of the (tensor, chunk) table: scale_kernel's arithmetic, one launch for every buffer.
template <class T>
__global__ void scale_multi_tensor_kernel(const ScaleDesc<T>* tensors, const ChunkDesc* chunks, compute_t<T> f) {
  const ChunkDesc c = chunks[blockIdx.x];
  const ScaleDesc<T> t = tensors[c.tensor];
  const std::int64_t end = min(t.n, c.begin + kMultiTensorChunk);
  for (std::int64_t i = c.begin + threadIdx.x; i < end; i += blockDim.x) t.x[i] = store<T>(load(t.x[i]) * f);
}

/// *nonfinite = 1 if any element of any buffer is inf or NaN (nonfinite_kernel over a chunk table).
template <class T>
__global__ void nonfinite_multi_tensor_kernel(const SquaresDesc<T>* tensors, const ChunkDesc* chunks, int* nonfinite) {
  const ChunkDesc c = chunks[blockIdx.x];
  const SquaresDesc<T> t = tensors[c.tensor];
  const std::int64_t end = min(t.n, c.begin + kMultiTensorChunk);
  for (std::int64_t i = c.begin + threadIdx.x; i < end; i += blockDim.x)
    if (!isfinite(static_cast<double>(load(t.x[i])))) *nonfinite = 1;  // benign race: every writer writes 1
}

}  // namespace pmc::cuda::kernels

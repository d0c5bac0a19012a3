// SPDX-License-Identifier: MIT
// The optimizers on the GPU: ops::AdamWKernel<Cuda> and ops::ParamOps<Cuda> (the per-buffer contracts of
// pmc/ops/optimizer.hpp, so optim::AdamW<float, Cuda> works), plus the fused forms a GPU wants:
//   * adamw_multi_tensor: one launch updates a whole list of parameters (a table of (tensor, chunk) pairs
//     drives the blocks), instead of one launch per parameter (291 for LLaMA-7B);
//   * global_grad_norm: ‖g‖₂ over a list of buffers, two passes (per-chunk partial sums in double, then one
//     block in a fixed order): deterministic, and it can leave the clip factor on the device for
//     adamw_multi_tensor's grad_scale, so clipping needs neither a host round trip nor a pass over the grads.
#pragma once

#include <concepts>
#include <span>
#include <vector>

#include <pmc/backends/cuda/elementwise.cuh>
#include <pmc/backends/cuda/kernels/adamw.cuh>
#include <pmc/ops/optimizer.hpp>

namespace pmc::cuda {

/// One parameter of a multi-tensor AdamW step: n contiguous elements of p, g, m, v on the device, and the
/// scalars optim::AdamW computes for it (per group and per step count). The generic ops::AdamWBuffer, so
/// optim::AdamW's list goes to adamw_multi_tensor as it is.
template <class T>
using AdamWSlot = ops::AdamWBuffer<T>;

namespace detail {

template <class T>
kernels::AdamWScalars<compute_t<T>> adamw_scalars(const ops::AdamWCoefficients& c) {
  using C = compute_t<T>;
  return {static_cast<C>(c.decay),          static_cast<C>(c.one_minus_beta1), static_cast<C>(c.beta2),
          static_cast<C>(c.one_minus_beta2), static_cast<C>(-c.step_size),     static_cast<C>(c.bc2_sqrt),
          static_cast<C>(c.eps)};
}

/// The (tensor, chunk) table for buffers of the given sizes.
inline std::vector<kernels::ChunkDesc> chunk_table(std::span<const std::int64_t> sizes) {
  std::vector<kernels::ChunkDesc> chunks;
  for (std::size_t t = 0; t < sizes.size(); ++t)
    for (std::int64_t b = 0; b < sizes[t]; b += kernels::kMultiTensorChunk)
      chunks.push_back({static_cast<int>(t), b});
  return chunks;
}

/// Copies two host arrays into one device buffer (stream-ordered). From pageable memory cudaMemcpyAsync
/// returns once the bytes are staged, so the host vectors may die on return.
template <class A, class B>
std::shared_ptr<void> upload_tables(const std::vector<A>& a, const std::vector<B>& b, const A** da, const B** db) {
  const std::size_t a_bytes = (a.size() * sizeof(A) + 255) / 256 * 256, b_bytes = b.size() * sizeof(B);
  auto mem = allocate_uninitialized(a_bytes + b_bytes);
  auto* base = static_cast<char*>(mem.get());
  PMC_CUDA_CHECK(cudaMemcpyAsync(base, a.data(), a.size() * sizeof(A), cudaMemcpyHostToDevice, current_stream()));
  PMC_CUDA_CHECK(cudaMemcpyAsync(base + a_bytes, b.data(), b_bytes, cudaMemcpyHostToDevice, current_stream()));
  *da = reinterpret_cast<const A*>(base);
  *db = reinterpret_cast<const B*>(base + a_bytes);
  return mem;
}

inline constexpr int kOptimThreads = 256;

}  // namespace detail

/// AdamW over every slot in one launch. grad_scale (device, optional): the gradients are multiplied by
/// *grad_scale first (e.g. the clip factor from global_grad_norm).
template <class T>
void adamw_multi_tensor(std::span<const AdamWSlot<T>> slots, const float* grad_scale = nullptr) {
  std::vector<kernels::AdamWTensorDesc<T>> descs;
  std::vector<std::int64_t> sizes;
  for (const auto& s : slots) {
    PMC_CHECK(s.n >= 0 && (s.n == 0 || (s.p && s.g && s.m && s.v)), "adamw_multi_tensor: a slot of ", s.n,
              " elements has a null buffer");
    descs.push_back({s.p, s.g, s.m, s.v, s.n, detail::adamw_scalars<T>(s.c)});
    sizes.push_back(s.n);
  }
  const auto chunks = detail::chunk_table(sizes);
  if (chunks.empty()) return;
  PMC_CHECK(descs.size() < (std::size_t{1} << 31), "adamw_multi_tensor: too many tensors");
  const kernels::AdamWTensorDesc<T>* d_descs = nullptr;
  const kernels::ChunkDesc* d_chunks = nullptr;
  auto keep = detail::upload_tables(descs, chunks, &d_descs, &d_chunks);
  kernels::adamw_multi_tensor_kernel<T><<<static_cast<unsigned>(chunks.size()), detail::kOptimThreads, 0,
                                          current_stream()>>>(d_descs, d_chunks, grad_scale);
  PMC_CUDA_CHECK_LAUNCH();
}

/// ‖(g_1, ..., g_k)‖₂ over the buffers (n_i elements at g_i) into norm_out[0] (device double), deterministic.
/// With clip_scale_out (device float) it also writes min(1, max_norm / (norm + 1e-6)) (1 if not finite).
template <class G>
void global_grad_norm(std::span<const G* const> grads, std::span<const std::int64_t> sizes, double* norm_out,
                      float* clip_scale_out = nullptr, double max_norm = 1.0, double* sum_squares_out = nullptr) {
  PMC_CHECK(grads.size() == sizes.size(), "global_grad_norm: ", grads.size(), " buffers but ", sizes.size(),
            " sizes");
  std::vector<kernels::SquaresDesc<G>> descs;
  for (std::size_t i = 0; i < grads.size(); ++i) descs.push_back({grads[i], sizes[i]});
  const auto chunks = detail::chunk_table(sizes);
  PMC_CHECK(chunks.size() < (std::size_t{1} << 31), "global_grad_norm: too many chunks");
  auto partial = allocate_uninitialized(std::max<std::size_t>(chunks.size(), 1) * sizeof(double));
  auto* pp = static_cast<double*>(partial.get());
  std::shared_ptr<void> keep;
  if (!chunks.empty()) {
    const kernels::SquaresDesc<G>* d_descs = nullptr;
    const kernels::ChunkDesc* d_chunks = nullptr;
    keep = detail::upload_tables(descs, chunks, &d_descs, &d_chunks);
    kernels::sum_squares_partial_kernel<G><<<static_cast<unsigned>(chunks.size()), detail::kOptimThreads, 0,
                                             current_stream()>>>(d_descs, d_chunks, pp);
    PMC_CUDA_CHECK_LAUNCH();
  }
  kernels::grad_norm_final_kernel<1024><<<1, 1024, 0, current_stream()>>>(pp, static_cast<int>(chunks.size()),
                                                                         norm_out, clip_scale_out, max_norm,
                                                                         sum_squares_out);
  PMC_CUDA_CHECK_LAUNCH();
}

/// x_i ← x_i·factor for every buffer, in one launch (the arithmetic of ParamOps<Cuda>::scale).
template <class T>
void scale_multi_tensor(std::span<T* const> xs, std::span<const std::int64_t> sizes, T factor) {
  PMC_CHECK(xs.size() == sizes.size(), "scale_multi_tensor: ", xs.size(), " buffers but ", sizes.size(), " sizes");
  std::vector<kernels::ScaleDesc<T>> descs;
  for (std::size_t i = 0; i < xs.size(); ++i) descs.push_back({xs[i], sizes[i]});
  const auto chunks = detail::chunk_table(sizes);
  if (chunks.empty()) return;
  PMC_CHECK(chunks.size() < (std::size_t{1} << 31), "scale_multi_tensor: too many chunks");
  const kernels::ScaleDesc<T>* d_descs = nullptr;
  const kernels::ChunkDesc* d_chunks = nullptr;
  auto keep = detail::upload_tables(descs, chunks, &d_descs, &d_chunks);
  kernels::scale_multi_tensor_kernel<T><<<static_cast<unsigned>(chunks.size()), detail::kOptimThreads, 0,
                                          current_stream()>>>(d_descs, d_chunks, static_cast<compute_t<T>>(factor));
  PMC_CUDA_CHECK_LAUNCH();
}

/// Whether every element of every buffer is finite: one launch and one read-back (waits for the current stream).
template <class T>
bool all_finite_multi_tensor(std::span<const T* const> xs, std::span<const std::int64_t> sizes) {
  PMC_CHECK(xs.size() == sizes.size(), "all_finite_multi_tensor: ", xs.size(), " buffers but ", sizes.size(),
            " sizes");
  std::vector<kernels::SquaresDesc<T>> descs;
  for (std::size_t i = 0; i < xs.size(); ++i) descs.push_back({xs[i], sizes[i]});
  const auto chunks = detail::chunk_table(sizes);
  if (chunks.empty()) return true;
  PMC_CHECK(chunks.size() < (std::size_t{1} << 31), "all_finite_multi_tensor: too many chunks");
  auto flag = allocate_uninitialized(sizeof(int));
  PMC_CUDA_CHECK(cudaMemsetAsync(flag.get(), 0, sizeof(int), current_stream()));
  const kernels::SquaresDesc<T>* d_descs = nullptr;
  const kernels::ChunkDesc* d_chunks = nullptr;
  auto keep = detail::upload_tables(descs, chunks, &d_descs, &d_chunks);
  kernels::nonfinite_multi_tensor_kernel<T><<<static_cast<unsigned>(chunks.size()), detail::kOptimThreads, 0,
                                              current_stream()>>>(d_descs, d_chunks, static_cast<int*>(flag.get()));
  PMC_CUDA_CHECK_LAUNCH();
  int h = 0;
  PMC_CUDA_CHECK(cudaMemcpyAsync(&h, flag.get(), sizeof(int), cudaMemcpyDeviceToHost, current_stream()));
  PMC_CUDA_CHECK(cudaStreamSynchronize(current_stream()));
  return h == 0;
}

/// Σ_i Σ x_i² (double) over the buffers, returned to the host: one reduction, one read-back.
template <class G>
double sum_squares_multi_tensor(std::span<const G* const> grads, std::span<const std::int64_t> sizes) {
  auto out = allocate_uninitialized(2 * sizeof(double));
  auto* d = static_cast<double*>(out.get());
  global_grad_norm<G>(grads, sizes, d, nullptr, 1.0, d + 1);
  double h = 0;
  PMC_CUDA_CHECK(cudaMemcpyAsync(&h, d + 1, sizeof(double), cudaMemcpyDeviceToHost, current_stream()));
  PMC_CUDA_CHECK(cudaStreamSynchronize(current_stream()));
  return h;
}

/// The same, returned to the host (waits for the current stream).
template <class G>
double global_grad_norm(std::span<const G* const> grads, std::span<const std::int64_t> sizes) {
  auto out = allocate_uninitialized(sizeof(double));
  global_grad_norm<G>(grads, sizes, static_cast<double*>(out.get()));
  double h = 0;
  PMC_CUDA_CHECK(cudaMemcpyAsync(&h, out.get(), sizeof(double), cudaMemcpyDeviceToHost, current_stream()));
  PMC_CUDA_CHECK(cudaStreamSynchronize(current_stream()));
  return h;
}

}  // namespace pmc::cuda

namespace pmc::ops {

/// The per-buffer AdamW of ops/optimizer.hpp on the GPU (one launch per parameter), and its multi-tensor form
/// (cuda::adamw_multi_tensor: one launch per step), which optim::AdamW::step uses on this device.
template <>
struct AdamWKernel<Cuda> {
  static constexpr bool multi_tensor = true;
  template <std::floating_point T>
  static void step_multi(std::span<const AdamWBuffer<T>> buffers) {
    cuda::adamw_multi_tensor<T>(buffers);
  }

  template <std::floating_point T>
  static void step(T* p, const T* g, T* m, T* v, std::int64_t n, const AdamWCoefficients& c) {
    if (n == 0) return;
    cuda::kernels::adamw_kernel<T><<<cuda::kernels::grid_for(n, cuda::detail::kOptimThreads),
                                     cuda::detail::kOptimThreads, 0, cuda::current_stream()>>>(
        p, g, m, v, n, cuda::detail::adamw_scalars<T>(c), nullptr);
    PMC_CUDA_CHECK_LAUNCH();
  }
};

/// ops/optimizer.hpp's flat-buffer helpers on device buffers. sum_squares and all_finite return host values
/// and wait for the current stream. The multi-tensor forms (what optim::grad_norm, clip_grads_with_norm and
/// DynamicLossScaler::unscale use on this device) make one launch for the whole parameter list, and the two
/// that return a value one read-back.
template <>
struct ParamOps<Cuda> {
  static constexpr bool multi_tensor = true;
  template <class T>
  static double sum_squares_multi(std::span<const T* const> xs, std::span<const std::int64_t> ns) {
    return cuda::sum_squares_multi_tensor<T>(xs, ns);
  }
  template <class T>
  static void scale_multi(std::span<T* const> xs, std::span<const std::int64_t> ns, T factor) {
    cuda::scale_multi_tensor<T>(xs, ns, factor);
  }
  template <class T>
  static bool all_finite_multi(std::span<const T* const> xs, std::span<const std::int64_t> ns) {
    return cuda::all_finite_multi_tensor<T>(xs, ns);
  }

  template <class T>
  static double sum_squares(const T* x, std::int64_t n) {
    const T* const bufs[1] = {x};
    const std::int64_t sizes[1] = {n};
    return cuda::sum_squares_multi_tensor<T>(std::span<const T* const>(bufs), std::span<const std::int64_t>(sizes));
  }
  template <class T>
  static void scale(T* x, std::int64_t n, T factor) {
    if (n == 0) return;
    cuda::kernels::scale_kernel<T><<<grid(n), cuda::detail::kOptimThreads, 0, cuda::current_stream()>>>(
        x, n, static_cast<compute_t<T>>(factor));
    PMC_CUDA_CHECK_LAUNCH();
  }
  template <class T>
  static bool all_finite(const T* x, std::int64_t n) {
    if (n == 0) return true;
    auto flag = cuda::allocate_uninitialized(sizeof(int));
    PMC_CUDA_CHECK(cudaMemsetAsync(flag.get(), 0, sizeof(int), cuda::current_stream()));
    cuda::kernels::nonfinite_kernel<T><<<grid(n), cuda::detail::kOptimThreads, 0, cuda::current_stream()>>>(
        x, n, static_cast<int*>(flag.get()));
    PMC_CUDA_CHECK_LAUNCH();
    int h = 0;
    PMC_CUDA_CHECK(cudaMemcpyAsync(&h, flag.get(), sizeof(int), cudaMemcpyDeviceToHost, cuda::current_stream()));
    PMC_CUDA_CHECK(cudaStreamSynchronize(cuda::current_stream()));
    return h == 0;
  }
  template <class G, class T>
  static void axpy(const G* x, T* y, std::int64_t n, T alpha) {
    if (n == 0) return;
    cuda::kernels::axpy_kernel<G, T><<<grid(n), cuda::detail::kOptimThreads, 0, cuda::current_stream()>>>(
        x, y, n, static_cast<compute_t<T>>(alpha));
    PMC_CUDA_CHECK_LAUNCH();
  }
  template <class S, class T>
  static void convert(const S* src, T* dst, std::int64_t n) {
    if (n == 0) return;
    cuda::kernels::convert_kernel<S, T><<<grid(n), cuda::detail::kOptimThreads, 0, cuda::current_stream()>>>(src, dst,
                                                                                                             n);
    PMC_CUDA_CHECK_LAUNCH();
  }
  template <class T>
  static void fill(T* x, std::int64_t n, T value) {
    if (n == 0) return;
    cuda::kernels::fill_kernel<T><<<grid(n), cuda::detail::kOptimThreads, 0, cuda::current_stream()>>>(x, n, value);
    PMC_CUDA_CHECK_LAUNCH();
  }

 private:
  static unsigned grid(std::int64_t n) { return cuda::kernels::grid_for(n, cuda::detail::kOptimThreads); }
};

}  // namespace pmc::ops

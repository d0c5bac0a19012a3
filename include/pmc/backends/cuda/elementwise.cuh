// SPDX-License-Identifier: MIT
// Elementwise<Cuda> (see pmc/ops/elementwise.hpp), plus device-side helpers: dtype conversion, a strided
// gather (cuda::contiguous) and the deterministic reduction behind sum/mean.
#pragma once

#include <pmc/backends/cuda/allocator.hpp>
#include <pmc/backends/cuda/copy.hpp>
#include <pmc/backends/cuda/kernels/elementwise.cuh>
#include <pmc/backends/cuda/stream.hpp>
#include <pmc/ops/elementwise.hpp>

namespace pmc::cuda {

namespace detail {
inline constexpr int kElementwiseThreads = 256;

/// The GPU kernels' layout need beyond the op contracts' shapes: check_contiguous_all(op, t1, "t1", t2, "t2", ...)
/// checks that each defined tensor is contiguous, in the contracts' wording.
inline void check_contiguous_all(const char*) {}
template <class T, class... Rest>
void check_contiguous_all(const char* op, const Tensor<T, Cuda>& t, const char* name, const Rest&... rest) {
  if (t.defined()) ops::detail::check_contiguous(t, op, name);
  check_contiguous_all(op, rest...);
}

/// Σ f(x[i]) over n elements, deterministic, in double, written to out[0] (device) times `scale`.
template <class T, class Out, class F>
void reduce_sum(const T* x, std::int64_t n, Out* out, double scale, F f) {
  constexpr int threads = 256;
  constexpr std::int64_t min_chunk = 1 << 14;
  const std::int64_t blocks = std::clamp<std::int64_t>((n + min_chunk - 1) / min_chunk, 1, 1024);
  const std::int64_t chunk = (n + blocks - 1) / blocks;
  auto partial = allocate_uninitialized(static_cast<std::size_t>(blocks) * sizeof(double));
  auto* pp = static_cast<double*>(partial.get());
  kernels::partial_sum_kernel<<<static_cast<unsigned>(blocks), threads, 0, current_stream()>>>(x, n, chunk, pp, f);
  PMC_CUDA_CHECK_LAUNCH();
  kernels::final_sum_kernel<<<1, 1024, 0, current_stream()>>>(pp, static_cast<int>(blocks), out, scale);
  PMC_CUDA_CHECK_LAUNCH();
}

struct Identity {
  template <class C>
  __device__ C operator()(C v) const { return v; }
};
}  // namespace detail

/// dst ← U(src), elementwise (bf16 master weights, fp32 copies of bf16 gradients).
template <class S, class U>
void convert(const Tensor<S, Cuda>& src, const Tensor<U, Cuda>& dst) {
  detail::check_contiguous_all("cuda::convert", src, "src", dst, "dst");
  check_same_shape(src.shape(), dst.shape(), "cuda::convert");
  const std::int64_t n = src.numel();
  if (n == 0) return;
  kernels::convert_kernel<<<kernels::grid_for(n, detail::kElementwiseThreads), detail::kElementwiseThreads, 0,
                            current_stream()>>>(src.data(), dst.data(), n);
  PMC_CUDA_CHECK_LAUNCH();
}

/// This tensor if contiguous, else a contiguous device copy (the strided gather runs on the GPU).
template <class T>
Tensor<T, Cuda> contiguous(const Tensor<T, Cuda>& t) {
  if (t.is_contiguous()) return t;
  auto out = empty<T>(t.shape());
  kernels::StridedView v{};
  v.rank = t.rank();
  for (int d = 0; d < t.rank(); ++d) {
    v.shape[d] = t.shape()[d];
    v.strides[d] = t.strides()[d];
  }
  const std::int64_t n = t.numel();
  if (n == 0) return out;
  kernels::gather_kernel<<<kernels::grid_for(n, detail::kElementwiseThreads), detail::kElementwiseThreads, 0,
                           current_stream()>>>(t.data(), v, out.data(), n);
  PMC_CUDA_CHECK_LAUNCH();
  return out;
}

}  // namespace pmc::cuda

namespace pmc::ops {

template <>
struct Elementwise<Cuda> {
  template <class T>
  static void add(const Tensor<T, Cuda>& a, const Tensor<T, Cuda>& b, const Tensor<T, Cuda>& out) {
    check_elementwise_args("add", a, b, out);
    map2(a, b, out, [] __device__(compute_t<T> x, compute_t<T> y) { return x + y; });
  }
  template <class T>
  static void mul(const Tensor<T, Cuda>& a, const Tensor<T, Cuda>& b, const Tensor<T, Cuda>& out) {
    check_elementwise_args("mul", a, b, out);
    map2(a, b, out, [] __device__(compute_t<T> x, compute_t<T> y) { return x * y; });
  }
  template <class T>
  static void scale(const Tensor<T, Cuda>& a, float s, const Tensor<T, Cuda>& out) {
    check_elementwise_args("scale", a, out);
    const auto cs = static_cast<compute_t<T>>(s);
    map2(a, a, out, [cs] __device__(compute_t<T> x, compute_t<T>) { return cs * x; });
  }
  template <class T>
  static void accumulate(const Tensor<T, Cuda>& dst, const Tensor<T, Cuda>& src, float alpha = 1) {
    check_elementwise_args("accumulate", dst, src);
    const auto ca = static_cast<compute_t<T>>(alpha);
    map2(dst, src, dst, [ca] __device__(compute_t<T> d, compute_t<T> s) { return d + ca * s; });
  }
  /// Σ a in double (deterministic two-pass reduction), returned to the host: waits for the current stream.
  template <class T>
  static compute_t<T> sum(const Tensor<T, Cuda>& a) {
    return reduce_to_host(a, 1.0);
  }
  /// Σ a / numel; 0 for an empty tensor. Waits for the current stream.
  template <class T>
  static compute_t<T> mean(const Tensor<T, Cuda>& a) {
    return a.numel() == 0 ? compute_t<T>(0) : reduce_to_host(a, 1.0 / static_cast<double>(a.numel()));
  }
  /// da += dout ⊙ b, db += dout ⊙ a; each only if defined().
  template <class T>
  static void mul_backward(const Tensor<T, Cuda>& a, const Tensor<T, Cuda>& b, const Tensor<T, Cuda>& dout,
                           const Tensor<T, Cuda>& da, const Tensor<T, Cuda>& db) {
    check_elementwise_args("mul backward", a, b, dout);
    auto fma = [] __device__(compute_t<T> g, compute_t<T> x, compute_t<T> y) { return g + x * y; };
    if (da.defined()) {
      check_elementwise_args("mul backward", a, da);
      map3(da, dout, b, fma);
    }
    if (db.defined()) {
      check_elementwise_args("mul backward", b, db);
      map3(db, dout, a, fma);
    }
  }

 private:
  template <class T, class F>
  static void map2(const Tensor<T, Cuda>& a, const Tensor<T, Cuda>& b, const Tensor<T, Cuda>& out, F f) {
    const std::int64_t n = a.numel();
    if (n == 0) return;
    constexpr int threads = cuda::detail::kElementwiseThreads;
    cuda::kernels::map2_kernel<<<cuda::kernels::grid_for(n, threads), threads, 0, cuda::current_stream()>>>(
        a.data(), b.data(), out.data(), n, f);
    PMC_CUDA_CHECK_LAUNCH();
  }
  template <class T, class F>
  static void map3(const Tensor<T, Cuda>& acc, const Tensor<T, Cuda>& x, const Tensor<T, Cuda>& y, F f) {
    const std::int64_t n = acc.numel();
    if (n == 0) return;
    constexpr int threads = cuda::detail::kElementwiseThreads;
    cuda::kernels::map3_kernel<<<cuda::kernels::grid_for(n, threads), threads, 0, cuda::current_stream()>>>(
        acc.data(), x.data(), y.data(), n, f);
    PMC_CUDA_CHECK_LAUNCH();
  }
  template <class T>
  static compute_t<T> reduce_to_host(const Tensor<T, Cuda>& a, double scale) {
    check_elementwise_args("sum", a);
    if (a.numel() == 0) return compute_t<T>(0);
    auto out = cuda::allocate_uninitialized(sizeof(double));
    cuda::detail::reduce_sum(a.data(), a.numel(), static_cast<double*>(out.get()), scale, cuda::detail::Identity{});
    double h = 0;
    PMC_CUDA_CHECK(cudaMemcpyAsync(&h, out.get(), sizeof(double), cudaMemcpyDeviceToHost, cuda::current_stream()));
    PMC_CUDA_CHECK(cudaStreamSynchronize(cuda::current_stream()));
    return static_cast<compute_t<T>>(h);
  }
};

}  // namespace pmc::ops

// SPDX-License-Identifier: MIT
// RmsNorm<Cuda> (see pmc/ops/rms_norm.hpp): block-per-row forward and dx, deterministic two-pass dw.
#pragma once

#include <pmc/backends/cuda/elementwise.cuh>
#include <pmc/backends/cuda/kernels/rms_norm.cuh>
#include <pmc/ops/rms_norm.hpp>

namespace pmc::ops {

template <>
struct RmsNorm<Cuda> {
  template <class T>
  static void forward(const Tensor<T, Cuda>& x, const Tensor<T, Cuda>& w, float eps, const Tensor<T, Cuda>& y,
                      const Tensor<compute_t<T>, Cuda>& rstd) {
    const auto [n, d] = check_rms_norm_args(x, w, y, rstd);
    cuda::detail::check_contiguous_all("rms_norm", x, "x", y, "y");
    if (n == 0) return;
    // An undefined rstd (inference) is written to a scratch buffer.
    const Tensor<compute_t<T>, Cuda> r = rstd.defined() ? rstd : cuda::empty<compute_t<T>>(Shape{n});
    cuda::kernels::rms_norm_forward_kernel<<<static_cast<unsigned>(n), cuda::kernels::threads_for_row(d, 512), 0,
                                             cuda::current_stream()>>>(x.data(), w.data(), y.data(), r.data(), d, eps);
    PMC_CUDA_CHECK_LAUNCH();
  }

  /// dx += rstd·g − x·rstd³·(Σ g·x)/D with g = dy ⊙ w;  dw += Σ_n dy ⊙ x · rstd (each only if defined).
  template <class T>
  static void backward(const Tensor<T, Cuda>& x, const Tensor<T, Cuda>& w, const Tensor<compute_t<T>, Cuda>& rstd,
                       const Tensor<T, Cuda>& dy, const Tensor<T, Cuda>& dx, const Tensor<T, Cuda>& dw) {
    using C = compute_t<T>;
    const auto [n, d] = check_rms_norm_backward_args(x, w, rstd, dy, dx, dw);
    cuda::detail::check_contiguous_all("rms_norm backward", x, "x", dy, "dy", dx, "dx");
    if (n == 0) return;
    const auto stream = cuda::current_stream();
    if (dx.defined()) {
      cuda::kernels::rms_norm_backward_dx_kernel<<<static_cast<unsigned>(n), cuda::kernels::threads_for_row(d, 512),
                                                   0, stream>>>(x.data(), w.data(), rstd.data(), dy.data(), dx.data(),
                                                                d);
      PMC_CUDA_CHECK_LAUNCH();
    }
    if (dw.defined()) {
      // Chunks of 64 rows: the partition depends on N only, so dw is bitwise reproducible on any GPU.
      constexpr std::int64_t rows_per_chunk = 64;
      const std::int64_t chunks = (n + rows_per_chunk - 1) / rows_per_chunk;
      PMC_CHECK(chunks < 65536, "RmsNorm<Cuda>::backward: ", n, " rows exceed the grid limit");
      auto partial = cuda::allocate_uninitialized(static_cast<std::size_t>(chunks * d) * sizeof(C));
      auto* pp = static_cast<C*>(partial.get());
      constexpr int threads = 128;
      const unsigned col_blocks = static_cast<unsigned>((d + threads - 1) / threads);
      cuda::kernels::rms_norm_dw_partial_kernel<<<dim3(col_blocks, static_cast<unsigned>(chunks)), threads, 0,
                                                  stream>>>(x.data(), rstd.data(), dy.data(), pp, n, d,
                                                            rows_per_chunk);
      PMC_CUDA_CHECK_LAUNCH();
      cuda::kernels::rms_norm_dw_final_kernel<T><<<col_blocks, threads, 0, stream>>>(pp, dw.data(), chunks, d);
      PMC_CUDA_CHECK_LAUNCH();
    }
  }
};

}  // namespace pmc::ops

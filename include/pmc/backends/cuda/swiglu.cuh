// SPDX-License-Identifier: MIT
// SwiGlu<Cuda> (see pmc/ops/swiglu.hpp): SiLU and the SwiGLU gate, forward and accumulating backward.
#pragma once

#include <pmc/backends/cuda/elementwise.cuh>
#include <pmc/backends/cuda/kernels/swiglu.cuh>
#include <pmc/ops/swiglu.hpp>

namespace pmc::ops {

template <>
struct SwiGlu<Cuda> {
  template <class T>
  static void silu_forward(const Tensor<T, Cuda>& a, const Tensor<T, Cuda>& y) {
    check_silu_args(a, y);
    cuda::detail::check_contiguous_all("silu", a, "a", y, "y");
    launch_forward(a.data(), static_cast<const T*>(nullptr), y.data(), a.numel());
  }
  template <class T>
  static void silu_backward(const Tensor<T, Cuda>& a, const Tensor<T, Cuda>& dy, const Tensor<T, Cuda>& da) {
    check_silu_backward_args(a, dy, da);
    if (!da.defined()) return;
    cuda::detail::check_contiguous_all("silu backward", a, "a", dy, "dy", da, "da");
    launch_backward(a.data(), static_cast<const T*>(nullptr), dy.data(), da.data(), static_cast<T*>(nullptr),
                    a.numel());
  }
  template <class T>
  static void forward(const Tensor<T, Cuda>& a, const Tensor<T, Cuda>& b, const Tensor<T, Cuda>& h) {
    check_swiglu_args(a, b, h);
    cuda::detail::check_contiguous_all("swiglu", a, "a", b, "b", h, "h");
    launch_forward(a.data(), b.data(), h.data(), a.numel());
  }
  /// da += dh ⊙ b ⊙ σ(a)(1 + a(1 − σ(a))),  db += dh ⊙ silu(a); each only if defined().
  template <class T>
  static void backward(const Tensor<T, Cuda>& a, const Tensor<T, Cuda>& b, const Tensor<T, Cuda>& dh,
                       const Tensor<T, Cuda>& da, const Tensor<T, Cuda>& db) {
    check_swiglu_backward_args(a, b, dh, da, db);
    cuda::detail::check_contiguous_all("swiglu backward", a, "a", b, "b", dh, "dh", da, "da", db, "db");
    launch_backward(a.data(), b.data(), dh.data(), da.defined() ? da.data() : nullptr,
                    db.defined() ? db.data() : nullptr, a.numel());
  }

 private:
  template <class T>
  static void launch_forward(const T* a, const T* b, T* h, std::int64_t n) {
    if (n == 0) return;
    constexpr int threads = 256;
    cuda::kernels::swiglu_forward_kernel<<<cuda::kernels::grid_for(n, threads), threads, 0, cuda::current_stream()>>>(
        a, b, h, n);
    PMC_CUDA_CHECK_LAUNCH();
  }
  template <class T>
  static void launch_backward(const T* a, const T* b, const T* dh, T* da, T* db, std::int64_t n) {
    if (n == 0 || (!da && !db)) return;
    constexpr int threads = 256;
    cuda::kernels::swiglu_backward_kernel<<<cuda::kernels::grid_for(n, threads), threads, 0,
                                            cuda::current_stream()>>>(a, b, dh, da, db, n);
    PMC_CUDA_CHECK_LAUNCH();
  }
};

}  // namespace pmc::ops

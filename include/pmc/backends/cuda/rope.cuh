// SPDX-License-Identifier: MIT
// Rope<Cuda> (see pmc/ops/rope.hpp): interleaved (Meta) and rotate-half (Hugging Face) layouts.
#pragma once

#include <pmc/backends/cuda/elementwise.cuh>
#include <pmc/backends/cuda/kernels/rope.cuh>
#include <pmc/ops/rope.hpp>

namespace pmc::ops {

template <>
struct Rope<Cuda> {
  template <class T>
  static void forward(const Tensor<T, Cuda>& x, std::int64_t pos0, const RopeParams& rope, RopeLayout layout,
                      const Tensor<T, Cuda>& y) {
    check_rope_args(x, y, pos0);
    launch<T, false>(x, pos0, rope, layout, y, "rope");
  }
  /// dx += R(−θ) dy.
  template <class T>
  static void backward(const Tensor<T, Cuda>& dy, std::int64_t pos0, const RopeParams& rope, RopeLayout layout,
                       const Tensor<T, Cuda>& dx) {
    if (!dx.defined()) return;
    check_rope_backward_args(dy, dx, pos0);
    launch<T, true>(dy, pos0, rope, layout, dx, "rope backward");
  }

 private:
  template <class T, bool Inverse>
  static void launch(const Tensor<T, Cuda>& x, std::int64_t pos0, const RopeParams& rope, RopeLayout layout,
                     const Tensor<T, Cuda>& y, const char* what) {
    cuda::detail::check_contiguous_all(what, x, "x", y, "y");
    const std::int64_t b = x.size(0), t = x.size(1), h = x.size(2), dh = x.size(3);
    // dh/2 threads per block row (at most 256, so every launch stays within any register budget)
    PMC_CHECK(dh <= 512, what, ": head dim ", dh, " exceeds the GPU kernel's 512");
    PMC_CHECK(b < 65536, what, ": batch ", b, " exceeds the grid limit");
    if (x.numel() == 0) return;
    const unsigned half = static_cast<unsigned>(dh / 2);
    const unsigned hy = static_cast<unsigned>(std::clamp<std::int64_t>(256 / half, 1, h));
    cuda::kernels::rope_kernel<T, Inverse><<<dim3(static_cast<unsigned>(t), static_cast<unsigned>(b)),
                                             dim3(half, hy), 0, cuda::current_stream()>>>(
        x.data(), y.data(), t, h, dh, pos0, rope, layout == RopeLayout::interleaved);
    PMC_CUDA_CHECK_LAUNCH();
  }
};

}  // namespace pmc::ops

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
  static void forward(const Tensor<T, Cuda>& x, std::int64_t pos0, float theta, RopeLayout layout,
                      const Tensor<T, Cuda>& y) {
    launch<T, false>(x, pos0, theta, layout, y, "Rope<Cuda>::forward");
  }
  /// dx += R(−θ) dy.
  template <class T>
  static void backward(const Tensor<T, Cuda>& dy, std::int64_t pos0, float theta, RopeLayout layout,
                       const Tensor<T, Cuda>& dx) {
    launch<T, true>(dy, pos0, theta, layout, dx, "Rope<Cuda>::backward");
  }

 private:
  template <class T, bool Inverse>
  static void launch(const Tensor<T, Cuda>& x, std::int64_t pos0, float theta, RopeLayout layout,
                     const Tensor<T, Cuda>& y, const char* what) {
    PMC_CHECK(x.rank() == 4, what, ": expected (B, T, H, Dh), got ", x.shape().str());
    cuda::detail::check_same(x, y, what);
    const std::int64_t b = x.size(0), t = x.size(1), h = x.size(2), dh = x.size(3);
    // dh/2 threads per block row (at most 256, so every launch stays within any register budget)
    PMC_CHECK(dh % 2 == 0 && dh <= 512, what, ": head dim ", dh, " must be even and at most 512");
    PMC_CHECK(pos0 >= 0, what, ": negative start position ", pos0);
    PMC_CHECK(b < 65536, what, ": batch ", b, " exceeds the grid limit");
    if (x.numel() == 0) return;
    const unsigned half = static_cast<unsigned>(dh / 2);
    const unsigned hy = static_cast<unsigned>(std::clamp<std::int64_t>(256 / half, 1, h));
    cuda::kernels::rope_kernel<T, Inverse><<<dim3(static_cast<unsigned>(t), static_cast<unsigned>(b)),
                                             dim3(half, hy), 0, cuda::current_stream()>>>(
        x.data(), y.data(), t, h, dh, pos0, theta, layout == RopeLayout::interleaved);
    PMC_CUDA_CHECK_LAUNCH();
  }
};

}  // namespace pmc::ops

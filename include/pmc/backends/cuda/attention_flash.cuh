// SPDX-License-Identifier: MIT
// cuda::AttentionFlash: the fused, memory-efficient alternative to ops::Attention<Cuda>.
//
// Contract (same math, masking and GQA mapping as pmc/ops/attention.hpp, but no probabilities are saved):
//   forward(q, k, v, pos0, out, lse)
//     q, out: (B, T, H, Dh)   k, v: (B, S, Hkv, Dh), S ≥ pos0 + T   lse: (B, H, T) float, saved:
//     lse[b,h,t] = log Σ_{s ≤ pos0+t} exp(q·k/√Dh)
//   backward(q, k, v, out, lse, dout, pos0, dq, dk, dv)    accumulates (+=) into dq, dk, dv
// Memory: O(B·H·T) for lse and a (B, H, T) scratch in backward; the T x S matrices are never formed.
// Head dims: 16, 32, 64, 128. Types: float, bf16, f16 (fp32 math). Deterministic (no atomics).
#pragma once

#include <cmath>

#include <pmc/backends/cuda/attention.cuh>
#include <pmc/backends/cuda/kernels/attention_flash.cuh>

namespace pmc::cuda {

struct AttentionFlash {
  template <class T>
  static void forward(const Tensor<T, Cuda>& q, const Tensor<T, Cuda>& k, const Tensor<T, Cuda>& v,
                      std::int64_t pos0, const Tensor<T, Cuda>& out, const Tensor<float, Cuda>& lse) {
    constexpr const char* op = "AttentionFlash::forward";
    const auto d = check(q, k, v, pos0, op);
    ops::detail::check_shape_of(out, "out", q, "q", op);
    expect_shape(lse, Shape{d.b, d.h, d.t}, "AttentionFlash::forward lse");
    detail::check_contiguous_all(op, out, "out", lse, "lse");
    if (q.numel() == 0) return;
    dispatch(d.dh, [&]<int Dh>() {
      namespace f = kernels::flash;
      auto kernel = f::forward_kernel<T, Dh>;
      constexpr std::size_t smem = f::forward_smem<Dh>();
      allow_smem(kernel, smem);
      kernel<<<grid(d.t, d.b * d.h), f::kWarps * 32, smem, current_stream()>>>(
          q.data(), k.data(), v.data(), out.data(), lse.data(), d.t, d.s, static_cast<int>(d.h),
          static_cast<int>(d.hkv), pos0, scale(d.dh));
      PMC_CUDA_CHECK_LAUNCH();
    });
  }

  template <class T>
  static void backward(const Tensor<T, Cuda>& q, const Tensor<T, Cuda>& k, const Tensor<T, Cuda>& v,
                       const Tensor<T, Cuda>& out, const Tensor<float, Cuda>& lse, const Tensor<T, Cuda>& dout,
                       std::int64_t pos0, const Tensor<T, Cuda>& dq, const Tensor<T, Cuda>& dk,
                       const Tensor<T, Cuda>& dv) {
    constexpr const char* op = "AttentionFlash::backward";
    const auto d = check(q, k, v, pos0, op);
    ops::detail::check_shape_of(out, "out", q, "q", op);
    ops::detail::check_shape_of(dout, "dout", q, "q", op);
    ops::detail::check_shape_of(dq, "dq", q, "q", op);
    ops::detail::check_shape_of(dk, "dk", k, "k", op);
    ops::detail::check_shape_of(dv, "dv", v, "v", op);
    expect_shape(lse, Shape{d.b, d.h, d.t}, "AttentionFlash::backward lse");
    detail::check_contiguous_all(op, out, "out", dout, "dout", dq, "dq", dk, "dk", dv, "dv", lse, "lse");
    if (q.numel() == 0) return;
    auto delta = empty<float>(Shape{d.b, d.h, d.t});
    const auto stream = current_stream();
    dispatch(d.dh, [&]<int Dh>() {
      namespace f = kernels::flash;
      const std::int64_t rows = d.b * d.t * d.h;
      f::delta_kernel<T, Dh><<<static_cast<unsigned>((rows + f::kWarps - 1) / f::kWarps), f::kWarps * 32, 0,
                               stream>>>(out.data(), dout.data(), delta.data(), d.t, static_cast<int>(d.h), rows);
      PMC_CUDA_CHECK_LAUNCH();

      auto dq_kernel = f::dq_kernel<T, Dh>;
      constexpr std::size_t dq_smem = f::dq_smem<Dh>();
      allow_smem(dq_kernel, dq_smem);
      dq_kernel<<<grid(d.t, d.b * d.h), f::kWarps * 32, dq_smem, stream>>>(
          q.data(), k.data(), v.data(), dout.data(), lse.data(), delta.data(), dq.data(), d.t, d.s,
          static_cast<int>(d.h), static_cast<int>(d.hkv), pos0, scale(d.dh));
      PMC_CUDA_CHECK_LAUNCH();

      auto dkdv_kernel = f::dkdv_kernel<T, Dh>;
      constexpr std::size_t dkdv_smem = f::dkdv_smem<Dh>();
      allow_smem(dkdv_kernel, dkdv_smem);
      dkdv_kernel<<<grid(d.s, d.b * d.hkv), f::kWarps * 32, dkdv_smem, stream>>>(
          q.data(), k.data(), v.data(), dout.data(), lse.data(), delta.data(), dk.data(), dv.data(), d.t, d.s,
          static_cast<int>(d.h), static_cast<int>(d.hkv), pos0, scale(d.dh));
      PMC_CUDA_CHECK_LAUNCH();
    });
  }

 private:
  template <class T>
  static ops::AttentionDims check(const Tensor<T, Cuda>& q, const Tensor<T, Cuda>& k, const Tensor<T, Cuda>& v,
                                     std::int64_t pos0, const char* what) {
    static_assert(!std::is_same_v<T, double>, "AttentionFlash: float, bf16 or f16");
    const auto d = detail::attention_dims(q, k, v, pos0, what);
    PMC_CHECK(d.dh == 16 || d.dh == 32 || d.dh == 64 || d.dh == 128, what, ": head dim ", d.dh,
              " is not one of 16, 32, 64, 128");
    PMC_CHECK(d.b * d.h < 65536, what, ": B·H = ", d.b * d.h, " exceeds the grid limit");
    return d;
  }
  static float scale(std::int64_t dh) { return 1.f / std::sqrt(static_cast<float>(dh)); }
  static dim3 grid(std::int64_t rows, std::int64_t bh) {
    return dim3(static_cast<unsigned>((rows + kernels::flash::kBlockRows - 1) / kernels::flash::kBlockRows),
                static_cast<unsigned>(bh));
  }
  /// Kernels needing more than the default 48 KiB of dynamic shared memory must opt in.
  template <class K>
  static void allow_smem(K kernel, std::size_t bytes) {
    if (bytes > 48 * 1024)
      PMC_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)));
  }
  template <class F>
  static void dispatch(std::int64_t dh, F&& f) {
    switch (dh) {
      case 16: f.template operator()<16>(); break;
      case 32: f.template operator()<32>(); break;
      case 64: f.template operator()<64>(); break;
      case 128: f.template operator()<128>(); break;
      default: fail("AttentionFlash: unsupported head dim ", dh);
    }
  }
};

}  // namespace pmc::cuda

namespace pmc::ops {

// Attention<Cuda>'s fused path (declared in attention.cuh), what autograd::attention runs on the GPU.

template <class T>
bool Attention<Cuda>::lse_supported(const Tensor<T, Cuda>& q, const Tensor<T, Cuda>& k, const Tensor<T, Cuda>& v,
                                    std::int64_t pos0, std::int64_t window) {
  if constexpr (std::is_same_v<T, double>) {
    return false;
  } else {
    if (window != 0) return false;  // AttentionFlash has no sliding window
    if (q.rank() != 4 || k.rank() != 4 || v.rank() != 4) return false;
    if (!q.is_contiguous() || !k.is_contiguous() || !v.is_contiguous()) return false;
    const std::int64_t b = q.size(0), h = q.size(2), dh = q.size(3);
    if (dh != 16 && dh != 32 && dh != 64 && dh != 128) return false;
    if (b * h >= 65536) return false;
    return pos0 >= 0;
  }
}

template <class T>
void Attention<Cuda>::forward_lse(const Tensor<T, Cuda>& q, const Tensor<T, Cuda>& k, const Tensor<T, Cuda>& v,
                                  std::int64_t pos0, const Tensor<T, Cuda>& out, const Tensor<float, Cuda>& lse) {
  cuda::AttentionFlash::forward(q, k, v, pos0, out, lse);
}

template <class T>
void Attention<Cuda>::backward_lse(const Tensor<T, Cuda>& q, const Tensor<T, Cuda>& k, const Tensor<T, Cuda>& v,
                                   const Tensor<T, Cuda>& out, const Tensor<float, Cuda>& lse,
                                   const Tensor<T, Cuda>& dout, std::int64_t pos0, const Tensor<T, Cuda>& dq,
                                   const Tensor<T, Cuda>& dk, const Tensor<T, Cuda>& dv) {
  if (!dq.defined() && !dk.defined() && !dv.defined()) return;
  // AttentionFlash writes all three: an input that needs no gradient gets a scratch buffer (zeroed: the
  // kernels accumulate), dropped on return.
  const Tensor<T, Cuda> dq_ = dq.defined() ? dq : Tensor<T, Cuda>(q.shape());
  const Tensor<T, Cuda> dk_ = dk.defined() ? dk : Tensor<T, Cuda>(k.shape());
  const Tensor<T, Cuda> dv_ = dv.defined() ? dv : Tensor<T, Cuda>(v.shape());
  cuda::AttentionFlash::backward(q, k, v, out, lse, dout, pos0, dq_, dk_, dv_);
}

}  // namespace pmc::ops

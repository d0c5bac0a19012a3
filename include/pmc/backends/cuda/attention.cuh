// SPDX-License-Identifier: MIT
// Attention<Cuda> (see pmc/ops/attention.hpp): the reference GPU attention, cuBLASLt GEMMs around a causal
// masked softmax kernel. It materializes the (B, H, T, S) probabilities the contract saves, so its memory
// grows as T²; attention_flash.cuh is the fused alternative that never does.
//
// Layout: q, out (B, T, H, Dh), k, v (B, S, Hkv, Dh) are used in place, with no transposes: for a batch b
// and a query-head offset g < G = H / Hkv, the heads h = kvh·G + g (kvh < Hkv) form one strided batch of
// Hkv GEMMs (q/out stride G·Dh, k/v stride Dh, scores stride G·T·S). So each product is B·G cuBLASLt calls;
// G = 1 for LLaMA-7B/13B (B calls). dk and dv sum over the G query heads of a KV head by accumulating the
// g-loop in order (beta = 1): deterministic.
// 16-bit inputs: the scores GEMM writes fp32 (bf16/f16 in, fp32 out); P and dS are rounded to T to feed the
// next GEMMs; every softmax computation is fp32.
#pragma once

#include <cmath>

#include <pmc/backends/cuda/cublaslt.hpp>
#include <pmc/backends/cuda/elementwise.cuh>
#include <pmc/backends/cuda/kernels/attention.cuh>
#include <pmc/ops/attention.hpp>

namespace pmc::cuda::detail {

/// The contract's checks of q, k, v (ops::check_attention_inputs), and the GPU's layout need: contiguous tensors.
template <class T>
ops::AttentionDims attention_dims(const Tensor<T, Cuda>& q, const Tensor<T, Cuda>& k, const Tensor<T, Cuda>& v,
                                  std::int64_t pos0, const char* op) {
  const auto d = ops::check_attention_inputs(q, k, v, pos0, op);
  check_contiguous_all(op, q, "q", k, "k", v, "v");
  return d;
}

}  // namespace pmc::cuda::detail

namespace pmc::ops {

template <>
struct Attention<Cuda> {
  // ---- the fused path (cuda::AttentionFlash), which autograd::attention takes whenever it applies ----
  /// This device has a fused attention whose backward needs only the log-sum-exp (B, H, T) float, not the
  /// (B, H, T, S) probabilities (autograd asks: `requires { requires ops::Attention<D>::saves_lse; }`).
  static constexpr bool saves_lse = true;
  /// Whether forward_lse/backward_lse take this case: no sliding window, head dim 16, 32, 64 or 128, float,
  /// bf16 or f16, contiguous q, k, v (GQA and a cached prefix pos0 > 0 are fine), B·H within the grid.
  template <class T>
  static bool lse_supported(const Tensor<T, Cuda>& q, const Tensor<T, Cuda>& k, const Tensor<T, Cuda>& v,
                            std::int64_t pos0, std::int64_t window);
  /// out = attention(q, k, v) as forward() without a window; lse (B, H, T) float receives the log-sum-exp.
  template <class T>
  static void forward_lse(const Tensor<T, Cuda>& q, const Tensor<T, Cuda>& k, const Tensor<T, Cuda>& v,
                          std::int64_t pos0, const Tensor<T, Cuda>& out, const Tensor<float, Cuda>& lse);
  /// dq += ..., dk += ..., dv += ... from out, lse and dout (backward()'s contract); an undefined dq, dk or dv
  /// is skipped.
  template <class T>
  static void backward_lse(const Tensor<T, Cuda>& q, const Tensor<T, Cuda>& k, const Tensor<T, Cuda>& v,
                           const Tensor<T, Cuda>& out, const Tensor<float, Cuda>& lse, const Tensor<T, Cuda>& dout,
                           std::int64_t pos0, const Tensor<T, Cuda>& dq, const Tensor<T, Cuda>& dk,
                           const Tensor<T, Cuda>& dv);

  /// out = softmax(q kᵀ/√Dh, causal) v; probs (B, H, T, S) float receives P, or is undefined when no backward
  /// follows (P then lives in a scratch buffer).
  template <class T>
  static void forward(const Tensor<T, Cuda>& q, const Tensor<T, Cuda>& k, const Tensor<T, Cuda>& v,
                      std::int64_t pos0, const Tensor<T, Cuda>& out, const Tensor<compute_t<T>, Cuda>& saved_probs,
                      std::int64_t window = 0) {
    static_assert(!std::is_same_v<T, double>, "Attention<Cuda>: float, bf16 or f16");
    const auto d = check_attention_args(q, k, v, pos0, out, saved_probs);
    PMC_CHECK(window >= 0, "attention: negative sliding window ", window);
    cuda::detail::check_contiguous_all("attention", q, "q", k, "k", v, "v", out, "out");
    if (q.numel() == 0 || d.s == 0) return;
    const Tensor<compute_t<T>, Cuda> probs =
        saved_probs.defined() ? saved_probs : cuda::empty<compute_t<T>>(Shape{d.b, d.h, d.t, d.s});
    const float scale = 1.f / std::sqrt(static_cast<float>(d.dh));
    float* scores = probs.data();
    const std::int64_t ts = d.t * d.s, q_bstride = d.t * d.h * d.dh, kv_bstride = d.s * d.hkv * d.dh;

    // S = q kᵀ / √Dh  (fp32 out)
    for (std::int64_t b = 0; b < d.b; ++b)
      for (std::int64_t g = 0; g < d.group; ++g)
        cuda::gemm<T, float>(d.t, d.s, d.dh, d.hkv,                                                   //
                             q.data() + b * q_bstride + g * d.dh, d.h * d.dh, d.group * d.dh, false,  //
                             k.data() + b * kv_bstride, d.hkv * d.dh, d.dh, true,                     //
                             scores + (b * d.h + g) * ts, d.s, d.group * ts, scale, 0.f);

    // P = causal softmax(S) (within the sliding window, if any), and P in T for the next GEMM
    Tensor<T, Cuda> p16;
    if constexpr (!std::is_same_v<T, float>) p16 = cuda::empty<T>(probs.shape());
    cuda::kernels::causal_softmax_kernel<T><<<static_cast<unsigned>(d.b * d.h * d.t),
                                              cuda::kernels::threads_for_row(d.s, 256), 0, cuda::current_stream()>>>(
        scores, p16.defined() ? p16.data() : nullptr, d.t, d.s, pos0, window);
    PMC_CUDA_CHECK_LAUNCH();
    const T* p = p_operand(probs, p16);

    // out = P v
    for (std::int64_t b = 0; b < d.b; ++b)
      for (std::int64_t g = 0; g < d.group; ++g)
        cuda::gemm<T, T>(d.t, d.dh, d.s, d.hkv,                                 //
                         p + (b * d.h + g) * ts, d.s, d.group * ts, false,      //
                         v.data() + b * kv_bstride, d.hkv * d.dh, d.dh, false,  //
                         out.data() + b * q_bstride + g * d.dh, d.h * d.dh, d.group * d.dh, 1.f, 0.f);
  }

  /// dq += dS k/√Dh, dk += dSᵀ q/√Dh, dv += Pᵀ dout, with dP = dout vᵀ and dS = P ⊙ (dP − Σ_s dP ⊙ P); an
  /// undefined dq, dk or dv (an input that needs no gradient) is skipped.
  template <class T>
  static void backward(const Tensor<T, Cuda>& q, const Tensor<T, Cuda>& k, const Tensor<T, Cuda>& v,
                       const Tensor<compute_t<T>, Cuda>& probs, const Tensor<T, Cuda>& dout, const Tensor<T, Cuda>& dq,
                       const Tensor<T, Cuda>& dk, const Tensor<T, Cuda>& dv) {
    static_assert(!std::is_same_v<T, double>, "Attention<Cuda>: float, bf16 or f16");
    // P already holds the causal mask, so pos0 is not needed.
    const auto d = check_attention_backward_args(q, k, v, probs, dout, dq, dk, dv);
    cuda::detail::check_contiguous_all("attention backward", q, "q", k, "k", v, "v", dout, "dout", dq, "dq", dk, "dk",
                                       dv, "dv");
    if (q.numel() == 0 || d.s == 0 || (!dq.defined() && !dk.defined() && !dv.defined())) return;
    const float scale = 1.f / std::sqrt(static_cast<float>(d.dh));
    const std::int64_t ts = d.t * d.s, q_bstride = d.t * d.h * d.dh, kv_bstride = d.s * d.hkv * d.dh;
    const auto stream = cuda::current_stream();

    // dP = dout vᵀ (fp32)
    auto dprobs = cuda::empty<float>(probs.shape());
    for (std::int64_t b = 0; b < d.b; ++b)
      for (std::int64_t g = 0; g < d.group; ++g)
        cuda::gemm<T, float>(d.t, d.s, d.dh, d.hkv,                                                      //
                             dout.data() + b * q_bstride + g * d.dh, d.h * d.dh, d.group * d.dh, false,  //
                             v.data() + b * kv_bstride, d.hkv * d.dh, d.dh, true,                        //
                             dprobs.data() + (b * d.h + g) * ts, d.s, d.group * ts, 1.f, 0.f);

    // dS in T (in place over dP for float); P in T for dv
    Tensor<T, Cuda> ds16, p16;
    if constexpr (!std::is_same_v<T, float>) {
      ds16 = cuda::empty<T>(probs.shape());
      p16 = cuda::empty<T>(probs.shape());
      cuda::convert(probs, p16);
    }
    T* ds = nullptr;
    if constexpr (std::is_same_v<T, float>) ds = dprobs.data();
    else ds = ds16.data();
    cuda::kernels::softmax_backward_kernel<T><<<static_cast<unsigned>(d.b * d.h * d.t),
                                                cuda::kernels::threads_for_row(d.s, 256), 0, stream>>>(
        probs.data(), dprobs.data(), ds, d.s);
    PMC_CUDA_CHECK_LAUNCH();
    const T* p = p_operand(probs, p16);

    for (std::int64_t b = 0; b < d.b; ++b)
      for (std::int64_t g = 0; g < d.group; ++g) {
        const T* ds_bg = ds + (b * d.h + g) * ts;
        const T* p_bg = p + (b * d.h + g) * ts;
        const std::int64_t qo = b * q_bstride + g * d.dh, kvo = b * kv_bstride;
        // dq += dS k / √Dh
        if (dq.defined())
          cuda::gemm<T, T>(d.t, d.dh, d.s, d.hkv, ds_bg, d.s, d.group * ts, false,  //
                           k.data() + kvo, d.hkv * d.dh, d.dh, false,               //
                           dq.data() + qo, d.h * d.dh, d.group * d.dh, scale, 1.f);
        // dk += dSᵀ q / √Dh   (summed over g by accumulation)
        if (dk.defined())
          cuda::gemm<T, T>(d.s, d.dh, d.t, d.hkv, ds_bg, d.s, d.group * ts, true,  //
                           q.data() + qo, d.h * d.dh, d.group * d.dh, false,       //
                           dk.data() + kvo, d.hkv * d.dh, d.dh, scale, 1.f);
        // dv += Pᵀ dout
        if (dv.defined())
          cuda::gemm<T, T>(d.s, d.dh, d.t, d.hkv, p_bg, d.s, d.group * ts, true,  //
                           dout.data() + qo, d.h * d.dh, d.group * d.dh, false,   //
                           dv.data() + kvo, d.hkv * d.dh, d.dh, 1.f, 1.f);
      }
  }

 private:
  // P as the T-typed GEMM operand: the saved fp32 probabilities themselves, or their 16-bit copy.
  template <class T>
  static const T* p_operand(const Tensor<float, Cuda>& probs, const Tensor<T, Cuda>& p16) {
    if constexpr (std::is_same_v<T, float>) return probs.data();
    else return p16.data();
  }
};

}  // namespace pmc::ops

// The fused path's definitions (forward_lse and backward_lse call cuda::AttentionFlash).
#include <pmc/backends/cuda/attention_flash.cuh>

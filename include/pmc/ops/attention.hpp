// SPDX-License-Identifier: MIT
// Causal scaled dot-product attention with grouped-query heads (GQA): query head h reads KV head
// h / (H / Hkv). Query t sits at absolute position pos0 + t and sees keys s ≤ pos0 + t.
//   S[b,h,t,s] = q[b,t,h,:] · k[b,s,h/G,:] / sqrt(Dh)      (−∞ where s > pos0 + t)
//   P = softmax_s(S)                                      out[b,t,h,:] = Σ_s P[b,h,t,s] v[b,s,h/G,:]
//   q, out: (B, T, H, Dh)   k, v: (B, S, Hkv, Dh) with S ≥ pos0 + T   probs: (B, H, T, S) float, saved
//   (forward may be given an undefined probs when no backward follows: inference, KV-cache decoding)
//   backward: dP = dout · vᵀ,  dS = P ⊙ (dP − Σ_s dP ⊙ P),  dq += dS · k / √Dh,  dk += dSᵀ · q / √Dh,
//             dv += Pᵀ · dout   (dk, dv summed over the G query heads of a KV head)
#pragma once

#include <cstdint>

#include <pmc/core/device.hpp>
#include <pmc/core/tensor.hpp>

namespace pmc::ops {

/// Specialized per device:
///   template <class T> static void forward(const Tensor<T, D>& q, const Tensor<T, D>& k, const Tensor<T, D>& v,
///                                          std::int64_t pos0, const Tensor<T, D>& out,
///                                          const Tensor<compute_t<T>, D>& probs);
///   template <class T> static void backward(const Tensor<T, D>& q, const Tensor<T, D>& k, const Tensor<T, D>& v,
///                                           const Tensor<compute_t<T>, D>& probs, const Tensor<T, D>& dout,
///                                           const Tensor<T, D>& dq, const Tensor<T, D>& dk, const Tensor<T, D>& dv);
template <Device D>
struct Attention;

}  // namespace pmc::ops

// SPDX-License-Identifier: MIT
// Causal scaled dot-product attention with grouped-query heads (GQA): query head h reads KV head
// h / (H / Hkv). Query t sits at absolute position pos0 + t and sees keys s ≤ pos0 + t, or with a sliding window
// W > 0 (Mistral) only the W latest of them: pos0 + t − W < s ≤ pos0 + t.
//   S[b,h,t,s] = q[b,t,h,:] · k[b,s,h/G,:] / sqrt(Dh)      (−∞ where s > pos0 + t or s ≤ pos0 + t − W)
//   P = softmax_s(S)                                      out[b,t,h,:] = Σ_s P[b,h,t,s] v[b,s,h/G,:]
//   q, out: (B, T, H, Dh)   k, v: (B, S, Hkv, Dh) with S ≥ pos0 + T   probs: (B, H, T, S) float, saved
//   (forward may be given an undefined probs when no backward follows: inference, KV-cache decoding)
//   backward: dP = dout · vᵀ,  dS = P ⊙ (dP − Σ_s dP ⊙ P),  dq += dS · k / √Dh,  dk += dSᵀ · q / √Dh,
//             dv += Pᵀ · dout   (dk, dv summed over the G query heads of a KV head)
//   packed windows (ops::Segments, pos0 = 0; a device that takes them: the CPU): query t of row b also needs
//   s ≥ start[b·T + t], its example's first token (a block-diagonal causal mask: −∞ elsewhere); P is 0 there, so
//   backward, from the saved P, is unchanged.
#pragma once

#include <cstdint>

#include <pmc/core/device.hpp>
#include <pmc/core/dtype.hpp>
#include <pmc/core/tensor.hpp>
#include <pmc/ops/checks.hpp>

namespace pmc::ops {

/// Specialized per device:
///   template <class T> static void forward(const Tensor<T, D>& q, const Tensor<T, D>& k, const Tensor<T, D>& v,
///                                          std::int64_t pos0, const Tensor<T, D>& out,
///                                          const Tensor<compute_t<T>, D>& probs, std::int64_t window = 0);
///   (window 0: every earlier key; a device that has no sliding window refuses window > 0 with a pmc::Error)
///   A device that takes packed windows adds a last parameter `const Segments* segments = nullptr`
///   (ops/segments.hpp; autograd::supports_packing<D>).
///   template <class T> static void backward(const Tensor<T, D>& q, const Tensor<T, D>& k, const Tensor<T, D>& v,
///                                           const Tensor<compute_t<T>, D>& probs, const Tensor<T, D>& dout,
///                                           const Tensor<T, D>& dq, const Tensor<T, D>& dk, const Tensor<T, D>& dv);
template <Device D>
struct Attention;

/// D specializes the contract (T = float stands for every T).
template <class D>
concept ImplementsAttention = Device<D> && requires(const Tensor<float, D>& t, std::int64_t pos0) {
  Attention<D>::forward(t, t, t, pos0, t, t);
  Attention<D>::backward(t, t, t, t, t, t, t, t);
};

/// The extents of one call: query heads h read KV head h / group.
struct AttentionDims {
  std::int64_t b, t, h, dh, s, hkv, group;
};

namespace detail {
template <class T, Device D>
void check_rank4(const Tensor<T, D>& x, const char* op, const char* name, const char* layout) {
  check_defined(x, op, name);
  PMC_CHECK(x.rank() == 4, op, ": ", name, " must be ", layout, ", got ", x.shape().str());
}

template <class C, Device D>
void check_probs(const Tensor<C, D>& probs, const AttentionDims& d, const char* op) {
  PMC_CHECK(probs.defined() && probs.is_contiguous() && probs.shape() == Shape({d.b, d.h, d.t, d.s}), op,
            ": probs must be a contiguous (B, H, T, S) = (", d.b, ", ", d.h, ", ", d.t, ", ", d.s, ") tensor, got ",
            probs.shape().str());
}
}  // namespace detail

/// The checks forward and backward share: q, k, v as (B, T, H, Dh), (B, S, Hkv, Dh) with H a multiple of Hkv and
/// S ≥ pos0 + T. Returns the extents.
template <class T, Device D>
AttentionDims check_attention_inputs(const Tensor<T, D>& q, const Tensor<T, D>& k, const Tensor<T, D>& v,
                                     std::int64_t pos0, const char* op = "attention") {
  detail::check_rank4(q, op, "q", "(B, T, H, Dh)");
  detail::check_rank4(k, op, "k", "(B, S, Hkv, Dh)");
  detail::check_shape_of(v, "v", k, "k", op);
  AttentionDims d{q.size(0), q.size(1), q.size(2), q.size(3), k.size(1), k.size(2), 1};
  PMC_CHECK(k.size(0) == d.b && k.size(3) == d.dh, op, ": q ", q.shape().str(), " (B, T, H, Dh) and k ",
            k.shape().str(), " (B, S, Hkv, Dh) disagree on B or Dh");
  PMC_CHECK(d.hkv > 0 && d.h % d.hkv == 0, op, ": ", d.h, " query heads of q ", q.shape().str(),
            " are not a multiple of the ", d.hkv, " KV heads of k ", k.shape().str());
  PMC_CHECK(pos0 >= 0 && pos0 + d.t <= d.s, op, ": queries at positions [", pos0, ", ", pos0 + d.t,
            ") need that many keys, but k ", k.shape().str(), " has S = ", d.s);
  d.group = d.h / d.hkv;
  return d;
}

/// The forward's checks: the inputs as above, out shaped as q, probs, if defined, contiguous (B, H, T, S).
/// Layouts beyond that are the backend's to check.
template <class T, class C, Device D>
AttentionDims check_attention_args(const Tensor<T, D>& q, const Tensor<T, D>& k, const Tensor<T, D>& v,
                                   std::int64_t pos0, const Tensor<T, D>& out, const Tensor<C, D>& probs) {
  const AttentionDims d = check_attention_inputs(q, k, v, pos0, "attention");
  detail::check_shape_of(out, "out", q, "q", "attention");
  if (probs.defined()) detail::check_probs(probs, d, "attention");
  return d;
}

/// The backward's checks (pos0 = 0: the keys must cover the queries): probs as saved by forward, dout shaped
/// as q, and dq, dk, dv (each only if defined) shaped as q, k, v.
template <class T, class C, Device D>
AttentionDims check_attention_backward_args(const Tensor<T, D>& q, const Tensor<T, D>& k, const Tensor<T, D>& v,
                                            const Tensor<C, D>& probs, const Tensor<T, D>& dout,
                                            const Tensor<T, D>& dq, const Tensor<T, D>& dk, const Tensor<T, D>& dv) {
  constexpr const char* op = "attention backward";
  const AttentionDims d = check_attention_inputs(q, k, v, 0, op);
  detail::check_probs(probs, d, op);
  detail::check_shape_of(dout, "dout", q, "q", op);
  if (dq.defined()) detail::check_shape_of(dq, "dq", q, "q", op);
  if (dk.defined()) detail::check_shape_of(dk, "dk", k, "k", op);
  if (dv.defined()) detail::check_shape_of(dv, "dv", v, "v", op);
  return d;
}

}  // namespace pmc::ops

// SPDX-License-Identifier: MIT
// Differentiable functions on Var: each runs its op's forward and, when grad is on and an input requires
// grad, records one node whose closure calls the op's hand-written backward (fused ops are single nodes).
#pragma once

#include <cstdint>
#include <memory>
#include <type_traits>

#include <pmc/autograd/tape.hpp>
#include <pmc/core/transfer.hpp>
#include <pmc/ops/attention.hpp>
#include <pmc/ops/cross_entropy.hpp>
#include <pmc/ops/elementwise.hpp>
#include <pmc/ops/embedding.hpp>
#include <pmc/ops/matmul.hpp>
#include <pmc/ops/quantize.hpp>
#include <pmc/ops/rms_norm.hpp>
#include <pmc/ops/rope.hpp>
#include <pmc/ops/segments.hpp>
#include <pmc/ops/swiglu.hpp>

namespace pmc::autograd {

namespace detail {
/// The gradient buffer of `v` if it requires grad, else an undefined tensor (which backwards skip).
template <class T, Device D>
Tensor<T, D> grad_target(const Var<T, D>& v) {
  return v.requires_grad() ? v.state()->grad_buffer() : Tensor<T, D>();
}
template <class T, Device D>
Var<T, D> make_output(Tensor<T, D> value, bool requires_grad) {
  return Var<T, D>(std::move(value), requires_grad);
}
/// Whether D's attention has a fused form whose backward needs only the log-sum-exp (B, H, T) instead of the
/// (B, H, T, S) probabilities: ops::Attention<D> declares `static constexpr bool saves_lse = true` and
/// lse_supported(q, k, v, pos0, window), forward_lse(q, k, v, pos0, out, lse) and
/// backward_lse(q, k, v, out, lse, dout, pos0, dq, dk, dv) (the GPU's flash attention).
template <class D>
concept AttentionSavesLse = requires { requires ops::Attention<D>::saves_lse; };
/// Whether D's attention and RoPE take packed windows (ops::Segments): Attention<D>::forward's and
/// Rope<D>::forward/backward's last argument `const ops::Segments*` (the CPU's).
template <class D>
concept TakesSegments = requires(const Tensor<float, D>& t, const ops::Segments* s, const ops::RopeParams& r) {
  ops::Attention<D>::forward(t, t, t, std::int64_t(0), t, t, std::int64_t(0), s);
  ops::Rope<D>::forward(t, std::int64_t(0), r, ops::RopeLayout::interleaved, t, s);
  ops::Rope<D>::backward(t, std::int64_t(0), r, ops::RopeLayout::interleaved, t, s);
};
}  // namespace detail

/// Whether device D trains on packed windows (several examples per window; ops::Segments).
template <class D>
inline constexpr bool supports_packing = detail::TakesSegments<D>;

/// The error of a device that does not: a packed window (--pack) on it.
template <class D>
void check_packing_supported() {
  PMC_CHECK(supports_packing<D>, "packing (--pack) is CPU-only for now: ", D::name, "'s attention and RoPE take no ",
            "packed segments");
}

/// op(a) · op(b): (M, K)·(K, N) → (M, N), batched over a leading dimension; see ops/matmul.hpp.
template <class T, Device D>
Var<T, D> matmul(const Var<T, D>& a, const Var<T, D>& b, bool trans_a = false, bool trans_b = false) {
  const auto& av = a.value();
  const auto& bv = b.value();
  PMC_CHECK(av.rank() >= 2 && bv.rank() >= 2, "matmul: operands of rank ≥ 2 expected, got ", av.shape().str(),
            " and ", bv.shape().str());
  Shape out_shape = av.shape();
  out_shape[-2] = trans_a ? av.size(-1) : av.size(-2);
  out_shape[-1] = trans_b ? bv.size(-2) : bv.size(-1);
  Tensor<T, D> c = Tensor<T, D>::empty(out_shape);  // ops overwrite their outputs
  ops::Matmul<D>::forward(av, bv, c, trans_a, trans_b);
  const bool rg = needs_grad(a, b);
  auto out = detail::make_output(std::move(c), rg);
  if (rg) {
    record_backward(out, [a, b, out, trans_a, trans_b] {
      ops::Matmul<D>::backward(a.value(), b.value(), out.grad(), detail::grad_target(a), detail::grad_target(b),
                               trans_a, trans_b);
    });
  }
  return out;
}

/// A linear layer without bias, PyTorch layout: y = x · Wᵀ,  x: (N, in), W: (out, in) → y: (N, out).
template <class T, Device D>
Var<T, D> linear(const Var<T, D>& x, const Var<T, D>& weight) {
  PMC_CHECK(x.value().rank() == 2 && weight.value().rank() == 2 && x.value().size(1) == weight.value().size(1),
            "linear: input ", x.shape().str(), " does not match weight ", weight.shape().str(),
            " (expected (N, in) and (out, in))");
  return matmul(x, weight, false, true);
}

/// Under NoGrad (inference: decoding, prompts, scoring), linear(x, QuantizedMatrix)'s forward multiplies straight
/// from the quantized blocks (Quantize<D>::matmul: no dequantized copy of W): always for q8_0 / q4_0 (on the CPU
/// int8 dot products, 1.2-4.8x the fp32 GEMM on a dequantized weight at 128 rows: bench/decode_quant_bench
/// BM_PromptProduct), and up to this many rows for int8 / nf4 (a decoded row of W against each row of x: slower
/// than the GEMM on long prompts). Otherwise it dequantizes W and runs a GEMM (a training step, with grad on,
/// computes every product of the base on the same dequantized weights).
inline constexpr std::int64_t kQuantizedMatmulMaxRows = 256;

/// Whether linear(x, QuantizedMatrix) under NoGrad multiplies straight from the blocks for `rows` rows of x.
inline bool fused_quantized_rows(ops::QuantFormat f, std::int64_t rows) {
  return ops::is_ggml_format(f) || rows <= kQuantizedMatmulMaxRows;
}

/// A linear layer on a frozen quantized weight (LoRA / QLoRA's base, weight-only quantized inference):
/// y = x · dequant(W)ᵀ,  x: (N, in), W: (out, in) quantized (ops/quantize.hpp) → y: (N, out). Forward, under
/// NoGrad with fused_quantized_rows(W's format, N) and T float or bf16, runs Quantize<D>::matmul (no dequantized copy
/// of W); else it dequantizes W into a temporary T tensor that is freed after the product. Backward (recorded only
/// when x requires grad) dequantizes again and accumulates dx += dy · dequant(W). W gets no gradient. The closure holds a copy of w (tensor handles).
template <class T, Device D>
Var<T, D> linear(const Var<T, D>& x, const ops::QuantizedMatrix<D>& w) {
  PMC_CHECK(x.value().rank() == 2 && x.value().size(1) == w.cols, "linear: input ", x.shape().str(),
            " does not match the quantized weight (", w.rows, ", ", w.cols, ") (expected (N, in) and (out, in))");
  auto y = Tensor<T, D>::empty(Shape{x.value().size(0), w.rows});
  bool fused = false;
  const bool rg = needs_grad(x);
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, bf16>) {
    if (!grad_enabled() && fused_quantized_rows(w.format, x.value().size(0)) && x.value().is_contiguous()) {
      ops::Quantize<D>::matmul(x.value(), w, y);  // straight from the blocks (decoding, scoring)
      fused = true;
    }
  }
  if (!fused) {
    const auto wd = Tensor<T, D>::empty(w.shape());
    ops::Quantize<D>::dequantize(w, wd);
    ops::Matmul<D>::forward(x.value(), wd, y, false, true);
  }
  auto out = detail::make_output(std::move(y), rg);
  if (rg) {
    record_backward(out, [x, w, out] {
      const auto wd = Tensor<T, D>::empty(w.shape());
      ops::Quantize<D>::dequantize(w, wd);
      ops::Matmul<D>::backward(x.value(), wd, out.grad(), x.state()->grad_buffer(), Tensor<T, D>(), false, true);
    });
  }
  return out;
}

/// a + b (same shapes).
template <class T, Device D>
Var<T, D> add(const Var<T, D>& a, const Var<T, D>& b) {
  check_same_shape(a.shape(), b.shape(), "add");
  auto c = Tensor<T, D>::empty(a.shape());
  ops::Elementwise<D>::add(a.value(), b.value(), c);
  const bool rg = needs_grad(a, b);
  auto out = detail::make_output(std::move(c), rg);
  if (rg) {
    record_backward(out, [a, b, out] {
      if (a.requires_grad()) ops::Elementwise<D>::accumulate(a.state()->grad_buffer(), out.grad());
      if (b.requires_grad()) ops::Elementwise<D>::accumulate(b.state()->grad_buffer(), out.grad());
    });
  }
  return out;
}

/// a ⊙ b (same shapes).
template <class T, Device D>
Var<T, D> mul(const Var<T, D>& a, const Var<T, D>& b) {
  check_same_shape(a.shape(), b.shape(), "mul");
  auto c = Tensor<T, D>::empty(a.shape());
  ops::Elementwise<D>::mul(a.value(), b.value(), c);
  const bool rg = needs_grad(a, b);
  auto out = detail::make_output(std::move(c), rg);
  if (rg) {
    record_backward(out, [a, b, out] {
      ops::Elementwise<D>::mul_backward(a.value(), b.value(), out.grad(), detail::grad_target(a),
                                        detail::grad_target(b));
    });
  }
  return out;
}

/// s · a.
template <class T, Device D>
Var<T, D> scale(const Var<T, D>& a, float s) {
  auto c = Tensor<T, D>::empty(a.shape());
  ops::Elementwise<D>::scale(a.value(), s, c);
  const bool rg = needs_grad(a);
  auto out = detail::make_output(std::move(c), rg);
  if (rg) {
    record_backward(out, [a, out, s] { ops::Elementwise<D>::accumulate(a.state()->grad_buffer(), out.grad(), s); });
  }
  return out;
}

/// Inverted dropout: y = x ⊙ m, m_i = 1/(1 − p) with probability 1 − p, else 0. The mask is a function of
/// (key, i) alone (splitmix64 of key + i as a uniform in [0, 1)), drawn on the host: the same key gives the same
/// mask on every device and thread count, and a recomputed forward draws it again. p = 0 returns x itself.
template <class T, Device D>
Var<T, D> dropout(const Var<T, D>& x, double p, std::uint64_t key) {
  PMC_CHECK(p >= 0 && p < 1, "dropout: probability ", p, " is not in [0, 1)");
  if (p == 0) return x;
  Tensor<T, Cpu> mask(x.shape());
  const T keep = static_cast<T>(1.0 / (1.0 - p));
  std::uint64_t i = 0;
  for (auto& m : mask.span()) {
    std::uint64_t z = key + 0x9e3779b97f4a7c15ull * ++i;  // splitmix64
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    const double u = static_cast<double>(z >> 11) * 0x1.0p-53;
    m = u < p ? T(0) : keep;
  }
  return mul(x, Var<T, D>(to_device<D>(mask), false));
}

/// Σ a, as a scalar of shape ().
template <class T, Device D>
Var<T, D> sum(const Var<T, D>& a) {
  auto total = ops::Elementwise<D>::sum(a.value());
  const bool rg = needs_grad(a);
  auto out = detail::make_output(scalar_on<T, D>(static_cast<T>(total)), rg);
  if (rg) {
    record_backward(out, [a, out] {
      Tensor<T, Cpu> ones(a.shape());
      ones.fill(item(out.grad()));
      ops::Elementwise<D>::accumulate(a.state()->grad_buffer(), to_device<D>(ones));
    });
  }
  return out;
}

/// Σ a / numel(a), as a scalar of shape ().
template <class T, Device D>
Var<T, D> mean(const Var<T, D>& a) {
  return scale(sum(a), 1.0f / static_cast<float>(a.value().numel()));
}

/// The same elements with a new shape (a view of the value; the gradient is reshaped back).
template <class T, Device D>
Var<T, D> reshape(const Var<T, D>& a, const Shape& shape) {
  const bool rg = needs_grad(a);
  auto out = detail::make_output(a.value().reshape(shape), rg);
  if (rg) {
    record_backward(out, [a, out] {
      ops::Elementwise<D>::accumulate(a.state()->grad_buffer(), out.grad().reshape(a.shape()));
    });
  }
  return out;
}

namespace detail {
/// 1 · bᵀ: the bias b (out) repeated on n rows, as the product of a column of ones and the bias row (its
/// gradient, Σ over rows, comes from matmul's backward).
template <class T, Device D>
Var<T, D> bias_rows(std::int64_t n, const Var<T, D>& bias) {
  Tensor<T, Cpu> ones_host(Shape{n, 1});
  ones_host.fill(T(1));
  const Var<T, D> ones(to_device<D>(ones_host), false);
  return matmul(ones, reshape(bias, Shape{1, bias.shape()[0]}));
}
}  // namespace detail

/// A linear layer with bias: y = x · Wᵀ + 1 · bᵀ,  x: (N, in), W: (out, in), b: (out) → y: (N, out). The bias
/// enters as a rank-1 product of a column of ones and the bias row, so its gradient, db = Σ_n dy[n, :], comes
/// from matmul's backward on every device (no op of its own; the cost is one K = 1 product).
template <class T, Device D>
Var<T, D> linear(const Var<T, D>& x, const Var<T, D>& weight, const Var<T, D>& bias) {
  PMC_CHECK(bias.shape().rank() == 1 && bias.shape()[0] == weight.shape()[0], "linear: bias ", bias.shape().str(),
            " does not match the ", weight.shape()[0], " outputs of weight ", weight.shape().str());
  return add(linear(x, weight), detail::bias_rows(x.shape()[0], bias));
}

/// The same on a frozen quantized weight: y = x · dequant(W)ᵀ + 1 · bᵀ.
template <class T, Device D>
Var<T, D> linear(const Var<T, D>& x, const ops::QuantizedMatrix<D>& weight, const Var<T, D>& bias) {
  PMC_CHECK(bias.shape().rank() == 1 && bias.shape()[0] == weight.rows, "linear: bias ", bias.shape().str(),
            " does not match the ", weight.rows, " outputs of the quantized weight");
  return add(linear(x, weight), detail::bias_rows(x.shape()[0], bias));
}

/// Embedding lookup: weight (V, D), tokens (N) → (N, D).
template <class T, Device D>
Var<T, D> embedding(const Var<T, D>& weight, const Tensor<std::int32_t, D>& tokens) {
  auto out_value = Tensor<T, D>::empty(Shape{tokens.numel(), weight.value().size(1)});
  ops::Embedding<D>::forward(weight.value(), tokens, out_value);
  const bool rg = needs_grad(weight);
  auto out = detail::make_output(std::move(out_value), rg);
  if (rg) {
    record_backward(out, [weight, tokens, out] {
      ops::Embedding<D>::backward(tokens, out.grad(), weight.state()->grad_buffer());
    });
  }
  return out;
}

/// RMSNorm over the last dimension: x (N, D), w (D) → (N, D); one fused node.
template <class T, Device D>
Var<T, D> rms_norm(const Var<T, D>& x, const Var<T, D>& weight, float eps) {
  auto y = Tensor<T, D>::empty(x.shape());
  auto rstd = Tensor<compute_t<T>, D>::empty(Shape{x.value().size(0)});
  ops::RmsNorm<D>::forward(x.value(), weight.value(), eps, y, rstd);
  const bool rg = needs_grad(x, weight);
  auto out = detail::make_output(std::move(y), rg);
  if (rg) {
    record_backward(out, [x, weight, rstd, out] {
      ops::RmsNorm<D>::backward(x.value(), weight.value(), rstd, out.grad(), detail::grad_target(x),
                                detail::grad_target(weight));
    });
  }
  return out;
}

/// Rotary embedding of x (B, T, H, Dh) for positions pos0 + t, or, packed (segments, pos0 = 0), for each
/// token's own position segments->position[b·T + t] (a device without packing refuses segments).
template <class T, Device D>
Var<T, D> rope(const Var<T, D>& x, std::int64_t pos0, const ops::RopeParams& rope, ops::RopeLayout layout,
               std::shared_ptr<const ops::Segments> segments = nullptr) {
  auto y = Tensor<T, D>::empty(x.shape());
  if (segments) {
    check_packing_supported<D>();
    if constexpr (detail::TakesSegments<D>) ops::Rope<D>::forward(x.value(), pos0, rope, layout, y, segments.get());
  } else {
    ops::Rope<D>::forward(x.value(), pos0, rope, layout, y);
  }
  const bool rg = needs_grad(x);
  auto out = detail::make_output(std::move(y), rg);
  if (rg) {
    record_backward(out, [x, out, pos0, rope, layout, segments] {
      if constexpr (detail::TakesSegments<D>) {
        if (segments) {
          ops::Rope<D>::backward(out.grad(), pos0, rope, layout, x.state()->grad_buffer(), segments.get());
          return;
        }
      }
      ops::Rope<D>::backward(out.grad(), pos0, rope, layout, x.state()->grad_buffer());
    });
  }
  return out;
}

/// Causal grouped-query attention: q (B, T, H, Dh), k, v (B, S, Hkv, Dh) → (B, T, H, Dh); one fused node.
/// window > 0: each query sees only the `window` latest keys (itself included), as Mistral's sliding window.
/// segments (packed windows, pos0 = 0): query t of row b sees only keys from segments->start[b·T + t] on (the
/// block-diagonal causal mask); a device without packing refuses them.
template <class T, Device D>
Var<T, D> attention(const Var<T, D>& q, const Var<T, D>& k, const Var<T, D>& v, std::int64_t pos0 = 0,
                    std::int64_t window = 0, std::shared_ptr<const ops::Segments> segments = nullptr) {
  const auto& qs = q.shape();
  const auto& ks = k.shape();
  PMC_CHECK(qs.rank() == 4 && ks.rank() == 4 && k.shape() == v.shape() && qs[0] == ks[0] && qs[3] == ks[3] &&
                qs[2] % ks[2] == 0 && ks[1] >= pos0 + qs[1],
            "attention: q ", qs.str(), " and k/v ", ks.str(), ", ", v.shape().str(),
            " do not fit (B, T, H, Dh) / (B, S, Hkv, Dh) with H a multiple of Hkv and S ≥ pos0 + T");
  if (segments) check_packing_supported<D>();
  if constexpr (detail::AttentionSavesLse<D>) {
    // The fused path where the device has one and it takes this case (else the saved-probabilities path below).
    if (!segments && ops::Attention<D>::lse_supported(q.value(), k.value(), v.value(), pos0, window)) {
      auto o = Tensor<T, D>::empty(qs);
      auto lse = Tensor<float, D>::empty(Shape{qs[0], qs[2], qs[1]});
      ops::Attention<D>::forward_lse(q.value(), k.value(), v.value(), pos0, o, lse);
      const bool rg = needs_grad(q, k, v);
      auto out = detail::make_output(std::move(o), rg);
      if (rg) {
        record_backward(out, [q, k, v, lse, out, pos0] {
          ops::Attention<D>::backward_lse(q.value(), k.value(), v.value(), out.value(), lse, out.grad(), pos0,
                                          detail::grad_target(q), detail::grad_target(k), detail::grad_target(v));
        });
      }
      return out;
    }
  }
  auto o = Tensor<T, D>::empty(qs);
  const bool rg = needs_grad(q, k, v);
  // Probabilities are kept for backward only; inference passes a one-row scratch per call.
  auto probs = Tensor<compute_t<T>, D>::empty(Shape{qs[0], qs[2], qs[1], ks[1]});
  if constexpr (detail::TakesSegments<D>) {
    ops::Attention<D>::forward(q.value(), k.value(), v.value(), pos0, o, probs, window, segments.get());
  } else {
    ops::Attention<D>::forward(q.value(), k.value(), v.value(), pos0, o, probs, window);
  }
  auto out = detail::make_output(std::move(o), rg);
  if (rg) {
    record_backward(out, [q, k, v, probs, out] {
      ops::Attention<D>::backward(q.value(), k.value(), v.value(), probs, out.grad(), detail::grad_target(q),
                                  detail::grad_target(k), detail::grad_target(v));
    });
  }
  return out;
}

/// SwiGLU gate: silu(a) ⊙ b, a, b: (N, F); one fused node.
template <class T, Device D>
Var<T, D> swiglu(const Var<T, D>& a, const Var<T, D>& b) {
  check_same_shape(a.shape(), b.shape(), "swiglu");
  auto h = Tensor<T, D>::empty(a.shape());
  ops::SwiGlu<D>::forward(a.value(), b.value(), h);
  const bool rg = needs_grad(a, b);
  auto out = detail::make_output(std::move(h), rg);
  if (rg) {
    record_backward(out, [a, b, out] {
      ops::SwiGlu<D>::backward(a.value(), b.value(), out.grad(), detail::grad_target(a), detail::grad_target(b));
    });
  }
  return out;
}

/// silu(a) = a · σ(a).
template <class T, Device D>
Var<T, D> silu(const Var<T, D>& a) {
  auto y = Tensor<T, D>::empty(a.shape());
  ops::SwiGlu<D>::silu_forward(a.value(), y);
  const bool rg = needs_grad(a);
  auto out = detail::make_output(std::move(y), rg);
  if (rg) {
    record_backward(out, [a, out] { ops::SwiGlu<D>::silu_backward(a.value(), out.grad(), a.state()->grad_buffer()); });
  }
  return out;
}

/// Mean cross-entropy of logits (N, V) against targets (N), skipping `ignore`; a scalar of shape ().
/// `count` (optional) receives the number of targets that counted, `value` (optional) the loss in double
/// (the returned scalar is rounded to T, which for bf16 keeps three significant digits).
template <class T, Device D>
Var<T, D> cross_entropy(const Var<T, D>& logits, const Tensor<std::int32_t, D>& targets,
                        std::int32_t ignore = ops::kIgnoreIndex, std::int64_t* count = nullptr,
                        double* value = nullptr) {
  PMC_CHECK(logits.value().rank() == 2 && targets.rank() == 1 && targets.size(0) == logits.value().size(0),
            "cross_entropy: logits ", logits.shape().str(), " and targets ", targets.shape().str(),
            " do not fit (N, V) and (N)");
  auto lse = Tensor<compute_t<T>, D>::empty(Shape{logits.value().size(0)});
  auto result = ops::CrossEntropy<D>::forward(logits.value(), targets, lse, ignore);
  if (count) *count = result.count;
  if (value) *value = result.loss;
  const bool rg = needs_grad(logits);
  auto out = detail::make_output(scalar_on<T, D>(static_cast<T>(result.loss)), rg);
  if (rg) {
    const std::int64_t n = result.count;
    record_backward(out, [logits, targets, lse, out, n, ignore] {
      ops::CrossEntropy<D>::backward(logits.value(), targets, lse, static_cast<double>(item(out.grad())), n,
                                     logits.state()->grad_buffer(), ignore);
    });
  }
  return out;
}

}  // namespace pmc::autograd

// SPDX-License-Identifier: MIT
// One LLaMA-7B transformer block, forward and backward, in bf16 with pmc's CUDA ops, and its model-FLOP
// utilization (MFU) against --peak_tflops (default: H100 SXM dense bf16, 989 TFLOP/s).
//   block: h = x + Wo·attn(rope(Wq·n1), rope(Wk·n1), Wv·n1),  y = h + W2·(silu(W1·n2) ⊙ W3·n2),
//          n1 = rmsnorm(x), n2 = rmsnorm(h)
// Model FLOPs per step (PaLM's convention, causal attention counted in full):
//   6·N·P + 12·N·T·D,  N = B·T tokens, P = 4·D² + 3·D·F block weights.
// Arg `attn`: 0 = GEMM + masked softmax (Attention<Cuda>), 1 = fused (cuda::AttentionFlash).
#include "bench_util.hpp"

namespace {

using pmc::bf16;
using pmc::Cuda;
using pmc::Tensor;
using Mm = pmc::ops::Matmul<Cuda>;

struct Dims {
  std::int64_t b, t, d, h, dh, f;
  std::int64_t n() const { return b * t; }
};

/// Weights, activations and gradients of one block.
struct Block {
  Dims s;
  Tensor<bf16, Cuda> w_norm1, wq, wk, wv, wo, w_norm2, w1, w3, w2;
  Tensor<bf16, Cuda> dw_norm1, dwq, dwk, dwv, dwo, dw_norm2, dw1, dw3, dw2;
  Tensor<bf16, Cuda> x, n1, q, k, v, o, h, n2, g, u, a, y;           // activations
  Tensor<float, Cuda> rstd1, rstd2, probs, lse;
  Tensor<bf16, Cuda> dy, dh, dn2, dg, du, da, do_, dq, dk, dv, dq0, dk0, dn1, dx;

  explicit Block(Dims d, bool flash) : s(d) {
    const std::int64_t n = d.n(), D = d.d, F = d.f;
    auto mat = [](std::int64_t r, std::int64_t c) { return Tensor<bf16, Cuda>({r, c}); };
    w_norm1 = Tensor<bf16, Cuda>({D});
    w_norm2 = Tensor<bf16, Cuda>({D});
    wq = mat(D, D), wk = mat(D, D), wv = mat(D, D), wo = mat(D, D);
    w1 = mat(F, D), w3 = mat(F, D), w2 = mat(D, F);
    dw_norm1 = Tensor<bf16, Cuda>({D});
    dw_norm2 = Tensor<bf16, Cuda>({D});
    dwq = mat(D, D), dwk = mat(D, D), dwv = mat(D, D), dwo = mat(D, D);
    dw1 = mat(F, D), dw3 = mat(F, D), dw2 = mat(D, F);
    for (auto* t : {&x, &n1, &q, &k, &v, &o, &h, &n2, &y, &dy, &dh, &dn2, &do_, &dq, &dk, &dv, &dq0, &dk0, &dn1, &dx})
      *t = mat(n, D);
    for (auto* t : {&g, &u, &a, &dg, &du, &da}) *t = mat(n, F);
    rstd1 = Tensor<float, Cuda>({n});
    rstd2 = Tensor<float, Cuda>({n});
    if (flash) lse = Tensor<float, Cuda>({d.b, d.h, d.t});
    else probs = Tensor<float, Cuda>({d.b, d.h, d.t, d.t});
    // Values barely matter for timing, but NaN/inf (and denormals) could: small finite constants.
    pmc::ops::ParamOps<Cuda>::fill(w_norm1.data(), D, bf16(1.f));
    pmc::ops::ParamOps<Cuda>::fill(w_norm2.data(), D, bf16(1.f));
    for (auto* w : {&wq, &wk, &wv, &wo, &w1, &w3, &w2})
      pmc::ops::ParamOps<Cuda>::fill(w->data(), w->numel(), bf16(0.01f));
    pmc::ops::ParamOps<Cuda>::fill(x.data(), x.numel(), bf16(0.5f));
    pmc::ops::ParamOps<Cuda>::fill(dy.data(), dy.numel(), bf16(0.001f));
  }

  Tensor<bf16, Cuda> heads(const Tensor<bf16, Cuda>& t) const { return t.reshape({s.b, s.t, s.h, s.dh}); }

  void forward(bool flash) {
    pmc::ops::RmsNorm<Cuda>::forward(x, w_norm1, 1e-5f, n1, rstd1);
    Mm::forward(n1, wq, q, false, true);
    Mm::forward(n1, wk, k, false, true);
    Mm::forward(n1, wv, v, false, true);
    pmc::ops::Rope<Cuda>::forward(heads(q), 0, 1e4f, pmc::ops::RopeLayout::rotate_half, heads(q));
    pmc::ops::Rope<Cuda>::forward(heads(k), 0, 1e4f, pmc::ops::RopeLayout::rotate_half, heads(k));
    if (flash) pmc::cuda::AttentionFlash::forward(heads(q), heads(k), heads(v), 0, heads(o), lse);
    else pmc::ops::Attention<Cuda>::forward(heads(q), heads(k), heads(v), 0, heads(o), probs);
    pmc::cuda::copy(x, h);
    Mm::forward(o, wo, h, false, true, 1.f, 1.f);  // h = x + o Woᵀ (the residual through beta = 1)
    pmc::ops::RmsNorm<Cuda>::forward(h, w_norm2, 1e-5f, n2, rstd2);
    Mm::forward(n2, w1, g, false, true);
    Mm::forward(n2, w3, u, false, true);
    pmc::ops::SwiGlu<Cuda>::forward(g, u, a);
    pmc::cuda::copy(h, y);
    Mm::forward(a, w2, y, false, true, 1.f, 1.f);  // y = h + a W2ᵀ
  }

  void backward(bool flash) {
    // The ops accumulate: zero every gradient first (part of the measured step, as in training).
    for (auto* t : {&dw_norm1, &dwq, &dwk, &dwv, &dwo, &dw_norm2, &dw1, &dw3, &dw2, &dn2, &dg, &du, &da, &do_, &dq,
                    &dk, &dv, &dq0, &dk0, &dn1})
      pmc::cuda::zero(*t);
    pmc::cuda::copy(dy, dh);  // the residual: dh = dy + (through the MLP)
    Mm::backward(a, w2, dy, da, dw2, false, true);
    pmc::ops::SwiGlu<Cuda>::backward(g, u, da, dg, du);
    Mm::backward(n2, w1, dg, dn2, dw1, false, true);
    Mm::backward(n2, w3, du, dn2, dw3, false, true);
    pmc::ops::RmsNorm<Cuda>::backward(h, w_norm2, rstd2, dn2, dh, dw_norm2);
    pmc::cuda::copy(dh, dx);  // the residual: dx = dh + (through attention)
    Mm::backward(o, wo, dh, do_, dwo, false, true);
    if (flash)
      pmc::cuda::AttentionFlash::backward(heads(q), heads(k), heads(v), heads(o), lse, heads(do_), 0, heads(dq),
                                          heads(dk), heads(dv));
    else
      pmc::ops::Attention<Cuda>::backward(heads(q), heads(k), heads(v), probs, heads(do_), heads(dq), heads(dk),
                                          heads(dv));
    pmc::ops::Rope<Cuda>::backward(heads(dq), 0, 1e4f, pmc::ops::RopeLayout::rotate_half, heads(dq0));
    pmc::ops::Rope<Cuda>::backward(heads(dk), 0, 1e4f, pmc::ops::RopeLayout::rotate_half, heads(dk0));
    Mm::backward(n1, wq, dq0, dn1, dwq, false, true);
    Mm::backward(n1, wk, dk0, dn1, dwk, false, true);
    Mm::backward(n1, wv, dv, dn1, dwv, false, true);
    pmc::ops::RmsNorm<Cuda>::backward(x, w_norm1, rstd1, dn1, dx, dw_norm1);
  }
};

/// Args: batch B, sequence T, attention kind.
void BM_Llama7bBlock_Bf16(benchmark::State& state) {
  if (!pmc::bench::have_device(state)) return;
  const bool flash = state.range(2) != 0;
  const Dims d{state.range(0), state.range(1), 4096, 32, 128, 11008};
  Block blk(d, flash);
  auto step = [&] {
    blk.forward(flash);
    blk.backward(flash);
  };
  step();  // warm-up: GEMM plans, allocator cache
  pmc::cuda::synchronize();
  for (auto _ : state) state.SetIterationTime(pmc::bench::time_on_gpu(step));
  const double n = static_cast<double>(d.n()), params = 4.0 * d.d * d.d + 3.0 * d.d * d.f;
  const double flops = 6.0 * n * params + 12.0 * n * static_cast<double>(d.t) * static_cast<double>(d.d);
  state.counters["TFLOP/s"] = benchmark::Counter(flops * 1e-12, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["MFU"] = benchmark::Counter(flops * 1e-12 / pmc::bench::peak_tflops(),
                                             benchmark::Counter::kIsIterationInvariantRate);
  state.counters["peak_GiB"] =
      static_cast<double>(pmc::cuda::allocator_stats().peak_in_use) / static_cast<double>(1 << 30);
}
BENCHMARK(BM_Llama7bBlock_Bf16)
    ->ArgNames({"B", "T", "attn"})
    ->Args({1, 2048, 0})
    ->Args({1, 2048, 1})
    ->Args({2, 2048, 1})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

PMC_CUDA_BENCHMARK_MAIN();

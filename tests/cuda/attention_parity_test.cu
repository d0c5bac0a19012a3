// SPDX-License-Identifier: MIT
// Attention<Cuda> (GEMMs + masked softmax) and cuda::AttentionFlash (fused) against Attention<Cpu>, with
// grouped KV heads, queries that start at pos0 > 0, and Mistral's sliding window; and autograd::attention on
// the GPU (the fused path where it applies, the GEMM path otherwise) against autograd::attention on the CPU.
#include "parity.hpp"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

namespace pmc::test {
namespace {

struct AttnCase {
  std::int64_t b, t, h, hkv, dh, pos0;
};

template <class T>
struct AttnData {
  Tensor<T> q, k, v, dout, dq, dk, dv;
};

template <class T>
AttnData<T> make_case(const AttnCase& c, std::mt19937& rng) {
  const std::int64_t s = c.pos0 + c.t;
  return {rnd<T>({c.b, c.t, c.h, c.dh}, rng), rnd<T>({c.b, s, c.hkv, c.dh}, rng), rnd<T>({c.b, s, c.hkv, c.dh}, rng),
          rnd<T>({c.b, c.t, c.h, c.dh}, rng), rnd<T>({c.b, c.t, c.h, c.dh}, rng), rnd<T>({c.b, s, c.hkv, c.dh}, rng),
          rnd<T>({c.b, s, c.hkv, c.dh}, rng)};
}

/// lse[b, h, t] = log Σ_{s ≤ pos0+t} exp(q·k/√Dh), in double.
template <class T>
Tensor<float> reference_lse(const AttnCase& c, const Tensor<T>& q, const Tensor<T>& k) {
  Tensor<float> lse({c.b, c.h, c.t});
  const std::int64_t g = c.h / c.hkv;
  for (std::int64_t b = 0; b < c.b; ++b)
    for (std::int64_t h = 0; h < c.h; ++h)
      for (std::int64_t t = 0; t < c.t; ++t) {
        std::vector<double> sc;
        for (std::int64_t s = 0; s <= c.pos0 + t; ++s) {
          double dot = 0;
          for (std::int64_t d = 0; d < c.dh; ++d)
            dot += static_cast<double>(static_cast<float>(q.at({b, t, h, d}))) *
                   static_cast<double>(static_cast<float>(k.at({b, s, h / g, d})));
          sc.push_back(dot / std::sqrt(static_cast<double>(c.dh)));
        }
        const double mx = *std::max_element(sc.begin(), sc.end());
        double sum = 0;
        for (double x : sc) sum += std::exp(x - mx);
        lse.at({b, h, t}) = static_cast<float>(mx + std::log(sum));
      }
  return lse;
}

const AttnCase kCases[] = {
    {2, 13, 4, 2, 16, 3},   // GQA (G = 2), a prefix of 3 cached positions
    {1, 40, 4, 1, 32, 0},   // multi-query (G = 4), more than one 32-key tile
    {2, 19, 2, 2, 64, 0},   // plain multi-head
    {1, 17, 2, 1, 128, 5},  // LLaMA's head dim
};

}  // namespace

TEST_CASE_TEMPLATE("attention/GEMM + masked softmax, forward and backward", T, float, bf16) {
  using C = compute_t<T>;
  std::mt19937 rng(30);
  for (const auto& c : kCases) {
    CAPTURE(c.h);
    CAPTURE(c.hkv);
    CAPTURE(c.dh);
    CAPTURE(c.pos0);
    auto a = make_case<T>(c, rng);
    const std::int64_t s = c.pos0 + c.t;
    Tensor<T> out({c.b, c.t, c.h, c.dh});
    Tensor<C> probs({c.b, c.h, c.t, s});
    Tensor<T, Cuda> outd({c.b, c.t, c.h, c.dh});
    Tensor<C, Cuda> probsd({c.b, c.h, c.t, s});
    auto qd = dev(a.q), kd = dev(a.k), vd = dev(a.v);
    ops::Attention<pmc::Cpu>::forward(a.q, a.k, a.v, c.pos0, out, probs);
    ops::Attention<Cuda>::forward(qd, kd, vd, c.pos0, outd, probsd);
    PMC_CHECK_PARITY(T, outd, out, "attention out");
    PMC_CHECK_PARITY(T, probsd, probs, "attention probs");
    auto dqd = dev(a.dq), dkd = dev(a.dk), dvd = dev(a.dv);
    ops::Attention<pmc::Cpu>::backward(a.q, a.k, a.v, probs, a.dout, a.dq, a.dk, a.dv);
    ops::Attention<Cuda>::backward(qd, kd, vd, probsd, dev(a.dout), dqd, dkd, dvd);
    PMC_CHECK_PARITY(T, dqd, a.dq, "attention dq");
    PMC_CHECK_PARITY(T, dkd, a.dk, "attention dk");
    PMC_CHECK_PARITY(T, dvd, a.dv, "attention dv");
    // inference (no probs saved), and a backward that wants dv alone (q and k need no gradient)
    Tensor<T, Cuda> out_unsaved({c.b, c.t, c.h, c.dh});
    ops::Attention<Cuda>::forward(qd, kd, vd, c.pos0, out_unsaved, Tensor<C, Cuda>{});
    PMC_CHECK_PARITY(T, out_unsaved, out, "attention out, probs not saved");
    Tensor<T> dv_only(a.dv.shape());
    dv_only.fill(T(0.f));
    auto dv_onlyd = dev(dv_only);
    ops::Attention<pmc::Cpu>::backward(a.q, a.k, a.v, probs, a.dout, Tensor<T>{}, Tensor<T>{}, dv_only);
    ops::Attention<Cuda>::backward(qd, kd, vd, probsd, dev(a.dout), Tensor<T, Cuda>{}, Tensor<T, Cuda>{}, dv_onlyd);
    PMC_CHECK_PARITY(T, dv_onlyd, dv_only, "attention dv alone");
  }
}

TEST_CASE_TEMPLATE("attention/sliding window (Mistral): the CPU's masks and gradients, with and without a prefix", T,
                   float, bf16) {
  using C = compute_t<T>;
  std::mt19937 rng(31);
  for (const std::int64_t window : {1, 4, 9}) {
    for (const auto& c : {AttnCase{2, 13, 4, 2, 16, 3}, AttnCase{1, 17, 2, 1, 128, 5}}) {
      CAPTURE(window);
      CAPTURE(c.pos0);
      auto a = make_case<T>(c, rng);
      const std::int64_t s = c.pos0 + c.t;
      Tensor<T> out({c.b, c.t, c.h, c.dh});
      Tensor<C> probs({c.b, c.h, c.t, s});
      Tensor<T, Cuda> outd({c.b, c.t, c.h, c.dh});
      Tensor<C, Cuda> probsd({c.b, c.h, c.t, s});
      auto qd = dev(a.q), kd = dev(a.k), vd = dev(a.v);
      ops::Attention<pmc::Cpu>::forward(a.q, a.k, a.v, c.pos0, out, probs, window);
      ops::Attention<Cuda>::forward(qd, kd, vd, c.pos0, outd, probsd, window);
      PMC_CHECK_PARITY(T, outd, out, "windowed attention out");
      PMC_CHECK_PARITY(T, probsd, probs, "windowed attention probs");
      auto dqd = dev(a.dq), dkd = dev(a.dk), dvd = dev(a.dv);
      ops::Attention<pmc::Cpu>::backward(a.q, a.k, a.v, probs, a.dout, a.dq, a.dk, a.dv);
      ops::Attention<Cuda>::backward(qd, kd, vd, probsd, dev(a.dout), dqd, dkd, dvd);
      PMC_CHECK_PARITY(T, dqd, a.dq, "windowed attention dq");
      PMC_CHECK_PARITY(T, dkd, a.dk, "windowed attention dk");
      PMC_CHECK_PARITY(T, dvd, a.dv, "windowed attention dv");
    }
  }
}

TEST_CASE_TEMPLATE("attention_flash/fused forward and backward, deterministic", T, float, bf16) {
  using C = compute_t<T>;
  std::mt19937 rng(31);
  for (const auto& c : kCases) {
    CAPTURE(c.h);
    CAPTURE(c.hkv);
    CAPTURE(c.dh);
    CAPTURE(c.pos0);
    auto a = make_case<T>(c, rng);
    const std::int64_t s = c.pos0 + c.t;
    Tensor<T> out({c.b, c.t, c.h, c.dh});
    Tensor<C> probs({c.b, c.h, c.t, s});
    ops::Attention<pmc::Cpu>::forward(a.q, a.k, a.v, c.pos0, out, probs);
    Tensor<T, Cuda> outd({c.b, c.t, c.h, c.dh});
    Tensor<float, Cuda> lse({c.b, c.h, c.t});
    auto qd = dev(a.q), kd = dev(a.k), vd = dev(a.v), doutd = dev(a.dout);
    cuda::AttentionFlash::forward(qd, kd, vd, c.pos0, outd, lse);
    PMC_CHECK_PARITY(T, outd, out, "flash out");
    PMC_CHECK_PARITY(float, lse, reference_lse(c, a.q, a.k), "flash lse");
    auto dqd = dev(a.dq), dkd = dev(a.dk), dvd = dev(a.dv);
    auto dqd2 = dev(a.dq), dkd2 = dev(a.dk), dvd2 = dev(a.dv);
    ops::Attention<pmc::Cpu>::backward(a.q, a.k, a.v, probs, a.dout, a.dq, a.dk, a.dv);
    cuda::AttentionFlash::backward(qd, kd, vd, outd, lse, doutd, c.pos0, dqd, dkd, dvd);
    PMC_CHECK_PARITY(T, dqd, a.dq, "flash dq");
    PMC_CHECK_PARITY(T, dkd, a.dk, "flash dk");
    PMC_CHECK_PARITY(T, dvd, a.dv, "flash dv");
    cuda::AttentionFlash::backward(qd, kd, vd, outd, lse, doutd, c.pos0, dqd2, dkd2, dvd2);
    CHECK(max_abs_diff(cuda::to_host(dkd), cuda::to_host(dkd2)) == 0.0);
    CHECK(max_abs_diff(cuda::to_host(dqd), cuda::to_host(dqd2)) == 0.0);
  }
}

namespace {

/// autograd::attention forward and backward on device Dv: loss = Σ attention(q, k, v) ⊙ w, so dout = w.
/// Returns out, dq, dk, dv (undefined for an input that needs no gradient), on the host.
template <class T, class Dv>
std::vector<Tensor<T>> autograd_attention(const AttnData<T>& a, const Tensor<T>& w, std::int64_t pos0,
                                          std::int64_t window, bool grad_qk) {
  auto put = [](const Tensor<T>& t) {
    if constexpr (std::is_same_v<Dv, Cuda>) return dev(t);
    else return t.clone();
  };
  auto get = [](const Tensor<T, Dv>& t) {
    if constexpr (std::is_same_v<Dv, Cuda>) return cuda::to_host(t);
    else return t;
  };
  autograd::Var<T, Dv> q(put(a.q), grad_qk), k(put(a.k), grad_qk), v(put(a.v), true), wv(put(w), false);
  auto out = autograd::attention(q, k, v, pos0, window);
  autograd::backward(autograd::sum(autograd::mul(out, wv)));
  return {get(out.value()), grad_qk ? get(q.grad()) : Tensor<T>{}, grad_qk ? get(k.grad()) : Tensor<T>{},
          get(v.grad())};
}

}  // namespace

TEST_CASE_TEMPLATE("attention/autograd: the fused path on the GPU where it applies, the CPU's values and gradients",
                   T, float, bf16) {
  static_assert(autograd::detail::AttentionSavesLse<Cuda>, "the GPU's attention has a fused path");
  static_assert(!autograd::detail::AttentionSavesLse<pmc::Cpu>, "the CPU's attention keeps its path");
  std::mt19937 rng(32);
  struct Case {
    AttnCase c;
    std::int64_t window;
    bool fused;  // whether autograd takes AttentionFlash
  };
  const Case cases[] = {
      {kCases[0], 0, true},  {kCases[1], 0, true}, {kCases[2], 0, true}, {kCases[3], 0, true},
      {kCases[0], 4, false},                           // sliding window: GEMM path
      {AttnCase{2, 11, 4, 2, 8, 2}, 0, false},         // head dim 8: GEMM path
  };
  for (const auto& [c, window, fused] : cases) {
    CAPTURE(c.h);
    CAPTURE(c.hkv);
    CAPTURE(c.dh);
    CAPTURE(c.pos0);
    CAPTURE(window);
    auto a = make_case<T>(c, rng);
    const auto w = rnd<T>({c.b, c.t, c.h, c.dh}, rng);
    CHECK(ops::Attention<Cuda>::lse_supported(dev(a.q), dev(a.k), dev(a.v), c.pos0, window) == fused);
    for (const bool grad_qk : {true, false}) {  // false: q and k need no gradient (scratch dq, dk on the GPU)
      CAPTURE(grad_qk);
      const auto cpu = autograd_attention<T, pmc::Cpu>(a, w, c.pos0, window, grad_qk);
      const auto gpu = autograd_attention<T, Cuda>(a, w, c.pos0, window, grad_qk);
      CHECK(max_rel_diff(gpu[0], cpu[0]) <= parity_bound<T>());
      CHECK(max_rel_diff(gpu[3], cpu[3]) <= parity_bound<T>());
      if (grad_qk) {
        CHECK(max_rel_diff(gpu[1], cpu[1]) <= parity_bound<T>());
        CHECK(max_rel_diff(gpu[2], cpu[2]) <= parity_bound<T>());
      }
    }
  }
}

TEST_CASE("attention/autograd on the GPU saves no (B, H, T, S) probabilities") {
  // B = 1, T = S = 512, H = 8, Dh = 64: the probabilities would be 8 MiB; q, k, v, out 1 MiB each, lse 16 KiB.
  std::mt19937 rng(33);
  const std::int64_t t = 512, h = 8, dh = 64;
  auto qd = dev(rnd<float>({1, t, h, dh}, rng)), kd = dev(rnd<float>({1, t, h, dh}, rng)),
       vd = dev(rnd<float>({1, t, h, dh}, rng));
  autograd::Var<float, Cuda> q(qd, true), k(kd, true), v(vd, true);
  cuda::synchronize();
  const auto before = cuda::allocator_stats().in_use;
  cuda::CachingAllocator::instance().reset_peak();
  auto out = autograd::attention(q, k, v);
  const std::size_t probs_bytes = static_cast<std::size_t>(h * t * t) * sizeof(float);
  CHECK(cuda::allocator_stats().peak_in_use - before < probs_bytes / 2);
  autograd::current_tape().clear();
}

}  // namespace pmc::test

// SPDX-License-Identifier: MIT
// Attention<Cpu>: causal GQA forward against naive loops (pos0 > 0, S > T, decoding, several causal query
// blocks, sliding windows), dq/dk/dv by finite differences, 16-bit forward.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <sstream>
#include <string>

#include <pmc/backends/cpu/attention.hpp>
#include <support/compare.hpp>
#include <support/gradcheck.hpp>

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace attention_test {

namespace {
using pmc::Shape;
using pmc::Tensor;
using Attn = pmc::ops::Attention<pmc::Cpu>;
using pmc::test::random_tensor;

struct Case {
  std::int64_t b, t, h, hkv, dh, s, pos0, window = 0;  // window > 0: each query sees its `window` latest keys
  Shape q() const { return {b, t, h, dh}; }
  Shape kv() const { return {b, s, hkv, dh}; }
  Shape probs() const { return {b, h, t, s}; }
  std::string str() const {
    std::ostringstream os;  // (not "B" + std::to_string: g++ 12 gives a false -Wrestrict there)
    os << "B" << b << " T" << t << " H" << h << " Hkv" << hkv << " Dh" << dh << " S" << s << " pos0 " << pos0
       << " window " << window;
    return os.str();
  }
};

Tensor<double> reference(const Case& c, const Tensor<double>& q, const Tensor<double>& k, const Tensor<double>& v) {
  Tensor<double> out(c.q());
  const std::int64_t g = c.h / c.hkv;
  for (std::int64_t b = 0; b < c.b; ++b)
    for (std::int64_t h = 0; h < c.h; ++h)
      for (std::int64_t t = 0; t < c.t; ++t) {
        std::vector<double> p(static_cast<std::size_t>(c.s), 0.0);
        double mx = -INFINITY, sum = 0;
        const std::int64_t first = c.window > 0 ? std::max<std::int64_t>(0, c.pos0 + t + 1 - c.window) : 0;
        for (std::int64_t s = first; s <= c.pos0 + t; ++s) {
          double dot = 0;
          for (std::int64_t i = 0; i < c.dh; ++i) dot += q.at({b, t, h, i}) * k.at({b, s, h / g, i});
          p[static_cast<std::size_t>(s)] = dot / std::sqrt(double(c.dh));
          mx = std::max(mx, p[static_cast<std::size_t>(s)]);
        }
        for (std::int64_t s = first; s <= c.pos0 + t; ++s) sum += std::exp(p[static_cast<std::size_t>(s)] - mx);
        for (std::int64_t i = 0; i < c.dh; ++i) {
          double o = 0;
          for (std::int64_t s = first; s <= c.pos0 + t; ++s)
            o += std::exp(p[static_cast<std::size_t>(s)] - mx) / sum * v.at({b, s, h / g, i});
          out.at({b, t, h, i}) = o;
        }
      }
  return out;
}

const std::vector<Case> kCases{
    {2, 5, 4, 2, 3, 5, 0},  // GQA, prefill
    {1, 3, 3, 3, 5, 7, 4},  // MHA, continuing after 4 cached tokens (S = pos0 + T)
    {2, 3, 4, 2, 5, 9, 2},  // GQA, S > pos0 + T: the last keys are never seen
    {1, 1, 4, 1, 7, 6, 5},  // decoding: one query against 6 cached keys, MQA
    // more queries than one causal block (64): three blocks, the last partial, each against only its keys
    {1, 150, 2, 1, 2, 150, 0},
    {1, 70, 2, 1, 3, 100, 20},  // two blocks after 20 cached tokens, S > pos0 + T
    // sliding windows (Mistral): prefill with 3 keys a query; continuing after cached tokens; decoding
    {2, 6, 4, 2, 3, 6, 0, 3},
    {1, 4, 2, 1, 4, 9, 5, 4},
    {1, 1, 2, 2, 3, 8, 7, 5},
    {1, 70, 2, 1, 3, 70, 0, 16},  // two causal blocks, each query reading 16 keys
};
}  // namespace

TEST_CASE("attention forward matches naive causal GQA attention") {
  std::mt19937 rng(71);
  for (const auto& c : kCases) {
    CAPTURE(c.str());
    const auto q = random_tensor<double>(c.q(), rng, -2, 2), k = random_tensor<double>(c.kv(), rng, -2, 2),
               v = random_tensor<double>(c.kv(), rng);
    const auto expect = reference(c, q, k, v);
    Tensor<double> out(c.q()), probs(c.probs());
    Attn::forward(q, k, v, c.pos0, out, probs, c.window);
    CHECK(pmc::test::max_abs_diff(out, expect) < 1e-13);
    // probabilities: rows sum to 1, zero where masked
    for (std::int64_t t = 0; t < c.t; ++t) {
      double s = 0;
      for (std::int64_t j = 0; j < c.s; ++j) {
        const double p = probs.at({0, 0, t, j});
        s += p;
        if (j > c.pos0 + t || (c.window > 0 && j <= c.pos0 + t - c.window)) CHECK(p == 0);
      }
      CHECK(s == doctest::Approx(1).epsilon(1e-14));
    }
    // float, without saving probs
    Tensor<float> outf(c.q());
    Attn::forward(q.to<float>(), k.to<float>(), v.to<float>(), c.pos0, outf, Tensor<float>{}, c.window);
    CHECK(pmc::test::max_abs_diff(outf, expect) < 1e-5);
  }
}

TEST_CASE("attention forward reads q, k, v as strided views of a fused projection") {
  std::mt19937 rng(72);
  const Case c{2, 4, 2, 2, 3, 4, 0};
  const auto qkv = random_tensor<double>({2, 4, 6, 3}, rng);  // (B, T, 3H, Dh)
  const auto q = qkv.slice(2, 0, 2), k = qkv.slice(2, 2, 4), v = qkv.slice(2, 4, 6);
  Tensor<double> out(c.q()), probs(c.probs());
  Attn::forward(q, k, v, 0, out, probs);
  CHECK(pmc::test::max_abs_diff(out, reference(c, q.contiguous(), k.contiguous(), v.contiguous())) < 1e-13);
  // and writes into a strided output
  Tensor<double> wide({2, 4, 4, 3});
  const auto o = wide.slice(2, 1, 3);
  Attn::forward(q, k, v, 0, o, probs);
  CHECK(pmc::test::max_abs_diff(o, out) == 0);
}

TEST_CASE("attention forward in bf16 and f16 agrees with float") {
  std::mt19937 rng(73);
  const Case c{1, 9, 4, 2, 16, 12, 3};
  const auto q = random_tensor<float>(c.q(), rng, -2, 2), k = random_tensor<float>(c.kv(), rng, -2, 2),
             v = random_tensor<float>(c.kv(), rng);
  Tensor<float> out(c.q()), pf(c.probs());
  Attn::forward(q, k, v, c.pos0, out, pf);
  Tensor<pmc::bf16> ob(c.q());
  Tensor<pmc::f16> oh(c.q());
  Tensor<float> pb(c.probs());
  Attn::forward(q.to<pmc::bf16>(), k.to<pmc::bf16>(), v.to<pmc::bf16>(), c.pos0, ob, pb);
  Attn::forward(q.to<pmc::f16>(), k.to<pmc::f16>(), v.to<pmc::f16>(), c.pos0, oh, Tensor<float>{});
  CHECK(pmc::test::max_abs_diff(ob, out) < 0.05);
  CHECK(pmc::test::max_abs_diff(oh, out) < 0.01);
  CHECK(pmc::test::nmse(ob, out) < 1e-4);
  CHECK(pmc::test::max_abs_diff(pb, pf) < 0.05);
}

TEST_CASE("attention backward matches finite differences for dq, dk, dv") {
  std::mt19937 rng(74);
  for (const auto& c : kCases) {
    CAPTURE(c.str());
    const auto q = random_tensor<double>(c.q(), rng), k = random_tensor<double>(c.kv(), rng),
               v = random_tensor<double>(c.kv(), rng), dout = random_tensor<double>(c.q(), rng);
    Tensor<double> out(c.q()), probs(c.probs()), dq(c.q()), dk(c.kv()), dv(c.kv());
    Attn::forward(q, k, v, c.pos0, out, probs, c.window);
    Attn::backward(q, k, v, probs, dout, dq, dk, dv);
    auto loss = [&] {
      Tensor<double> o(c.q());
      Attn::forward(q, k, v, c.pos0, o, Tensor<double>{}, c.window);
      return pmc::test::dot(dout, o);
    };
    CHECK(pmc::test::gradcheck("attention dq", q, dq, loss) < 1e-6);
    CHECK(pmc::test::gradcheck("attention dk", k, dk, loss) < 1e-6);
    CHECK(pmc::test::gradcheck("attention dv", v, dv, loss) < 1e-6);
    // accumulation; undefined gradients are skipped
    const auto once = dk.clone();
    Attn::backward(q, k, v, probs, dout, Tensor<double>{}, dk, Tensor<double>{});
    for (std::int64_t i = 0; i < dk.numel(); ++i) CHECK(dk[i] == doctest::Approx(2 * once[i]));
  }
}

TEST_CASE("attention rejects inconsistent heads, too few keys and a wrong probs shape") {
  Tensor<float> q({1, 2, 3, 4}), k({1, 2, 2, 4}), out({1, 2, 3, 4}), probs({1, 3, 2, 2});
  CHECK_THROWS_AS(Attn::forward(q, k, k, 0, out, probs), pmc::Error);  // 3 heads over 2 KV heads
  Tensor<float> q2({1, 2, 2, 4}), out2({1, 2, 2, 4}), p2({1, 2, 2, 2});
  CHECK_THROWS_AS(Attn::forward(q2, k, k, 1, out2, p2), pmc::Error);  // positions [1, 3) need 3 keys
  CHECK_THROWS_WITH(Attn::forward(q2, k, k, 1, out2, p2), doctest::Contains("S = 2"));
  Tensor<float> bad_p({1, 2, 2, 3});
  CHECK_THROWS_AS(Attn::forward(q2, k, k, 0, out2, bad_p), pmc::Error);
}

}  // namespace attention_test

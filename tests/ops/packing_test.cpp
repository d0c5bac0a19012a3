// SPDX-License-Identifier: MIT
// Packed windows (ops::Segments) in Attention<Cpu> and Rope<Cpu>: the block-diagonal causal mask and the
// positions restarting per example against naive loops in double, each packed example equal to it computed
// alone (float and bf16 too), backward by finite differences (double); segments that do not fit are refused.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <vector>

#include <pmc/backends/cpu/attention.hpp>
#include <pmc/backends/cpu/ops.hpp>
#include <pmc/backends/cpu/rope.hpp>
#include <support/compare.hpp>
#include <support/gradcheck.hpp>

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace packing_test {

namespace {
using pmc::Shape;
using pmc::Tensor;
using pmc::ops::RopeLayout;
using pmc::ops::Segments;
using Attn = pmc::ops::Attention<pmc::Cpu>;
using Rope = pmc::ops::Rope<pmc::Cpu>;
using pmc::test::random_tensor;

/// Segments of B rows of T tokens from each row's example lengths (the rest of a row: padding, a segment of its own).
Segments segments_of(const std::vector<std::vector<std::int64_t>>& lengths, std::int64_t t) {
  Segments s = Segments::whole(static_cast<std::int64_t>(lengths.size()), t);
  for (std::size_t b = 0; b < lengths.size(); ++b) {
    std::int64_t first = 0, next = 0;
    std::size_t e = 0;
    for (std::int64_t i = 0; i < t; ++i) {
      if (i == next) {
        first = i;
        next = e < lengths[b].size() ? i + lengths[b][e++] : t;
      }
      s.start[b * static_cast<std::size_t>(t) + static_cast<std::size_t>(i)] = static_cast<std::int32_t>(first);
      s.position[b * static_cast<std::size_t>(t) + static_cast<std::size_t>(i)] = static_cast<std::int32_t>(i - first);
    }
  }
  return s;
}

/// Attention in double by loops: query t of row b sees keys max(start, t − W + 1) ≤ s ≤ t.
Tensor<double> reference(const Tensor<double>& q, const Tensor<double>& k, const Tensor<double>& v, const Segments& seg,
                         std::int64_t window) {
  const std::int64_t B = q.size(0), T = q.size(1), H = q.size(2), Dh = q.size(3), G = H / k.size(2);
  Tensor<double> out(q.shape());
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t h = 0; h < H; ++h)
      for (std::int64_t t = 0; t < T; ++t) {
        std::int64_t first = seg.start[static_cast<std::size_t>(b * T + t)];
        if (window > 0) first = std::max(first, t + 1 - window);
        std::vector<double> p(static_cast<std::size_t>(T), 0.0);
        double mx = -INFINITY, sum = 0;
        for (std::int64_t s = first; s <= t; ++s) {
          double dot = 0;
          for (std::int64_t i = 0; i < Dh; ++i) dot += q.at({b, t, h, i}) * k.at({b, s, h / G, i});
          p[static_cast<std::size_t>(s)] = dot / std::sqrt(double(Dh));
          mx = std::max(mx, p[static_cast<std::size_t>(s)]);
        }
        for (std::int64_t s = first; s <= t; ++s) sum += std::exp(p[static_cast<std::size_t>(s)] - mx);
        for (std::int64_t i = 0; i < Dh; ++i) {
          double o = 0;
          for (std::int64_t s = first; s <= t; ++s) o += std::exp(p[static_cast<std::size_t>(s)] - mx) / sum * v.at({b, s, h / G, i});
          out.at({b, t, h, i}) = o;
        }
      }
  return out;
}

struct PackCase {
  std::vector<std::vector<std::int64_t>> lengths;  // per row, its examples' lengths
  std::int64_t t, h, hkv, dh, window = 0;
};

// several examples a row, a row with one example and padding, more queries than a causal block (64), GQA,
// a sliding window inside a packed example
const std::vector<PackCase> kPackCases{
    {{{3, 4, 2}, {9}}, 9, 2, 1, 8},
    {{{1, 5, 2}, {4, 3}}, 10, 4, 2, 8, 3},
    {{{30, 50, 20}, {70, 30}}, 100, 2, 2, 8},
};
}  // namespace

TEST_CASE("packed attention: the block-diagonal causal mask, against loops and against each example alone") {
  std::mt19937 rng(3);
  for (const auto& c : kPackCases) {
    const std::int64_t B = static_cast<std::int64_t>(c.lengths.size());
    const auto seg = segments_of(c.lengths, c.t);
    const auto q = random_tensor<double>({B, c.t, c.h, c.dh}, rng, -2, 2), k = random_tensor<double>({B, c.t, c.hkv, c.dh}, rng, -2, 2),
               v = random_tensor<double>({B, c.t, c.hkv, c.dh}, rng);
    Tensor<double> out(q.shape()), probs({B, c.h, c.t, c.t});
    Attn::forward(q, k, v, 0, out, probs, c.window, &seg);
    CHECK(pmc::test::max_abs_diff(out, reference(q, k, v, seg, c.window)) < 1e-12);
    for (std::int64_t b = 0; b < B; ++b)  // no probability outside the example
      for (std::int64_t h = 0; h < c.h; ++h)
        for (std::int64_t t = 0; t < c.t; ++t)
          for (std::int64_t s = 0; s < c.t; ++s)
            if (s < seg.start[static_cast<std::size_t>(b * c.t + t)] || s > t) CHECK(probs.at({b, h, t, s}) == 0);
    // each example alone (its own call from position 0) gives the same rows
    for (std::int64_t b = 0; b < B; ++b) {
      std::int64_t first = 0;
      for (const std::int64_t n : c.lengths[static_cast<std::size_t>(b)]) {
        auto part = [&](const Tensor<double>& x) { return x.slice(0, b, b + 1).slice(1, first, first + n).contiguous(); };
        Tensor<double> alone({1, n, c.h, c.dh});
        Attn::forward(part(q), part(k), part(v), 0, alone, Tensor<double>{}, c.window);
        CHECK(pmc::test::max_abs_diff(alone, part(out)) < 1e-12);
        first += n;
      }
    }
    // float: the same mask
    Tensor<float> outf(q.shape());
    Attn::forward(q.to<float>(), k.to<float>(), v.to<float>(), 0, outf, Tensor<float>{}, c.window, &seg);
    CHECK(pmc::test::max_abs_diff(outf, out) < 1e-5);
    // bf16 (staged to float): the same mask, to bf16 rounding
    Tensor<pmc::bf16> outb(q.shape());
    Attn::forward(q.to<pmc::bf16>(), k.to<pmc::bf16>(), v.to<pmc::bf16>(), 0, outb, Tensor<float>{}, c.window, &seg);
    CHECK(pmc::test::max_abs_diff(outb, out) < 0.05);
  }
}

TEST_CASE("packed attention backward matches finite differences for dq, dk, dv") {
  std::mt19937 rng(5);
  for (const auto& c : kPackCases) {
    if (c.t > 20) continue;  // (differences over every element: the small cases)
    const std::int64_t B = static_cast<std::int64_t>(c.lengths.size());
    const auto seg = segments_of(c.lengths, c.t);
    const Shape qs{B, c.t, c.h, c.dh}, ks{B, c.t, c.hkv, c.dh};
    const auto q = random_tensor<double>(qs, rng), k = random_tensor<double>(ks, rng), v = random_tensor<double>(ks, rng),
               dout = random_tensor<double>(qs, rng);
    Tensor<double> out(qs), probs({B, c.h, c.t, c.t}), dq(qs), dk(ks), dv(ks);
    Attn::forward(q, k, v, 0, out, probs, c.window, &seg);
    Attn::backward(q, k, v, probs, dout, dq, dk, dv);
    auto loss = [&] {
      Tensor<double> o(qs);
      Attn::forward(q, k, v, 0, o, Tensor<double>{}, c.window, &seg);
      return pmc::test::dot(dout, o);
    };
    CHECK(pmc::test::gradcheck("packed attention dq", q, dq, loss) < 1e-6);
    CHECK(pmc::test::gradcheck("packed attention dk", k, dk, loss) < 1e-6);
    CHECK(pmc::test::gradcheck("packed attention dv", v, dv, loss) < 1e-6);
  }
}

TEST_CASE("packed rope: each token at its own position, equal to each example alone, backward by differences") {
  std::mt19937 rng(7);
  const std::vector<std::vector<std::int64_t>> lengths{{3, 4, 2}, {5}};
  const std::int64_t B = 2, T = 9, H = 3, Dh = 8;
  const auto seg = segments_of(lengths, T);
  for (auto layout : {RopeLayout::interleaved, RopeLayout::rotate_half})
    for (const pmc::ops::RopeParams& rp :
         {pmc::ops::RopeParams(1e4f), pmc::ops::RopeParams(500.f, {.type = pmc::ops::RopeScalingType::linear, .factor = 2})}) {
      const auto x = random_tensor<double>({B, T, H, Dh}, rng);
      Tensor<double> y(x.shape());
      Rope::forward(x, 0, rp, layout, y, &seg);
      // each token as the row of a plain call at its position: a (1, T) call whose token t sits at t
      for (std::int64_t b = 0; b < B; ++b)
        for (std::int64_t t = 0; t < T; ++t) {
          const std::int64_t p = seg.position[static_cast<std::size_t>(b * T + t)];
          Tensor<double> row({1, T, H, Dh}), yrow({1, T, H, Dh});
          pmc::copy(x.slice(0, b, b + 1).slice(1, t, t + 1), row.slice(1, p, p + 1));
          Rope::forward(row, 0, rp, layout, yrow);
          CHECK(pmc::test::max_abs_diff(yrow.slice(1, p, p + 1).contiguous(), y.slice(0, b, b + 1).slice(1, t, t + 1).contiguous()) == 0);
        }
      const auto dy = random_tensor<double>(x.shape(), rng);
      Tensor<double> dx(x.shape());
      Rope::backward(dy, 0, rp, layout, dx, &seg);
      auto loss = [&] {
        Tensor<double> yy(x.shape());
        Rope::forward(x, 0, rp, layout, yy, &seg);
        return pmc::test::dot(dy, yy);
      };
      CHECK(pmc::test::gradcheck("packed rope dx", x, dx, loss) < 1e-6);
    }
}

TEST_CASE("packed attention and rope refuse segments that do not fit the call") {
  const auto seg = segments_of({{2, 2}}, 4);
  Tensor<float> q({1, 4, 2, 4}), out({1, 4, 2, 4}), q5({1, 5, 2, 4}), out5({1, 5, 2, 4});
  CHECK_THROWS_WITH(Attn::forward(q5, q5, q5, 0, out5, Tensor<float>{}, 0, &seg), doctest::Contains("packing segments"));
  CHECK_THROWS_WITH(Attn::forward(q, Tensor<float>({1, 5, 2, 4}), Tensor<float>({1, 5, 2, 4}), 1, out, Tensor<float>{}, 0, &seg),
                    doctest::Contains("pos0 = 0"));
  CHECK_THROWS_WITH(Rope::forward(q5, 0, 1e4f, RopeLayout::interleaved, out5, &seg), doctest::Contains("packing segments"));
  auto bad = seg;
  bad.start[1] = 2;  // a start past its token
  CHECK_THROWS_WITH(Attn::forward(q, q, q, 0, out, Tensor<float>{}, 0, &bad), doctest::Contains("starts at 2"));
  CHECK_NOTHROW(Attn::forward(q, q, q, 0, out, Tensor<float>{}, 0, &seg));
}

}  // namespace packing_test

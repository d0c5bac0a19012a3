// SPDX-License-Identifier: MIT
// Every CPU op's forward and backward gives the same bits at 1, 2 and 3 OpenMP threads (3 oversubscribe the
// 2-core CI machine, so the threads also finish in a varying order), and wherever its per-thread scratch lies.
// Shapes are chosen to cross the size thresholds at which the ops fork threads, and to reach every GEMM path:
// Eigen's (fewer than 128 rows), pmc's sgemm, 16-bit operands staged to float, double.
#include <doctest/doctest.h>

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <pmc/backends/cpu/ops.hpp>
#include <support/compare.hpp>

#include "threads.hpp"

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace ops_threads_test {

namespace {
using pmc::Cpu;
using pmc::Tensor;
using pmc::test::at_threads;
using pmc::test::Bits;
using pmc::test::random_tensor;

/// Runs `op` (which builds its inputs from a fixed seed and returns the bits of its results) at every thread
/// count, three times at 3 threads, and checks that all runs give the 1-thread bits.
template <class Op>
void check_thread_independent(const char* name, Op op) {
  const Bits ref = at_threads(1, op);
  REQUIRE(!ref.bytes.empty());
  for (int threads : pmc::test::kThreadCounts)
    for (int rep = 0; rep < (threads == 3 ? 3 : 1); ++rep) {
      INFO(std::string(name), " at ", threads, " threads, run ", rep + 1);
      CHECK(at_threads(threads, op) == ref);
    }
}

template <class T>
Bits matmul(std::int64_t m, std::int64_t n, std::int64_t k, bool batched) {
  std::mt19937 rng(static_cast<unsigned>(m * 131 + n * 7 + k));
  const std::int64_t nb = batched ? 3 : 0;
  auto shape = [&](std::int64_t r, std::int64_t c) { return nb ? pmc::Shape{nb, r, c} : pmc::Shape{r, c}; };
  // C = A · Bᵀ (a linear layer's x·Wᵀ, B shared by a batch when 2-D), then dA += dC · B, dB += dCᵀ · A
  const auto a = random_tensor<T>(shape(m, k), rng), b = random_tensor<T>({n, k}, rng);
  const auto dc = random_tensor<T>(shape(m, n), rng);
  Tensor<T> c(shape(m, n)), da(a.shape()), db(b.shape());
  pmc::ops::Matmul<Cpu>::forward(a, b, c, false, true);
  pmc::ops::Matmul<Cpu>::backward(a, b, dc, da, db, false, true);
  return Bits{}.add(c).add(da).add(db);
}

}  // namespace

TEST_CASE("matmul forward and backward: the same bits at 1, 2 and 3 threads on every GEMM path") {
  // (rows, columns, depth): below 128 rows (Eigen's GEMM, which splits its work by the thread count), above
  // (pmc's sgemm), with ragged edges; a batch against a shared weight (its gradient summed over the batch)
  check_thread_independent("float 64x384x512", [] { return matmul<float>(64, 384, 512, false); });
  check_thread_independent("float 100x1000x96", [] { return matmul<float>(100, 1000, 96, false); });
  check_thread_independent("float 300x200x130", [] { return matmul<float>(300, 200, 130, false); });
  check_thread_independent("float batched 3x50x256x128", [] { return matmul<float>(50, 256, 128, true); });
  check_thread_independent("double 64x256x256", [] { return matmul<double>(64, 256, 256, false); });
  check_thread_independent("bf16 200x520x100", [] { return matmul<pmc::bf16>(200, 520, 100, false); });
  // every float product on Eigen's GEMM, as PMC_CPU_GEMM=eigen runs them (read once per process, so called directly)
  check_thread_independent("gemm_eigen 200x256x520", [] {
    std::mt19937 rng(3);
    const auto a = random_tensor<float>({200, 520}, rng), b = random_tensor<float>({256, 520}, rng);
    Tensor<float> c({200, 256});
    using pmc::backends::cpu::MatDesc;
    pmc::backends::cpu::gemm_eigen<float>(MatDesc<const float>{a.data(), 200, 520, 520, 1, 0},
                                          MatDesc<const float>{b.data(), 520, 256, 1, 520, 0},
                                          MatDesc<float>{c.data(), 200, 256, 256, 1, 0}, 1.f, 0.f);
    return Bits{}.add(c);
  });
}

TEST_CASE("cross_entropy forward and backward: the same bits at 1, 2 and 3 threads") {
  check_thread_independent("cross_entropy", [] {
    std::mt19937 rng(7);
    const std::int64_t n = 300, v = 1000;
    const auto z = random_tensor<float>({n, v}, rng, -4, 4);
    Tensor<std::int32_t> y({n});
    for (std::int64_t i = 0; i < n; ++i)
      y[i] = i % 11 == 0 ? pmc::ops::kIgnoreIndex : static_cast<std::int32_t>(rng() % v);
    Tensor<float> lse({n}), dz({n, v});
    const auto r = pmc::ops::CrossEntropy<Cpu>::forward(z, y, lse);
    pmc::ops::CrossEntropy<Cpu>::backward(z, y, lse, 1.0, r.count, dz);
    return Bits{}.add(r.loss).add(lse).add(dz);
  });
}

TEST_CASE("cross_entropy backward: the same bits wherever the thread's scratch buffer lies") {
  // The softmax is written into per-thread scratch; a vectorized write whose first elements are computed
  // one by one until the buffer is aligned would make the bits depend on the heap's state.
  std::mt19937 rng(8);
  const std::int64_t n = 4, v = 203;
  const auto z = random_tensor<float>({n, v}, rng, -8, 8);
  Tensor<std::int32_t> y({n});
  for (std::int64_t i = 0; i < n; ++i) y[i] = static_cast<std::int32_t>(i * 17);
  Tensor<float> lse({n});
  const auto r = pmc::ops::CrossEntropy<Cpu>::forward(z, y, lse);
  auto backward = [&] {
    Tensor<float> dz({n, v});
    pmc::ops::CrossEntropy<Cpu>::backward(z, y, lse, 1.0, r.count, dz);
    return Bits{}.add(dz);
  };
  const Bits ref = backward();
  std::vector<std::unique_ptr<char[]>> heap;  // moves the next allocations around
  for (int shift = 1; shift <= 8; ++shift) {
    auto& buf = pmc::backends::cpu::scratch<float, 1>();
    buf.clear();
    buf.shrink_to_fit();
    heap.push_back(std::make_unique<char[]>(static_cast<std::size_t>(16 * shift)));
    INFO("after freeing the scratch and allocating ", 16 * shift, " bytes");
    CHECK(backward() == ref);
  }
}

TEST_CASE("sum: the same bits at 1, 2 and 3 threads") {
  check_thread_independent("sum of 200000 doubles", [] {
    std::mt19937 rng(9);
    const auto x = random_tensor<double>({200000}, rng);
    return Bits{}.add(pmc::ops::Elementwise<Cpu>::sum(x)).add(pmc::ops::Elementwise<Cpu>::mean(x));
  });
}

TEST_CASE("rms_norm, swiglu, rope, embedding forward and backward: the same bits at 1, 2 and 3 threads") {
  check_thread_independent("rms_norm", [] {
    std::mt19937 rng(10);
    const auto x = random_tensor<float>({256, 384}, rng), w = random_tensor<float>({384}, rng, 0.5, 1.5);
    const auto dy = random_tensor<float>({256, 384}, rng);
    Tensor<float> y({256, 384}), rstd({256}), dx({256, 384}), dw({384});
    pmc::ops::RmsNorm<Cpu>::forward(x, w, 1e-5f, y, rstd);
    pmc::ops::RmsNorm<Cpu>::backward(x, w, rstd, dy, dx, dw);
    return Bits{}.add(y).add(rstd).add(dx).add(dw);
  });
  check_thread_independent("swiglu", [] {
    std::mt19937 rng(11);
    const auto a = random_tensor<float>({256, 344}, rng, -4, 4), b = random_tensor<float>({256, 344}, rng);
    const auto dh = random_tensor<float>({256, 344}, rng);
    Tensor<float> h({256, 344}), da({256, 344}), db({256, 344});
    pmc::ops::SwiGlu<Cpu>::forward(a, b, h);
    pmc::ops::SwiGlu<Cpu>::backward(a, b, dh, da, db);
    return Bits{}.add(h).add(da).add(db);
  });
  check_thread_independent("rope", [] {
    std::mt19937 rng(12);
    const auto x = random_tensor<float>({2, 64, 4, 32}, rng), dy = random_tensor<float>({2, 64, 4, 32}, rng);
    Tensor<float> y(x.shape()), dx(x.shape());
    pmc::ops::Rope<Cpu>::forward(x, 3, 1e4f, pmc::ops::RopeLayout::rotate_half, y);
    pmc::ops::Rope<Cpu>::backward(dy, 3, 1e4f, pmc::ops::RopeLayout::rotate_half, dx);
    return Bits{}.add(y).add(dx);
  });
  check_thread_independent("embedding", [] {
    std::mt19937 rng(13);
    const auto w = random_tensor<float>({100, 256}, rng), dout = random_tensor<float>({512, 256}, rng);
    Tensor<std::int32_t> tok({512});
    for (auto& t : tok.span()) t = static_cast<std::int32_t>(rng() % 100);  // many repeats
    Tensor<float> out({512, 256}), dw({100, 256});
    pmc::ops::Embedding<Cpu>::forward(w, tok, out);
    pmc::ops::Embedding<Cpu>::backward(tok, dout, dw);
    return Bits{}.add(out).add(dw);
  });
}

TEST_CASE("attention forward and backward: the same bits at 1, 2 and 3 threads") {
  // (B, T, H, Hkv, Dh): one head (nothing to split across heads: its products are large and run whole) and
  // grouped heads
  auto attention = [](std::int64_t b, std::int64_t t, std::int64_t h, std::int64_t hkv, std::int64_t dh) {
    return [=] {
      std::mt19937 rng(static_cast<unsigned>(b * 1000 + t * 10 + h));
      const auto q = random_tensor<float>({b, t, h, dh}, rng), k = random_tensor<float>({b, t, hkv, dh}, rng);
      const auto v = random_tensor<float>({b, t, hkv, dh}, rng), dout = random_tensor<float>({b, t, h, dh}, rng);
      Tensor<float> out(q.shape()), probs({b, h, t, t}), dq(q.shape()), dk(k.shape()), dv(v.shape());
      pmc::ops::Attention<Cpu>::forward(q, k, v, 0, out, probs);
      pmc::ops::Attention<Cpu>::backward(q, k, v, probs, dout, dq, dk, dv);
      return Bits{}.add(out).add(probs).add(dq).add(dk).add(dv);
    };
  };
  check_thread_independent("attention 1x256x1x1x64", attention(1, 256, 1, 1, 64));
  check_thread_independent("attention 2x128x4x2x32", attention(2, 128, 4, 2, 32));
}

}  // namespace ops_threads_test

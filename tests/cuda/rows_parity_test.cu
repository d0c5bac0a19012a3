// SPDX-License-Identifier: MIT
// Row-wise ops against their CPU versions: RmsNorm<Cuda>, Embedding<Cuda>, CrossEntropy<Cuda> (masked).
#include <cmath>

#include "parity.hpp"

namespace pmc::test {

TEST_CASE_TEMPLATE("rms_norm/forward and backward", T, float, bf16) {
  using C = compute_t<T>;
  std::mt19937 rng(20);
  for (auto [n, d] : {std::pair<std::int64_t, std::int64_t>{33, 300}, {130, 64}, {3, 4096}}) {
    CAPTURE(n);
    CAPTURE(d);
    auto x = rnd<T>({n, d}, rng), w = rnd<T>({d}, rng, 0.5, 1.5);
    Tensor<T> y({n, d});
    Tensor<C> rstd({n});
    Tensor<T, Cuda> yd({n, d});
    Tensor<C, Cuda> rstdd({n});
    auto xd = dev(x), wd = dev(w);
    ops::RmsNorm<pmc::Cpu>::forward(x, w, 1e-5f, y, rstd);
    ops::RmsNorm<Cuda>::forward(xd, wd, 1e-5f, yd, rstdd);
    PMC_CHECK_PARITY(T, yd, y, "rms_norm y");
    PMC_CHECK_PARITY(float, rstdd, rstd, "rms_norm rstd");
    auto dy = rnd<T>({n, d}, rng), dx = rnd<T>({n, d}, rng), dw = rnd<T>({d}, rng);
    auto dxd = dev(dx), dwd = dev(dw);
    ops::RmsNorm<pmc::Cpu>::backward(x, w, rstd, dy, dx, dw);
    ops::RmsNorm<Cuda>::backward(xd, wd, rstdd, dev(dy), dxd, dwd);
    PMC_CHECK_PARITY(T, dxd, dx, "rms_norm dx");
    PMC_CHECK_PARITY(T, dwd, dw, "rms_norm dw");
  }
}

TEST_CASE_TEMPLATE("embedding/forward and deterministic backward", T, float, bf16) {
  std::mt19937 rng(21);
  const std::int64_t v = 300, d = 70, n = 500;  // two vocabulary buckets; many repeated tokens
  auto w = rnd<T>({v, d}, rng);
  Tensor<std::int32_t> tok({n});
  std::uniform_int_distribution<int> pick(0, static_cast<int>(v) - 1);
  // Token 3 is hot. (Not too hot: the CPU rounds dW to T at every occurrence, the GPU once per call, so a
  // bf16 row hit hundreds of times would drift apart by more than the bound, the GPU being the closer one.)
  for (std::int64_t i = 0; i < n; ++i) tok[i] = i % 16 == 0 ? 3 : pick(rng);
  auto tokd = dev(tok);
  Tensor<T> out({n, d});
  Tensor<T, Cuda> outd({n, d});
  ops::Embedding<pmc::Cpu>::forward(w, tok, out);
  ops::Embedding<Cuda>::forward(dev(w), tokd, outd);
  PMC_CHECK_PARITY(T, outd, out, "embedding forward");
  auto dout = rnd<T>({n, d}, rng), dw = rnd<T>({v, d}, rng);
  auto dwd = dev(dw), dwd2 = dev(dw), doutd = dev(dout);
  ops::Embedding<pmc::Cpu>::backward(tok, dout, dw);
  ops::Embedding<Cuda>::backward(tokd, doutd, dwd);
  PMC_CHECK_PARITY(T, dwd, dw, "embedding dW");
  ops::Embedding<Cuda>::backward(tokd, doutd, dwd2);
  CHECK(max_abs_diff(cuda::to_host(dwd), cuda::to_host(dwd2)) == 0.0);  // bitwise reproducible

  Tensor<std::int32_t> bad = Tensor<std::int32_t>::from({3}, {1, static_cast<std::int32_t>(v), 2});
  CHECK_THROWS_AS(ops::Embedding<Cuda>::forward(dev(w), dev(bad), Tensor<T, Cuda>({3, d})), pmc::Error);
}

TEST_CASE_TEMPLATE("cross_entropy/masked loss, lse and gradient", T, float, bf16) {
  using C = compute_t<T>;
  std::mt19937 rng(22);
  const std::int64_t n = 24, v = 1000;
  auto z = rnd<T>({n, v}, rng, -6, 6);
  Tensor<std::int32_t> y({n});
  std::uniform_int_distribution<int> pick(0, static_cast<int>(v) - 1);
  for (std::int64_t i = 0; i < n; ++i) y[i] = i % 5 == 2 ? ops::kIgnoreIndex : pick(rng);  // masked rows
  Tensor<C> lse({n});
  Tensor<C, Cuda> lsed({n});
  auto zd = dev(z);
  auto yd = dev(y);
  const auto rc = ops::CrossEntropy<pmc::Cpu>::forward(z, y, lse);
  const auto rg = ops::CrossEntropy<Cuda>::forward(zd, yd, lsed);
  CHECK(rg.count == rc.count);
  CHECK(std::abs(rg.loss - rc.loss) <= parity_bound<T>() * std::abs(rc.loss));
  PMC_CHECK_PARITY(float, lsed, lse, "cross_entropy lse");
  auto dz = rnd<T>({n, v}, rng);
  auto dzd = dev(dz);
  ops::CrossEntropy<pmc::Cpu>::backward(z, y, lse, 1.5, rc.count, dz);
  ops::CrossEntropy<Cuda>::backward(zd, yd, lsed, 1.5, rg.count, dzd);
  PMC_CHECK_PARITY(T, dzd, dz, "cross_entropy dlogits");

  // a NaN logit other than the target's makes the loss NaN on both (the GPU's max/sum comparisons would skip it)
  auto zn = z.clone();
  zn.at({3, (y[3] + 1) % v}) = T(NAN);
  CHECK(std::isnan(ops::CrossEntropy<pmc::Cpu>::forward(zn, y, lse).loss));
  CHECK(std::isnan(ops::CrossEntropy<Cuda>::forward(dev(zn), yd, lsed).loss));

  Tensor<std::int32_t> all_masked({n});
  all_masked.fill(ops::kIgnoreIndex);
  const auto r0 = ops::CrossEntropy<Cuda>::forward(zd, dev(all_masked), lsed);
  CHECK(r0.count == 0);
  CHECK(r0.loss == 0.0);
  y[0] = static_cast<std::int32_t>(v);
  CHECK_THROWS_AS(ops::CrossEntropy<Cuda>::forward(zd, dev(y), lsed), pmc::Error);
}

}  // namespace pmc::test

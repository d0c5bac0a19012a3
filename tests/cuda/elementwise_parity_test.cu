// SPDX-License-Identifier: MIT
// Elementwise<Cuda>, SwiGlu<Cuda> and Rope<Cuda> against their CPU versions.
#include "parity.hpp"

namespace pmc::test {

TEST_CASE_TEMPLATE("elementwise/add mul scale accumulate sum mean", T, float, bf16) {
  using Cpu = ops::Elementwise<pmc::Cpu>;
  using Gpu = ops::Elementwise<Cuda>;
  std::mt19937 rng(10);
  const Shape s{31, 67};
  auto a = rnd<T>(s, rng), b = rnd<T>(s, rng);
  auto ad = dev(a), bd = dev(b);
  Tensor<T> out(s);
  Tensor<T, Cuda> outd(s);
  Cpu::add(a, b, out);
  Gpu::add(ad, bd, outd);
  PMC_CHECK_PARITY(T, outd, out, "add");
  Cpu::mul(a, b, out);
  Gpu::mul(ad, bd, outd);
  PMC_CHECK_PARITY(T, outd, out, "mul");
  Cpu::scale(a, -1.5f, out);
  Gpu::scale(ad, -1.5f, outd);
  PMC_CHECK_PARITY(T, outd, out, "scale");
  auto acc = a.clone();
  auto accd = dev(a);
  Cpu::accumulate(acc, b, 0.25f);
  Gpu::accumulate(accd, bd, 0.25f);
  PMC_CHECK_PARITY(T, accd, acc, "accumulate");
  const double sum_c = Cpu::sum(a), sum_g = Gpu::sum(ad);
  CHECK(std::abs(sum_g - sum_c) <= 1e-5 * std::max(1.0, std::abs(sum_c)));
  const double mean_c = Cpu::mean(a), mean_g = Gpu::mean(ad);
  CHECK(std::abs(mean_g - mean_c) <= 1e-6 * std::max(1.0, std::abs(mean_c)));
  CHECK(Gpu::sum(ad) == Gpu::sum(ad));  // deterministic
}

TEST_CASE_TEMPLATE("elementwise/mul backward", T, float, bf16) {
  std::mt19937 rng(11);
  const Shape s{5, 129};
  auto a = rnd<T>(s, rng), b = rnd<T>(s, rng), g = rnd<T>(s, rng), da = rnd<T>(s, rng), db = rnd<T>(s, rng);
  auto dad = dev(da), dbd = dev(db);
  ops::Elementwise<pmc::Cpu>::mul_backward(a, b, g, da, db);
  ops::Elementwise<Cuda>::mul_backward(dev(a), dev(b), dev(g), dad, dbd);
  PMC_CHECK_PARITY(T, dad, da, "mul backward da");
  PMC_CHECK_PARITY(T, dbd, db, "mul backward db");
}

TEST_CASE_TEMPLATE("swiglu/forward, backward, silu", T, float, bf16) {
  using Cpu = ops::SwiGlu<pmc::Cpu>;
  using Gpu = ops::SwiGlu<Cuda>;
  std::mt19937 rng(12);
  const Shape s{17, 172};
  auto a = rnd<T>(s, rng, -4, 4), b = rnd<T>(s, rng), dh = rnd<T>(s, rng);
  auto ad = dev(a), bd = dev(b), dhd = dev(dh);
  Tensor<T> h(s);
  Tensor<T, Cuda> hd(s);
  Cpu::forward(a, b, h);
  Gpu::forward(ad, bd, hd);
  PMC_CHECK_PARITY(T, hd, h, "swiglu forward");
  auto da = rnd<T>(s, rng), db = rnd<T>(s, rng);
  auto dad = dev(da), dbd = dev(db);
  Cpu::backward(a, b, dh, da, db);
  Gpu::backward(ad, bd, dhd, dad, dbd);
  PMC_CHECK_PARITY(T, dad, da, "swiglu da");
  PMC_CHECK_PARITY(T, dbd, db, "swiglu db");
  Cpu::silu_forward(a, h);
  Gpu::silu_forward(ad, hd);
  PMC_CHECK_PARITY(T, hd, h, "silu forward");
  Cpu::silu_backward(a, dh, da);
  Gpu::silu_backward(ad, dhd, dad);
  PMC_CHECK_PARITY(T, dad, da, "silu backward");
}

TEST_CASE_TEMPLATE("rope/both layouts, offset positions, in place, scaled frequencies", T, float, bf16) {
  using Cpu = ops::Rope<pmc::Cpu>;
  using Gpu = ops::Rope<Cuda>;
  std::mt19937 rng(13);
  const Shape s{2, 11, 3, 16};
  ops::RopeScaling yarn, dynamic;
  yarn.type = ops::RopeScalingType::yarn;
  yarn.factor = 4;
  yarn.original_max_position = 64;
  yarn.attention_factor = 1.1386;
  dynamic.type = ops::RopeScalingType::dynamic;  // positions 5..15: the call's length 16 exceeds 8
  dynamic.factor = 2;
  dynamic.original_max_position = 8;
  for (const ops::RopeParams rope : {ops::RopeParams(10000.f), ops::RopeParams(10000.f, yarn),
                                     ops::RopeParams(10000.f, dynamic)})
    for (auto layout : {ops::RopeLayout::interleaved, ops::RopeLayout::rotate_half}) {
      CAPTURE(static_cast<int>(layout));
      CAPTURE(static_cast<int>(rope.scaling.type));
      auto x = rnd<T>(s, rng);
      Tensor<T> y(s);
      auto yd = Tensor<T, Cuda>(s);
      Cpu::forward(x, 5, rope, layout, y);
      Gpu::forward(dev(x), 5, rope, layout, yd);
      PMC_CHECK_PARITY(T, yd, y, "rope forward");
      auto xd = dev(x);  // in place
      Gpu::forward(xd, 5, rope, layout, xd);
      PMC_CHECK_PARITY(T, xd, y, "rope forward in place");
      auto dy = rnd<T>(s, rng), dx = rnd<T>(s, rng);
      auto dxd = dev(dx);
      Cpu::backward(dy, 5, rope, layout, dx);
      Gpu::backward(dev(dy), 5, rope, layout, dxd);
      PMC_CHECK_PARITY(T, dxd, dx, "rope backward");
    }
}

}  // namespace pmc::test

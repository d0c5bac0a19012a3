// SPDX-License-Identifier: MIT
// The GPU optimizer kernels against the CPU ones: AdamWKernel<Cuda>, the multi-tensor AdamW with a device clip
// factor, ParamOps<Cuda>, and the deterministic global gradient norm.
#include "parity.hpp"

#include <pmc/backends/cpu/adamw.hpp>
#include <pmc/backends/cpu/param_ops.hpp>

#include <cmath>
#include <vector>

namespace pmc::test {
namespace {

ops::AdamWCoefficients coefficients(double lr, double wd, int step) {
  const double b1 = 0.9, b2 = 0.95, t = step;
  return {.decay = 1 - lr * wd,
          .one_minus_beta1 = 1 - b1,
          .beta2 = b2,
          .one_minus_beta2 = 1 - b2,
          .step_size = lr / (1 - std::pow(b1, t)),
          .bc2_sqrt = std::sqrt(1 - std::pow(b2, t)),
          .eps = 1e-8};
}

}  // namespace

TEST_CASE("adamw/per-buffer kernel, three steps") {
  std::mt19937 rng(40);
  const std::int64_t n = 100003;
  auto p = rnd<float>({n}, rng), m = rnd<float>({n}, rng, -0.01, 0.01), v = rnd<float>({n}, rng, 0, 1e-4);
  auto pd = dev(p), md = dev(m), vd = dev(v);
  for (int step = 1; step <= 3; ++step) {
    auto g = rnd<float>({n}, rng);
    auto gd = dev(g);
    const auto c = coefficients(1e-3, 0.1, step);
    ops::AdamWKernel<pmc::Cpu>::step(p.data(), g.data(), m.data(), v.data(), n, c);
    ops::AdamWKernel<Cuda>::step(pd.data(), gd.data(), md.data(), vd.data(), n, c);
  }
  PMC_CHECK_PARITY(float, pd, p, "adamw p");
  PMC_CHECK_PARITY(float, md, m, "adamw m");
  PMC_CHECK_PARITY(float, vd, v, "adamw v");
}

TEST_CASE("adamw/multi-tensor with a device clip factor") {
  std::mt19937 rng(41);
  const std::vector<std::int64_t> sizes{70000, 3, 131072, 1};  // chunk boundaries, tiny tensors
  std::vector<Tensor<float>> p, g, m, v;
  std::vector<Tensor<float, Cuda>> pd, gd, md, vd;
  for (auto n : sizes) {
    p.push_back(rnd<float>({n}, rng));
    g.push_back(rnd<float>({n}, rng, -3, 3));
    m.push_back(Tensor<float>({n}));
    v.push_back(Tensor<float>({n}));
    pd.push_back(dev(p.back()));
    gd.push_back(dev(g.back()));
    md.push_back(dev(m.back()));
    vd.push_back(dev(v.back()));
  }
  // Reference: torch-style clip (norm in double, grads scaled in place), then per-buffer AdamW.
  const double max_norm = 1.0;
  double ss = 0;
  for (auto& t : g) ss += ops::ParamOps<pmc::Cpu>::sum_squares(t.data(), t.numel());
  const double norm = std::sqrt(ss), coef = max_norm / (norm + 1e-6);
  REQUIRE(coef < 1);
  std::vector<cuda::AdamWSlot<float>> slots;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const auto c = coefficients(1e-3 * static_cast<double>(i + 1), i % 2 ? 0.0 : 0.1, 1);
    for (auto& x : g[i].span()) x = static_cast<float>(x * static_cast<float>(coef));
    ops::AdamWKernel<pmc::Cpu>::step(p[i].data(), g[i].data(), m[i].data(), v[i].data(), sizes[i], c);
    slots.push_back({pd[i].data(), gd[i].data(), md[i].data(), vd[i].data(), sizes[i], c});
  }
  std::vector<const float*> grads;
  for (auto& t : gd) grads.push_back(t.data());
  Tensor<double, Cuda> norm_d({1});
  Tensor<float, Cuda> scale_d({1});
  cuda::global_grad_norm<float>(grads, sizes, norm_d.data(), scale_d.data(), max_norm);
  cuda::adamw_multi_tensor<float>(slots, scale_d.data());
  CHECK(std::abs(cuda::to_host(norm_d)[0] - norm) <= 1e-9 * norm);
  CHECK(std::abs(cuda::to_host(scale_d)[0] - static_cast<float>(coef)) <= 1e-6f);
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    CAPTURE(i);
    PMC_CHECK_PARITY(float, pd[i], p[i], "multi-tensor adamw p");
    PMC_CHECK_PARITY(float, md[i], m[i], "multi-tensor adamw m");
    PMC_CHECK_PARITY(float, vd[i], v[i], "multi-tensor adamw v");
  }
}

TEST_CASE_TEMPLATE("grad_norm/global norm over buffers, deterministic", T, float, bf16) {
  std::mt19937 rng(42);
  const std::vector<std::int64_t> sizes{1000, 65536 * 3 + 7, 5};
  std::vector<Tensor<T>> g;
  std::vector<Tensor<T, Cuda>> gd;
  std::vector<const T*> ptrs;
  double ss = 0;
  for (auto n : sizes) {
    g.push_back(rnd<T>({n}, rng));
    gd.push_back(dev(g.back()));
    ptrs.push_back(gd.back().data());
    ss += ops::ParamOps<pmc::Cpu>::sum_squares(g.back().data(), n);
  }
  const double a = cuda::global_grad_norm<T>(ptrs, sizes), b = cuda::global_grad_norm<T>(ptrs, sizes);
  CHECK(std::abs(a - std::sqrt(ss)) <= 1e-12 * std::sqrt(ss));
  CHECK(a == b);
}

TEST_CASE_TEMPLATE("param_ops/scale, axpy, convert, fill, all_finite, sum_squares", T, float, bf16) {
  std::mt19937 rng(43);
  const std::int64_t n = 4099;
  auto x = rnd<T>({n}, rng);
  auto y = rnd<float>({n}, rng);
  auto xd = dev(x);
  auto yd = dev(y);
  ops::ParamOps<pmc::Cpu>::scale(x.data(), n, T(0.5f));
  ops::ParamOps<Cuda>::scale(xd.data(), n, T(0.5f));
  PMC_CHECK_PARITY(T, xd, x, "scale");
  ops::ParamOps<pmc::Cpu>::axpy(x.data(), y.data(), n, 0.25f);
  ops::ParamOps<Cuda>::axpy(xd.data(), yd.data(), n, 0.25f);
  PMC_CHECK_PARITY(float, yd, y, "axpy");
  Tensor<T> c({n});
  Tensor<T, Cuda> cd({n});
  ops::ParamOps<pmc::Cpu>::convert(y.data(), c.data(), n);
  ops::ParamOps<Cuda>::convert(yd.data(), cd.data(), n);
  CHECK(max_abs_diff(cuda::to_host(cd), c) == 0.0);  // round to nearest even on both sides
  const double sc = ops::ParamOps<pmc::Cpu>::sum_squares(x.data(), n), sg = ops::ParamOps<Cuda>::sum_squares(xd.data(), n);
  CHECK(std::abs(sg - sc) <= 1e-12 * sc);
  CHECK(ops::ParamOps<Cuda>::all_finite(xd.data(), n));
  ops::ParamOps<Cuda>::fill(xd.data() + 17, 1, T(INFINITY));
  CHECK_FALSE(ops::ParamOps<Cuda>::all_finite(xd.data(), n));
}

}  // namespace pmc::test

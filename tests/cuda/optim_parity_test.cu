// SPDX-License-Identifier: MIT
// The GPU optimizer kernels against the CPU ones: AdamWKernel<Cuda>, the multi-tensor AdamW with a device clip
// factor, ParamOps<Cuda>, and the deterministic global gradient norm; and optim:: on the GPU (which takes the
// multi-tensor forms: clip_grad_norm, AdamW::step, DynamicLossScaler::unscale) against optim:: on the CPU.
#include "parity.hpp"

#include <pmc/backends/cpu/adamw.hpp>
#include <pmc/backends/cpu/param_ops.hpp>

#include <pmc/optim/adamw.hpp>
#include <pmc/optim/grad_clip.hpp>
#include <pmc/optim/precision.hpp>

#include <cmath>
#include <string>
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

namespace {

/// Parameters of the given sizes with random values and grads, on the CPU and the same on the GPU.
struct ParamSet {
  std::vector<optim::Param<float>> cpu;
  std::vector<optim::Param<float, Cuda>> gpu;
};
ParamSet make_params(const std::vector<std::int64_t>& sizes, std::mt19937& rng, double grad_range) {
  ParamSet s;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const std::string name = "p" + std::to_string(i);
    auto value = rnd<float>({sizes[i]}, rng);
    auto grad = rnd<float>({sizes[i]}, rng, -grad_range, grad_range);
    const int group = static_cast<int>(i % 2);
    s.cpu.push_back({.name = name, .value = value, .grad = grad, .group = group});
    s.gpu.push_back({.name = name, .value = dev(value), .grad = dev(grad), .group = group});
  }
  return s;
}

}  // namespace

TEST_CASE("grad_norm/optim::clip_grad_norm on the GPU (one multi-tensor reduction and scale) against the CPU") {
  static_assert(ops::MultiTensorParamOps<Cuda> && ops::MultiTensorAdamW<Cuda>);
  static_assert(!ops::MultiTensorParamOps<pmc::Cpu> && !ops::MultiTensorAdamW<pmc::Cpu>);
  std::mt19937 rng(44);
  const std::vector<std::int64_t> sizes{70000, 3, 131072, 1, 4096};
  for (const double max_norm : {1.0, 1e6}) {  // clipped, and not
    CAPTURE(max_norm);
    auto s = make_params(sizes, rng, 3);
    const double n_cpu = optim::grad_norm(s.cpu), n_gpu = optim::grad_norm(s.gpu);
    CHECK(std::abs(n_gpu - n_cpu) <= 1e-12 * n_cpu);
    const double c_cpu = optim::clip_grad_norm(s.cpu, max_norm), c_gpu = optim::clip_grad_norm(s.gpu, max_norm);
    CHECK(std::abs(c_gpu - c_cpu) <= 1e-12 * c_cpu);
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      CAPTURE(i);
      PMC_CHECK_PARITY(float, s.gpu[i].grad, s.cpu[i].grad, "clipped grad");
    }
    if (max_norm > n_cpu)  // not clipped: the grads are untouched
      for (std::size_t i = 0; i < sizes.size(); ++i) CHECK(max_abs_diff(cuda::to_host(s.gpu[i].grad), s.cpu[i].grad) == 0.0);
  }
  // a non-finite grad: the norm says so, and the grads are left alone
  auto s = make_params(sizes, rng, 1);
  ops::ParamOps<Cuda>::fill(s.gpu[2].grad.data() + 5, 1, NAN);
  CHECK_FALSE(std::isfinite(optim::clip_grad_norm(s.gpu, 1.0)));
}

TEST_CASE("adamw/optim::AdamW<float, Cuda> (multi-tensor step) against optim::AdamW<float>, three clipped steps") {
  std::mt19937 rng(45);
  const std::vector<std::int64_t> sizes{70000, 3, 131072, 1, 4096};
  auto s = make_params(sizes, rng, 3);
  const std::vector<optim::ParamGroup> groups{{.lr_scale = 1, .weight_decay = 0.1}, {.lr_scale = 0.5, .weight_decay = 0}};
  optim::AdamW<float> cpu({.beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8}, groups);
  optim::AdamW<float, Cuda> gpu({.beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8}, groups);
  for (int step = 1; step <= 3; ++step) {
    CAPTURE(step);
    if (step > 1)  // new gradients, the same on both sides
      for (std::size_t i = 0; i < sizes.size(); ++i) {
        auto g = rnd<float>({sizes[i]}, rng, -3, 3);
        s.cpu[i].grad = g;
        s.gpu[i].grad = dev(g);
      }
    const double n_cpu = optim::clip_grad_norm(s.cpu, 1.0), n_gpu = optim::clip_grad_norm(s.gpu, 1.0);
    CHECK(std::abs(n_gpu - n_cpu) <= 1e-12 * n_cpu);
    cpu.step(s.cpu, 1e-3 * step);
    gpu.step(s.gpu, 1e-3 * step);
  }
  CHECK(gpu.step_count() == 3);
  const auto st_cpu = cpu.state_dict();
  const auto st_gpu = gpu.state_dict();
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    CAPTURE(i);
    PMC_CHECK_PARITY(float, s.gpu[i].value, s.cpu[i].value, "AdamW p");
    const std::string name = s.cpu[i].name;
    PMC_CHECK_PARITY(float, st_gpu.tensors.at("m." + name), st_cpu.tensors.at("m." + name), "AdamW m");
    PMC_CHECK_PARITY(float, st_gpu.tensors.at("v." + name), st_cpu.tensors.at("v." + name), "AdamW v");
    CHECK(st_gpu.steps.at(name) == 3);
  }
}

TEST_CASE("param_ops/DynamicLossScaler::unscale on the GPU (one finiteness check, one scale) against the CPU") {
  std::mt19937 rng(46);
  const std::vector<std::int64_t> sizes{70000, 3, 131072, 1};
  optim::DynamicLossScaler<optim::Fp16Mixed> scaler({.init_scale = 1024});
  auto s = make_params(sizes, rng, 100);
  CHECK(scaler.unscale(s.cpu));
  CHECK(scaler.unscale(s.gpu));
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    CAPTURE(i);
    CHECK(max_abs_diff(cuda::to_host(s.gpu[i].grad), s.cpu[i].grad) == 0.0);  // a power-of-two scale: exact
  }
  ops::ParamOps<Cuda>::fill(s.gpu[2].grad.data() + 131071, 1, INFINITY);  // the last element of a tensor
  const auto before = cuda::to_host(s.gpu[0].grad);
  CHECK_FALSE(scaler.unscale(s.gpu));
  CHECK(max_abs_diff(cuda::to_host(s.gpu[0].grad), before) == 0.0);  // nothing scaled
}

}  // namespace pmc::test

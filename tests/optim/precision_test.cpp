// SPDX-License-Identifier: MIT
// Precision policies: Bf16Mixed master weights (fp32 master, RNE-rounded bf16 model), Fp32 aliasing, the
// dynamic loss scaler (skip on inf, backoff, growth) and which policy/scaler combinations compile.
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include <doctest/doctest.h>

#include <pmc/backends/cpu/ops.hpp>
#include <pmc/optim/optim.hpp>

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace precision_test {

using namespace pmc;
using namespace pmc::optim;

// ---- compile-time: which combinations exist (tests/compile_fail/ checks the diagnostics) ----
template <class P>
concept HasDynamicScaler = requires { typename DynamicLossScaler<P>; };
static_assert(PrecisionPolicy<Fp32> && PrecisionPolicy<Bf16Mixed> && PrecisionPolicy<Fp16Mixed>);
static_assert(HasDynamicScaler<Fp16Mixed>);
static_assert(!HasDynamicScaler<Fp32> && !HasDynamicScaler<Bf16Mixed>);
static_assert(std::is_same_v<loss_scaler_for<Fp16Mixed>, DynamicLossScaler<Fp16Mixed>>);
static_assert(std::is_same_v<loss_scaler_for<Bf16Mixed>, NoLossScaler>);
static_assert(std::is_same_v<loss_scaler_for<Fp32>, NoLossScaler>);
static_assert(!has_master_copy<Fp32> && has_master_copy<Bf16Mixed> && has_master_copy<Fp16Mixed>);
template <class T>
concept HasAdamW = requires { typename AdamW<T, Cpu>; };
static_assert(HasAdamW<float> && HasAdamW<double> && !HasAdamW<bf16>);  // no 16-bit optimizer state

namespace {
std::vector<Param<bf16>> bf16_model() {
  auto w = Tensor<bf16>({4, 8});
  for (std::int64_t i = 0; i < w.numel(); ++i) w[i] = bf16(1.0f + 0.03125f * static_cast<float>(i % 7));
  auto n = Tensor<bf16>({8});
  n.fill(bf16(1.0f));
  return {{.name = "model.layers.0.mlp.up_proj.weight", .value = w, .grad = Tensor<bf16>({4, 8})},
          {.name = "model.norm.weight", .value = n, .grad = Tensor<bf16>({8}), .group = 1}};
}
}  // namespace

TEST_CASE("Bf16Mixed - masters are exact fp32 copies, kept in fp32, the model holds RNE(master)") {
  auto model = bf16_model();
  MasterWeights<Bf16Mixed> mw(model);
  auto masters = mw.params();
  REQUIRE(masters.size() == 2);
  CHECK(masters[0].name == model[0].name);
  CHECK(masters[1].group == 1);
  CHECK(static_cast<void*>(masters[0].value.data()) != static_cast<void*>(model[0].value.data()));
  for (std::int64_t i = 0; i < model[0].value.numel(); ++i) CHECK(masters[0].value[i] == float(model[0].value[i]));

  // an lr far below bf16's resolution at 1.0 (2^-8 relative): the bf16 weights cannot move, the master does
  AdamW<float> opt({}, {{}, {}});
  for (int step = 0; step < 5; ++step) {
    for (auto& p : masters) p.grad.fill(0.5f);
    opt.step(masters, 1e-4);
    mw.write_back();
  }
  const float m0 = masters[1].value[0];
  CHECK(m0 == doctest::Approx(1.0f - 5e-4f).epsilon(1e-5));  // Adam moves ~lr per step
  CHECK(float(model[1].value[0]) == 1.0f);                    // 1 - 5e-4 rounds back to 1 in bf16
  // every model weight is exactly the master rounded to nearest even
  for (std::size_t k = 0; k < masters.size(); ++k)
    for (std::int64_t i = 0; i < masters[k].value.numel(); ++i)
      CHECK(model[k].value[i].bits == bf16(masters[k].value[i]).bits);
}

TEST_CASE("Bf16Mixed write_back rounds ties to even") {
  auto model = bf16_model();
  MasterWeights<Bf16Mixed> mw(model);
  auto m = mw.params()[1].value;
  const float ulp = 1.0f / 128;                // bf16 spacing in [1, 2)
  m[0] = 1.0f + ulp / 2;                       // halfway between 1 (even) and 1+ulp (odd): → 1
  m[1] = 1.0f + 3 * ulp / 2;                   // halfway between 1+ulp (odd) and 1+2ulp (even): → 1+2ulp
  m[2] = std::nextafter(1.0f + ulp / 2, 2.0f); // just above halfway: → 1+ulp
  m[3] = -(1.0f + ulp / 2);
  mw.write_back();
  const auto& v = mw.model_values()[1];
  CHECK(float(v[0]) == 1.0f);
  CHECK(float(v[1]) == 1.0f + 2 * ulp);
  CHECK(float(v[2]) == 1.0f + ulp);
  CHECK(float(v[3]) == -1.0f);
  // masters are untouched by write_back, and read_from_model re-widens exactly
  CHECK(m[0] == 1.0f + ulp / 2);
  mw.read_from_model();
  CHECK(m[0] == 1.0f);
}

TEST_CASE("Fp32 - the masters are the model's tensors, write_back is a no-op") {
  std::vector<Param<float>> model{{.name = "w", .value = Tensor<float>::from({2}, {1.f, 2.f}), .grad = Tensor<float>({2})}};
  MasterWeights<Fp32> mw(model);
  CHECK(mw.params()[0].value.shares_storage_with(model[0].value));
  CHECK_FALSE(mw.params()[0].grad.shares_storage_with(model[0].grad));  // fp32 accumulation buffer of its own
  mw.params()[0].grad.fill(1.f);
  Sgd<float> opt;
  opt.step(mw.params(), 0.5);
  mw.write_back();
  CHECK(model[0].value[0] == 0.5f);
}

TEST_CASE("DynamicLossScaler - initial scale 2^16, unscale divides the grads") {
  DynamicLossScaler<Fp16Mixed> s;
  CHECK(s.scale() == 65536.f);
  std::vector<Param<float>> ps{{.name = "w", .value = Tensor<float>({2}), .grad = Tensor<float>::from({2}, {65536.f, -3 * 65536.f})}};
  CHECK(s.unscale(ps));
  CHECK(ps[0].grad[0] == 1.f);
  CHECK(ps[0].grad[1] == -3.f);
}

TEST_CASE("DynamicLossScaler - a step with inf/NaN grads is skipped and the scale backs off") {
  DynamicLossScaler<Fp16Mixed> s({.growth_interval = 3});
  std::vector<Param<float>> ps{{.name = "w", .value = Tensor<float>({2}), .grad = Tensor<float>({2})}};
  int stepped = 0;
  auto opt_step = [&] { ++stepped; };
  ps[0].grad[0] = 1.f;
  CHECK(s.step(ps, opt_step));
  CHECK(s.growth_tracker() == 1);
  for (float bad : {std::numeric_limits<float>::infinity(), std::nanf("")}) {
    ps[0].grad[1] = bad;
    ps[0].grad[0] = 4.f;
    const float before = s.scale();
    CHECK_FALSE(s.step(ps, opt_step));
    CHECK(s.scale() == before * 0.5f);
    CHECK(s.growth_tracker() == 0);
    CHECK(ps[0].grad[0] == 4.f);  // not unscaled: the step is dropped
  }
  CHECK(stepped == 1);
  CHECK(s.skipped_steps() == 2);
  CHECK(s.scale() == 16384.f);
}

TEST_CASE("DynamicLossScaler - growth x2 after growth_interval consecutive good steps, reset by a bad one") {
  DynamicLossScaler<Fp16Mixed> s({.init_scale = 1024, .growth_interval = 3});
  for (int i = 0; i < 2; ++i) s.update(false);
  CHECK(s.scale() == 1024.f);
  s.update(true);                  // bad step: backoff and restart the count
  CHECK(s.scale() == 512.f);
  for (int i = 0; i < 2; ++i) s.update(false);
  CHECK(s.scale() == 512.f);
  s.update(false);                 // third consecutive good step
  CHECK(s.scale() == 1024.f);
  CHECK(s.growth_tracker() == 0);
  for (int i = 0; i < 6; ++i) s.update(false);
  CHECK(s.scale() == 4096.f);
  // default interval: 2000
  DynamicLossScaler<Fp16Mixed> d;
  for (int i = 0; i < 1999; ++i) d.update(false);
  CHECK(d.scale() == 65536.f);
  d.update(false);
  CHECK(d.scale() == 131072.f);
}

TEST_CASE("DynamicLossScaler - growth never overflows float, state round trip") {
  DynamicLossScaler<Fp16Mixed> s({.init_scale = std::ldexp(1.0, 127), .growth_interval = 1});
  s.update(false);
  CHECK(s.scale() == std::ldexp(1.0f, 127));  // 2^128 would be inf: kept, as GradScaler
  DynamicLossScaler<Fp16Mixed> a({.growth_interval = 5});
  a.update(false);
  a.update(false);
  a.update(true);
  a.update(false);
  DynamicLossScaler<Fp16Mixed> b({.growth_interval = 5});
  b.load_state(a.state());
  CHECK(b.scale() == a.scale());
  CHECK(b.growth_tracker() == 1);
  CHECK_THROWS_AS(b.load_state({.scale = -1}), Error);
  CHECK_THROWS_AS(b.load_state({.scale = 2, .growth_tracker = 5}), Error);
}

TEST_CASE("Fp16Mixed end to end - f16 grads of a scaled loss, accumulated and unscaled in fp32") {
  std::vector<Param<f16>> model{{.name = "w", .value = Tensor<f16>::from({3}, {f16(1.f), f16(2.f), f16(-1.f)}),
                                 .grad = Tensor<f16>({3})}};
  MasterWeights<Fp16Mixed> mw(model);
  loss_scaler_for<Fp16Mixed> scaler({.init_scale = 1024});
  GradAccumulator<float> acc(mw.params());
  // a true gradient of 1e-6 is an f16 subnormal (spacing 2^-24 ≈ 6e-8: a few bits left); scaled by 1024 it is
  // a normal f16 number with all 11 bits
  const float tiny = 1e-6f;
  CHECK(std::abs(float(f16(tiny)) - tiny) > 1e-8f);
  auto scaled = Tensor<f16>::from({3}, {f16(tiny * scaler.scale()), f16(2 * tiny * scaler.scale()), f16(0.f)});
  acc.begin(8);
  acc.add(std::vector<Tensor<f16>>{scaled}, 4);
  acc.add(std::vector<Tensor<f16>>{scaled}, 4);
  acc.finish();
  Sgd<float> opt;
  CHECK(scaler.step(mw.params(), [&] { opt.step(mw.params(), 1.0); }));
  mw.write_back();
  CHECK(mw.params()[0].grad[0] == doctest::Approx(tiny).epsilon(1e-3));
  CHECK(mw.params()[0].value[1] == doctest::Approx(2.f - 2 * tiny).epsilon(1e-7));
  CHECK(float(model[0].value[1]) == 2.f);  // 2 - 2e-6 rounds to 2 in f16: the master keeps the update
}

TEST_CASE("NoLossScaler (Bf16Mixed, Fp32) - scale 1, always steps") {
  loss_scaler_for<Bf16Mixed> s;
  CHECK(s.scale() == 1.f);
  std::vector<Param<float>> ps{{.name = "w", .value = Tensor<float>({1}), .grad = Tensor<float>({1})}};
  bool called = false;
  CHECK(s.step(ps, [&] { called = true; }));
  CHECK(called);
}

}  // namespace precision_test

// SPDX-License-Identifier: MIT
// Optimizer state_dict round trips (a resumed run is bit-identical to an uninterrupted one) and load errors.
#include <cmath>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <doctest/doctest.h>

#include <pmc/backends/cpu/ops.hpp>
#include <pmc/optim/optim.hpp>

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace state_dict_test {

using namespace pmc;
using namespace pmc::optim;

namespace {
template <class T>
std::vector<Param<T>> make_params() {
  std::vector<Param<T>> ps;
  const std::vector<std::pair<std::string, Shape>> spec{
      {"model.embed_tokens.weight", {16, 8}}, {"model.norm.weight", {8}}, {"lm_head.weight", {16, 8}}};
  for (const auto& [name, shape] : spec) {
    Param<T> p{.name = name, .value = Tensor<T>(shape), .grad = Tensor<T>(shape)};
    for (std::int64_t i = 0; i < p.value.numel(); ++i) p.value[i] = static_cast<T>(std::sin(0.37 * static_cast<double>(i) + static_cast<double>(name.size())));
    ps.push_back(std::move(p));
  }
  return ps;
}

/// Deterministic grads for step s, different per parameter and element.
template <class T>
void set_grads(std::vector<Param<T>>& ps, int s) {
  for (auto& p : ps)
    for (std::int64_t i = 0; i < p.grad.numel(); ++i)
      p.grad[i] = static_cast<T>(std::cos(1.3 * s + 0.11 * static_cast<double>(i) + static_cast<double>(p.name.size())) * (1 + s % 3));
}

/// A deep copy of a state (state_dict returns views of the live state).
template <class T>
OptimizerState<T> copy_state(const OptimizerState<T>& s) {
  OptimizerState<T> out = s;
  for (auto& [k, t] : out.tensors) t = t.clone();
  return out;
}

template <class T>
Param<T>* find(std::vector<Param<T>>& ps, const std::string& name) {
  for (auto& p : ps)
    if (p.name == name) return &p;
  return nullptr;
}

/// With `reorder`, the resumed run lists its parameters in another order (state is found by name); it then
/// does not clip, since the global norm's double sum follows the parameter order.
template <class Opt, class T>
void check_resume_bit_identical(const Opt& prototype, bool reorder) {
  const double max_norm = reorder ? 1e30 : 5.0;
  const WarmupCosine sched{.peak = 1e-2, .floor = 1e-3, .warmup_steps = 2, .total_steps = 8};
  // uninterrupted: 8 steps
  auto a = make_params<T>();
  Opt opt_a = prototype;
  for (int s = 0; s < 8; ++s) {
    set_grads(a, s);
    clip_grad_norm(a, max_norm);
    opt_a.step(a, sched.lr(s));
  }
  // interrupted after 4 steps: save params and state, build everything afresh, resume
  auto b = make_params<T>();
  OptimizerState<T> saved;
  std::map<std::string, Tensor<T>> saved_values;
  {
    Opt opt_b = prototype;
    for (int s = 0; s < 4; ++s) {
      set_grads(b, s);
      clip_grad_norm(b, max_norm);
      opt_b.step(b, sched.lr(s));
    }
    saved = copy_state(opt_b.state_dict());
    for (auto& p : b) saved_values.emplace(p.name, p.value.clone());
  }
  auto c = make_params<T>();
  if (reorder) std::swap(c[0], c[2]);
  for (auto& p : c) saved_values.at(p.name).copy_to(p.value);
  Opt opt_c = prototype;
  opt_c.load_state_dict(saved, c);
  CHECK(opt_c.step_count() == 4);
  for (int s = 4; s < 8; ++s) {
    // grads are generated for the original order
    auto order = make_params<T>();
    set_grads(order, s);
    for (auto& p : c) find(order, p.name)->grad.copy_to(p.grad);
    clip_grad_norm(c, max_norm);
    opt_c.step(c, sched.lr(s));
  }
  for (auto& p : a) {
    CAPTURE(p.name);
    const auto* q = find(c, p.name);
    REQUIRE(q);
    bool same = true;
    for (std::int64_t i = 0; i < p.value.numel(); ++i) same = same && p.value[i] == q->value[i];
    CHECK(same);
  }
}
}  // namespace

TEST_CASE("AdamW - save, load into a fresh optimizer, continue - bit-identical to the uninterrupted run") {
  for (bool reorder : {false, true}) {
    CAPTURE(reorder);
    check_resume_bit_identical<AdamW<float>, float>(AdamW<float>({.beta2 = 0.95, .weight_decay = 0.1}), reorder);
    check_resume_bit_identical<AdamW<double>, double>(AdamW<double>({.weight_decay = 0.01}), reorder);
  }
}

TEST_CASE("SGD - save, load, continue - bit-identical") {
  for (bool reorder : {false, true}) {
    CAPTURE(reorder);
    check_resume_bit_identical<Sgd<float>, float>(Sgd<float>({.momentum = 0.9, .nesterov = true}), reorder);
    check_resume_bit_identical<Sgd<double>, double>(
        Sgd<double>({.momentum = 0.5, .dampening = 0.1, .weight_decay = 0.01}), reorder);
  }
}

TEST_CASE("AdamW state_dict layout - m.<name>, v.<name>, per-parameter steps") {
  auto ps = make_params<float>();
  AdamW<float> opt;
  set_grads(ps, 0);
  opt.step(ps, 1e-3);
  opt.step(ps, 1e-3);
  auto sd = opt.state_dict();
  CHECK(sd.step == 2);
  CHECK(sd.tensors.size() == 6);
  CHECK(sd.tensors.at("m.model.norm.weight").shape() == Shape{8});
  CHECK(sd.tensors.at("v.lm_head.weight").shape() == Shape{16, 8});
  CHECK(sd.steps.at("model.norm.weight") == 2);
  // after one update with g: m = (1-β1)·g, v = (1-β2)·g²; after two with the same g: m = (1-β1²)·g
  const float g = ps[1].grad[3];
  CHECK(sd.tensors.at("m.model.norm.weight")[3] == doctest::Approx((1 - 0.9 * 0.9) * g).epsilon(1e-6));
  CHECK(sd.tensors.at("v.model.norm.weight")[3] == doctest::Approx((1 - 0.999 * 0.999) * g * g).epsilon(1e-5));
}

TEST_CASE("a parameter added later starts its own bias correction at t = 1") {
  auto ps = make_params<double>();
  std::vector<Param<double>> first(ps.begin(), ps.begin() + 2);
  AdamW<double> opt;
  set_grads(ps, 0);
  opt.step(first, 1e-2);
  opt.step(first, 1e-2);
  const double before = ps[2].value[0];
  opt.step(ps, 1e-2);  // lm_head's first update: |Δp| = lr·|g|/(|g| + eps) ≈ lr (Adam's first step)
  CHECK(std::abs(ps[2].value[0] - before) == doctest::Approx(1e-2).epsilon(1e-6));
  CHECK(opt.state_dict().steps.at("lm_head.weight") == 1);
  CHECK(opt.state_dict().steps.at("model.norm.weight") == 3);
}

TEST_CASE("load_state_dict errors name the parameter and both shapes, and change nothing") {
  auto ps = make_params<float>();
  AdamW<float> opt;
  set_grads(ps, 0);
  opt.step(ps, 1e-3);
  const auto good = copy_state(opt.state_dict());

  AdamW<float> fresh;
  SUBCASE("missing entry") {
    auto bad = good;
    bad.tensors.erase("v.model.norm.weight");
    CHECK_THROWS_WITH_AS(fresh.load_state_dict(bad, ps),
                         "AdamW::load_state_dict: no entry 'v.model.norm.weight' for parameter 'model.norm.weight' of "
                         "shape (8,)",
                         Error);
  }
  SUBCASE("mis-shaped entry") {
    auto bad = good;
    bad.tensors["m.lm_head.weight"] = Tensor<float>({8, 16});
    CHECK_THROWS_WITH_AS(fresh.load_state_dict(bad, ps),
                         "AdamW::load_state_dict: entry 'm.lm_head.weight' has shape (8, 16) but parameter "
                         "'lm_head.weight' has shape (16, 8)",
                         Error);
  }
  SUBCASE("unexpected entry") {
    auto bad = good;
    bad.tensors["m.model.layers.9.mlp.up_proj.weight"] = Tensor<float>({2});
    CHECK_THROWS_WITH_AS(fresh.load_state_dict(bad, ps), doctest::Contains("unexpected entry 'm.model.layers.9"),
                         Error);
  }
  SUBCASE("missing step count") {
    auto bad = good;
    bad.steps.erase("lm_head.weight");
    CHECK_THROWS_WITH_AS(fresh.load_state_dict(bad, ps), doctest::Contains("no step count for parameter 'lm_head.weight'"),
                         Error);
  }
  CHECK(fresh.step_count() == 0);
  CHECK(fresh.state_dict().tensors.empty());
}

TEST_CASE("SGD load_state_dict requires the momentum buffers once stepped") {
  auto ps = make_params<float>();
  Sgd<float> opt({.momentum = 0.9});
  set_grads(ps, 0);
  opt.step(ps, 1e-3);
  auto sd = copy_state(opt.state_dict());
  CHECK(sd.tensors.size() == 3);
  sd.tensors.erase("momentum_buffer.lm_head.weight");
  Sgd<float> fresh({.momentum = 0.9});
  CHECK_THROWS_WITH_AS(fresh.load_state_dict(sd, ps), doctest::Contains("no entry 'momentum_buffer.lm_head.weight'"),
                       Error);
  // without momentum there is no state to load
  Sgd<float> plain;
  plain.step(ps, 1e-3);
  CHECK(plain.state_dict().tensors.empty());
  Sgd<float> plain2;
  CHECK_NOTHROW(plain2.load_state_dict(plain.state_dict(), ps));
  CHECK(plain2.step_count() == 1);
}

}  // namespace state_dict_test

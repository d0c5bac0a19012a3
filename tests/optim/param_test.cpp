// SPDX-License-Identifier: MIT
// Parameter groups (assignment rules) and the checks optimizers make on their parameter lists.
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include <pmc/backends/cpu/ops.hpp>
#include <pmc/optim/optim.hpp>

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace param_test {

using namespace pmc;
using namespace pmc::optim;

namespace {
Param<float> make(const std::string& name, Shape s) { return {.name = name, .value = Tensor<float>(s), .grad = Tensor<float>(s)}; }

std::vector<Param<float>> llama_like() {
  return {make("model.embed_tokens.weight", {8, 4}), make("model.layers.0.input_layernorm.weight", {4}),
          make("model.layers.0.self_attn.q_proj.weight", {4, 4}),
          make("model.layers.0.post_attention_layernorm.weight", {4}), make("model.layers.0.mlp.up_proj.weight", {6, 4}),
          make("model.layers.0.mlp.up_proj.bias", {6}), make("model.norm.weight", {4}), make("lm_head.weight", {8, 4})};
}
}  // namespace

TEST_CASE("no_decay_for_norms_and_embeddings - norms, embeddings and 1-D tensors get no weight decay") {
  auto ps = llama_like();
  auto groups = no_decay_for_norms_and_embeddings(ps, 0.1);
  REQUIRE(groups.size() == 2);
  CHECK(groups[0].weight_decay == 0.1);
  CHECK(groups[1].weight_decay == 0.0);
  CHECK(groups[0].lr_scale == 1.0);
  CHECK(groups[1].lr_scale == 1.0);
  const std::vector<int> want{1, 1, 0, 1, 0, 1, 1, 0};
  for (std::size_t i = 0; i < ps.size(); ++i) {
    CAPTURE(ps[i].name);
    CHECK(ps[i].group == want[i]);
  }
}

TEST_CASE("assign_groups with a custom rule, the optimizer uses each group's lr scale and weight decay") {
  std::vector<Param<double>> ps{
      {.name = "a", .value = Tensor<double>::from({2}, {1.0, 2.0}), .grad = Tensor<double>::from({2}, {0.0, 0.0})},
      {.name = "b", .value = Tensor<double>::from({2}, {1.0, 2.0}), .grad = Tensor<double>::from({2}, {0.0, 0.0})}};
  assign_groups(ps, [](const Param<double>& p) { return p.name == "b" ? 1 : 0; });
  CHECK(ps[0].group == 0);
  CHECK(ps[1].group == 1);
  // zero grads: AdamW changes p only through the decoupled decay p·(1 - lr·lr_scale·wd)
  AdamW<double> opt({}, {{.lr_scale = 1, .weight_decay = 0.5}, {.lr_scale = 2, .weight_decay = 0.25}});
  opt.step(ps, 0.1);
  CHECK(ps[0].value[0] == 1.0 * (1 - 0.1 * 0.5));
  CHECK(ps[1].value[1] == 2.0 * (1 - 0.2 * 0.25));
  // SGD: the L2 term goes through the gradient: p - lr·lr_scale·wd·p
  Sgd<double> sgd({}, {{.lr_scale = 1, .weight_decay = 0.5}, {.lr_scale = 2, .weight_decay = 0.25}});
  sgd.step(ps, 0.1);
  CHECK(ps[1].value[1] == doctest::Approx(2.0 * (1 - 0.2 * 0.25) * (1 - 0.2 * 0.25)).epsilon(1e-15));
}

TEST_CASE("optimizers reject bad parameter lists before changing anything") {
  auto ps = llama_like();
  ps[2].value.fill(1.f);
  ps[2].grad.fill(1.f);
  AdamW<float> opt;
  SUBCASE("group out of range") {
    ps[3].group = 2;
    CHECK_THROWS_WITH_AS(opt.step(ps, 1e-3), doctest::Contains("in group 2 but there are 1"), Error);
  }
  SUBCASE("duplicate names") {
    ps[4].name = ps[2].name;
    CHECK_THROWS_WITH_AS(opt.step(ps, 1e-3), doctest::Contains("appears twice"), Error);
  }
  SUBCASE("grad of another shape") {
    ps[5].grad = Tensor<float>({7});
    CHECK_THROWS_WITH_AS(opt.step(ps, 1e-3), doctest::Contains("model.layers.0.mlp.up_proj.bias"), Error);
  }
  SUBCASE("non-contiguous value") {
    ps[7].value = Tensor<float>({4, 8}).transpose(0, 1);
    CHECK_THROWS_WITH_AS(opt.step(ps, 1e-3), doctest::Contains("not contiguous"), Error);
  }
  SUBCASE("bad learning rate") {
    CHECK_THROWS_AS(opt.step(ps, -1.0), Error);
    CHECK_THROWS_AS(opt.step(ps, std::nan("")), Error);
  }
  CHECK(ps[2].value[0] == 1.f);  // untouched
  CHECK(opt.step_count() == 0);
}

TEST_CASE("a parameter whose shape changed under the same name is an error") {
  std::vector<Param<float>> ps{make("w", {3})};
  AdamW<float> opt;
  opt.step(ps, 1e-3);
  ps[0] = make("w", {4});
  CHECK_THROWS_WITH_AS(opt.step(ps, 1e-3), doctest::Contains("has shape (4,) but its optimizer state has shape (3,)"),
                       Error);
}

TEST_CASE("option validation") {
  CHECK_THROWS_AS(AdamW<float>({.beta1 = 1.0}), Error);
  CHECK_THROWS_AS(AdamW<float>({.beta2 = -0.1}), Error);
  CHECK_THROWS_AS(Sgd<float>({.momentum = 0, .nesterov = true}), Error);
  CHECK_THROWS_AS(Sgd<float>({.momentum = 0.9, .dampening = 0.1, .nesterov = true}), Error);
  CHECK_NOTHROW(Sgd<float>({.momentum = 0.9, .nesterov = true}));
  // options.weight_decay is the single default group's
  CHECK(AdamW<float>({.weight_decay = 0.1}).groups().at(0).weight_decay == 0.1);
  CHECK(AdamW<float>({.weight_decay = 0.1}, {{}, {}}).groups().at(0).weight_decay == 0.0);
}

}  // namespace param_test

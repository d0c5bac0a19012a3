// SPDX-License-Identifier: MIT
// The autograd tape: gradients through composed functions and a whole model against finite differences
// in double, accumulation into shared (tied) parameters, no-grad scopes, and repeated backward passes.
#include <doctest/doctest.h>

#include <random>

#include <pmc/models/llama/model.hpp>
#include <pmc/pmc.hpp>
#include <support/compare.hpp>
#include <support/gradcheck.hpp>

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace tape_test {

using namespace pmc;
using autograd::Var;

namespace {

Var<double> param(const Shape& s, std::mt19937& rng) { return Var<double>(test::random_tensor<double>(s, rng), true); }

/// Central differences of f at `count` random elements of x, against x.grad(); returns the worst relative error.
double spot_check(const Var<double>& x, const std::function<double()>& f, std::mt19937& rng, int count = 6) {
  const auto& v = x.value();
  const auto& g = x.grad();
  REQUIRE(g.defined());
  std::uniform_int_distribution<std::int64_t> pick(0, v.numel() - 1);
  double worst = 0;
  for (int k = 0; k < count; ++k) {
    const std::int64_t i = pick(rng);
    const double saved = v[i], h = 1e-6;
    v[i] = saved + h;
    const double lp = f();
    v[i] = saved - h;
    const double lm = f();
    v[i] = saved;
    const double numeric = (lp - lm) / (2 * h);
    worst = std::max(worst, std::abs(g[i] - numeric) / std::max(1.0, std::abs(numeric)));
  }
  return worst;
}

}  // namespace

TEST_CASE("tape: a composed network's gradients match finite differences") {
  std::mt19937 rng(7);
  const std::int64_t N = 5, Din = 6, F = 7, V = 9;
  auto x = param({N, Din}, rng);
  auto w1 = param({F, Din}, rng), w2 = param({F, Din}, rng), w3 = param({V, F}, rng), g = param({F}, rng);
  const auto targets = Tensor<std::int32_t>::from({N}, {1, -100, 8, 0, 3});
  auto loss_of = [&] {
    namespace ag = autograd;
    auto h = ag::swiglu(ag::linear(x, w1), ag::linear(x, w2));              // (N, F)
    auto n = ag::rms_norm(ag::add(h, ag::scale(h, 0.5f)), g, 1e-5f);       // (N, F)
    auto logits = ag::linear(ag::mul(n, n), w3);                           // (N, V)
    return ag::add(ag::cross_entropy(logits, targets), ag::mean(ag::reshape(n, {N * F, 1})));
  };
  auto loss = loss_of();
  autograd::backward(loss);
  auto f = [&] {
    autograd::NoGrad ng;
    return loss_of().value()[0];
  };
  for (auto* p : {&x, &w1, &w2, &w3, &g}) CHECK(spot_check(*p, f, rng, 12) < 1e-6);
}

TEST_CASE("tape: a parameter used twice accumulates both gradients, and backward twice accumulates") {
  std::mt19937 rng(3);
  auto w = param({4, 4}, rng);
  auto x = param({2, 4}, rng);
  auto y = autograd::sum(autograd::linear(autograd::linear(x, w), w));  // x Wᵀ Wᵀ
  autograd::backward(y);
  const auto first = w.grad().clone();
  auto f = [&] {
    autograd::NoGrad ng;
    return autograd::sum(autograd::linear(autograd::linear(x, w), w)).value()[0];
  };
  CHECK(spot_check(w, f, rng, 16) < 1e-6);
  autograd::backward(autograd::sum(autograd::linear(autograd::linear(x, w), w)));
  Tensor<double> twice(first.shape());
  ops::Elementwise<Cpu>::scale(first, 2.f, twice);
  CHECK(test::max_abs_diff(w.grad(), twice) < 1e-12);
  w.zero_grad();
  CHECK(test::max_abs_diff(w.grad(), Tensor<double>(first.shape())) == 0);
}

TEST_CASE("tape: no-grad scopes record nothing and keep nothing") {
  std::mt19937 rng(5);
  auto w = param({3, 3}, rng);
  auto x = param({2, 3}, rng);
  {
    autograd::NoGrad ng;
    auto y = autograd::linear(x, w);
    CHECK_FALSE(y.requires_grad());
    CHECK(autograd::current_tape().size() == 0);
  }
  CHECK(autograd::grad_enabled());
  auto y = autograd::linear(x, w);
  CHECK(y.requires_grad());
  CHECK(autograd::current_tape().size() == 1);
  autograd::current_tape().clear();
  CHECK_THROWS_AS(autograd::backward(y), Error);  // not a scalar
}

TEST_CASE("tape: a whole LLaMA (GQA, tied head) matches finite differences in double") {
  constexpr llama::Config cfg{.dim = 16, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .ffn_dim = 24,
                              .vocab_size = 11, .max_seq_len = 16, .norm_eps = 1e-5f, .rope_theta = 1e4f,
                              .tied_embeddings = true};
  llama::Model<cfg, double> model;
  model.init_random(1, 0.3f);
  std::mt19937 rng(9);
  for (auto& p : model.named_parameters())  // norms away from 1 so their gradients are exercised
    if (p.var.value().rank() == 1)
      for (auto& v : p.var.value().span()) v = 1.0 + 0.3 * std::uniform_real_distribution<double>(-1, 1)(rng);
  const auto tokens = Tensor<std::int32_t>::from({2, 5}, {1, 4, 7, 2, 9, 3, 3, 10, 0, 5});
  const auto targets = Tensor<std::int32_t>::from({2, 5}, {4, 7, 2, 9, -100, 3, 10, -100, 5, 6});
  for (auto layout : {ops::RopeLayout::rotate_half, ops::RopeLayout::interleaved}) {
    model.set_rope_layout(layout);
    model.zero_grad();
    autograd::backward(model.loss(tokens, targets));
    auto f = [&] {
      autograd::NoGrad ng;
      return model.loss(tokens, targets).value()[0];
    };
    for (const auto& p : model.named_parameters()) {
      INFO(p.name);
      CHECK(spot_check(p.var, f, rng, 4) < 1e-6);
    }
  }
}

TEST_CASE("tape: a backward runs its own graph only: another graph on the tape waits for its own backward") {
  std::mt19937 rng(8);
  auto w = param({3, 3}, rng);
  auto x1 = param({2, 3}, rng), x2 = param({2, 3}, rng);
  // the expected gradients, each graph alone
  auto loss1_alone = autograd::sum(autograd::linear(x1, w));
  autograd::backward(loss1_alone);
  const auto dx1 = x1.grad().clone();
  const auto dw1 = w.grad().clone();
  w.reset_grad();
  auto loss2_alone = autograd::sum(autograd::mul(autograd::linear(x2, w), autograd::linear(x2, w)));
  autograd::backward(loss2_alone);
  const auto dx2 = x2.grad().clone();
  const auto dw2 = w.grad().clone();
  w.reset_grad();
  x1.reset_grad();
  x2.reset_grad();
  // both graphs recorded, then one backward each: the first runs loss1's closures and keeps loss2's
  auto loss1 = autograd::sum(autograd::linear(x1, w));
  auto loss2 = autograd::sum(autograd::mul(autograd::linear(x2, w), autograd::linear(x2, w)));
  autograd::backward(loss1);
  CHECK_FALSE(x2.grad().defined());
  CHECK(test::max_abs_diff(x1.grad(), dx1) == 0);
  CHECK(test::max_abs_diff(w.grad(), dw1) == 0);
  CHECK(autograd::current_tape().size() == 4);  // loss2's: two linears, mul, sum
  w.reset_grad();
  autograd::backward(loss2);
  CHECK(test::max_abs_diff(x2.grad(), dx2) == 0);
  CHECK(test::max_abs_diff(w.grad(), dw2) == 0);
  CHECK(autograd::current_tape().size() == 0);
  // a graph whose result is dropped unused is freed by the next backward, not kept
  {
    auto unused = autograd::linear(x2, w);
  }
  auto loss3 = autograd::sum(autograd::linear(x1, w));
  autograd::backward(loss3);
  CHECK(autograd::current_tape().size() == 0);
}

}  // namespace tape_test

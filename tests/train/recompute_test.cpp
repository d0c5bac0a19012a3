// SPDX-License-Identifier: MIT
// Activation recompute per transformer block: gradients bit-identical to the plain backward, the same loss
// log in the trainer, and the activation memory of a step with and without it, measured by the CPU
// allocator and predicted by pmc::llama::plan_memory (what `pmc plan --recompute` prints).
#include <doctest/doctest.h>

#include <filesystem>
#include <random>

#include <pmc/models/llama/memory_plan.hpp>
#include <pmc/backends/cpu/ops.hpp>
#include <pmc/train/trainer.hpp>
#include <support/compare.hpp>
#include <support/paths.hpp>

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace recompute_test {

namespace fs = std::filesystem;
using namespace pmc;

namespace {

constexpr llama::Config kModel{.dim = 64, .n_layers = 4, .n_heads = 4, .n_kv_heads = 2, .ffn_dim = 160,
                               .vocab_size = 96, .max_seq_len = 128, .norm_eps = 1e-5f, .rope_theta = 1e4f};
/// A vocabulary large against the blocks, so that the peak is at the output head rather than in a block.
constexpr llama::Config kWideVocab{.dim = 32, .n_layers = 2, .n_heads = 4, .n_kv_heads = 4, .ffn_dim = 64,
                                   .vocab_size = 1000, .max_seq_len = 128, .norm_eps = 1e-5f, .rope_theta = 1e4f};

Tensor<std::int32_t> random_tokens(std::int64_t b, std::int64_t t, std::uint64_t seed) {
  return test::random_tokens(b, t, seed, kModel.vocab_size);
}

/// Bytes a training forward + backward holds at its peak beyond the weights, their gradient buffers and the
/// batch: what pmc plan calls activations.
template <llama::Config C, class T>
std::int64_t measured_activation_peak(bool recompute, std::int64_t b, std::int64_t t) {
  llama::Model<C, T> model;
  model.init_random(1);
  model.set_recompute(recompute);
  for (const auto& p : model.named_parameters()) p.var.state()->grad_buffer();
  const auto tokens = random_tokens(b, t, 2), targets = random_tokens(b, t, 3);
  Allocator<Cpu>::reset_peak_bytes();
  const std::int64_t base = Allocator<Cpu>::live_bytes();
  {
    auto loss = model.loss(tokens, targets);
    autograd::backward(loss);
  }
  CHECK(Allocator<Cpu>::live_bytes() == base);  // nothing of the step outlives it
  return Allocator<Cpu>::peak_bytes() - base;
}

std::int64_t planned_activations(const llama::Config& c, bool recompute, std::int64_t b, std::int64_t t,
                                 llama::PlanDtype dtype) {
  llama::PlanOptions o;
  o.batch = b;
  o.seq = t;
  o.dtype = dtype;
  o.recompute = recompute;
  return llama::plan_memory(c, o).activation_bytes;
}

}  // namespace

TEST_CASE("recompute: gradients are bit-identical to the plain backward") {
  auto grads = [](bool recompute) {
    llama::Model<kModel, float> model;
    model.init_random(9);
    model.set_recompute(recompute);
    const auto tokens = random_tokens(2, 24, 4), targets = random_tokens(2, 24, 5);
    auto loss = model.loss(tokens, targets);
    autograd::backward(loss);
    std::vector<Tensor<float>> out{loss.value().clone()};
    for (const auto& p : model.named_parameters()) out.push_back(p.var.grad().clone());
    return out;
  };
  const auto plain = grads(false), again = grads(true);
  REQUIRE(plain.size() == again.size());
  for (std::size_t i = 0; i < plain.size(); ++i) {
    INFO("tensor ", i);
    CHECK(test::max_abs_diff(plain[i], again[i]) == 0);
  }
}

TEST_CASE("recompute: without grad mode the forward is the plain one") {
  llama::Model<kModel, float> model;
  model.init_random(2);
  const auto tokens = random_tokens(1, 16, 6);
  autograd::NoGrad no_grad;
  const auto a = model.forward(tokens).value().clone();
  model.set_recompute(true);
  CHECK(test::max_abs_diff(model.forward(tokens).value(), a) == 0);
}

namespace {
template <llama::Config C, class T>
void check_plan(bool recompute, std::int64_t b, std::int64_t t) {
  const auto measured = measured_activation_peak<C, T>(recompute, b, t);
  const auto dtype = std::is_same_v<T, bf16> ? llama::PlanDtype::bf16 : llama::PlanDtype::fp32;
  const auto planned = planned_activations(C, recompute, b, t, dtype);
  const double rel = std::abs(static_cast<double>(planned - measured)) / static_cast<double>(measured);
  const std::string what = std::string(std::is_same_v<T, bf16> ? "bf16" : "fp32") + ", batch " + std::to_string(b) +
                           " x " + std::to_string(t) + (recompute ? ", recompute" : ", no recompute");
  MESSAGE("vocab ", C.vocab_size, ", ", what, ": measured ", measured, " bytes, planned ", planned, " (", rel * 100,
          "% off)");
  CHECK(rel < 0.01);
}
}  // namespace

TEST_CASE("recompute: the activation memory of a step, measured and as pmc plan predicts it") {
  for (auto [b, t] : {std::pair<std::int64_t, std::int64_t>{4, 64}, {2, 128}, {8, 32}}) {
    for (const bool recompute : {false, true}) {
      check_plan<kModel, float>(recompute, b, t);
      check_plan<kModel, bf16>(recompute, b, t);
      check_plan<kWideVocab, float>(recompute, b, t);
    }
  }
  check_plan<kWideVocab, bf16>(true, 4, 64);
  const double saved = 1.0 - static_cast<double>(measured_activation_peak<kModel, float>(true, 4, 64)) /
                                 static_cast<double>(measured_activation_peak<kModel, float>(false, 4, 64));
  MESSAGE("recompute saves ", saved * 100, "% of the activation memory (4 layers, batch 4 x 64)");
  CHECK(saved > 0.4);
}

TEST_CASE("recompute: the trainer's loss log is bit-identical with and without it") {
  std::mt19937_64 rng(8);
  std::vector<std::vector<std::int32_t>> docs;
  for (int d = 0; d < 40; ++d) {
    std::vector<std::int32_t> doc{1};
    for (int i = 0; i < 50; ++i) doc.push_back(static_cast<std::int32_t>(3 + (doc.back() * 5 + rng() % 3) % 90));
    docs.push_back(doc);
  }
  const auto path = test::tmp_dir() / "recompute.tokens";
  data::write_token_file(path, docs, kModel.vocab_size);
  const auto tf = data::TokenFile::open(path);
  auto losses = [&](bool recompute) {
    llama::Model<kModel, float> model;
    model.init_random(3);
    train::TrainOptions o;
    o.seq_len = 32;
    o.batch = 4;
    o.grad_accum = 2;
    o.steps = 6;
    o.lr = 3e-3;
    o.recompute = recompute;
    o.out_dir = test::tmp_dir() / (recompute ? "recompute_on" : "recompute_off");
    o.progress = false;
    fs::remove_all(o.out_dir);
    train::Trainer<kModel, float> trainer(model, tf, nullptr, o);
    std::vector<double> out;
    for (int s = 0; s < 6; ++s) out.push_back(trainer.train_step().loss);
    return out;
  };
  CHECK(losses(true) == losses(false));
}

}  // namespace recompute_test

// SPDX-License-Identifier: MIT
// bf16 mixed precision in the trainer (bf16 forward/backward, fp32 master weights, grads and AdamW state):
// its loss curve against fp32 from the same weights and data, and its exact resume from the fp32 masters.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>
#include <pmc/backends/cpu/ops.hpp>
#include <pmc/train/trainer.hpp>
#include <support/compare.hpp>
#include <support/paths.hpp>
#include <support/training_data.hpp>

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace mixed_precision_test {

namespace fs = std::filesystem;
using namespace pmc;

namespace {

constexpr llama::Config kSmall{.dim = 64, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .ffn_dim = 96,
                               .vocab_size = 48, .max_seq_len = 64, .norm_eps = 1e-5f, .rope_theta = 1e4f};

fs::path make_corpus(const std::string& name, int docs, std::uint64_t seed) {
  return test::write_markov_corpus(name, docs, seed,
                                   {.vocab = kSmall.vocab_size, .min_len = 40, .len_range = 80, .noise_every = 6, .step = 5});
}
using test::metric_losses;

train::TrainOptions options(const fs::path& out, std::int64_t steps) {
  train::TrainOptions o;
  o.seq_len = 32;
  o.batch = 8;
  o.grad_accum = 2;
  o.steps = steps;
  o.lr = 3e-3;
  o.min_lr = 3e-4;
  o.warmup = 5;
  o.weight_decay = 0.1;
  o.seed = 7;
  o.save_every = 10;
  o.out_dir = out;
  o.progress = false;
  fs::remove_all(out);
  return o;
}

/// Random weights rounded to bf16, so that both precisions start from the very same model.
template <class T>
llama::Model<kSmall, T> bf16_representable_model(std::uint64_t seed) {
  llama::Model<kSmall, float> f;
  f.init_random(seed);
  llama::Model<kSmall, bf16> rounded;
  rounded.copy_weights_from(f);
  llama::Model<kSmall, T> m;
  m.copy_weights_from(rounded);
  return m;
}

}  // namespace

TEST_CASE("bf16 mixed precision: the loss curve stays within a few percent of fp32") {
  const auto tf = data::TokenFile::open(make_corpus("mixed.tokens", 120, 21));
  constexpr std::int64_t kSteps = 80;
  auto fp32 = bf16_representable_model<float>(3);
  auto bf = bf16_representable_model<bf16>(3);
  train::Trainer<kSmall, float> t32(fp32, tf, nullptr, options(test::tmp_dir() / "mixed_fp32", kSteps));
  train::Trainer<kSmall, bf16> t16(bf, tf, nullptr, options(test::tmp_dir() / "mixed_bf16", kSteps));
  CHECK(t16.precision == "bf16-mixed");
  double worst = 0, last_mean32 = 0, last_mean16 = 0;
  std::vector<double> l32, l16;
  for (std::int64_t s = 0; s < kSteps; ++s) {
    l32.push_back(t32.train_step().loss);
    l16.push_back(t16.train_step().loss);
    const double rel = std::abs(l16.back() - l32.back()) / l32.back();
    worst = std::max(worst, rel);
    INFO("step ", s + 1, ": fp32 loss ", l32.back(), ", bf16 ", l16.back());
    CHECK(rel < 0.03);
    if (s >= kSteps - 10) {
      last_mean32 += l32.back() / 10;
      last_mean16 += l16.back() / 10;
    }
  }
  // the model learned: the loss fell far below its start in both precisions
  CHECK(l32.back() < 0.6 * l32.front());
  CHECK(l16.back() < 0.6 * l16.front());
  const double last_rel = std::abs(last_mean16 - last_mean32) / last_mean32;
  CHECK(last_rel < 0.02);
  // the optimizer works on fp32 masters, and the bf16 model holds exactly their rounding
  const auto masters = t16.parameters();
  const auto params = bf.named_parameters();
  REQUIRE(masters.size() == params.size());
  for (std::size_t i = 0; i < masters.size(); ++i) {
    INFO(masters[i].name);
    CHECK(test::max_abs_diff(masters[i].value.to<bf16>(), params[i].var.value()) == 0);
  }
  MESSAGE("bf16 mixed vs fp32 over ", kSteps, " steps: loss ", l32.front(), " -> ", l32.back(), " (fp32), ",
          l16.front(), " -> ", l16.back(), " (bf16); worst step relative difference ", worst,
          "; mean of the last 10 steps ", last_mean32, " vs ", last_mean16, " (", last_rel, ")");
}

TEST_CASE("bf16 mixed precision: a resumed run continues the loss log exactly, and the model saves as bf16") {
  const auto tf = data::TokenFile::open(make_corpus("mixed_resume.tokens", 60, 22));
  auto fresh_run = [&](const fs::path& out, std::int64_t stop_after) {  // in a cleared folder
    auto model = bf16_representable_model<bf16>(5);
    auto o = options(out, 14);
    o.stop_after = stop_after;
    train::Trainer<kSmall, bf16> trainer(model, tf, nullptr, o);
    return trainer.run();
  };
  const auto a = test::tmp_dir() / "mixed_run_a", c = test::tmp_dir() / "mixed_run_c";
  CHECK(fresh_run(a, -1));
  const auto la = metric_losses(a);
  REQUIRE(la.size() == 14);
  CHECK_FALSE(fresh_run(c, 9));  // "killed" after step 9; resumed below in the same folder
  {
    auto model = bf16_representable_model<bf16>(5);
    auto o = options(test::tmp_dir() / "mixed_unused", 14);
    o.out_dir = c;
    train::Trainer<kSmall, bf16> trainer(model, tf, nullptr, o);
    REQUIRE(trainer.resume_if_present());
    CHECK(trainer.step() == 9);
    CHECK(trainer.run());
  }
  CHECK(metric_losses(c) == la);
  const auto saved = io::SafetensorsFile::open(c / "model.safetensors");
  CHECK(saved.info("model.norm.weight").dtype == DType::bf16);
  // a bf16 checkpoint does not resume into an fp32 run
  llama::Model<kSmall, float> f32;
  auto o = options(test::tmp_dir() / "mixed_unused2", 14);
  o.out_dir = c;
  train::Trainer<kSmall, float> wrong(f32, tf, nullptr, o);
  CHECK_THROWS_WITH_AS(wrong.resume_if_present(), doctest::Contains("trained in bf16-mixed but this run is fp32"),
                       pmc::Error);
}

}  // namespace mixed_precision_test

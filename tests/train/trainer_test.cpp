// SPDX-License-Identifier: MIT
// The trainer against PyTorch (20 AdamW steps with warmup + cosine and clipping), its determinism, exact
// resumption from a checkpoint, exact gradient accumulation, and the token-file and window layers.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>
#include <pmc/backends/cpu/ops.hpp>
#include <pmc/train/trainer.hpp>
#include <support/compare.hpp>
#include <support/paths.hpp>
#include <support/test_configs.hpp>
#include <support/training_data.hpp>

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace trainer_test {

namespace fs = std::filesystem;
using namespace pmc;

namespace {

constexpr llama::Config kTiny{.dim = 32, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .ffn_dim = 48,
                              .vocab_size = 40, .max_seq_len = 32, .norm_eps = 1e-5f, .rope_theta = 1e4f};

fs::path make_corpus(const std::string& name, int docs, std::uint64_t seed) {
  return test::write_markov_corpus(name, docs, seed, {.vocab = kTiny.vocab_size});
}
using test::metric_losses;

train::TrainOptions tiny_options(const fs::path& out) {
  train::TrainOptions o;
  o.seq_len = 16;
  o.batch = 4;
  o.grad_accum = 2;
  o.steps = 12;
  o.lr = 3e-3;
  o.min_lr = 3e-4;
  o.warmup = 2;
  o.weight_decay = 0.1;
  o.seed = 5;
  o.save_every = 4;
  o.out_dir = out;
  o.progress = false;
  return o;
}

}  // namespace

TEST_CASE("trainer: 20 AdamW steps with warmup, cosine decay and clipping agree with PyTorch") {
  const auto dir = test::source_dir() / "tests/golden/train/adamw_tiny";
  auto model = llama::Model<test::hf_test_train, float>::unallocated(true);
  llama::load_weights(model, dir);
  const auto golden = io::SafetensorsFile::open(dir / "golden.safetensors");
  const auto ids = golden.get<std::int32_t>("input_ids");  // (20, B, T)
  const auto targets = golden.get<std::int32_t>("targets");
  const auto losses = golden.get<double>("loss"), lrs = golden.get<double>("lr"), norms = golden.get<double>("grad_norm");
  const auto tokens_file = make_corpus("unused.tokens", 4, 1);  // the trainer needs a file; batches come from the golden
  const auto tf = data::TokenFile::open(tokens_file);
  train::TrainOptions o;
  o.seq_len = ids.size(2);
  o.batch = ids.size(1);
  o.steps = 20;
  o.lr = 3e-3;
  o.min_lr = 3e-4;
  o.warmup = 4;
  o.weight_decay = 0.1;
  o.beta1 = 0.9;
  o.beta2 = 0.95;
  o.eps = 1e-8;
  o.clip = 1.0;
  o.out_dir = test::tmp_dir() / "adamw_golden";
  o.progress = false;
  fs::remove_all(o.out_dir);
  train::Trainer trainer(model, tf, nullptr, o);
  double worst_loss = 0;
  for (std::int64_t s = 0; s < 20; ++s) {
    data::Batch b{ids.select(0, s).contiguous(), targets.select(0, s).contiguous(), 0};
    for (auto t : b.targets.span()) b.target_count += t != ops::kIgnoreIndex;
    const auto r = trainer.train_step_on({b});
    const double err = std::abs(r.loss - losses[s]) / losses[s];
    worst_loss = std::max(worst_loss, err);
    INFO("step ", s, ": pmc loss ", r.loss, ", torch ", losses[s]);
    CHECK(err < 1e-5);
    CHECK(r.lr == doctest::Approx(lrs[s]).epsilon(1e-12));
    CHECK(r.grad_norm == doctest::Approx(norms[s]).epsilon(1e-5));
  }
  double worst_param = 0;
  for (const auto& p : model.named_parameters()) {
    const double err = test::max_rel_diff(p.var.value(), golden.get<float>("final." + p.name));
    INFO(p.name, " final weights relative error ", err);
    CHECK(err < 1e-4);
    worst_param = std::max(worst_param, err);
  }
  MESSAGE("20 steps vs torch.optim.AdamW: worst loss relative error ", worst_loss, ", worst final weight ", worst_param);
}

TEST_CASE("trainer: gradient accumulation over K micro-batches equals one batch") {
  const auto tf = data::TokenFile::open(make_corpus("accum.tokens", 40, 2));
  data::WindowSampler sampler(tf, 16, data::Packing::plain, 3);
  data::DataPosition pos{};
  std::vector<data::Window> windows;
  for (int i = 0; i < 8; ++i) windows.push_back(sampler.next(pos));
  // a short window so that micro-batches have different target counts
  windows[5].length = 7;
  llama::Model<kTiny, float> model;
  model.init_random(4);
  auto o = tiny_options(test::tmp_dir() / "accum");
  o.batch = 8;
  o.grad_accum = 1;
  train::Trainer trainer(model, tf, nullptr, o);
  const double loss1 = trainer.accumulate_gradients({data::make_batch(tf, windows, 16)});
  std::vector<Tensor<float>> one;
  for (const auto& p : trainer.parameters()) one.push_back(p.grad.clone());
  std::vector<data::Batch> micro;
  for (int k = 0; k < 4; ++k)
    micro.push_back(data::make_batch(tf, {windows[2 * static_cast<std::size_t>(k)], windows[2 * static_cast<std::size_t>(k) + 1]}, 16));
  const double loss4 = trainer.accumulate_gradients(micro);
  CHECK(std::abs(loss4 - loss1) / loss1 < 1e-6);
  double worst = 0;
  for (std::size_t i = 0; i < one.size(); ++i) worst = std::max(worst, test::max_rel_diff(trainer.parameters()[i].grad, one[i]));
  MESSAGE("4 micro-batches vs one batch: worst gradient relative difference ", worst);
  CHECK(worst < 1e-6);
}

TEST_CASE("trainer: the same seed gives a bit-identical loss log, and a resumed run continues it exactly") {
  const auto tf = data::TokenFile::open(make_corpus("resume.tokens", 60, 3));
  auto run = [&](const fs::path& out, std::int64_t stop_after) {
    llama::Model<kTiny, float> model;
    model.init_random(11);
    auto o = tiny_options(out);
    o.stop_after = stop_after;
    train::Trainer trainer(model, tf, nullptr, o);
    trainer.resume_if_present();
    return trainer.run();
  };
  const auto a = test::tmp_dir() / "run_a", b = test::tmp_dir() / "run_b", c = test::tmp_dir() / "run_c";
  for (const auto& d : {a, b, c}) fs::remove_all(d);
  CHECK(run(a, -1));
  CHECK(run(b, -1));
  const auto la = metric_losses(a);
  REQUIRE(la.size() == 12);
  CHECK(la == metric_losses(b));  // bit-identical
  CHECK(la.back() < la.front());
  CHECK_FALSE(run(c, 7));  // "killed" after step 7 (a checkpoint is written on the way out)
  CHECK(metric_losses(c).size() == 7);
  CHECK(run(c, -1));       // resumes from step 7
  CHECK(metric_losses(c) == la);
  CHECK(fs::exists(c / "config.json"));
  CHECK(fs::exists(c / "model.safetensors"));
  // the final model (HF layout) reloads, and it is not the initial model
  auto reloaded = llama::Model<kTiny, float>::unallocated(false);
  llama::load_weights(reloaded, c);
  llama::Model<kTiny, float> initial;
  initial.init_random(11);
  CHECK(test::max_abs_diff(reloaded.named_parameters()[1].var.value(), initial.named_parameters()[1].var.value()) > 0);
}

TEST_CASE("token files: round trip, windows, and truncated files are errors naming the file") {
  const auto path = make_corpus("tf.tokens", 10, 4);
  const auto tf = data::TokenFile::open(path);
  CHECK(tf.n_docs() == 10);
  CHECK(tf.token(0) == 1);
  data::WindowSampler plain(tf, 16, data::Packing::plain, 0);
  CHECK(plain.windows_per_epoch() == static_cast<std::int64_t>((tf.n_tokens() - 1) / 16));
  data::WindowSampler docs(tf, 16, data::Packing::doc_window, 0);
  CHECK(docs.windows_per_epoch() == 10);
  data::DataPosition p{};
  for (int i = 0; i < 10; ++i) {
    const auto w = docs.next(p);
    CHECK(w.length <= 17);
  }
  CHECK(p == data::DataPosition{1, 0});
  const auto bad = test::tmp_dir() / "tf_truncated.tokens";
  fs::copy_file(path, bad, fs::copy_options::overwrite_existing);
  fs::resize_file(bad, fs::file_size(bad) - 3);
  try {
    (void)data::TokenFile::open(bad);
    FAIL("no error for a truncated token file");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("tf_truncated.tokens") != std::string::npos);
  }
}

}  // namespace trainer_test

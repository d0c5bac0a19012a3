// SPDX-License-Identifier: MIT
// A few training steps give the same bits (loss, gradient norm and every weight) at 1, 2 and 3 OpenMP threads,
// with a model wide enough that every op forks threads and the GEMMs reach both Eigen's path and pmc's sgemm.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>
#include <pmc/backends/cpu/ops.hpp>
#include <pmc/train/trainer.hpp>
#include <support/paths.hpp>
#include <support/training_data.hpp>

#include "threads.hpp"

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace training_threads_test {

namespace fs = std::filesystem;
using namespace pmc;

namespace {

// the `demo` model's shapes with a smaller vocabulary: 256 rows of activations, 64-row key/value weights
constexpr llama::Config kModel{.dim = 128, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .ffn_dim = 344,
                               .vocab_size = 320, .max_seq_len = 64, .norm_eps = 1e-5f, .rope_theta = 1e4f};

/// The bits of 3 AdamW steps at `threads` threads: each step's loss and gradient norm, then every weight.
test::Bits train_steps(int threads, const fs::path& corpus) {
  return test::at_threads(threads, [&] {
    const auto tf = data::TokenFile::open(corpus);
    llama::Model<kModel, float> model;
    model.init_random(21);
    train::TrainOptions o;
    o.seq_len = 64;
    o.batch = 4;
    o.grad_accum = 2;
    o.steps = 3;
    o.lr = 1e-3;
    o.warmup = 1;
    o.weight_decay = 0.1;
    o.seed = 4;
    o.out_dir = test::tmp_dir() / ("determinism_threads_" + std::to_string(threads));
    o.progress = false;
    fs::remove_all(o.out_dir);
    train::Trainer trainer(model, tf, nullptr, o);
    REQUIRE(trainer.run());
    test::Bits bits;
    std::ifstream in(o.out_dir / "metrics.jsonl");
    for (std::string line; std::getline(in, line);) {
      const auto j = nlohmann::json::parse(line);
      bits.add(j["loss"].get<double>()).add(j["grad_norm"].get<double>());
    }
    for (const auto& p : model.named_parameters()) bits.add(p.var.value());
    return bits;
  });
}

}  // namespace

TEST_CASE("training: 3 steps give the same losses, gradient norms and weights at 1, 2 and 3 threads") {
  const auto corpus = test::write_markov_corpus("determinism.tokens", 80, 6, {.vocab = kModel.vocab_size});
  const auto ref = train_steps(1, corpus);
  for (int threads : test::kThreadCounts) {
    INFO(threads, " threads");
    CHECK(train_steps(threads, corpus) == ref);
  }
}

}  // namespace training_threads_test

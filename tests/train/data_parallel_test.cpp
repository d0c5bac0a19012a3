// SPDX-License-Identifier: MIT
// Data-parallel training (train::TrainOptions::comm) with ranks as threads (dist::ThreadGroup): two or four
// ranks, each on its share of every batch, against one process on the whole batch; rank 0 alone writes; bad
// batch sizes are errors. MPI processes use the same interface (dist::Communicator).
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <pmc/dist/communicator.hpp>
#include <pmc/backends/cpu/ops.hpp>
#include <pmc/train/trainer.hpp>
#include <support/compare.hpp>
#include <support/paths.hpp>
#include <support/thread_ranks.hpp>
#include <support/training_data.hpp>

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace data_parallel_test {

namespace fs = std::filesystem;
using namespace pmc;

namespace {

constexpr llama::Config kTiny{.dim = 32, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .ffn_dim = 48,
                              .vocab_size = 40, .max_seq_len = 32, .norm_eps = 1e-5f, .rope_theta = 1e4f};

train::TrainOptions options(const fs::path& out, std::int64_t batch, std::int64_t grad_accum) {
  train::TrainOptions o;
  o.seq_len = 16;
  o.batch = batch;
  o.grad_accum = grad_accum;
  o.steps = 6;
  o.lr = 3e-3;
  o.warmup = 2;
  o.weight_decay = 0.1;
  o.seed = 7;
  o.out_dir = out;
  o.progress = false;
  fs::remove_all(out);
  return o;
}

/// What a run leaves: each rank's loss per step and final weights.
template <class T>
struct RankResult {
  std::vector<double> losses;
  std::vector<Tensor<T>> weights;
};

template <class T>
RankResult<T> train_one(const data::TokenFile& tf, train::TrainOptions o) {
  llama::Model<kTiny, T> model;
  model.init_random(3);
  train::Trainer trainer(model, tf, nullptr, o);
  trainer.run();
  RankResult<T> r;
  for (const auto& rec : trainer.history()) r.losses.push_back(rec.loss);
  for (const auto& p : model.named_parameters()) r.weights.push_back(p.var.value().clone());
  return r;
}

/// The same run with `ranks` threads as data-parallel ranks: every rank's result.
template <class T>
std::vector<RankResult<T>> train_parallel(const data::TokenFile& tf, const train::TrainOptions& o, int ranks) {
  return test::on_thread_ranks<RankResult<T>>(ranks, [&](dist::Communicator& comm) {
    auto mine = o;
    mine.comm = &comm;
    return train_one<T>(tf, mine);
  });
}

std::size_t lines_of(const fs::path& file) {
  std::ifstream in(file);
  std::size_t n = 0;
  for (std::string line; std::getline(in, line);) n += !line.empty();
  return n;
}

}  // namespace

TEST_CASE("data parallel: ranks on shares of each batch train the model that one process trains on the batch") {
  const auto tf = data::TokenFile::open(test::write_markov_corpus("dp.tokens", 60, 11, {.vocab = kTiny.vocab_size}));
  struct Case {
    int ranks;
    std::int64_t batch, grad_accum;
  };
  for (const Case c : {Case{2, 4, 1}, Case{2, 8, 2}, Case{4, 8, 1}}) {
    CAPTURE(c.ranks);
    CAPTURE(c.grad_accum);
    // fp64: the only difference is the order of the gradient sums, so the runs agree to rounding
    const auto one = train_one<double>(tf, options(test::tmp_dir() / "dp_one", c.batch, c.grad_accum));
    const auto dir = test::tmp_dir() / "dp_ranks";
    const auto all = train_parallel<double>(tf, options(dir, c.batch, c.grad_accum), c.ranks);
    REQUIRE(one.losses.size() == 6);
    for (const auto& rank : all) {
      REQUIRE(rank.losses.size() == one.losses.size());
      for (std::size_t s = 0; s < one.losses.size(); ++s)
        CHECK(rank.losses[s] == doctest::Approx(one.losses[s]).epsilon(1e-12));
      for (std::size_t i = 0; i < one.weights.size(); ++i) CHECK(test::max_rel_diff(rank.weights[i], one.weights[i]) < 1e-10);
    }
    // the replicas stay equal to the bit: the same sums reach every rank
    for (std::size_t i = 0; i < all[0].weights.size(); ++i)
      for (const auto& rank : all) CHECK(rank.weights[i].to_vector() == all[0].weights[i].to_vector());
    // rank 0 alone writes: one metrics line per step, a checkpoint and the model
    CHECK(lines_of(dir / "metrics.jsonl") == 6);
    CHECK(fs::exists(dir / "model.safetensors"));
    CHECK(fs::exists(dir / "checkpoints" / "latest"));
  }
}

TEST_CASE("data parallel in bf16 mixed precision: the fp32 master gradients are summed, replicas stay equal") {
  const auto tf = data::TokenFile::open(test::write_markov_corpus("dp_bf16.tokens", 60, 12, {.vocab = kTiny.vocab_size}));
  const auto one = train_one<bf16>(tf, options(test::tmp_dir() / "dp_bf16_one", 4, 2));
  const auto all = train_parallel<bf16>(tf, options(test::tmp_dir() / "dp_bf16_ranks", 4, 1), 2);
  // the same windows in other micro-batches: bf16 rounds the per-micro-batch gradients differently
  for (std::size_t s = 0; s < one.losses.size(); ++s) CHECK(all[0].losses[s] == doctest::Approx(one.losses[s]).epsilon(1e-2));
  for (std::size_t i = 0; i < all[0].weights.size(); ++i)
    CHECK(all[1].weights[i].to_vector() == all[0].weights[i].to_vector());
}

TEST_CASE("data parallel: a batch that does not split over ranks x grad_accum is an error naming both") {
  const auto tf = data::TokenFile::open(test::write_markov_corpus("dp_bad.tokens", 10, 13, {.vocab = kTiny.vocab_size}));
  dist::ThreadGroup group(2);
  auto o = options(test::tmp_dir() / "dp_bad", 6, 2);
  o.comm = &group.rank(0);
  llama::Model<kTiny, float> model;
  model.init_random(1);
  CHECK_THROWS_WITH_AS(train::Trainer(model, tf, nullptr, o),
                       doctest::Contains("batch 6 must be a positive multiple of grad_accum 2 times the 2 data-parallel ranks"),
                       pmc::Error);
}

TEST_CASE("ThreadGroup sums in rank order on every rank and names collectives out of step") {
  dist::ThreadGroup group(3);
  std::vector<std::vector<float>> data{{1.f, 1e8f}, {2.f, -1e8f}, {3.f, 1.f}};
  std::vector<std::thread> threads;
  for (int r = 0; r < 3; ++r)
    threads.emplace_back([&, r] { group.rank(r).allreduce_sum(std::span<float>(data[static_cast<std::size_t>(r)])); });
  for (auto& t : threads) t.join();
  for (const auto& d : data) CHECK(d == std::vector<float>{6.f, 1.f});  // (1e8 - 1e8) + 1 in rank order
  CHECK_THROWS_AS(group.rank(3), pmc::Error);
  CHECK_THROWS_WITH_AS(dist::ThreadGroup(0), doctest::Contains("size must be at least 1, got 0"), pmc::Error);
}

}  // namespace data_parallel_test

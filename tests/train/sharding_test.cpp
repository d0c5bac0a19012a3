// SPDX-License-Identifier: MIT
// Sharded data parallelism (TrainOptions::shard: ZeRO-1, 2 and 3, train/sharding.hpp) with ranks as threads:
// 2 and 3 ranks at each level against one process, in fp64, fp32 and bf16 mixed precision; replicas equal to
// the bit; sharded checkpoints (a file pair per rank) resumed on 3 ranks and on 1; corrupt shards named.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <pmc/backends/cpu/ops.hpp>
#include <pmc/dist/communicator.hpp>
#include <pmc/train/trainer.hpp>
#include <support/compare.hpp>
#include <support/paths.hpp>
#include <support/thread_ranks.hpp>
#include <support/training_data.hpp>

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace sharding_test {

namespace fs = std::filesystem;
using namespace pmc;

namespace {

// 2-D parameters of 32·40 and 48·32 elements and 1-D ones of 32: none splits evenly over 3 ranks
constexpr llama::Config kTiny{.dim = 32, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .ffn_dim = 48,
                              .vocab_size = 40, .max_seq_len = 32, .norm_eps = 1e-5f, .rope_theta = 1e4f};

train::TrainOptions options(const fs::path& out, std::int64_t grad_accum, std::int64_t steps = 20) {
  train::TrainOptions o;
  o.seq_len = 16;
  o.batch = 12;  // splits over 1, 2 and 3 ranks times grad_accum 1 or 2
  o.grad_accum = grad_accum;
  o.steps = steps;
  o.lr = 3e-3;
  o.warmup = 2;
  o.weight_decay = 0.1;
  o.clip = 0.5;  // active: the global norm over every rank's chunks matters
  o.seed = 7;
  o.out_dir = out;
  o.progress = false;
  return o;
}

template <class T>
struct RankResult {
  std::vector<double> losses, norms;
  std::vector<Tensor<T>> weights;
};

template <class T>
RankResult<T> train_rank(const data::TokenFile& tf, train::TrainOptions o, bool resume) {
  llama::Model<kTiny, T> model;
  model.init_random(3);
  train::Trainer trainer(model, tf, &tf, o);  // (evaluated only with eval_every)
  if (resume) REQUIRE(trainer.resume_if_present());
  trainer.run();
  RankResult<T> r;
  for (const auto& rec : trainer.history()) {
    r.losses.push_back(rec.loss);
    r.norms.push_back(rec.grad_norm);
  }
  for (const auto& p : model.named_parameters()) r.weights.push_back(p.var.value().clone());
  return r;
}

/// Every rank's result of a run on `ranks` threads (one: no communicator).
template <class T>
std::vector<RankResult<T>> train_ranks(const data::TokenFile& tf, const train::TrainOptions& o, int ranks,
                                       bool resume = false) {
  if (ranks == 1) return {train_rank<T>(tf, o, resume)};
  return test::on_thread_ranks<RankResult<T>>(ranks, [&](dist::Communicator& comm) {
    auto mine = o;
    mine.comm = &comm;
    return train_rank<T>(tf, mine, resume);
  });
}

template <class T>
void check_replicas_equal(const std::vector<RankResult<T>>& all) {
  for (std::size_t i = 0; i < all[0].weights.size(); ++i)
    for (const auto& rank : all) CHECK(rank.weights[i].to_vector() == all[0].weights[i].to_vector());
}

template <class T>
void check_close(const RankResult<T>& a, const RankResult<T>& b, double loss_tol, double weight_tol) {
  REQUIRE(a.losses.size() == b.losses.size());
  for (std::size_t s = 0; s < a.losses.size(); ++s) {
    CAPTURE(s);
    CHECK(a.losses[s] == doctest::Approx(b.losses[s]).epsilon(loss_tol));
  }
  double worst = 0;
  for (std::size_t i = 0; i < a.weights.size(); ++i) worst = std::max(worst, test::max_rel_diff(a.weights[i], b.weights[i]));
  CAPTURE(worst);
  CHECK(worst < weight_tol);
}

fs::path fresh(const std::string& name) {
  const auto dir = test::tmp_dir() / name;
  fs::remove_all(dir);
  return dir;
}

}  // namespace

TEST_CASE("sharding: 2 and 3 ranks at each level train the model one process trains (fp64 to 1e-12, fp32 to 1e-6)") {
  const auto tf = data::TokenFile::open(test::write_markov_corpus("shard.tokens", 80, 21, {.vocab = kTiny.vocab_size}));
  for (const std::int64_t accum : {1, 2}) {
    const auto one64 = train_ranks<double>(tf, options(fresh("shard_one64"), accum), 1)[0];
    const auto one32 = train_ranks<float>(tf, options(fresh("shard_one32"), accum), 1)[0];
    REQUIRE(one64.losses.size() == 20);
    for (const auto level : {train::ShardLevel::optimizer, train::ShardLevel::gradients, train::ShardLevel::full}) {
      for (const int ranks : {2, 3}) {
        CAPTURE(accum);
        CAPTURE(train::shard_level_name(level));
        CAPTURE(ranks);
        auto o = options(fresh("shard_ranks"), accum);
        o.shard = level;
        o.recompute = level == train::ShardLevel::full;  // (bit-identical gradients: the reference runs without)
        const auto all64 = train_ranks<double>(tf, o, ranks);
        for (const auto& rank : all64) check_close(rank, one64, 1e-12, 1e-10);
        check_replicas_equal(all64);
        o.out_dir = fresh("shard_ranks32");
        const auto all32 = train_ranks<float>(tf, o, ranks);
        for (const auto& rank : all32) check_close(rank, one32, 1e-6, 1e-4);
        check_replicas_equal(all32);
      }
    }
  }
}

TEST_CASE("sharding in bf16 mixed precision: each level against unsharded ranks, replicas equal to the bit") {
  const auto tf = data::TokenFile::open(test::write_markov_corpus("shard_bf16.tokens", 80, 22, {.vocab = kTiny.vocab_size}));
  const auto plain = train_ranks<bf16>(tf, options(fresh("shard_bf16_plain"), 2), 2);
  std::vector<RankResult<bf16>> gradients_level;
  for (const auto level : {train::ShardLevel::optimizer, train::ShardLevel::gradients, train::ShardLevel::full}) {
    CAPTURE(train::shard_level_name(level));
    auto o = options(fresh("shard_bf16"), 2);
    o.shard = level;
    o.recompute = level == train::ShardLevel::full;
    const auto all = train_ranks<bf16>(tf, o, 2);
    check_replicas_equal(all);
    // the full level sums each block's fp32-widened gradients over the ranks as the gradients level sums the
    // model's, from bf16 weights rounded from the same masters: the same bits
    if (level == train::ShardLevel::gradients) gradients_level = all;
    if (level == train::ShardLevel::full) {
      REQUIRE(gradients_level.size() == 2);
      CHECK(all[0].losses == gradients_level[0].losses);
      for (std::size_t i = 0; i < all[0].weights.size(); ++i)
        CHECK(all[0].weights[i].to_vector() == gradients_level[0].weights[i].to_vector());
    }
    // the optimizer level sums the same fp32 gradients as unsharded ranks: the same bits; the gradients level
    // sums each micro-batch over the ranks before the micro-batches: bf16 rounding bounds
    if (level == train::ShardLevel::optimizer) {
      for (std::size_t i = 0; i < all[0].weights.size(); ++i)
        CHECK(all[0].weights[i].to_vector() == plain[0].weights[i].to_vector());
    } else {
      for (std::size_t s = 0; s < plain[0].losses.size(); ++s)
        CHECK(all[0].losses[s] == doctest::Approx(plain[0].losses[s]).epsilon(1e-2));
    }
  }
}

TEST_CASE("sharding: a 2-rank sharded checkpoint resumes on 3 ranks and on 1, on the uninterrupted run's curve") {
  const auto tf = data::TokenFile::open(test::write_markov_corpus("shard_resume.tokens", 80, 23, {.vocab = kTiny.vocab_size}));
  for (const auto level : {train::ShardLevel::gradients, train::ShardLevel::full}) {
  CAPTURE(train::shard_level_name(level));
  auto o = options(fresh("shard_full_run"), 1);
  o.shard = level;
  o.recompute = true;
  const auto full = train_ranks<float>(tf, o, 2)[0];
  for (const int later : {3, 1}) {
    CAPTURE(later);
    auto first = options(fresh("shard_resume"), 1);
    first.shard = level;
    first.recompute = true;
    first.stop_after = 10;
    train_ranks<float>(tf, first, 2);
    const auto ckpt = first.out_dir / "checkpoints" / "step_00000010";
    REQUIRE(fs::exists(ckpt / "model-rank-00001-of-00002.safetensors"));
    REQUIRE(fs::exists(ckpt / "optimizer-rank-00000-of-00002.safetensors"));
    CHECK(!fs::exists(ckpt / "model.safetensors"));
    auto second = first;
    second.stop_after = -1;
    const auto resumed = train_ranks<float>(tf, second, later, /*resume=*/true);
    REQUIRE(resumed[0].losses.size() == 20);  // steps 1..10 read back from metrics.jsonl, 11..20 trained
    for (std::size_t s = 10; s < 20; ++s) CHECK(resumed[0].losses[s] == doctest::Approx(full.losses[s]).epsilon(1e-6));
    for (std::size_t i = 0; i < full.weights.size(); ++i) CHECK(test::max_rel_diff(resumed[0].weights[i], full.weights[i]) < 1e-4);
  }
  }
}

TEST_CASE("sharding: a corrupt or missing shard file is an error naming it, a shard level needs a name it knows") {
  const auto tf = data::TokenFile::open(test::write_markov_corpus("shard_bad.tokens", 40, 24, {.vocab = kTiny.vocab_size}));
  auto o = options(fresh("shard_bad"), 1, 3);
  o.shard = train::ShardLevel::optimizer;
  train_ranks<float>(tf, o, 2);
  const auto dir = o.out_dir / "checkpoints" / "step_00000003";
  const auto shard = dir / "optimizer-rank-00001-of-00002.safetensors";
  {  // one bit flipped in the last value
    std::fstream f(shard, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(-1, std::ios::end);
    const char c = static_cast<char>(f.get());
    f.seekp(-1, std::ios::end);
    f.put(static_cast<char>(c ^ 0x10));
  }
  CHECK_THROWS_WITH_AS(train::TrainingCheckpoint::open(dir), doctest::Contains("optimizer-rank-00001-of-00002.safetensors: corrupt"),
                       pmc::Error);
  fs::remove(shard);
  CHECK_THROWS_WITH_AS(train::TrainingCheckpoint::open(dir), doctest::Contains("optimizer-rank-00001-of-00002.safetensors: missing"),
                       pmc::Error);
  CHECK(train::parse_shard_level("gradients", "--shard") == train::ShardLevel::gradients);
  CHECK(train::parse_shard_level("full", "--shard") == train::ShardLevel::full);
  CHECK_THROWS_WITH_AS(train::parse_shard_level("zero2", "--shard"), doctest::Contains("--shard: 'zero2' is not a shard level"),
                       pmc::Error);
}

TEST_CASE("sharding the weights: every rank holds only its chunks between steps, needs recompute") {
  const auto tf = data::TokenFile::open(test::write_markov_corpus("shard_weights.tokens", 40, 25, {.vocab = kTiny.vocab_size}));
  const auto out = fresh("shard_weights");  // every rank writes in rank 0's
  test::on_thread_ranks<int>(2, [&](dist::Communicator& comm) {
    auto o = options(out, 1, 2);
    o.comm = &comm;
    o.shard = train::ShardLevel::full;
    {
      llama::Model<kTiny, float> model;
      model.init_random(3);
      const auto before = model.named_parameters()[1].var.value().clone();
      CHECK_THROWS_WITH_AS(train::Trainer(model, tf, nullptr, o), doctest::Contains("needs activation recompute"), pmc::Error);
      CHECK(model.named_parameters()[1].var.value().to_vector() == before.to_vector());  // a refused run frees nothing
      o.recompute = true;
      train::Trainer trainer(model, tf, &tf, o);
      for (const auto& p : model.named_parameters()) CHECK(!p.var.value().defined());  // freed: the shards hold them
      CHECK(trainer.parameters()[1].value.numel() == (before.numel() + 1) / 2);          // this rank's chunk
      CHECK(trainer.run());
      for (const auto& p : model.named_parameters()) CHECK(p.var.value().defined());   // whole again after run()
      if (comm.rank() == 0) CHECK(std::isfinite(trainer.eval_loss()));  // alone, as the program does: no collective
    }
    return 0;
  });
}

TEST_CASE("sharding the weights: collectives overlapped on a background thread give the same bits as in place") {
  const auto tf = data::TokenFile::open(test::write_markov_corpus("shard_overlap.tokens", 60, 26, {.vocab = kTiny.vocab_size}));
  auto o = options(fresh("shard_overlap"), 2, 6);
  o.shard = train::ShardLevel::full;
  o.recompute = true;
  o.eval_every = 3;  // the evaluation's gathers run on every rank
  o.overlap_communication = true;
  const auto overlapped = train_ranks<float>(tf, o, 3);
  o.out_dir = fresh("shard_in_place");
  o.overlap_communication = false;
  const auto in_place = train_ranks<float>(tf, o, 3);
  for (std::size_t r = 0; r < 3; ++r) {
    CHECK(overlapped[r].losses == in_place[r].losses);
    CHECK(overlapped[r].norms == in_place[r].norms);
    for (std::size_t i = 0; i < in_place[r].weights.size(); ++i)
      CHECK(overlapped[r].weights[i].to_vector() == in_place[r].weights[i].to_vector());
  }
}

TEST_CASE("sharding the weights with LoRA: the adapters sharded and gathered per block, the base whole (against one process)") {
  const auto tf = data::TokenFile::open(test::write_markov_corpus("shard_lora.tokens", 60, 27, {.vocab = kTiny.vocab_size}));
  auto run = [&](int ranks, train::ShardLevel level, const fs::path& out) {
    auto o = options(out, 2, 10);
    o.shard = level;
    o.recompute = true;
    o.lr = 2e-2;  // B starts at zero: move it
    auto train_one = [&](dist::Communicator* comm) {
      auto mine = o;
      mine.comm = comm;
      llama::Model<kTiny, float> model;
      model.init_random(3);
      model.add_lora(llama::LoraConfig{.rank = 2, .alpha = 4, .targets = {llama::Projection::q, llama::Projection::down}}, 5);
      train::Trainer trainer(model, tf, nullptr, mine);
      trainer.run();
      RankResult<float> r;
      for (const auto& rec : trainer.history()) r.losses.push_back(rec.loss);
      for (const auto& p : model.lora_parameters()) r.weights.push_back(p.var.value().clone());
      for (const auto& p : model.named_parameters()) CHECK(p.var.value().defined());  // the base stayed whole
      return r;
    };
    if (ranks == 1) return std::vector<RankResult<float>>{train_one(nullptr)};
    return test::on_thread_ranks<RankResult<float>>(ranks, [&](dist::Communicator& comm) { return train_one(&comm); });
  };
  const auto one = run(1, train::ShardLevel::none, fresh("shard_lora_one"))[0];
  const auto all = run(3, train::ShardLevel::full, fresh("shard_lora_full"));
  check_replicas_equal(all);
  check_close(all[0], one, 1e-6, 1e-4);
  REQUIRE(one.weights.size() == 8);  // A and B of 2 projections in 2 blocks
}

}  // namespace sharding_test

// SPDX-License-Identifier: MIT
// A training checkpoint written whole (train/consolidate.hpp, `pmc convert --checkpoint`): sharded on 2 and 3
// thread ranks (fp32 and bf16 mixed precision) it is the ranks' final model; unsharded, an interleaved-RoPE
// model's checkpoint gives the Hugging Face folder save_hf writes of the model; what cannot be converted (an
// older checkpoint, a LoRA run's, tensors not of the architecture, a missing shard) is refused by name.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <pmc/backends/cpu/ops.hpp>
#include <pmc/dist/communicator.hpp>
#include <pmc/train/consolidate.hpp>
#include <pmc/train/trainer.hpp>
#include <support/paths.hpp>
#include <support/thread_ranks.hpp>
#include <support/training_data.hpp>

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace consolidate_test {

namespace fs = std::filesystem;
using namespace pmc;

namespace {

// 2-D parameters of 32·40 and 48·32 elements and 1-D ones of 32: none splits evenly over 3 ranks
constexpr llama::Config kTiny{.dim = 32, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .ffn_dim = 48,
                              .vocab_size = 40, .max_seq_len = 32, .norm_eps = 1e-5f, .rope_theta = 1e4f};
const llama::SpecialTokenIds kTokens{.bos = 3, .eos = {4, 5}};

train::TrainOptions options(const fs::path& out, std::int64_t steps = 3) {
  train::TrainOptions o;
  o.seq_len = 16;
  o.batch = 6;  // splits over 1, 2 and 3 ranks
  o.steps = steps;
  o.lr = 3e-3;
  o.warmup = 1;
  o.weight_decay = 0.1;
  o.seed = 7;
  o.out_dir = out;
  o.progress = false;
  return o;
}

const data::TokenFile& corpus() {
  static const auto tf =
      data::TokenFile::open(test::write_markov_corpus("consolidate.tokens", 40, 31, {.vocab = kTiny.vocab_size}));
  return tf;
}

fs::path fresh(const std::string& name) {
  const auto dir = test::tmp_dir() / name;
  fs::remove_all(dir);
  return dir;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Trains a kTiny model (bos 3, eos 4 and 5) in precision T on `ranks` thread ranks at `level` (one: no
/// communicator); returns rank 0's final weights by name.
template <class T>
std::map<std::string, Tensor<T>> train_on(const train::TrainOptions& o, int ranks, train::ShardLevel level,
                                          ops::RopeLayout layout = ops::RopeLayout::rotate_half) {
  auto one = [&](dist::Communicator* comm) {
    llama::Model<kTiny, T> model;
    model.init_random(3);
    model.set_rope_layout(layout);
    model.set_special_tokens(kTokens);
    auto mine = o;
    mine.comm = comm;
    mine.shard = level;
    mine.recompute = level == train::ShardLevel::full;
    train::Trainer trainer(model, corpus(), nullptr, mine);
    REQUIRE(trainer.run());
    std::map<std::string, Tensor<T>> weights;
    for (const auto& p : model.named_parameters()) weights.emplace(p.name, p.var.value().clone());
    return weights;
  };
  if (ranks == 1) return one(nullptr);
  return test::on_thread_ranks<std::map<std::string, Tensor<T>>>(ranks, [&](dist::Communicator& comm) {
    return one(&comm);
  })[0];
}

}  // namespace

TEST_CASE("consolidate: a checkpoint sharded on 2 and 3 ranks is the ranks' final model (fp32 to the bit, bf16's masters)") {
  struct Run {
    int ranks;
    train::ShardLevel level;
  };
  for (const Run run : {Run{2, train::ShardLevel::optimizer}, Run{3, train::ShardLevel::full}}) {
    CAPTURE(run.ranks);
    CAPTURE(train::shard_level_name(run.level));
    const auto out = fresh("consolidate_fp32");
    const auto weights = train_on<float>(options(out), run.ranks, run.level);
    const auto dir = out / "checkpoints" / "step_00000003";
    REQUIRE(fs::exists(dir / train::TrainingCheckpoint::shard_file("model", run.ranks - 1, run.ranks)));
    const auto manifest = nlohmann::json::parse(read_file(dir / "manifest.json"));
    CHECK(manifest["files"].contains("config.json"));
    for (const auto& path : {out, out / "checkpoints", dir}) {  // a run folder, its checkpoints, the folder itself
      const auto c = train::consolidate_checkpoint(path);
      CHECK(c.dir == dir);
      CHECK(c.state.step == 3);
      CHECK(c.state.shards == run.ranks);
      CHECK(c.model.config() == kTiny);
      CHECK(c.model.rope_layout() == ops::RopeLayout::rotate_half);
      CHECK(c.model.special_tokens() == kTokens);
      const auto params = c.model.named_parameters();
      REQUIRE(params.size() == weights.size());
      for (const auto& p : params) {
        CAPTURE(p.name);
        CHECK(p.var.value().to_vector() == weights.at(p.name).to_vector());
      }
    }
  }
  // bf16 mixed precision: the checkpoint holds the fp32 masters, which round to the model's bf16 weights
  const auto out = fresh("consolidate_bf16");
  const auto weights = train_on<bf16>(options(out), 2, train::ShardLevel::gradients);
  const auto c = train::consolidate_checkpoint(out);
  CHECK(c.state.precision == "bf16-mixed");
  for (const auto& p : c.model.named_parameters()) {
    CAPTURE(p.name);
    CHECK(p.var.value().to<bf16>().to_vector() == weights.at(p.name).to_vector());
  }
}

TEST_CASE("consolidate: an interleaved-RoPE model's unsharded checkpoint gives the folder save_hf writes of it") {
  const auto out = fresh("consolidate_interleaved");
  train_on<float>(options(out), 1, train::ShardLevel::none, ops::RopeLayout::interleaved);  // the run saves out/
  const auto dir = out / "checkpoints" / "step_00000003";
  CHECK(fs::exists(dir / "model.safetensors"));
  CHECK(nlohmann::json::parse(read_file(dir / "trainer.json"))["rope_layout"] == "interleaved");
  const auto c = train::consolidate_checkpoint(out);
  CHECK(c.state.shards == 1);
  CHECK(c.model.rope_layout() == ops::RopeLayout::interleaved);
  const auto hf = fresh("consolidate_interleaved_hf");
  llama::save_hf(c.model, hf);  // q and k rows permuted to rotate_half, as the run's own final save
  CHECK(read_file(hf / "model.safetensors") == read_file(out / "model.safetensors"));
  CHECK(read_file(hf / "config.json") == read_file(out / "config.json"));
  // the checkpoint's layout is checked on resume: a rotate_half model does not resume interleaved weights
  llama::Model<kTiny, float> other;
  train::Trainer trainer(other, corpus(), nullptr, options(out, 6));
  CHECK_THROWS_WITH_AS(trainer.resume_if_present(), doctest::Contains("in the interleaved RoPE layout but this run's model is rotate_half"),
                       pmc::Error);
}

TEST_CASE("consolidate: an older checkpoint, a LoRA run's, tensors not of the architecture, a missing shard: refused by name") {
  const auto out = fresh("consolidate_refused");
  train_on<float>(options(out, 2), 2, train::ShardLevel::optimizer);
  const auto dir = out / "checkpoints" / "step_00000002";
  {  // another architecture in config.json: the first tensor whose elements differ is named
    const std::string saved = read_file(dir / "config.json");
    auto j = nlohmann::json::parse(saved);
    j["intermediate_size"] = 40;
    std::ofstream(dir / "config.json", std::ios::binary) << j.dump(2);
    train::TrainingCheckpoint::write_manifest(dir);
    CHECK_THROWS_WITH_AS(train::consolidate_checkpoint(dir),
                         doctest::Contains("tensor 'model.layers.0.mlp.gate_proj.weight' holds 1536 elements over its 2 "
                                           "shards, but the architecture of config.json makes it (40, 32): 1280"),
                         pmc::Error);
    std::ofstream(dir / "config.json", std::ios::binary) << saved;
    train::TrainingCheckpoint::write_manifest(dir);
    CHECK(train::consolidate_checkpoint(dir).state.step == 2);
  }
  {  // an older pmc's checkpoint: no rope_layout (it still resumes), no config.json
    auto j = nlohmann::json::parse(read_file(dir / "trainer.json"));
    j.erase("rope_layout");
    std::ofstream(dir / "trainer.json", std::ios::binary) << j.dump(2);
    train::TrainingCheckpoint::write_manifest(dir);
    CHECK_THROWS_WITH_AS(train::consolidate_checkpoint(dir), doctest::Contains("trainer.json: no \"rope_layout\""),
                         pmc::Error);
    fs::remove(dir / "config.json");
    train::TrainingCheckpoint::write_manifest(dir);
    CHECK_THROWS_WITH_AS(train::consolidate_checkpoint(out),
                         doctest::Contains("config.json: missing: this checkpoint was written by a pmc that did not "
                                           "record the model's config.json"),
                         pmc::Error);
    llama::Model<kTiny, float> model;
    train::Trainer trainer(model, corpus(), nullptr, options(out, 4));
    CHECK(trainer.resume_if_present());
    CHECK(trainer.step() == 2);
  }
  // a missing shard (open checks the manifest)
  fs::remove(dir / "model-rank-00001-of-00002.safetensors");
  CHECK_THROWS_WITH_AS(train::consolidate_checkpoint(dir), doctest::Contains("model-rank-00001-of-00002.safetensors: missing"),
                       pmc::Error);
  CHECK_THROWS_WITH_AS(train::consolidate_checkpoint(out / "data"), doctest::Contains("no such checkpoint folder"),
                       pmc::Error);
  const auto empty = fresh("consolidate_empty");
  fs::create_directories(empty);
  CHECK_THROWS_WITH_AS(train::consolidate_checkpoint(empty), doctest::Contains("not a training checkpoint"), pmc::Error);
  // a LoRA run's checkpoint holds only the adapters
  const auto lora_out = fresh("consolidate_lora");
  {
    llama::Model<kTiny, float> model;
    model.init_random(3);
    model.add_lora(llama::LoraConfig{.rank = 2, .alpha = 4, .targets = {llama::Projection::q}});
    train::Trainer trainer(model, corpus(), nullptr, options(lora_out, 1));
    REQUIRE(trainer.run());
  }
  CHECK_THROWS_WITH_AS(train::consolidate_checkpoint(lora_out),
                       doctest::Contains("the checkpoint of a LoRA run holds only its adapters"), pmc::Error);
  CHECK_THROWS_WITH_AS(train::consolidate_checkpoint(lora_out), doctest::Contains("pmc convert --model BASE --adapter DIR"),
                       pmc::Error);
}

}  // namespace consolidate_test

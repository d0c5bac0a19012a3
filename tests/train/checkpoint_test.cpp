// SPDX-License-Identifier: MIT
// The trainer's reliability: checkpoints checked whole (manifest checksums, every trainer-state key and range,
// tensor names and shapes) before a resume touches anything; a diverged run stops with an error and keeps its
// last good checkpoint; the run-folder lock; SIGINT / SIGTERM; unfinished checkpoint folders; the metrics
// schema written and read in one place; CRC-32C.
#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>
#include <pmc/backends/cpu/ops.hpp>
#include <pmc/io/checksum.hpp>
#include <pmc/train/trainer.hpp>
#include <support/paths.hpp>
#include <support/training_data.hpp>

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace checkpoint_test {

namespace fs = std::filesystem;
using namespace pmc;

namespace {

constexpr llama::Config kTiny{.dim = 32, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .ffn_dim = 48,
                              .vocab_size = 40, .max_seq_len = 32, .norm_eps = 1e-5f, .rope_theta = 1e4f};

train::TrainOptions options(const fs::path& out, std::int64_t steps) {
  train::TrainOptions o;
  o.seq_len = 16;
  o.batch = 2;
  o.steps = steps;
  o.lr = 3e-3;
  o.warmup = 1;
  o.seed = 5;
  o.save_every = 1;
  o.out_dir = out;
  o.progress = false;
  return o;
}

const data::TokenFile& corpus() {
  static const auto tf =
      data::TokenFile::open(test::write_markov_corpus("checkpoint.tokens", 30, 9, {.vocab = kTiny.vocab_size}));
  return tf;
}

/// A fresh run folder `name` trained for `steps` steps (a checkpoint after each, the newest two kept).
fs::path trained_run(const std::string& name, std::int64_t steps) {
  const auto out = test::tmp_dir() / name;
  fs::remove_all(out);
  llama::Model<kTiny, float> model;
  model.init_random(2);
  train::Trainer trainer(model, corpus(), nullptr, options(out, steps));
  REQUIRE(trainer.run());
  return out;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

fs::path latest_dir(const fs::path& out) {
  return out / "checkpoints" / read_file(out / "checkpoints" / "latest");
}

/// Edits the latest checkpoint's trainer.json with `edit` and seals it again (a valid manifest), so that only
/// the trainer state is wrong.
template <class F>
void edit_trainer_state(const fs::path& out, F&& edit) {
  const auto dir = latest_dir(out);
  auto j = nlohmann::json::parse(read_file(dir / "trainer.json"));
  edit(j);
  std::ofstream(dir / "trainer.json", std::ios::binary) << j.dump(2);
  train::TrainingCheckpoint::write_manifest(dir);
}

/// Resuming `out` into a fresh trainer throws an error containing `what`, and leaves the trainer at step 0
/// and metrics.jsonl byte for byte as it was.
void check_resume_fails_untouched(const fs::path& out, const std::string& what) {
  const std::string metrics_before = read_file(out / "metrics.jsonl");
  REQUIRE(!metrics_before.empty());
  llama::Model<kTiny, float> model;
  model.init_random(2);
  train::Trainer trainer(model, corpus(), nullptr, options(out, 10));
  CHECK_THROWS_WITH_AS(trainer.resume_if_present(), doctest::Contains(what.c_str()), pmc::Error);
  CHECK(trainer.step() == 0);
  CHECK(read_file(out / "metrics.jsonl") == metrics_before);
}

}  // namespace

TEST_CASE("crc32c: the standard check value, continuation, and a file's size and checksum") {
  const std::string digits = "123456789";
  const auto bytes = std::as_bytes(std::span(digits.data(), digits.size()));
  CHECK(io::crc32c(bytes) == 0xE3069283u);
  CHECK(io::crc32c(bytes.subspan(4), io::crc32c(bytes.first(4))) == 0xE3069283u);
  CHECK(io::crc32c({}) == 0u);
  const auto path = test::tmp_dir() / "crc.txt";
  std::ofstream(path, std::ios::binary) << digits;
  CHECK(io::checksum_file(path) == io::FileChecksum{9, 0xE3069283u});
}

TEST_CASE("checkpoint: a manifest with every file's size and checksum, rotation keeps the newest and latest") {
  const auto out = trained_run("ckpt_manifest", 4);
  const auto root = out / "checkpoints";
  CHECK(read_file(root / "latest") == "step_00000004");
  CHECK(fs::exists(root / "step_00000003"));
  CHECK_FALSE(fs::exists(root / "step_00000002"));
  const auto manifest = nlohmann::json::parse(read_file(root / "step_00000004" / "manifest.json"));
  for (const char* file : {"model.safetensors", "optimizer.safetensors", "trainer.json"}) {
    const auto sum = io::checksum_file(root / "step_00000004" / file);
    CHECK(manifest["files"][file]["bytes"].get<std::uint64_t>() == sum.bytes);
    char hex[16];
    std::snprintf(hex, sizeof hex, "%08x", sum.crc32c);
    CHECK(manifest["files"][file]["crc32c"].get<std::string>() == hex);
  }
  const auto c = train::TrainingCheckpoint::open_latest(root);
  REQUIRE(c);
  CHECK(c->state().step == 4);
  CHECK(c->state().optimizer_step == 4);
  // rotation never removes the checkpoint `latest` names, even when it is not the newest
  io::write_file_atomic(root / "latest", "step_00000003");
  train::TrainingCheckpoint::rotate(root, 1);
  CHECK(fs::exists(root / "step_00000003"));
  CHECK_FALSE(fs::exists(root / "step_00000004"));
}

TEST_CASE("resume: a flipped byte in model.safetensors is an error naming the file, nothing is touched") {
  const auto out = trained_run("ckpt_corrupt", 3);
  const auto file = latest_dir(out) / "model.safetensors";
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(-5, std::ios::end);
    const char c = static_cast<char>(f.get());
    f.seekp(-5, std::ios::end);
    f.put(static_cast<char>(c ^ 0x10));
  }
  check_resume_fails_untouched(out, "model.safetensors: corrupt: its CRC-32C is");
  fs::resize_file(file, fs::file_size(file) - 4);
  check_resume_fails_untouched(out, "model.safetensors: " + std::to_string(fs::file_size(file)) + " bytes, but");
  fs::remove(latest_dir(out) / "manifest.json");
  check_resume_fails_untouched(out, "manifest.json: missing");
}

TEST_CASE("resume: a negative step, a missing key or an out-of-range value in trainer.json is an error naming "
          "the file and key, and metrics.jsonl is left as it was") {
  auto out = trained_run("ckpt_bad_state", 3);
  edit_trainer_state(out, [](nlohmann::json& j) { j["step"] = -3; });
  check_resume_fails_untouched(out, "trainer.json: \"step\" is -3, not a non-negative integer");
  for (const char* key : {"step", "optimizer_step", "epoch", "index", "seed", "config", "precision", "param_steps"}) {
    CAPTURE(key);
    out = trained_run("ckpt_bad_state", 3);
    edit_trainer_state(out, [&](nlohmann::json& j) { j.erase(key); });
    check_resume_fails_untouched(out, std::string("trainer.json: no \"") + key + "\"");
  }
  out = trained_run("ckpt_bad_state", 3);
  edit_trainer_state(out, [](nlohmann::json& j) { j["optimizer_step"] = 7; });
  check_resume_fails_untouched(out, "\"optimizer_step\" is 7, not an integer in [0, 3]");
  out = trained_run("ckpt_bad_state", 3);
  edit_trainer_state(out, [](nlohmann::json& j) { j["index"] = 100000; });
  check_resume_fails_untouched(out, "\"index\" 100000 is past the");
  out = trained_run("ckpt_bad_state", 3);
  edit_trainer_state(out, [](nlohmann::json& j) { j["param_steps"].erase("lm_head.weight"); });
  check_resume_fails_untouched(out, "\"param_steps\" has no entry for parameter lm_head.weight");
  out = trained_run("ckpt_bad_state", 3);
  edit_trainer_state(out, [](nlohmann::json& j) { j["step"] = "three"; });
  check_resume_fails_untouched(out, "\"step\" is \"three\"");
}

TEST_CASE("resume: tensors of other names or shapes are errors naming the file and the tensor") {
  const auto out = trained_run("ckpt_shapes", 2);
  const auto c = train::TrainingCheckpoint::open_latest(out / "checkpoints");
  REQUIRE(c);
  llama::Model<kTiny, float> model;
  train::Trainer trainer(model, corpus(), nullptr, options(test::tmp_dir() / "ckpt_shapes_probe", 2));
  auto spec = trainer.checkpoint_spec();
  CHECK_NOTHROW(c->validate(spec));
  auto wrong_shape = spec;
  wrong_shape.weights["lm_head.weight"] = Shape{41, 32};
  CHECK_THROWS_WITH_AS(c->validate(wrong_shape), doctest::Contains("model.safetensors: tensor lm_head.weight has "
                                                                   "shape (40, 32) but (41, 32) is needed"),
                       pmc::Error);
  auto missing = spec;
  missing.optimizer["m.extra.weight"] = Shape{2};
  CHECK_THROWS_WITH_AS(c->validate(missing), doctest::Contains("optimizer.safetensors"), pmc::Error);
  CHECK_THROWS_WITH_AS(c->validate(missing), doctest::Contains("m.extra.weight"), pmc::Error);
}

TEST_CASE("a diverged run (lr 1e30) stops with an error naming the step and keeps its last good checkpoint") {
  const auto out = test::tmp_dir() / "ckpt_diverged";
  fs::remove_all(out);
  llama::Model<kTiny, float> model;
  model.init_random(2);
  auto o = options(out, 8);
  o.lr = 1e30;
  train::Trainer trainer(model, corpus(), nullptr, o);
  std::string error;
  try {
    trainer.run();
  } catch (const pmc::Error& e) {
    error = e.what();
  }
  const std::int64_t failed = trainer.step() + 1;
  MESSAGE("lr 1e30: ", error);
  CHECK(error.find("train: step " + std::to_string(failed) + " diverged") != std::string::npos);
  CHECK_FALSE(fs::exists(out / "model.safetensors"));  // no final model
  // the last checkpoint is of the step before, and every loss logged is finite
  if (failed > 1) {
    const auto c = train::TrainingCheckpoint::open_latest(out / "checkpoints");
    REQUIRE(c);
    CHECK(c->state().step == failed - 1);
  }
  const auto logged = train::read_metrics(out / "metrics.jsonl");
  CHECK(static_cast<std::int64_t>(logged.size()) == failed - 1);
  for (const auto& r : logged) CHECK(std::isfinite(r.loss));
}

TEST_CASE("run lock: a second process on the same folder fails naming it, one process shares its lock") {
  const auto dir = test::tmp_dir() / "ckpt_lock";
  fs::remove_all(dir);
  auto other_process_locks = [&] {
    const pid_t pid = ::fork();
    if (pid == 0) {
      int code = 0;
      try {
        train::RunLock lock(dir);
      } catch (const pmc::Error& e) {
        code = std::string(e.what()).find("ckpt_lock: the run folder is in use by another training (pid ") !=
                       std::string::npos ? 3 : 4;
      }
      ::_exit(code);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  {
    train::RunLock lock(dir);
    train::RunLock again(dir);  // the same process: shared
    CHECK(other_process_locks() == 3);
  }
  CHECK(other_process_locks() == 0);  // released with the last holder
  {
    llama::Model<kTiny, float> model;
    train::Trainer trainer(model, corpus(), nullptr, options(dir, 2));
    CHECK(other_process_locks() == 3);  // the trainer holds it
  }
}

TEST_CASE("a trainer removes the unfinished checkpoint folders a killed run left") {
  const auto out = trained_run("ckpt_leftover", 2);
  fs::create_directories(out / "checkpoints" / "step_00000003.tmp");
  std::ofstream(out / "checkpoints" / "step_00000003.tmp" / "model.safetensors") << "partial";
  llama::Model<kTiny, float> model;
  train::Trainer trainer(model, corpus(), nullptr, options(out, 4));
  CHECK_FALSE(fs::exists(out / "checkpoints" / "step_00000003.tmp"));
  CHECK(trainer.resume_if_present());
  CHECK(trainer.step() == 2);
}

TEST_CASE("stop signals: the first SIGTERM or SIGINT is recorded and brings the default action back") {
  struct sigaction before {};
  sigaction(SIGTERM, nullptr, &before);
  {
    train::StopSignals signals;
    CHECK(train::StopSignals::received() == 0);
    std::raise(SIGTERM);
    CHECK(train::StopSignals::received() == SIGTERM);
    struct sigaction now {};
    sigaction(SIGTERM, nullptr, &now);
    CHECK((now.sa_handler == SIG_DFL));  // a second SIGTERM would end the process
    sigaction(SIGINT, nullptr, &now);
    CHECK((now.sa_handler == SIG_DFL));
  }
  struct sigaction after {};
  sigaction(SIGTERM, nullptr, &after);
  CHECK((after.sa_handler == before.sa_handler));
  train::StopSignals again;
  CHECK(train::StopSignals::received() == 0);
}

TEST_CASE("metrics: the trainer's lines read back as the records it wrote, a resume keeps those up to its step") {
  const auto out = trained_run("ckpt_metrics", 3);
  const auto records = train::read_metrics(out / "metrics.jsonl");
  REQUIRE(records.size() == 3);
  CHECK(records[2].step == 3);
  CHECK(records[0].lr > 0);
  CHECK(records[0].tokens_per_s > 0);
  CHECK_FALSE(records[0].eval_loss);
  train::StepRecord r{.step = 9, .loss = std::numeric_limits<double>::quiet_NaN(), .lr = 1e-3, .grad_norm = 2,
                      .tokens_per_s = 5, .epoch = 1, .eval_loss = 3.5};
  const auto file = test::tmp_dir() / "ckpt_metrics_roundtrip.jsonl";
  fs::remove(file);
  train::MetricsWriter(file).write(r);
  const auto back = train::read_metrics(file);
  REQUIRE(back.size() == 1);
  CHECK(std::isnan(back[0].loss));
  CHECK(back[0].eval_loss == 3.5);
  CHECK(back[0].epoch == 1);
  CHECK(train::read_metric(file, "eval_loss").values == std::vector<double>{3.5});
  std::ofstream(file, std::ios::app) << "{\"step\": 10, \"loss\": 1.0}\n";
  CHECK_THROWS_WITH_AS(train::read_metrics(file), doctest::Contains("ckpt_metrics_roundtrip.jsonl:2: no \"lr\""),
                       pmc::Error);
  CHECK(train::metrics_until(file, 9).size() == 1);  // only the lines it keeps must be whole records
}

}  // namespace checkpoint_test

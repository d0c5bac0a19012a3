// SPDX-License-Identifier: MIT
// A training checkpoint written whole: the model of checkpoints/step_N/ (one file of whole tensors, or one
// file per rank of a sharded run, each holding its 1-D chunk of every flattened parameter) built on the host
// from the architecture, RoPE layout and bos / eos ids the checkpoint records, to save as a Hugging Face folder
// (`pmc convert --checkpoint`).
#pragma once

#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <utility>

#include <pmc/core/error.hpp>
#include <pmc/io/hf_config.hpp>
#include <pmc/models/llama/checkpoint.hpp>
#include <pmc/models/llama/model.hpp>
#include <pmc/train/checkpoint.hpp>

namespace pmc::train {

/// The checkpoint `path` names, opened (TrainingCheckpoint::open: manifest, checksums and trainer state
/// checked): a checkpoint folder itself (it has manifest.json), a checkpoints root (its `latest`), or a run
/// folder (its checkpoints/latest). Errors say which were tried.
inline TrainingCheckpoint open_checkpoint(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  PMC_CHECK(fs::exists(path), path.string(), ": no such checkpoint folder");
  PMC_CHECK(fs::is_directory(path), path.string(), ": not a folder (give a checkpoint folder checkpoints/step_N, ",
            "a run's checkpoints folder, or the run folder)");
  if (fs::exists(path / TrainingCheckpoint::kManifest)) return TrainingCheckpoint::open(path);
  for (const auto& root : {path, path / "checkpoints"})
    if (auto c = TrainingCheckpoint::open_latest(root)) return std::move(*c);
  fail(path.string(), ": not a training checkpoint: no manifest.json (a checkpoint folder checkpoints/step_N), no ",
       "latest (a checkpoints folder) and no checkpoints/latest (a run folder)");
}

/// A checkpoint's model written whole, with where it came from.
struct ConsolidatedCheckpoint {
  llama::Model<llama::dynamic, float> model;  // the weights of the checkpoint (fp32: the masters of a bf16 run)
  std::filesystem::path dir;                  // the checkpoint folder
  TrainerState state;                         // its trainer.json (step, precision, shards, ...)
};

/// The model of the checkpoint `path` names (open_checkpoint): its config.json's architecture and bos / eos
/// ids, trainer.json's RoPE layout, and every parameter read whole (TrainingCheckpoint::read_range over its
/// numel) from however many shards hold it, in fp32 on the host. open checks the manifest first (a missing,
/// truncated or corrupt shard is an error naming it). Refused, naming the file and the problem: a checkpoint
/// without the recorded architecture or RoPE layout (an older pmc's), one of a LoRA run (its weights are the
/// adapters only), and tensors that are not the architecture's (a missing or extra one, another element count).
///   auto c = pmc::train::consolidate_checkpoint("runs/pretrain");   // its checkpoints/latest
///   pmc::llama::save_hf(c.model, "runs/pretrain_hf");
inline ConsolidatedCheckpoint consolidate_checkpoint(const std::filesystem::path& path) {
  const auto ckpt = open_checkpoint(path);
  const auto& dir = ckpt.dir();
  const TrainerState& s = ckpt.state();
  const std::string state_file = (dir / TrainingCheckpoint::kState).string();
  PMC_CHECK(!s.lora(), state_file, ": the checkpoint of a LoRA run holds only its adapters (", s.config,
            "), not a whole model: use the PEFT adapter folder the run wrote at its end, or merge it into its base ",
            "with `pmc convert --model BASE --adapter DIR`");
  const auto config_file = dir / TrainingCheckpoint::kConfig;
  PMC_CHECK(ckpt.lists(TrainingCheckpoint::kConfig), config_file.string(),
            ": missing: this checkpoint was written by a pmc that did not record the model's config.json (its ",
            "trainer.json describes the architecture only in words: ", s.config, "), so it cannot be converted; ",
            "resume the run to write a new checkpoint, or use the run's final model folder");
  PMC_CHECK(!s.rope_layout.empty(), state_file, ": no \"rope_layout\" (a checkpoint of an older pmc): whether its q ",
            "and k weights are in the rotate_half or the interleaved RoPE layout is unknown, so it cannot be converted");
  const auto hf = io::read_hf_config(config_file);
  const llama::Config config = llama::config_from_hf(hf);
  llama::check_config(config, config_file.string());

  llama::Model<llama::dynamic, float> model(config, /*trainable=*/false);
  model.set_rope_layout(s.rope_layout == "interleaved" ? ops::RopeLayout::interleaved : ops::RopeLayout::rotate_half);
  model.set_special_tokens({hf.bos_token_id, hf.eos_token_ids});
  // the parameters the run trained (trainer.json's "param_steps" names each) are exactly the architecture's
  const auto params = model.named_parameters();
  std::set<std::string> names;
  for (const auto& p : params) {
    names.insert(p.name);
    PMC_CHECK(s.param_steps.count(p.name), state_file, ": the checkpoint has no parameter ", p.name, ", which the ",
              "architecture of ", config_file.filename().string(), " has (", llama::describe(config), ")");
  }
  for (const auto& [name, steps] : s.param_steps)
    PMC_CHECK(names.count(name), state_file, ": the checkpoint has a parameter ", name, " that the architecture of ",
              config_file.filename().string(), " does not (", llama::describe(config), ")");
  for (const auto& p : params) {
    const Tensor<float>& value = p.var.value();
    const std::int64_t numel = value.numel();
    // the elements every shard holds add up to the architecture's: a whole tensor of its shape, or chunks
    std::int64_t stored = 0;
    for (int q = 0; q < s.shards; ++q) {
      const auto& file = ckpt.weight_shards()[static_cast<std::size_t>(q)];
      const bool chunk = s.shards == 1 || dist::shard_range(numel, s.shards, q).size() > 0;  // (some are empty)
      PMC_CHECK(file.contains(p.name) || !chunk, file.path().string(), ": no tensor '", p.name, "'");
      if (!file.contains(p.name)) continue;
      const Shape& shape = file.info(p.name).shape;
      if (s.shards == 1)
        PMC_CHECK(shape == value.shape(), file.path().string(), ": tensor '", p.name, "' is ", shape.str(),
                  ", but the architecture of ", config_file.filename().string(), " makes it ", value.shape().str());
      stored += shape.numel();
    }
    PMC_CHECK(stored == numel, dir.string(), ": tensor '", p.name, "' holds ", stored, " elements over its ", s.shards,
              " shards, but the architecture of ", config_file.filename().string(), " makes it ", value.shape().str(),
              ": ", numel);
    ckpt.read_range(TrainingCheckpoint::Part::weights, p.name, numel, 0, numel, value.reshape(Shape{numel}));
  }
  return {std::move(model), dir, s};
}

}  // namespace pmc::train

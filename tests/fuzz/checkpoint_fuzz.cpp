// SPDX-License-Identifier: MIT
// train::TrainingCheckpoint::open and validate (what a resume reads) on a checkpoint folder whose trainer.json
// (first input byte even) or manifest.json (odd) is the rest of the input; the other files are a small valid
// checkpoint, and a fuzzed trainer.json is sealed with a matching manifest so that its parsing is reached.
#include <pmc/train/checkpoint.hpp>

#include "fuzz_support.hpp"

namespace checkpoint_fuzz {
namespace {

using Checkpoint = pmc::train::TrainingCheckpoint;

/// A valid checkpoint folder (weights w of shape (2, 3), AdamW moments m.w and v.w), built once.
const std::filesystem::path& folder() {
  static const std::filesystem::path dir = [] {
    const auto d = pmc::fuzz::scratch_dir() / "step_00000001";
    std::filesystem::create_directories(d);
    const auto t = pmc::Tensor<float, pmc::Cpu>::from({2, 3}, {1, 2, 3, 4, 5, 6});
    pmc::io::write_safetensors(d / Checkpoint::kWeights, {pmc::io::tensor_entry("w", t)});
    pmc::io::write_safetensors(d / Checkpoint::kOptimizer,
                               {pmc::io::tensor_entry("m.w", t), pmc::io::tensor_entry("v.w", t)});
    return d;
  }();
  return dir;
}

const pmc::train::CheckpointSpec& spec() {
  static const pmc::train::CheckpointSpec s{.config = "c",
                                            .precision = "fp32",
                                            .weights = {{"w", pmc::Shape{2, 3}}},
                                            .optimizer = {{"m.w", pmc::Shape{2, 3}}, {"v.w", pmc::Shape{2, 3}}},
                                            .windows_per_epoch = 10};
  return s;
}

void write(const std::filesystem::path& path, const std::uint8_t* data, std::size_t size) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr || (size > 0 && std::fwrite(data, 1, size, f) != size) || std::fclose(f) != 0) std::abort();
}

}  // namespace

PMC_FUZZ_TARGET(checkpoint) {
  if (size == 0) return 0;
  const auto& dir = folder();
  const bool fuzz_manifest = data[0] % 2 == 1;
  if (fuzz_manifest) {
    static const char kState[] =
        R"({"step": 1, "optimizer_step": 1, "epoch": 0, "index": 1, "seed": 0, "config": "c", "precision": "fp32",)"
        R"( "param_steps": {"w": 1}})";
    write(dir / Checkpoint::kState, reinterpret_cast<const std::uint8_t*>(kState), sizeof kState - 1);
    write(dir / Checkpoint::kManifest, data + 1, size - 1);
  } else {
    write(dir / Checkpoint::kState, data + 1, size - 1);
    Checkpoint::write_manifest(dir);
  }
  return pmc::fuzz::refuse_or_accept([&] { Checkpoint::open(dir).validate(spec()); });
}

}  // namespace checkpoint_fuzz

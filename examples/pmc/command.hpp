// SPDX-License-Identifier: MIT
// How a subcommand of the `pmc` program registers itself: one source file per subcommand, each defining
//   static const pmc::cli::Command reg{"name", "one-line help", [](CLI::App& app) { ...; return run_fn; }};
// main.cpp builds the CLI11 app from the registry, so adding a subcommand touches no other file.
#pragma once

#include <CLI/CLI.hpp>

#include <cmath>
#include <functional>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

namespace pmc::cli {

/// A subcommand's setup: adds its options to `app` and returns the function that runs it (exit code).
using Setup = std::function<std::function<int()>(CLI::App& app)>;

struct CommandInfo {
  std::string name, help;
  Setup setup;
};

inline std::vector<CommandInfo>& registry() {
  static std::vector<CommandInfo> commands;
  return commands;
}

struct Command {
  Command(std::string name, std::string help, Setup setup) {
    registry().push_back({std::move(name), std::move(help), std::move(setup)});
  }
};

/// A number check for a flag: finite (CLI11's Range and PositiveNumber let NaN through) and within
/// [lo, hi], or (lo, hi] when `above_lo`. CLI11 puts the flag's name before the message: "--lr: ...".
inline CLI::Validator finite_number(double lo, double hi = std::numeric_limits<double>::infinity(),
                                    bool above_lo = false) {
  std::ostringstream range;
  range << (above_lo ? "(" : "[") << lo << ", " << hi << (std::isinf(hi) ? ")" : "]");
  const std::string bounds = range.str();
  return CLI::Validator(
      [lo, hi, above_lo, bounds](std::string& text) -> std::string {
        double v = 0;
        if (!CLI::detail::lexical_cast(text, v)) return "'" + text + "' is not a number";
        if (!std::isfinite(v) || v < lo || v > hi || (above_lo && v == lo))
          return "'" + text + "' is not a finite number in " + bounds;
        return {};
      },
      "NUMBER in " + bounds);
}

/// A finite number > 0.
inline CLI::Validator positive_number() { return finite_number(0, std::numeric_limits<double>::infinity(), true); }

/// --device cpu|cuda, for the subcommands that can run on a GPU.
inline void add_device_flag(CLI::App& app, std::string& device,
                            const std::string& help = "cpu, or cuda (needs a pmc built with CUDA: the cuda preset)") {
  app.add_option("--device", device, help)->check(CLI::IsMember({"cpu", "cuda"}));
}

/// --precision fp32|bf16 for the subcommands that run a trained model (eval, generate).
inline void add_model_precision_flag(CLI::App& app, std::string& precision) {
  app.add_option("--precision", precision, "the model's weights and compute: fp32, or bf16 (half the memory)")
      ->check(CLI::IsMember({"fp32", "bf16"}));
}

/// --weights: how the model's weights are held for inference: fp32 or bf16 (the model's type, as --precision), or
/// q8_0 / q4_0 (llama.cpp's blocks of 32 with an fp16 scale: the seven projections of every block quantized, the
/// embeddings, norms and head kept in --precision's type).
inline void add_weights_flag(CLI::App& app, std::string& weights) {
  app.add_option("--weights", weights,
                 "the weights for inference: fp32, bf16, or q8_0 / q4_0 (llama.cpp's 8- and 4-bit blocks of the "
                 "projections; embeddings, norms and the head stay in --precision)")
      ->check(CLI::IsMember({"fp32", "bf16", "q8_0", "q4_0"}));
}

/// --weight-memory: where the CPU's weights stored in the model's type live (llama::WeightMemory).
inline void add_weight_memory_flag(CLI::App& app, std::string& memory) {
  app.add_option("--weight-memory", memory,
                 "CPU weights stored in the model's type: copied (into memory of their own, on huge pages: faster "
                 "decoding), mapped (borrowed from the file: the quickest load, and a model larger than memory still "
                 "runs), or auto (copied when the checkpoint takes at most 3/4 of the available memory)")
      ->check(CLI::IsMember({"auto", "mapped", "copied"}));
}

}  // namespace pmc::cli

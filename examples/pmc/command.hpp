// SPDX-License-Identifier: MIT
// How a subcommand of the `pmc` program registers itself: one source file per subcommand, each defining
//   static const pmc::cli::Command reg{"name", "one-line help", [](CLI::App& app) { ...; return run_fn; }};
// main.cpp builds the CLI11 app from the registry, so adding a subcommand touches no other file.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
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

/// --device cpu|cuda, for the subcommands that can run on a GPU.
inline void add_device_flag(CLI::App& app, std::string& device,
                            const std::string& help = "cpu, or cuda (needs a pmc built with CUDA: the cuda preset)") {
  app.add_option("--device", device, help)->check(CLI::IsMember({"cpu", "cuda"}));
}

/// --precision fp32|bf16 for the subcommands that run a trained model (eval, generate).
inline void add_model_precision_flag(CLI::App& app, std::string& precision) {
  app.add_option("--precision", precision, "the model's weights and compute: fp32, or bf16 (--device cuda)")
      ->check(CLI::IsMember({"fp32", "bf16"}));
}

}  // namespace pmc::cli

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

}  // namespace pmc::cli

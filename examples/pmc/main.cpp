// SPDX-License-Identifier: MIT
// `pmc`: the command-line program of the PMC-LLaMA workflow. Each subcommand lives in its own file.
#include <algorithm>
#include <cstdio>
#include <exception>
#include <map>

#include <pmc/core/error.hpp>

#include "command.hpp"
#include "data_parallel.hpp"

int main(int argc, char** argv) {
  CLI::App app{"pmc: build, train and evaluate LLaMA-family models for medicine"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "pmc 0.1.0");
  app.option_defaults()->always_capture_default();  // every --help shows each option's default
  auto& commands = pmc::cli::registry();
  std::sort(commands.begin(), commands.end(), [](auto& a, auto& b) { return a.name < b.name; });
  std::map<CLI::App*, std::function<int()>> runners;
  for (auto& c : commands) {
    CLI::App* sub = app.add_subcommand(c.name, c.help);
    runners[sub] = c.setup(*sub);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    for (auto& [sub, run] : runners)
      if (sub->parsed()) return run();
  } catch (const pmc::Error& e) {
    std::fprintf(stderr, "pmc: error: %s\n", e.what());
    pmc::cli::abort_group();
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pmc: unexpected error: %s\n", e.what());
    pmc::cli::abort_group();
    return 1;
  }
  return 0;
}

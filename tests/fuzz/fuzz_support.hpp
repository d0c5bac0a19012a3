// SPDX-License-Identifier: MIT
// What every fuzz target shares: the input written to a file for parsers that take a path, and the rule that a
// pmc::Error is a normal outcome (bad input was refused) while anything else escaping is a finding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

#include <unistd.h>

#include <pmc/core/error.hpp>

/// A fuzz target's entry point, `PMC_FUZZ_TARGET(name) { ... data, size ... }`: the function pmc_fuzz_<name>,
/// which the target's generated entry file (tests/fuzz/CMakeLists.txt) calls from libFuzzer's
/// LLVMFuzzerTestOneInput. The targets' files compile together as unity files, so each names its own entry.
#define PMC_FUZZ_TARGET(name) extern "C" int pmc_fuzz_##name(const std::uint8_t* data, std::size_t size)

namespace pmc::fuzz {

/// A folder of this process's own under the temporary directory, removed at exit.
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() / ("pmc_fuzz_" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(scratch_dir(), ec);
    });
    return d;
  }();
  return dir;
}

/// The input as the file scratch_dir()/name (rewritten for each input).
inline std::filesystem::path write_input(const std::uint8_t* data, std::size_t size, std::string_view name) {
  const auto path = scratch_dir() / name;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr || (size > 0 && std::fwrite(data, 1, size, f) != size) || std::fclose(f) != 0) std::abort();
  return path;
}

/// Runs `parse`; a pmc::Error is swallowed, any other exception escapes to libFuzzer (a finding).
template <class F>
int refuse_or_accept(F&& parse) {
  try {
    parse();
  } catch (const pmc::Error&) {
  }
  return 0;
}

}  // namespace pmc::fuzz

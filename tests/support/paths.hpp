// SPDX-License-Identifier: MIT
// Where tests find the project's files, ../shared (optional) and a scratch folder; PMC_SKIP for absent data.
#pragma once

#include <cstdio>
#include <filesystem>
#include <string>

namespace pmc::test {

inline std::filesystem::path source_dir() { return PMC_SOURCE_DIR; }
inline std::filesystem::path shared_dir() { return PMC_SHARED_DIR; }
inline std::filesystem::path tmp_dir() { return PMC_TEST_TMP_DIR; }

/// A file under ../shared, or an empty path when it is absent (the test then skips with PMC_SKIP).
inline std::filesystem::path shared_file(const std::string& rel) {
  auto p = shared_dir() / rel;
  return std::filesystem::exists(p) ? p : std::filesystem::path{};
}

}  // namespace pmc::test

/// Ends the current test case, reported by ctest as skipped (the marker matches SKIP_REGULAR_EXPRESSION).
#define PMC_SKIP(reason)                                              \
  do {                                                                \
    std::printf("[pmc-skip] %s\n", std::string(reason).c_str());      \
    std::fflush(stdout);                                              \
    return;                                                           \
  } while (0)

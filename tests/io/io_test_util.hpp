// SPDX-License-Identifier: MIT
// Helpers shared by the io tests: scratch paths, raw file writing, and checking an error's message.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <string>
#include <vector>

#include <pmc/core/error.hpp>

#include "support/paths.hpp"

namespace pmc::test::io {

/// A fresh, empty scratch folder under tmp_dir()/io/<name>.
inline std::filesystem::path scratch(const std::string& name) {
  auto dir = tmp_dir() / "io" / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

inline std::vector<char> read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_bytes(const std::filesystem::path& p, const std::vector<char>& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// Runs f, which must throw pmc::Error; returns the message and checks that it contains every fragment.
template <class F>
std::string error_of(F&& f, std::initializer_list<std::string> fragments) {
  std::string msg;
  try {
    f();
  } catch (const pmc::Error& e) {
    msg = e.what();
  }
  CHECK_MESSAGE(!msg.empty(), "expected a pmc::Error");
  for (const auto& frag : fragments) CHECK_MESSAGE(msg.find(frag) != std::string::npos, "'", frag, "' not in: ", msg);
  return msg;
}

}  // namespace pmc::test::io

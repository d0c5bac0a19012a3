// SPDX-License-Identifier: MIT
// Reading whole text files and JSON-lines files, with errors that name the file and line.
#pragma once

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>
#include <pmc/core/error.hpp>

namespace pmc::io {

/// The whole file as bytes; a missing file or a folder is an error naming the path.
inline std::string read_text_file(const std::filesystem::path& path) {
  PMC_CHECK(std::filesystem::exists(path), path.string(), ": no such file");
  PMC_CHECK(!std::filesystem::is_directory(path), path.string(), ": is a folder, expected a file");
  std::ifstream in(path, std::ios::binary);
  PMC_CHECK(in.good(), path.string(), ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Calls f(json, line number) for every non-blank line; a line that is not one JSON object (malformed, or
/// with a number beyond double's range such as 1e400) is an error naming the file and line.
inline void for_each_jsonl(const std::filesystem::path& path,
                           const std::function<void(const nlohmann::json&, std::size_t)>& f) {
  const std::string text = read_text_file(path);
  std::size_t line_no = 0, pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    ++line_no;
    std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error& e) {
      fail(path.string(), ":", line_no, ": malformed JSON line: ", e.what());
    } catch (const nlohmann::json::out_of_range& e) {
      fail(path.string(), ":", line_no, ": a number out of range in this JSON line: ", e.what());
    }
    PMC_CHECK(j.is_object(), path.string(), ":", line_no, ": expected a JSON object, got ", j.type_name());
    f(j, line_no);
  }
}

}  // namespace pmc::io

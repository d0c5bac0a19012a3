// SPDX-License-Identifier: MIT
// Reading training text: plain text files (documents separated by blank lines) and JSONL files whose
// lines are {"text": ...}; tokenized into documents of ids (BOS ... EOS) for a token file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <pmc/core/error.hpp>
#include <pmc/io/jsonl.hpp>
#include <pmc/tokenizer/tokenizer.hpp>

namespace pmc::data {

/// The documents of one corpus file: `.jsonl` → the "text" field of each line (a malformed line is an error
/// naming the file and line); anything else → paragraphs separated by blank lines.
inline std::vector<std::string> read_documents(const std::filesystem::path& path) {
  std::vector<std::string> docs;
  if (path.extension() == ".jsonl") {
    io::for_each_jsonl(path, [&](const nlohmann::json& j, std::size_t n) {
      PMC_CHECK(j.contains("text") && j["text"].is_string(), path.string(), ":", n,
                ": expected an object with a string field \"text\"");
      docs.push_back(j["text"].get<std::string>());
    });
    return docs;
  }
  std::istringstream in(io::read_text_file(path));
  std::string line;
  std::string doc;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) {
      if (!doc.empty()) docs.push_back(std::move(doc));
      doc.clear();
      continue;
    }
    if (!doc.empty()) doc += '\n';
    doc += line;
  }
  if (!doc.empty()) docs.push_back(std::move(doc));
  return docs;
}

/// Token documents of every corpus file: BOS + encode(text) + EOS each.
inline std::vector<std::vector<std::int32_t>> tokenize_documents(const std::vector<std::filesystem::path>& files,
                                                                 const tokenizer::Tokenizer& tok) {
  std::vector<std::vector<std::int32_t>> out;
  for (const auto& f : files)
    for (const auto& d : read_documents(f)) out.push_back(tok.encode(d, true, true));
  PMC_CHECK(!out.empty(), "corpus: no documents in the given files");
  return out;
}

}  // namespace pmc::data

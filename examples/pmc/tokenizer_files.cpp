// SPDX-License-Identifier: MIT
// See tokenizer_files.hpp.
#include "tokenizer_files.hpp"

namespace pmc::cli {

tokenizer::Tokenizer load_tokenizer(const std::filesystem::path& path) { return tokenizer::Tokenizer::load(path); }

std::vector<std::string> save_hf_tokenizer(const std::filesystem::path& source, const std::filesystem::path& dir) {
  return tokenizer::save_hf_tokenizer(source, dir);
}

}  // namespace pmc::cli

// SPDX-License-Identifier: MIT
// The pmc program's tokenizer files, compiled in one translation unit (tokenizer_files.cpp): every subcommand
// loads a tokenizer (tokenizer.model, tokenizer.json or a folder) and writes a Hugging Face folder's tokenizer
// files through these, so the JSON and protobuf readers are compiled once rather than in each subcommand.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <pmc/tokenizer/tokenizer.hpp>

namespace pmc::cli {

/// pmc::tokenizer::Tokenizer::load(path).
tokenizer::Tokenizer load_tokenizer(const std::filesystem::path& path);

/// pmc::tokenizer::save_hf_tokenizer(source, dir): the names of the files written.
std::vector<std::string> save_hf_tokenizer(const std::filesystem::path& source, const std::filesystem::path& dir);

}  // namespace pmc::cli

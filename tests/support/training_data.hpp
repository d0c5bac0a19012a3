// SPDX-License-Identifier: MIT
// Shared by the training tests: a learnable synthetic token corpus written as a token file, and a run
// folder's loss log.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <pmc/data/token_file.hpp>
#include <support/paths.hpp>

namespace pmc::test {

/// The shape of a Markov corpus: documents of BOS (1), min_len + [0, len_range) tokens in [3, vocab), EOS (2).
/// Each token follows the last as (last · 7 + step) mod (vocab − 3), except one in `noise_every`, which is
/// uniform: learnable, so a model's loss falls well below ln(vocab).
struct MarkovCorpus {
  int vocab = 40;
  int min_len = 20, len_range = 60;
  int noise_every = 5;
  int step = 3;
};

/// Writes `docs` documents of the corpus into tmp_dir()/name as a token file; returns its path.
inline std::filesystem::path write_markov_corpus(const std::string& name, int docs, std::uint64_t seed,
                                                 const MarkovCorpus& c = {}) {
  std::mt19937_64 rng(seed);
  const auto span = static_cast<std::uint64_t>(c.vocab - 3);
  std::vector<std::vector<std::int32_t>> all;
  for (int d = 0; d < docs; ++d) {
    std::vector<std::int32_t> doc{1};
    const int len = c.min_len + static_cast<int>(rng() % static_cast<std::uint64_t>(c.len_range));
    for (int i = 0; i < len; ++i)
      doc.push_back(static_cast<std::int32_t>(rng() % static_cast<std::uint64_t>(c.noise_every) == 0
                                                  ? 3 + rng() % span
                                                  : 3 + static_cast<std::uint64_t>(doc.back() * 7 + c.step) % span));
    doc.push_back(2);
    all.push_back(doc);
  }
  const auto path = tmp_dir() / name;
  data::write_token_file(path, all, c.vocab);
  return path;
}

/// The "loss" column of a run folder's metrics.jsonl.
inline std::vector<double> metric_losses(const std::filesystem::path& dir) {
  std::ifstream in(dir / "metrics.jsonl");
  std::vector<double> out;
  std::string line;
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line)["loss"].get<double>());
  return out;
}

}  // namespace pmc::test

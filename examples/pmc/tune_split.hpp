// SPDX-License-Identifier: MIT
// `pmc pipeline`'s "tune_split": a seeded, disjoint split of MedMCQA items into PMC-LLaMA instruction records for
// tuning and held-out questions for evaluation (the shared data has only MedMCQA's dev set). Tested in
// tests/report/tune_split_test.cpp.
#pragma once

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <pmc/eval/benchmarks.hpp>
#include <pmc/eval/prompt.hpp>
#include <pmc/eval/subset.hpp>
#include <pmc/io/atomic_file.hpp>

namespace pmc::cli::pipeline_report {

/// A seeded, disjoint split of a benchmark's items into instruction-tuning records and held-out questions.
struct SplitResult {
  std::filesystem::path tune_file, heldout_file;
  std::size_t loaded = 0, skipped = 0, tune = 0, heldout = 0, duplicates_dropped = 0;
  std::string description;
};

/// Splits MedMCQA items of `files`: `heldout` of them, a stratified sample (answer label × subject, seed `seed`),
/// written back in MedMCQA's format to DIR/medmcqa_heldout.jsonl for evaluation; then `tune` of the rest (0: all),
/// a seeded draw, minus any whose question text equals a held-out one, written as PMC-LLaMA instruction records
/// (MedMCQA's instruction, "###Question: ...\n###Options:\nA. ..." input, "###Answer: OPTION X IS CORRECT." output)
/// to DIR/medmcqa_tune.jsonl.
inline SplitResult split_medmcqa(const std::vector<std::string>& files, std::int64_t tune, std::int64_t heldout,
                                 std::uint64_t seed, const std::filesystem::path& dir) {
  PMC_CHECK(heldout > 0, "tune_split: \"heldout\" must be a positive count");
  PMC_CHECK(tune >= 0, "tune_split: \"tune\" must be 0 (all the rest) or a positive count");
  std::vector<std::filesystem::path> paths(files.begin(), files.end());
  auto loaded = eval::load_benchmark(eval::Benchmark::medmcqa, paths);
  const auto& items = loaded.items;
  PMC_CHECK(static_cast<std::size_t>(heldout) < items.size(), "tune_split: ", heldout, " held-out items leave none of the ",
            items.size(), " for tuning");
  eval::SubsetInfo info;
  const auto held = eval::stratified_sample(items, static_cast<std::size_t>(heldout), seed, &info);
  std::vector<bool> is_held(items.size(), false);
  std::set<std::string> held_questions;
  for (auto i : held) is_held[i] = true, held_questions.insert(items[i].question);
  std::vector<std::size_t> rest;
  for (std::size_t i = 0; i < items.size(); ++i)
    if (!is_held[i]) rest.push_back(i);
  eval::SplitMix64 rng(seed ^ 0x7475'6e65ULL);  // "tune"
  const std::size_t take = tune == 0 ? rest.size() : std::min(rest.size(), static_cast<std::size_t>(tune));
  for (std::size_t k = 0; k < take; ++k) std::swap(rest[k], rest[k + rng.below(rest.size() - k)]);
  rest.resize(take);
  std::sort(rest.begin(), rest.end());
  SplitResult r;
  r.loaded = items.size();
  r.skipped = loaded.skipped.size();
  io::ensure_directory(dir);
  r.tune_file = dir / "medmcqa_tune.jsonl";
  r.heldout_file = dir / "medmcqa_heldout.jsonl";
  const std::string instruction = eval::default_instruction(eval::Benchmark::medmcqa);
  std::string tune_text, held_text;
  for (auto i : rest) {
    if (held_questions.contains(items[i].question)) {
      ++r.duplicates_dropped;
      continue;
    }
    tune_text += nlohmann::json{{"instruction", instruction},
                                {"input", eval::format_mcq_input(items[i])},
                                {"output", eval::pmc_answer(static_cast<std::size_t>(items[i].answer))},
                                {"source", "medmcqa"}}
                     .dump() +
                 "\n";
    ++r.tune;
  }
  for (auto i : held) {
    const auto& it = items[i];
    held_text += nlohmann::json{{"id", it.id},          {"question", it.question}, {"opa", it.options.at(0)},
                                {"opb", it.options.at(1)}, {"opc", it.options.at(2)}, {"opd", it.options.at(3)},
                                {"cop", it.answer + 1},  {"subject_name", it.subject}}
                     .dump() +
                 "\n";
    ++r.heldout;
  }
  io::write_file_atomic(r.tune_file, tune_text);
  io::write_file_atomic(r.heldout_file, held_text);
  r.description = "a seeded split of the " + std::to_string(r.loaded) + " MedMCQA items read" +
                  (r.skipped ? " (" + std::to_string(r.skipped) + " skipped: no valid answer key)" : std::string()) +
                  ": held out " + info.describe() + "; tuning on " +
                  (take == r.loaded - r.heldout ? "all " + std::to_string(take) + " others (seed " + std::to_string(seed)
                                                : std::to_string(take) + " of the other " +
                                                      std::to_string(r.loaded - r.heldout) + " (a seeded draw, seed " +
                                                      std::to_string(seed)) +
                  (r.duplicates_dropped ? ", " + std::to_string(r.duplicates_dropped) +
                                              " dropped whose question text equals a held-out one"
                                        : std::string()) +
                  "), as PMC-LLaMA instruction records answering \"###Answer: OPTION X IS CORRECT.\"";
  return r;
}

}  // namespace pmc::cli::pipeline_report

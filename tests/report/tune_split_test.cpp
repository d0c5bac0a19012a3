// SPDX-License-Identifier: MIT
// `pmc pipeline`'s tune_split (examples/pmc/tune_split.hpp): a seeded split of MedMCQA items into held-out
// questions and PMC-LLaMA instruction records is disjoint (by item and by question text), has the requested
// counts, is the same for the same seed, and its held-out file reads back as MedMCQA.
#include <doctest/doctest.h>

#include <filesystem>
#include <set>
#include <string>

#include <pmc/data/instruction.hpp>
#include <pmc/io/jsonl.hpp>

#include "../../examples/pmc/tune_split.hpp"
#include "support/paths.hpp"

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace tune_split_test {

namespace {

namespace fs = std::filesystem;

/// 60 MedMCQA lines over 3 subjects and 4 answer keys; items 50..59 repeat the questions of items 0..9.
fs::path write_medmcqa(const fs::path& dir) {
  pmc::io::ensure_directory(dir);
  std::string text;
  for (int i = 0; i < 60; ++i) {
    const int q = i < 50 ? i : i - 50;
    text += nlohmann::json{{"id", "item-" + std::to_string(i)},
                           {"question", "Question number " + std::to_string(q) + "?"},
                           {"opa", "alpha " + std::to_string(i)},
                           {"opb", "beta"},
                           {"opc", "gamma"},
                           {"opd", "delta"},
                           {"cop", 1 + i % 4},
                           {"subject_name", i % 3 == 0 ? "Anatomy" : i % 3 == 1 ? "Physiology" : "Pharmacology"}}
                .dump() +
            "\n";
  }
  text += "{\"id\": \"bad\", \"question\": \"q\", \"opa\": \"a\", \"opb\": \"b\", \"opc\": \"c\", \"opd\": \"d\", \"cop\": 9}\n";
  const fs::path f = dir / "dev.json";
  pmc::io::write_file_atomic(f, text);
  return f;
}

std::string read(const fs::path& p) { return pmc::io::read_text_file(p); }

}  // namespace

TEST_CASE("tune_split holds out a stratified sample and tunes on disjoint PMC-LLaMA records") {
  const fs::path dir = pmc::test::tmp_dir() / "tune_split";
  fs::remove_all(dir);
  const auto data = write_medmcqa(dir);
  const auto r = pmc::cli::pipeline_report::split_medmcqa({data.string()}, 0, 12, 7, dir / "a");
  CHECK(r.loaded == 60);
  CHECK(r.skipped == 1);
  CHECK(r.heldout == 12);
  CHECK(r.tune + r.duplicates_dropped == 48);

  const auto held = pmc::eval::load_benchmark(pmc::eval::Benchmark::medmcqa, {r.heldout_file});
  REQUIRE(held.items.size() == 12);
  CHECK(held.skipped.empty());
  std::set<std::string> held_questions;
  for (const auto& it : held.items) held_questions.insert(it.question);

  const auto records = pmc::data::read_instruction_jsonl(r.tune_file);
  REQUIRE(records.size() == r.tune);
  for (const auto& rec : records) {
    CHECK(rec.instruction == pmc::eval::default_instruction(pmc::eval::Benchmark::medmcqa));
    CHECK(rec.output.rfind("###Answer: OPTION ", 0) == 0);
    CHECK(rec.output.size() == std::string("###Answer: OPTION A IS CORRECT.").size());
    for (const auto& q : held_questions) CHECK(rec.input.find("###Question: " + q + "\n") == std::string::npos);
  }
  // a held-out question repeated among the other items is dropped from tuning, and counted
  std::size_t repeats = 0;
  for (const auto& q : held_questions) {
    const int n = std::stoi(q.substr(std::string("Question number ").size()));
    repeats += n < 10 ? 1 : 0;
  }
  CHECK(r.duplicates_dropped == repeats);
  CHECK(r.description.find("held out a stratified sample of 12 of 60 items (seed 7") != std::string::npos);

  // the same seed gives the same files; a tune count takes that many
  const auto again = pmc::cli::pipeline_report::split_medmcqa({data.string()}, 0, 12, 7, dir / "b");
  CHECK(read(again.heldout_file) == read(r.heldout_file));
  CHECK(read(again.tune_file) == read(r.tune_file));
  const auto some = pmc::cli::pipeline_report::split_medmcqa({data.string()}, 20, 12, 7, dir / "c");
  CHECK(some.tune + some.duplicates_dropped == 20);
  CHECK(read(some.heldout_file) == read(r.heldout_file));
  CHECK_THROWS(pmc::cli::pipeline_report::split_medmcqa({data.string()}, 0, 60, 7, dir / "d"));
}

}  // namespace tune_split_test

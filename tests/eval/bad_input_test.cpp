// SPDX-License-Identifier: MIT
// Benchmark files with numbers beyond double's range (1e400): a pmc::Error naming the file (and line), where
// before nlohmann's out_of_range escaped raw; answer keys beyond every integer type are skipped, not wrapped.
#include <filesystem>
#include <fstream>
#include <string>

#include <doctest/doctest.h>
#include <pmc/eval/benchmarks.hpp>

#include "support/paths.hpp"

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace bad_input_test {

namespace {

std::filesystem::path text_file(const std::string& name, const std::string& text) {
  const auto dir = pmc::test::tmp_dir() / "eval_bad_input";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary | std::ios::trunc) << text;
  return dir / name;
}

}  // namespace

TEST_CASE("bad input: 1e400 in a MedQA, MedMCQA or MCQ JSONL line is an error naming the file and line") {
  const std::string item = "{\"question\": \"q\", \"options\": {\"A\": \"x\", \"B\": \"y\"}, \"answer_idx\": \"A\"}\n";
  const auto medqa = text_file("medqa.jsonl", item + "{\"question\": 1e400}\n");
  CHECK_THROWS_WITH_AS(pmc::eval::load_medqa(medqa), doctest::Contains("medqa.jsonl:2: a number out of range"),
                       pmc::Error);
  const auto medmcqa = text_file("medmcqa.jsonl", "{\"question\": \"q\", \"opa\": 1e400}\n");
  CHECK_THROWS_WITH_AS(pmc::eval::load_medmcqa(medmcqa), doctest::Contains("medmcqa.jsonl:1: a number out of range"),
                       pmc::Error);
  const auto mcq = text_file("mcq.jsonl", "{\"question\": \"q\", \"options\": [\"a\", \"b\"], \"answer\": -1E+999}\n");
  CHECK_THROWS_WITH_AS(pmc::eval::load_mcq_jsonl(mcq), doctest::Contains("mcq.jsonl:1: a number out of range"),
                       pmc::Error);
}

TEST_CASE("bad input: 1e400 in PubMedQA's ori_pqal.json or test_ground_truth.json is an error naming the file") {
  const auto data = text_file("ori_pqal.json", "{\"1\": {\"QUESTION\": \"q\", \"CONTEXTS\": [], \"year\": 1e400}}");
  CHECK_THROWS_WITH_AS(pmc::eval::load_pubmedqa(data, pmc::eval::PubmedqaSplit::all),
                       doctest::Contains("ori_pqal.json: malformed JSON"), pmc::Error);
  const auto ok = text_file("ok_pqal.json", "{\"1\": {\"QUESTION\": \"q\", \"CONTEXTS\": [], \"final_decision\": \"yes\"}}");
  const auto truth = text_file("truth.json", "{\"1\": 1e400}");
  CHECK_THROWS_WITH_AS(pmc::eval::load_pubmedqa(ok, pmc::eval::PubmedqaSplit::test, truth),
                       doctest::Contains("truth.json: malformed JSON"), pmc::Error);
}

TEST_CASE("bad input: a MedMCQA cop beyond every integer type is skipped as naming no option, not wrapped") {
  // 2^32 + 1 cast to int was 1 (option A)
  const auto path = text_file("medmcqa_cop.jsonl",
                              "{\"question\": \"q\", \"opa\": \"a\", \"opb\": \"b\", \"opc\": \"c\", \"opd\": \"d\", "
                              "\"cop\": 4294967297}\n");
  const auto r = pmc::eval::load_medmcqa(path);
  CHECK(r.items.empty());
  REQUIRE(r.skipped.size() == 1);
  CHECK(r.skipped[0].find("cop 4294967297 names none of the 4 options") != std::string::npos);
}

}  // namespace bad_input_test

// SPDX-License-Identifier: MIT
// Corpus and instruction JSONL: bad values are pmc::Errors naming the file, the line and the problem (before,
// a number beyond double's range or a non-string chat role escaped as a raw nlohmann exception).
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

#include <doctest/doctest.h>
#include <pmc/data/corpus.hpp>
#include <pmc/data/instruction.hpp>

#include "support/paths.hpp"

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace jsonl_input_test {

namespace {

std::filesystem::path text_file(const std::string& name, const std::string& text) {
  const auto path = pmc::test::tmp_dir() / name;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
  return path;
}

}  // namespace

TEST_CASE("a corpus JSONL line with a number beyond double's range is an error naming the file and line") {
  const auto path = text_file("overflow_corpus.jsonl", "{\"text\": \"fine\"}\n{\"text\": \"x\", \"score\": 1e400}\n");
  CHECK_THROWS_WITH_AS(pmc::data::read_documents(path),
                       doctest::Contains("overflow_corpus.jsonl:2: a number out of range in this JSON line"),
                       pmc::Error);
}

TEST_CASE("an instruction JSONL line with a number beyond double's range is an error naming the file and line") {
  const auto path = text_file("overflow_instructions.jsonl", "{\"instruction\": \"i\", \"output\": -1e400}\n");
  CHECK_THROWS_WITH_AS(pmc::data::read_instruction_jsonl(path),
                       doctest::Contains("overflow_instructions.jsonl:1: a number out of range"), pmc::Error);
}

TEST_CASE("a chat turn whose role or text is not a string is an error naming the file, line and key") {
  const auto from = text_file("numeric_from.jsonl", "{\"conversations\": [{\"from\": 7, \"value\": \"Hi\"}]}\n");
  CHECK_THROWS_WITH_AS(pmc::data::read_instruction_jsonl(from),
                       doctest::Contains("numeric_from.jsonl:1: the turn's \"from\" must be a string, got number"),
                       pmc::Error);
  const auto content = text_file("list_content.jsonl",
                                 "{\"messages\": [{\"role\": \"assistant\", \"content\": [\"a\"]}]}\n");
  CHECK_THROWS_WITH_AS(pmc::data::read_instruction_jsonl(content),
                       doctest::Contains("list_content.jsonl:1: the turn's \"content\" must be a string, got array"),
                       pmc::Error);
  const auto role = text_file("null_role.jsonl", "{\"messages\": [{\"role\": null, \"content\": \"x\"}]}\n");
  CHECK_THROWS_WITH_AS(pmc::data::read_instruction_jsonl(role),
                       doctest::Contains("null_role.jsonl:1: the turn's \"role\" must be a string, got null"),
                       pmc::Error);
}

TEST_CASE("a chat record read back: roles, texts and which turns are trained on") {
  const auto path = text_file("chat_ok.jsonl",
                              "{\"messages\": [{\"role\": \"user\", \"content\": \"Q\"}, "
                              "{\"role\": \"assistant\", \"content\": \"A\"}]}\n");
  const auto records = pmc::data::read_instruction_jsonl(path);
  REQUIRE(records.size() == 1);
  REQUIRE(records[0].turns.size() == 2);
  CHECK_FALSE(records[0].turns[0].assistant);
  CHECK(records[0].turns[1].text == "A");
}

TEST_CASE("a mixing weight that is NaN, infinite or beyond the cap is an error naming the source") {
  pmc::data::InstructionRecord r;
  r.source = "medqa";
  for (double w : {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(), 1e30, -0.5})
    CHECK_THROWS_WITH_AS(pmc::data::mix_sources({r}, {{"medqa", w}}, 0),
                         doctest::Contains("of source 'medqa' is not in [0, 1000]"), pmc::Error);
  CHECK(pmc::data::mix_sources({r}, {{"medqa", 3}}, 0).size() == 3);
}

}  // namespace jsonl_input_test

// SPDX-License-Identifier: MIT
// `pmc pipeline`'s embedded demo data (examples/pmc/demo_data.hpp): the balance that keeps tuning alone at chance
// (every answer correct equally often among taught and among held-out facts), held-out subjects absent from the
// instruction data, every fact stated kStatementsPerFact times in the passages, and the same bytes for a seed.
#include <doctest/doctest.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include <pmc/data/instruction.hpp>
#include <pmc/eval/benchmarks.hpp>
#include <pmc/io/jsonl.hpp>

#include "../../examples/pmc/demo_data.hpp"
#include "support/paths.hpp"

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace demo_data_test {

namespace {

namespace fs = std::filesystem;
namespace demo = pmc::cli::demo_data;

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

/// The corpus's sentences (each ends in '.'; none has another '.'), without the '.' and the spaces around.
std::multiset<std::string> sentences(const std::string& corpus) {
  std::multiset<std::string> out;
  std::size_t begin = 0;
  for (std::size_t at; (at = corpus.find('.', begin)) != std::string::npos; begin = at + 1) {
    const auto first = corpus.find_first_not_of(" \n", begin);
    if (first < at) out.insert(corpus.substr(first, at - first));
  }
  return out;
}

}  // namespace

TEST_CASE("demo data: every answer is correct equally often among taught and among held-out facts") {
  for (const int per_answer : {2, 5}) {
    std::mt19937_64 rng(7);
    const auto table = demo::facts(rng, per_answer);
    REQUIRE(table.size() == static_cast<std::size_t>(demo::kCategories * demo::kAnswersPerCategory * per_answer));
    std::map<std::pair<int, std::string>, int> taught, held;
    std::set<std::string> subjects;
    for (const auto& f : table) {
      (f.held_out ? held : taught)[{f.category, f.answer}]++;
      subjects.insert(f.subject);
    }
    CHECK(subjects.size() == table.size());  // no name is used twice
    const int t = demo::tuned_per_answer(per_answer);
    CHECK(taught.size() == static_cast<std::size_t>(demo::kCategories * demo::kAnswersPerCategory));
    CHECK(held.size() == taught.size());
    for (const auto& [key, n] : taught) CHECK(n == t);
    for (const auto& [key, n] : held) CHECK(n == per_answer - t);
  }
}

TEST_CASE("demo data: the files keep held-out subjects out of tuning and state each fact in the passages") {
  const fs::path dir = pmc::test::tmp_dir() / "demo_data_test";
  fs::remove_all(dir);
  const auto files = demo::write(dir, 1234, 3);
  CHECK(files.facts == 192);
  CHECK(files.taught == 64);  // tuned_per_answer(3) = 1
  CHECK(files.held_out == 128);
  CHECK(files.instruction_items == files.taught * demo::kOptionOrders);

  const std::string corpus = read_text(files.corpus);
  const std::string instruct = read_text(files.instruct);
  const auto loaded = pmc::eval::load_mcq_jsonl(files.heldout);
  CHECK(loaded.skipped.empty());
  const auto& held = loaded.items;
  REQUIRE(held.size() == files.held_out);
  const auto records = pmc::data::read_instruction_jsonl(files.instruct);
  REQUIRE(records.size() == files.instruction_items);
  const auto stated_sentences = sentences(corpus);
  CHECK(stated_sentences.size() == files.facts * demo::kStatementsPerFact);
  std::array<int, 4> answer_letters{};
  for (const auto& item : held) {
    REQUIRE(item.options.size() == 4);
    const std::string& answer = item.options[static_cast<std::size_t>(item.answer)];
    ++answer_letters[static_cast<std::size_t>(item.answer)];
    // the subject: the question's text between its category's fixed words
    std::string subject;
    const demo::Category* category = nullptr;
    for (const auto& cat : demo::categories()) {
      const std::string q = cat.question;
      const auto at = q.find("{s}");
      const std::string head = q.substr(0, at), tail = q.substr(at + 3);
      if (item.question.rfind(head, 0) == 0 && item.question.size() > head.size() + tail.size() &&
          item.question.compare(item.question.size() - tail.size(), tail.size(), tail) == 0)
        subject = item.question.substr(head.size(), item.question.size() - head.size() - tail.size()), category = &cat;
    }
    REQUIRE_MESSAGE(!subject.empty(), item.question);
    CHECK_MESSAGE(instruct.find(subject) == std::string::npos, subject, " appears in the instruction data");
    // the passages state the fact (subject and answer) kStatementsPerFact times, in the category's phrasings
    std::size_t stated = 0;
    for (const auto& st : category->statements) {
      std::string sentence = demo::fill(st, subject, answer);
      sentence.pop_back();  // the '.'
      stated += stated_sentences.count(sentence);
    }
    CHECK_MESSAGE(stated == static_cast<std::size_t>(demo::kStatementsPerFact), subject);
  }
  for (const int n : answer_letters) CHECK(n > 0);  // the correct option is not always in one place

  // the same bytes for the same seed; other bytes for another
  const auto again = demo::write(dir / "again", 1234, 3);
  CHECK(read_text(again.corpus) == corpus);
  CHECK(read_text(again.instruct) == instruct);
  CHECK(read_text(again.heldout) == read_text(files.heldout));
  const auto other = demo::write(dir / "other", 1235, 3);
  CHECK(read_text(other.corpus) != corpus);
}

TEST_CASE("demo data: a size out of range is refused") {
  std::mt19937_64 rng(1);
  CHECK_THROWS_WITH_AS(demo::facts(rng, 1), doctest::Contains("facts per answer must be in [2, 64]"), pmc::Error);
}

}  // namespace demo_data_test

// SPDX-License-Identifier: MIT
// Benchmark loaders: the real MedQA/MedMCQA/PubMedQA/MMLU files of ../shared (counts and answer keys checked
// against the raw files read independently here) and bad input (malformed lines, unknown labels); the CSV
// parser itself is tested in tests/io/csv_test.cpp.
#include <doctest/doctest.h>

#include <fstream>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include <pmc/eval/benchmarks.hpp>

#include "support/paths.hpp"

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace benchmarks_test {

namespace fs = std::filesystem;
using namespace pmc::eval;

namespace {

fs::path write_tmp(const std::string& name, const std::string& text) {
  fs::path p = pmc::test::tmp_dir() / ("eval_" + name);
  std::ofstream(p, std::ios::binary) << text;
  return p;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const pmc::Error& e) {
    return e.what();
  }
  return "";
}

std::vector<nlohmann::json> read_jsonl(const fs::path& p) {
  std::vector<nlohmann::json> out;
  std::ifstream in(p);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

}  // namespace

TEST_CASE("real MedQA test: 1273 items, answer keys and exam steps as in the raw file") {
  const auto path = pmc::test::shared_file("data/benchmarks/medqa/phrases_no_exclude_test.jsonl");
  if (path.empty()) PMC_SKIP("../shared/data/benchmarks/medqa absent");
  const auto r = load_medqa(path);
  const auto raw = read_jsonl(path);
  REQUIRE(raw.size() == 1273);
  CHECK(r.items.size() == 1273);
  CHECK(r.skipped.empty());
  std::map<std::string, int> steps;
  for (std::size_t i = 0; i < r.items.size(); ++i) {
    const auto& it = r.items[i];
    const auto& j = raw[i];
    REQUIRE(it.options.size() == 4);
    CHECK(option_label(static_cast<std::size_t>(it.answer)) == j["answer_idx"].get<std::string>());
    CHECK(it.options[static_cast<std::size_t>(it.answer)] == j["answer"].get<std::string>());
    CHECK(it.question == j["question"].get<std::string>());
    ++steps[it.subject];
  }
  CHECK(steps["step1"] == 679);
  CHECK(steps["step2&3"] == 594);
  // the first item (the surgery resident who cut a tendon): B, "Tell the attending ..."
  CHECK(r.items[0].answer == 1);
  CHECK(r.items[0].options[1].starts_with("Tell the attending that he cannot fail"));
}

TEST_CASE("real MedMCQA dev: 4183 items, cop 1..4 = A..D, 21 subjects") {
  const auto path = pmc::test::shared_file("data/benchmarks/medmcqa/dev.json");
  if (path.empty()) PMC_SKIP("../shared/data/benchmarks/medmcqa absent");
  const auto r = load_medmcqa(path);
  const auto raw = read_jsonl(path);
  REQUIRE(raw.size() == 4183);
  CHECK(r.items.size() == 4183);
  CHECK(r.skipped.empty());
  std::map<std::string, int> subjects;
  const char* keys[] = {"opa", "opb", "opc", "opd"};
  for (std::size_t i = 0; i < r.items.size(); ++i) {
    const auto& it = r.items[i];
    const auto& j = raw[i];
    CHECK(it.id == j["id"].get<std::string>());
    CHECK(it.answer == j["cop"].get<int>() - 1);
    CHECK(it.options[static_cast<std::size_t>(it.answer)] == j[keys[it.answer]].get<std::string>());
    ++subjects[it.subject];
  }
  CHECK(subjects.size() == 21);
  // first line: "not true for myelinated nerve fibers", cop 1 → A "Impulse through myelinated fibers is slower..."
  CHECK(r.items[0].id == "45258d3d-b974-44dd-a161-c3fccbdadd88");
  CHECK(r.items[0].answer == 0);
  CHECK(r.items[0].subject == "Physiology");
}

TEST_CASE("real PubMedQA: 1000 labelled items, the 500 test PMIDs with test_ground_truth's answers") {
  const auto path = pmc::test::shared_file("data/benchmarks/pubmedqa/ori_pqal.json");
  if (path.empty()) PMC_SKIP("../shared/data/benchmarks/pubmedqa absent");
  const auto gt_path = path.parent_path() / "test_ground_truth.json";
  const auto all = load_pubmedqa(path, PubmedqaSplit::all);
  CHECK(all.items.size() == 1000);
  CHECK(all.skipped.empty());
  const auto test = load_pubmedqa(path);  // default: the test split, ground truth found beside the data
  CHECK(test.items.size() == 500);
  CHECK(test.skipped.empty());
  CHECK(load_benchmark(Benchmark::pubmedqa, {gt_path, path}).items.size() == 500);

  std::ifstream in(gt_path);
  const auto gt = nlohmann::json::parse(in);
  std::ifstream in2(path);
  const auto raw = nlohmann::json::parse(in2);
  std::map<std::string, int> counts;
  for (const auto& it : test.items) {
    REQUIRE(gt.contains(it.id));
    CHECK(it.options == std::vector<std::string>{"yes", "no", "maybe"});
    CHECK(it.options[static_cast<std::size_t>(it.answer)] == gt[it.id].get<std::string>());
    CHECK(it.question == raw[it.id]["QUESTION"].get<std::string>());
    ++counts[it.options[static_cast<std::size_t>(it.answer)]];
  }
  CHECK(counts["yes"] + counts["no"] + counts["maybe"] == 500);
  // the first ground-truth PMID (12377809) is a "yes"; its context is the CONTEXTS joined by spaces
  CHECK(test.items[0].id == "12377809");
  CHECK(test.items[0].answer == 0);
  std::string joined;
  for (const auto& c : raw["12377809"]["CONTEXTS"]) {
    if (!joined.empty()) joined += ' ';
    joined += c.get<std::string>();
  }
  CHECK(test.items[0].context == joined);
}

TEST_CASE("real MMLU medical CSVs: 1089 rows over six subjects, quoted fields with commas, quotes and newlines") {
  const auto dir = pmc::test::shared_file("data/benchmarks/mmlu_medical");
  if (dir.empty()) PMC_SKIP("../shared/data/benchmarks/mmlu_medical absent");
  const std::map<std::string, std::size_t> expected{{"anatomy", 135},          {"clinical_knowledge", 265},
                                                    {"college_biology", 144},  {"college_medicine", 173},
                                                    {"medical_genetics", 100}, {"professional_medicine", 272}};
  std::size_t total = 0;
  for (const auto& [subject, n] : expected) {
    const auto r = load_mmlu_csv(dir / (subject + "_test.csv"));
    CHECK_MESSAGE(r.items.size() == n, subject);
    CHECK(r.skipped.empty());
    for (const auto& it : r.items) {
      CHECK(it.subject == subject);
      CHECK(it.options.size() == 4);
      CHECK(it.answer >= 0);
    }
    total += r.items.size();
  }
  CHECK(total == 1089);
  const auto anatomy = load_mmlu_csv(dir / "anatomy_test.csv");
  // row 1: a quoted option with commas; answer A
  CHECK(anatomy.items[0].answer == 0);
  CHECK(anatomy.items[0].options[2] == "paralysis of the facial muscles, loss of taste and lacrimation.");
  // row 2: doubled quotes inside a quoted question; answer B
  CHECK(anatomy.items[1].question == "A \"dished face\" profile is often associated with");
  CHECK(anatomy.items[1].answer == 1);
  // college medicine row 3: a question spanning lines
  const auto cm = load_mmlu_csv(dir / "college_medicine_test.csv");
  CHECK(cm.items[1].options[3] == "WG George");
  CHECK(cm.items[1].answer == 3);
  CHECK(cm.items[2].question.starts_with("Which of the following statements identifies a chemically based sensory "
                                         "system?\nI. Gustatory system\nII. Auditory system"));
}

TEST_CASE("generic MCQ JSONL: list or labelled options, label or index answers, context and subject") {
  const auto p = write_tmp("mcq_ok.jsonl",
                           "{\"question\": \"2+2?\", \"options\": [\"3\", \"4\"], \"answer\": \"B\"}\n"
                           "\n"
                           "{\"question\": \"Sky?\", \"options\": {\"B\": \"green\", \"A\": \"blue\"}, \"answer\": 0,"
                           " \"context\": \"Look up.\", \"subject\": \"nature\", \"id\": \"sky\"}\n");
  const auto r = load_mcq_jsonl(p);
  REQUIRE(r.items.size() == 2);
  CHECK(r.items[0].answer == 1);
  CHECK(r.items[0].id == "1");
  CHECK(r.items[1].options == std::vector<std::string>{"blue", "green"});
  CHECK(r.items[1].answer == 0);
  CHECK(r.items[1].context == "Look up.");
  CHECK(r.items[1].subject == "nature");
  CHECK(r.items[1].id == "sky");
}

TEST_CASE("bad input: a malformed JSONL line is an error naming the file and the line") {
  const auto p = write_tmp("mcq_bad.jsonl",
                           "{\"question\": \"a\", \"options\": [\"x\", \"y\"], \"answer\": \"A\"}\n"
                           "{\"question\": \"b\", \"options\": [\"x\", \"y\"], \"answer\": \"A\"}\n"
                           "{\"question\": \"c\", \"options\": [\"x\", \"y\"], \"answer\": \n");
  const auto e = error_of([&] { load_mcq_jsonl(p); });
  CHECK(e.find(p.string() + ":3:") != std::string::npos);
  CHECK(e.find("malformed JSON") != std::string::npos);
  const auto m = write_tmp("medqa_bad.jsonl", "{\"question\": \"q\", \"options\": {\"A\": \"x\"}\n");
  CHECK(error_of([&] { load_medqa(m); }).find(m.string() + ":1:") != std::string::npos);
  const auto missing = write_tmp("mcq_missing.jsonl", "{\"options\": [\"x\", \"y\"], \"answer\": \"A\"}\n");
  const auto e2 = error_of([&] { load_mcq_jsonl(missing); });
  CHECK(e2.find(missing.string() + ":1: missing field \"question\"") != std::string::npos);
}

TEST_CASE("bad input: an unknown answer label is reported and skipped, not an error") {
  const auto p = write_tmp("mcq_labels.jsonl",
                           "{\"question\": \"a\", \"options\": [\"w\", \"x\", \"y\", \"z\"], \"answer\": \"F\"}\n"
                           "{\"question\": \"b\", \"options\": [\"w\", \"x\", \"y\", \"z\"], \"answer\": \"D\"}\n"
                           "{\"question\": \"c\", \"options\": [\"w\", \"x\"], \"answer\": 5}\n");
  const auto r = load_mcq_jsonl(p);
  REQUIRE(r.items.size() == 1);
  CHECK(r.items[0].question == "b");
  CHECK(r.items[0].answer == 3);
  REQUIRE(r.skipped.size() == 2);
  CHECK(r.skipped[0].starts_with(p.string() + ":1: answer \"F\""));
  CHECK(r.skipped[1].starts_with(p.string() + ":3: answer 5"));

  const auto mm = write_tmp("medmcqa_cop.jsonl",
                            "{\"id\": \"a\", \"question\": \"q\", \"opa\": \"1\", \"opb\": \"2\", \"opc\": \"3\", "
                            "\"opd\": \"4\", \"cop\": 7, \"subject_name\": \"S\"}\n"
                            "{\"id\": \"b\", \"question\": \"q\", \"opa\": \"1\", \"opb\": \"2\", \"opc\": \"3\", "
                            "\"opd\": \"4\", \"cop\": 4, \"subject_name\": \"S\"}\n");
  const auto r2 = load_medmcqa(mm);
  REQUIRE(r2.items.size() == 1);
  CHECK(r2.items[0].answer == 3);
  REQUIRE(r2.skipped.size() == 1);
  CHECK(r2.skipped[0].starts_with(mm.string() + ":1: cop 7"));

  const auto mq = write_tmp("medqa_idx.jsonl",
                            "{\"question\": \"q\", \"answer\": \"y\", \"options\": {\"A\": \"x\", \"B\": \"y\"}, "
                            "\"meta_info\": \"step1\", \"answer_idx\": \"E\"}\n");
  const auto r3 = load_medqa(mq);
  CHECK(r3.items.empty());
  REQUIRE(r3.skipped.size() == 1);
  CHECK(r3.skipped[0].find(":1: answer_idx \"E\"") != std::string::npos);

  const auto csv = write_tmp("bad_test.csv", "q1,a,b,c,d,A\nq2,a,b,c,d,F\n");
  const auto r4 = load_mmlu_csv(csv);
  CHECK(r4.items.size() == 1);
  CHECK(r4.items[0].subject == "eval_bad");
  REQUIRE(r4.skipped.size() == 1);
  CHECK(r4.skipped[0].starts_with(csv.string() + ":2: answer \"F\""));
}

TEST_CASE("PubMedQA: test split from a named ground truth, missing PMIDs and bad decisions are skipped") {
  const auto data = write_tmp("pqal.json",
                              R"({"1": {"QUESTION": "Q1?", "CONTEXTS": ["a.", "b."], "final_decision": "yes"},
                                  "2": {"QUESTION": "Q2?", "CONTEXTS": [], "final_decision": "perhaps"},
                                  "3": {"QUESTION": "Q3?", "CONTEXTS": ["c."], "final_decision": "maybe"}})");
  const auto gt = write_tmp("pqal_gt.json", R"({"3": "maybe", "9": "no", "1": "yes"})");
  const auto r = load_pubmedqa(data, PubmedqaSplit::test, gt);
  REQUIRE(r.items.size() == 2);
  CHECK(r.items[0].id == "3");  // ground-truth order
  CHECK(r.items[0].answer == 2);
  CHECK(r.items[1].context == "a. b.");
  REQUIRE(r.skipped.size() == 1);
  CHECK(r.skipped[0].find("PMID 9 is not in") != std::string::npos);
  const auto all = load_pubmedqa(data, PubmedqaSplit::all);
  CHECK(all.items.size() == 2);
  REQUIRE(all.skipped.size() == 1);
  CHECK(all.skipped[0].find("\"perhaps\"") != std::string::npos);
  // no ground truth beside the data: a clear error
  CHECK(error_of([&] { load_pubmedqa(data); }).find("test_ground_truth.json: no such file") != std::string::npos);
}

TEST_CASE("missing files and unknown benchmarks are clear errors") {
  const fs::path nope = pmc::test::tmp_dir() / "does_not_exist.jsonl";
  CHECK(error_of([&] { load_medqa(nope); }) == nope.string() + ": no such file");
  CHECK(error_of([&] { load_mmlu_csv(nope); }) == nope.string() + ": no such file");
  CHECK(error_of([] { parse_benchmark("usmle"); }).find("unknown benchmark 'usmle'") != std::string::npos);
  CHECK(parse_benchmark("medmcqa") == Benchmark::medmcqa);
  CHECK(label_index("b", 4) == 1);
  CHECK(label_index("E", 4) == -1);
  CHECK(label_index("AB", 4) == -1);
}

}  // namespace benchmarks_test

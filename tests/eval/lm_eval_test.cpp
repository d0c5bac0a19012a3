// SPDX-License-Identifier: MIT
// --prompt-format lm_eval against lm-evaluation-harness 0.4.13 itself (tests/golden/lm_eval, made by
// tools/make_golden_lm_eval.py): on the first 20 items of each ../shared benchmark file, pmc's contexts (by
// FNV-1a 64 hash and length: the golden keeps no benchmark text), choices, gold indices and tokens equal the
// harness's exactly, per-choice log-likelihoods of the random tiny
// model agree within 1e-4 relative, acc/acc_norm per item are equal, and so are the tasks' acc, acc_norm and
// standard errors. Skips when ../shared is absent.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <pmc/eval/benchmarks.hpp>
#include <pmc/eval/lm_eval.hpp>
#include <pmc/eval/scoring.hpp>
#include <pmc/eval/subset.hpp>
#include <pmc/models/llama/checkpoint.hpp>
#include <pmc/pmc.hpp>
#include <pmc/tokenizer/tokenizer.hpp>

#include "support/lm_eval_item.hpp"
#include "support/paths.hpp"

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace lm_eval_test {

using namespace pmc::eval;
namespace fs = std::filesystem;

namespace {

fs::path golden_dir() { return pmc::test::source_dir() / "tests" / "golden" / "lm_eval"; }

using pmc::test::read_jsonl;

/// FNV-1a 64 of the bytes, as 16 hex digits (the golden stores the contexts' hashes, not the benchmarks' text).
std::string fnv1a64(std::string_view s) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

double max_rel_seen = 0;  // over every task checked in this run

/// Checks pmc's lm_eval format and scores of `items` (the first 20 of one harness task) against the golden.
void check_task(Benchmark b, const std::string& task, const std::vector<McqItem>& items) {
  const auto golden = read_jsonl(golden_dir() / (task + ".jsonl"));
  REQUIRE(golden.size() == items.size());
  const auto tok = pmc::tokenizer::Tokenizer::load(golden_dir() / "model");
  const auto model = pmc::llama::load_model<float>(golden_dir() / "model");
  for (std::size_t k = 0; k < items.size(); ++k) {
    const auto& g = golden[k];
    const auto doc = lm_eval_doc(b, items[k]);
    INFO(task << " item " << k << " (" << items[k].id << ")");
    CHECK(items[k].id == g["id"].get<std::string>());
    CHECK(doc.task == task);
    CHECK(fnv1a64(doc.context) == g["context_fnv1a64"].get<std::string>());
    CHECK(doc.context.size() == g["context_bytes"].get<std::size_t>());
    CHECK(doc.choices == g["choices"].get<std::vector<std::string>>());
    CHECK(doc.gold == g["gold"].get<int>());
    for (std::size_t i = 0; i < doc.choices.size(); ++i) {
      const auto pair = encode_pair(tok, doc.context, " " + doc.choices[i], true);
      CHECK(pair.context == g["context_tokens"].get<std::vector<std::int32_t>>());
      CHECK(pair.continuation == g["continuation_tokens"][i].get<std::vector<std::int32_t>>());
    }
  }
  EvalOptions opt;
  opt.benchmark = b;
  opt.format = PromptFormat::lm_eval;
  const auto report = evaluate_likelihood(model, tok, items, opt);
  REQUIRE(report.items.size() == items.size());
  CHECK(report.skipped.empty());
  CHECK(report.truncated == 0);
  double max_rel = 0;
  for (std::size_t k = 0; k < items.size(); ++k) {
    const auto& g = golden[k];
    const auto& it = report.items[k];
    INFO(task << " item " << k << " (" << items[k].id << ")");
    max_rel = std::max(max_rel, pmc::test::check_lm_eval_item(it, g).first);
    CHECK(fnv1a64(it.lm_context) == g["context_fnv1a64"].get<std::string>());
  }
  max_rel_seen = std::max(max_rel_seen, max_rel);
  std::printf("lm_eval %s: max relative error of the log-likelihoods %.3g (all tasks so far %.3g)\n", task.c_str(),
              max_rel, max_rel_seen);
  // the summary, as the harness aggregates it
  std::ifstream sf(golden_dir() / "summary.json");
  const auto summary = nlohmann::json::parse(sf)["tasks"][task];
  const auto tasks = lm_eval_task_results(report);
  REQUIRE(tasks.size() == 1);
  CHECK(tasks[0].task == task);
  CHECK(tasks[0].acc() == doctest::Approx(summary["acc"].get<double>()).epsilon(1e-12));
  CHECK(tasks[0].acc_norm() == doctest::Approx(summary["acc_norm"].get<double>()).epsilon(1e-12));
  CHECK(tasks[0].acc_stderr() == doctest::Approx(summary["acc_stderr"].get<double>()).epsilon(1e-12));
  CHECK(tasks[0].acc_norm_stderr() == doctest::Approx(summary["acc_norm_stderr"].get<double>()).epsilon(1e-12));
  // the results file's layout
  const auto j = to_lm_eval_json(report, b);
  CHECK(j["results"][task]["acc,none"].get<double>() == doctest::Approx(summary["acc"].get<double>()));
  CHECK(j["results"][task]["acc_norm_stderr,none"].get<double>() ==
        doctest::Approx(summary["acc_norm_stderr"].get<double>()));
  CHECK(j["samples"][task].size() == items.size());
  CHECK(fnv1a64(j["samples"][task][0]["arguments"][0][0].get<std::string>()) ==
        golden[0]["context_fnv1a64"].get<std::string>());
  CHECK(j["samples"][task][0]["arguments"][0][1].get<std::string>() ==
        golden[0]["continuations"][0].get<std::string>());
  CHECK(j["n-shot"][task].get<int>() == 0);
}

LoadResult first_items(LoadResult r, bool per_subject = false) {
  CHECK(r.skipped.empty());
  keep_first_per_subject(r, 20, per_subject);
  return r;
}

}  // namespace

TEST_CASE("lm_eval: Python's strip, len and the harness's encode_pair") {
  CHECK(python_strip("  a b \n\t") == "a b");
  CHECK(python_strip("\xc2\xa0x\xe2\x80\x89") == "x");  // NBSP, thin space
  CHECK(python_strip("\xc3\xa9") == "\xc3\xa9");          // é is not a space
  CHECK(python_len("caf\xc3\xa9") == 4);
  CHECK(python_len("") == 0);
  const auto tok = pmc::tokenizer::Tokenizer::load(golden_dir() / "model");
  // trailing whitespace of the context moves to the continuation
  const auto a = encode_pair(tok, "Answer: ", "A", true);
  const auto b = encode_pair(tok, "Answer:", " A", true);
  CHECK(a.context == b.context);
  CHECK(a.continuation == b.continuation);
  CHECK(a.context.front() == tok.bos_id());
  CHECK_FALSE(a.continuation.empty());
  const auto whole = tok.encode("Answer: A", true);
  std::vector<std::int32_t> joined = a.context;
  joined.insert(joined.end(), a.continuation.begin(), a.continuation.end());
  CHECK(joined == whole);
}

TEST_CASE("lm_eval: the generic mcq format has no harness task") {
  McqItem item{.id = "1", .question = "q", .options = {"a", "b"}, .answer = 0};
  CHECK_THROWS(lm_eval_doc(Benchmark::mcq, item));
  McqItem three{.id = "2", .question = "q", .options = {"a", "b", "c"}, .answer = 0};
  CHECK_THROWS(lm_eval_doc(Benchmark::medqa, three));
}

TEST_CASE("lm_eval: medqa_4options equals the harness") {
  const auto f = pmc::test::shared_file("data/benchmarks/medqa/phrases_no_exclude_test.jsonl");
  if (f.empty()) PMC_SKIP("../shared/data/benchmarks/medqa is absent");
  check_task(Benchmark::medqa, "medqa_4options", first_items(load_medqa(f)).items);
}

TEST_CASE("lm_eval: medmcqa equals the harness") {
  const auto f = pmc::test::shared_file("data/benchmarks/medmcqa/dev.json");
  if (f.empty()) PMC_SKIP("../shared/data/benchmarks/medmcqa is absent");
  check_task(Benchmark::medmcqa, "medmcqa", first_items(load_medmcqa(f)).items);
}

TEST_CASE("lm_eval: pubmedqa equals the harness") {
  const auto f = pmc::test::shared_file("data/benchmarks/pubmedqa/ori_pqal.json");
  if (f.empty()) PMC_SKIP("../shared/data/benchmarks/pubmedqa is absent");
  check_task(Benchmark::pubmedqa, "pubmedqa", first_items(load_pubmedqa(f)).items);
}

TEST_CASE("lm_eval: the MMLU medical subjects equal the harness") {
  for (const char* s : {"anatomy", "clinical_knowledge", "college_biology", "college_medicine", "medical_genetics",
                        "professional_medicine"}) {
    const auto f = pmc::test::shared_file(std::string("data/benchmarks/mmlu_medical/") + s + "_test.csv");
    if (f.empty()) PMC_SKIP(std::string("../shared/data/benchmarks/mmlu_medical/") + s + "_test.csv is absent");
    check_task(Benchmark::mmlu, std::string("mmlu_") + s, first_items(load_mmlu_csv(f), true).items);
  }
}

// The strings below are what the harness's own doc_to_text functions return for these documents
// (preprocess_medqa.doc_to_text, utils_medmcqa.doc_to_text, preprocess_pubmedqa.doc_to_text, and the MMLU
// description + Jinja template of mmlu_college_medicine.yaml), so this runs without ../shared.
TEST_CASE("lm_eval: each task's context and choices on synthetic items") {
  const McqItem q{.id = "1", .question = "Q \xc3\xa9?", .options = {"a", "b", "c", "d"}, .answer = 2,
                  .subject = "college_medicine"};
  auto medqa = lm_eval_doc(Benchmark::medqa, q);
  CHECK(medqa.task == "medqa_4options");
  CHECK(medqa.context == "Question: Q \xc3\xa9?\nA. a\nB. b\nC. c\nD. d\nAnswer:");
  CHECK(medqa.choices == std::vector<std::string>{"A", "B", "C", "D"});
  CHECK(medqa.gold == 2);
  auto medmcqa = lm_eval_doc(Benchmark::medmcqa, q);
  CHECK(medmcqa.task == "medmcqa");
  CHECK(medmcqa.context == "Question: Q \xc3\xa9?\nChoices:\nA. a\nB. b\nC. c\nD. d\nAnswer:");
  McqItem mmlu = q;
  mmlu.question = " \xc2\xa0Q \xc3\xa9? \n";  // question.strip() removes the NBSP too
  auto m = lm_eval_doc(Benchmark::mmlu, mmlu);
  CHECK(m.task == "mmlu_college_medicine");
  CHECK(m.context ==
        "The following are multiple choice questions (with answers) about college medicine.\n\n"
        "Q \xc3\xa9?\nA. a\nB. b\nC. c\nD. d\nAnswer:");
  const McqItem p{.id = "2", .question = "Q?", .context = "c1 x c2", .options = pubmedqa_options(), .answer = 1,
                  .passages = {"c1 x", "c2"}};
  auto pq = lm_eval_doc(Benchmark::pubmedqa, p);
  CHECK(pq.task == "pubmedqa");
  CHECK(pq.context == "Abstract: c1 x\nc2\nQuestion: Q?\nAnswer:");
  CHECK(pq.choices == std::vector<std::string>{"yes", "no", "maybe"});
  CHECK(pq.gold == 1);
}

}  // namespace lm_eval_test

// SPDX-License-Identifier: MIT
// --prompt-format lm_eval --num-fewshot 3 against lm-evaluation-harness 0.4.13 itself
// (tests/golden/lm_eval_fewshot, made by tools/make_golden_lm_eval_fewshot.py with the harness's own task
// objects, fewshot seed 1234): on the first 20 items of each ../shared benchmark file, the examples the
// harness's sampler picked (ids), the k-shot contexts (FNV-1a 64 hash and length), choices, gold, the
// context tokens (count and hash) and continuation tokens are equal; per-choice log-likelihoods of the tiny
// random model agree within 1e-4 relative; acc/acc_norm per item and the tasks' acc, acc_norm and standard
// errors are equal. The few-shot splits are those of the golden script: MedQA's items 21.. (train), MedMCQA's
// whole file (fewshot_split = test: k + 1 drawn, the doc dropped), PubMedQA's ori_pqal.json items outside the
// test PMIDs (train), MMLU anatomy's whole CSV (first_n without the doc), the other subjects' items 21..
// (dev, first_n). Skips when ../shared is absent.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <set>
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
namespace lm_eval_fewshot_test {

using namespace pmc::eval;
namespace fs = std::filesystem;

namespace {

constexpr int kShots = 3;
constexpr std::size_t kItems = 20;

fs::path golden_dir() { return pmc::test::source_dir() / "tests" / "golden" / "lm_eval_fewshot"; }
fs::path model_dir() { return pmc::test::source_dir() / "tests" / "golden" / "lm_eval" / "model"; }

using pmc::test::read_jsonl;

std::uint64_t fnv1a64_bytes(const unsigned char* p, std::size_t n) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (std::size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string hex(std::uint64_t h) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::string fnv1a64(std::string_view s) {
  return hex(fnv1a64_bytes(reinterpret_cast<const unsigned char*>(s.data()), s.size()));
}

/// The token ids as little-endian int32 bytes, hashed (the golden's context_tokens_fnv1a64).
std::string fnv1a64_ids(const std::vector<std::int32_t>& ids) {
  std::vector<unsigned char> bytes;
  for (std::int32_t v : ids) {
    const auto u = static_cast<std::uint32_t>(v);
    for (int b = 0; b < 4; ++b) bytes.push_back(static_cast<unsigned char>((u >> (8 * b)) & 0xffu));
  }
  return hex(fnv1a64_bytes(bytes.data(), bytes.size()));
}

double max_rel_seen = 0, max_abs_seen = 0;
int contexts_equal = 0, contexts_checked = 0;

/// `items`: the task's whole test split in file order; `pool`: its few-shot split. Builds the k-shot
/// contexts as `pmc eval --num-fewshot 3` does, keeps the first 20, and compares with the harness.
void check_task(Benchmark b, const std::string& task, std::vector<McqItem> items, const std::vector<McqItem>& pool,
                bool same_split) {
  const auto golden = read_jsonl(golden_dir() / (task + ".jsonl"));
  REQUIRE(golden.size() == kItems);
  const auto chosen = lm_eval_fewshot_indices(b, items, pool, kShots, kLmEvalDefaultFewshotSeed, same_split);
  add_lm_eval_fewshot(b, items, pool, kShots, kLmEvalDefaultFewshotSeed, same_split);
  REQUIRE(items.size() >= kItems);
  items.resize(kItems);
  const auto tok = pmc::tokenizer::Tokenizer::load(model_dir());
  const auto model = pmc::llama::load_model<float>(model_dir());
  for (std::size_t k = 0; k < kItems; ++k) {
    const auto& g = golden[k];
    INFO(task << " item " << k << " (" << items[k].id << ")");
    CHECK(items[k].id == g["id"].get<std::string>());
    std::vector<std::string> ids;
    for (std::size_t p : chosen[k]) ids.push_back(pool[p].id);
    CHECK(ids == g["fewshot_ids"].get<std::vector<std::string>>());
    const auto doc = lm_eval_doc(b, items[k]);
    const bool same_context = fnv1a64(doc.context) == g["context_fnv1a64"].get<std::string>() &&
                              doc.context.size() == g["context_bytes"].get<std::size_t>();
    CHECK(same_context);
    contexts_equal += same_context ? 1 : 0;
    ++contexts_checked;
    CHECK(doc.choices == g["choices"].get<std::vector<std::string>>());
    CHECK(doc.gold == g["gold"].get<int>());
    for (std::size_t i = 0; i < doc.choices.size(); ++i) {
      const auto pair = encode_pair(tok, doc.context, " " + doc.choices[i], true);
      CHECK(pair.context.size() == g["context_token_count"].get<std::size_t>());
      CHECK(fnv1a64_ids(pair.context) == g["context_tokens_fnv1a64"].get<std::string>());
      CHECK(pair.continuation == g["continuation_tokens"][i].get<std::vector<std::int32_t>>());
    }
  }
  EvalOptions opt;
  opt.benchmark = b;
  opt.format = PromptFormat::lm_eval;
  opt.num_fewshot = kShots;
  const auto report = evaluate_likelihood(model, tok, items, opt);
  REQUIRE(report.items.size() == kItems);
  CHECK(report.skipped.empty());
  CHECK(report.truncated == 0);
  double max_rel = 0;
  for (std::size_t k = 0; k < kItems; ++k) {
    const auto& g = golden[k];
    const auto& it = report.items[k];
    INFO(task << " item " << k << " (" << items[k].id << ")");
    const auto [rel, abs_diff] = pmc::test::check_lm_eval_item(it, g);
    max_rel = std::max(max_rel, rel);
    max_abs_seen = std::max(max_abs_seen, abs_diff);
  }
  max_rel_seen = std::max(max_rel_seen, max_rel);
  std::printf("lm_eval %d-shot %s: max relative error of the log-likelihoods %.3g (all tasks so far %.3g, "
              "absolute %.3g), contexts equal %d of %d\n",
              kShots, task.c_str(), max_rel, max_rel_seen, max_abs_seen, contexts_equal, contexts_checked);
  std::ifstream sf(golden_dir() / "summary.json");
  const auto summary = nlohmann::json::parse(sf)["tasks"][task];
  const auto tasks = lm_eval_task_results(report);
  REQUIRE(tasks.size() == 1);
  CHECK(tasks[0].acc() == doctest::Approx(summary["acc"].get<double>()).epsilon(1e-12));
  CHECK(tasks[0].acc_norm() == doctest::Approx(summary["acc_norm"].get<double>()).epsilon(1e-12));
  CHECK(tasks[0].acc_stderr() == doctest::Approx(summary["acc_stderr"].get<double>()).epsilon(1e-12));
  CHECK(tasks[0].acc_norm_stderr() == doctest::Approx(summary["acc_norm_stderr"].get<double>()).epsilon(1e-12));
  const auto j = to_lm_eval_json(report, b);
  CHECK(j["n-shot"][task].get<int>() == summary["n-shot"].get<int>());
  CHECK(j["configs"][task]["num_fewshot"].get<int>() == kShots);
  CHECK(j["configs"][task]["fewshot_config"]["sampler"].get<std::string>() == summary["sampler"].get<std::string>());
  CHECK(fnv1a64(j["samples"][task][0]["arguments"][0][0].get<std::string>()) ==
        golden[0]["context_fnv1a64"].get<std::string>());
}

std::vector<McqItem> loaded(LoadResult r) {
  CHECK(r.skipped.empty());
  return std::move(r.items);
}

std::vector<McqItem> from(const std::vector<McqItem>& v, std::size_t start) {
  return {v.begin() + static_cast<std::ptrdiff_t>(std::min(start, v.size())), v.end()};
}

}  // namespace

TEST_CASE("lm_eval fewshot: medqa_4options 3-shot equals the harness (train = the file's items 21..)") {
  const auto f = pmc::test::shared_file("data/benchmarks/medqa/phrases_no_exclude_test.jsonl");
  if (f.empty()) PMC_SKIP("../shared/data/benchmarks/medqa is absent");
  const auto items = loaded(load_medqa(f));
  check_task(Benchmark::medqa, "medqa_4options", items, from(items, kItems), false);
}

TEST_CASE("lm_eval fewshot: medmcqa 3-shot equals the harness (few-shot split = test split)") {
  const auto f = pmc::test::shared_file("data/benchmarks/medmcqa/dev.json");
  if (f.empty()) PMC_SKIP("../shared/data/benchmarks/medmcqa is absent");
  const auto items = loaded(load_medmcqa(f));
  check_task(Benchmark::medmcqa, "medmcqa", items, items, true);
}

TEST_CASE("lm_eval fewshot: pubmedqa 3-shot equals the harness (train = ori_pqal items outside the test PMIDs)") {
  const auto f = pmc::test::shared_file("data/benchmarks/pubmedqa/ori_pqal.json");
  if (f.empty()) PMC_SKIP("../shared/data/benchmarks/pubmedqa is absent");
  const auto items = loaded(load_pubmedqa(f));
  std::set<std::string> test_ids;
  for (const auto& it : items) test_ids.insert(it.id);
  std::vector<McqItem> pool;
  for (auto& it : loaded(load_pubmedqa(f, PubmedqaSplit::all)))
    if (!test_ids.contains(it.id)) pool.push_back(std::move(it));
  CHECK(pool.size() == 500);
  check_task(Benchmark::pubmedqa, "pubmedqa", items, pool, false);
}

TEST_CASE("lm_eval fewshot: the MMLU medical subjects 3-shot equal the harness (first_n)") {
  for (const char* s : {"anatomy", "clinical_knowledge", "college_biology", "college_medicine", "medical_genetics",
                        "professional_medicine"}) {
    const auto f = pmc::test::shared_file(std::string("data/benchmarks/mmlu_medical/") + s + "_test.csv");
    if (f.empty()) PMC_SKIP(std::string("../shared/data/benchmarks/mmlu_medical/") + s + "_test.csv is absent");
    const auto items = loaded(load_mmlu_csv(f));
    const bool same = std::string(s) == "anatomy";  // the golden's anatomy draws from its own test split
    check_task(Benchmark::mmlu, std::string("mmlu_") + s, items, same ? items : from(items, kItems), same);
  }
}

// Needs nothing from ../shared: the layout of a k-shot context, the seeded draws and the errors.
TEST_CASE("lm_eval fewshot: context layout, per-task generators and errors on synthetic items") {
  std::vector<McqItem> pool;
  for (int i = 0; i < 30; ++i)
    pool.push_back(McqItem{.id = "p" + std::to_string(i), .question = "P" + std::to_string(i) + "?",
                           .options = {"a", "b", "c", "d"}, .answer = i % 4, .subject = "anatomy"});
  std::vector<McqItem> items{McqItem{.id = "t0", .question = "T?", .options = {"w", "x", "y", "z"}, .answer = 1,
                                     .subject = "anatomy"}};
  // the default sampler: random.Random(1234).sample(range(30), 2) -> the golden sequences say which; check layout
  auto medqa = items;
  add_lm_eval_fewshot(Benchmark::medqa, medqa, pool, 2, 1234, false);
  const auto idx = lm_eval_fewshot_indices(Benchmark::medqa, items, pool, 2, 1234, false);
  REQUIRE(idx.size() == 1);
  REQUIRE(idx[0].size() == 2);
  PythonRandom rnd(1234);
  CHECK(idx[0] == rnd.sample(30, 2));
  const auto& p0 = pool[idx[0][0]];
  const auto& p1 = pool[idx[0][1]];
  const std::string letters = "ABCD";
  auto ex = [&](const McqItem& p) {
    return "Question: " + p.question + "\nA. a\nB. b\nC. c\nD. d\nAnswer: " +
           std::string(1, letters[static_cast<std::size_t>(p.answer)]) + "\n\n";
  };
  CHECK(lm_eval_doc(Benchmark::medqa, medqa[0]).context ==
        ex(p0) + ex(p1) + "Question: T?\nA. w\nB. x\nC. y\nD. z\nAnswer:");
  // MMLU: the description first, then the first k of the subject's pool (first_n)
  auto mmlu = items;
  add_lm_eval_fewshot(Benchmark::mmlu, mmlu, pool, 1, 1234, false);
  CHECK(lm_eval_doc(Benchmark::mmlu, mmlu[0]).context ==
        "The following are multiple choice questions (with answers) about anatomy.\n\n"
        "P0?\nA. a\nB. b\nC. c\nD. d\nAnswer: A\n\nT?\nA. w\nB. x\nC. y\nD. z\nAnswer:");
  // PubMedQA's example answer is the decision word
  McqItem pq{.id = "1", .question = "Q?", .options = pubmedqa_options(), .answer = 2, .passages = {"c"}};
  CHECK(lm_eval_fewshot_example(Benchmark::pubmedqa, pq) == "Abstract: c\nQuestion: Q?\nAnswer: maybe\n\n");
  // one generator per task, shared by its items in order: the second item gets the second draw
  auto two = std::vector<McqItem>{items[0], items[0]};
  two[1].id = "t1";
  const auto idx2 = lm_eval_fewshot_indices(Benchmark::medqa, two, pool, 2, 1234, false);
  PythonRandom r2(1234);
  CHECK(idx2[0] == r2.sample(30, 2));
  CHECK(idx2[1] == r2.sample(30, 2));
  // MMLU subjects are separate tasks, each with its own pool
  auto subj = two;
  subj[1].subject = "college_medicine";
  CHECK_THROWS(lm_eval_fewshot_indices(Benchmark::mmlu, subj, pool, 1, 1234, false));  // no college_medicine pool
  // same split: the item never shows among its own examples
  std::vector<McqItem> self(pool.begin(), pool.begin() + 5);
  for (const auto& picks : lm_eval_fewshot_indices(Benchmark::medqa, self, self, 4, 7, true)) CHECK(picks.size() == 4);
  const auto own = lm_eval_fewshot_indices(Benchmark::medqa, self, self, 4, 7, true);
  for (std::size_t i = 0; i < own.size(); ++i) CHECK(std::find(own[i].begin(), own[i].end(), i) == own[i].end());
  CHECK_THROWS(lm_eval_fewshot_indices(Benchmark::medqa, self, self, 5, 7, true));  // k + 1 > 5
  CHECK_THROWS(lm_eval_fewshot_indices(Benchmark::medqa, items, pool, 31, 7, false));
  // zero-shot leaves the context alone
  auto zero = items;
  add_lm_eval_fewshot(Benchmark::medqa, zero, pool, 0, 1234, false);
  CHECK(zero[0].lm_eval_fewshot.empty());
}

}  // namespace lm_eval_fewshot_test

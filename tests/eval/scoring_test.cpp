// SPDX-License-Identifier: MIT
// Scorers: cached option log-probabilities against a plain forward (random tiny model), the stories260K
// golden option scores from tools/make_golden_eval.py, truncation, and --limit 20 runs on every real benchmark.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include <pmc/eval/scoring.hpp>
#include <pmc/models/llama/checkpoint.hpp>
#include <pmc/pmc.hpp>

#include "support/paths.hpp"

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace scoring_test {

using namespace pmc::eval;
namespace fs = std::filesystem;

namespace {

/// Sum of log-probabilities of `cont` after `ctx` from one forward of ctx + cont without a cache.
template <class M>
std::vector<double> plain_logprobs(const M& model, const std::vector<std::int32_t>& ctx,
                                   const std::vector<std::int32_t>& cont) {
  const auto C = model.config();
  std::vector<std::int32_t> all = ctx;
  all.insert(all.end(), cont.begin(), cont.end());
  pmc::autograd::NoGrad ng;
  const auto logits =
      model.forward(pmc::Tensor<std::int32_t>::from(pmc::Shape{1, static_cast<std::int64_t>(all.size())}, all))
          .value()
          .contiguous();
  std::vector<double> out;
  for (std::size_t j = 0; j < cont.size(); ++j) {
    const float* row = logits.data() + static_cast<std::int64_t>(ctx.size() + j - 1) * C.vocab_size;
    double mx = -1e300, s = 0;
    for (int v = 0; v < C.vocab_size; ++v) mx = std::max(mx, double(row[v]));
    for (int v = 0; v < C.vocab_size; ++v) s += std::exp(double(row[v]) - mx);
    out.push_back(double(row[cont[j]]) - mx - std::log(s));
  }
  return out;
}

using Stories = pmc::llama::Model<pmc::llama::stories260k, float>;

struct StoriesFixture {
  Stories model = Stories::unallocated(false);
  pmc::tokenizer::Tokenizer tok{pmc::tokenizer::BpeTokenizer{}};
};

/// The real stories260K model and its tokenizer, or nothing when ../shared is absent.
std::unique_ptr<StoriesFixture> load_stories() {
  const auto bin = pmc::test::shared_file("data/models/stories260K/stories260K.bin");
  const auto tm = pmc::test::shared_file("data/models/stories260K/tok512.model");
  if (bin.empty() || tm.empty()) return nullptr;
  auto f = std::make_unique<StoriesFixture>();
  pmc::llama::load_weights(f->model, bin);
  f->tok = pmc::tokenizer::BpeTokenizer::load(tm);
  return f;
}

}  // namespace

TEST_CASE("likelihood scorer: cached, batched option log-probs equal a plain forward of prompt + option") {
  pmc::llama::Model<pmc::llama::tiny, float> model(false);
  model.init_random(11, 0.1f);
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> tokd(0, pmc::llama::tiny.vocab_size - 1);
  double max_err = 0;
  for (int trial = 0; trial < 3; ++trial) {
    std::vector<std::int32_t> ctx(static_cast<std::size_t>(7 + 13 * trial));
    for (auto& t : ctx) t = tokd(rng);
    std::vector<std::vector<std::int32_t>> conts;
    for (std::size_t len : {1u, 4u, 2u, 6u, 3u}) {
      conts.emplace_back(len);
      for (auto& t : conts.back()) t = tokd(rng);
    }
    for (int batch : {1, 2, 8}) {
      const auto scores = score_continuations(model, ctx, conts, batch);
      REQUIRE(scores.size() == conts.size());
      for (std::size_t i = 0; i < conts.size(); ++i) {
        const auto ref = plain_logprobs(model, ctx, conts[i]);
        double sum = 0;
        for (std::size_t j = 0; j < ref.size(); ++j) {
          max_err = std::max(max_err, std::abs(scores[i].token_logprobs[j] - ref[j]));
          sum += ref[j];
        }
        max_err = std::max(max_err, std::abs(scores[i].sum - sum));
        CHECK(std::abs(scores[i].mean - sum / double(ref.size())) < 1e-5);
      }
    }
  }
  std::printf("cached vs plain option log-prob: max |error| %.3g\n", max_err);
  CHECK(max_err < 1e-5);
}

TEST_CASE("stories260K: option scores on tests/golden/eval/stories_mcq.jsonl match the numpy/sentencepiece reference") {
  auto f = load_stories();
  if (!f) PMC_SKIP("../shared/data/models/stories260K absent");
  const fs::path dir = pmc::test::source_dir() / "tests/golden/eval";
  std::ifstream in(dir / "stories_mcq_scores.json");
  REQUIRE(in.good());
  const auto golden = nlohmann::json::parse(in);
  const auto loaded = load_mcq_jsonl(dir / "stories_mcq.jsonl");
  REQUIRE(loaded.skipped.empty());
  REQUIRE(loaded.items.size() == golden["items"].size());
  const std::string instruction = golden["instruction"].get<std::string>();
  double max_err = 0;
  for (std::size_t k = 0; k < loaded.items.size(); ++k) {
    const auto& item = loaded.items[k];
    const auto& g = golden["items"][k];
    const auto prompt = f->tok.encode(format_prompt(item, instruction), true);
    CHECK(prompt == g["prompt_ids"].get<std::vector<std::int32_t>>());  // tokenizer and prompt text agree
    std::vector<std::vector<std::int32_t>> conts;
    for (const auto& o : item.options) conts.push_back(f->tok.encode(o));
    CHECK(conts == g["option_ids"].get<std::vector<std::vector<std::int32_t>>>());
    const auto scores = score_continuations(f->model, prompt, conts);
    const auto ref = g["option_logprob_sum"].get<std::vector<double>>();
    REQUIRE(ref.size() == scores.size());
    for (std::size_t i = 0; i < ref.size(); ++i) max_err = std::max(max_err, std::abs(scores[i].sum - ref[i]));
  }
  // the whole pipeline gives the same numbers
  EvalOptions opt;
  opt.instruction = instruction;
  const auto report = evaluate_likelihood(f->model, f->tok, loaded.items, opt);
  REQUIRE(report.items.size() == loaded.items.size());
  for (std::size_t k = 0; k < report.items.size(); ++k) {
    const auto ref = golden["items"][k]["option_logprob_sum"].get<std::vector<double>>();
    for (std::size_t i = 0; i < ref.size(); ++i)
      max_err = std::max(max_err, std::abs(report.items[k].option_sum[i] - ref[i]));
    CHECK(report.items[k].predicted == golden["items"][k]["predicted"].get<int>());
  }
  std::printf("stories260K option scores vs numpy reference: max |error| %.3g over %zu items (reference accuracy %s)\n",
              max_err, loaded.items.size(), golden["accuracy"].dump().c_str());
  CHECK(max_err < 1e-4);
  CHECK(report.overall.n == static_cast<std::int64_t>(loaded.items.size()));
}

TEST_CASE("prompt truncation keeps the instruction head and the end, and is counted") {
  auto f = load_stories();
  if (!f) PMC_SKIP("../shared/data/models/stories260K absent");
  McqItem item{.id = "long", .question = "Who was happy?", .options = {"Tom", "Lily"}, .answer = 1};
  for (int i = 0; i < 200; ++i) item.context += "Lily played with her red ball in the park. ";
  const std::string instr = default_instruction(Benchmark::mcq);
  const auto full = f->tok.encode(format_prompt(item, instr), true);
  REQUIRE(full.size() > 512);
  const auto p = encode_prompt(f->tok, prompt_head(instr), format_prompt(item, instr), 400);
  CHECK(p.ids.size() == 400);
  CHECK(p.dropped == static_cast<std::int64_t>(full.size()) - 400);
  const auto head = f->tok.encode(prompt_head(instr), true);
  CHECK(std::equal(head.begin(), head.end() - 1, p.ids.begin()));              // the head survives
  CHECK(std::equal(full.end() - 100, full.end(), p.ids.end() - 100));          // and so does the end
  const auto r = evaluate_likelihood(f->model, f->tok, {item}, {});
  CHECK(r.truncated == 1);
  CHECK(r.items[0].prompt_tokens + 1 <= 512);
  const auto g = evaluate_generate(f->model, f->tok, {item}, {.max_new_tokens = 8});
  CHECK(g.truncated == 1);
  CHECK(g.items[0].prompt_tokens + 8 <= 512);
}

TEST_CASE("--limit 20 runs of both scorers on every real benchmark with stories260K as a stand-in model") {
  auto f = load_stories();
  if (!f) PMC_SKIP("../shared/data/models/stories260K absent");
  const auto b = pmc::test::shared_dir() / "data/benchmarks";
  if (!fs::exists(b)) PMC_SKIP("../shared/data/benchmarks absent");
  struct Case {
    Benchmark bench;
    std::vector<fs::path> files;
  };
  const std::vector<Case> cases{
      {Benchmark::medqa, {b / "medqa/phrases_no_exclude_test.jsonl"}},
      {Benchmark::medmcqa, {b / "medmcqa/dev.json"}},
      {Benchmark::pubmedqa, {b / "pubmedqa/ori_pqal.json"}},
      {Benchmark::mmlu, {b / "mmlu_medical/anatomy_test.csv", b / "mmlu_medical/medical_genetics_test.csv"}},
  };
  for (const auto& c : cases) {
    auto loaded = load_benchmark(c.bench, c.files);
    loaded.items.resize(std::min<std::size_t>(loaded.items.size(), 20));
    EvalOptions opt{.benchmark = c.bench, .max_new_tokens = 4};
    std::size_t calls = 0;
    opt.on_item = [&](std::size_t done, std::size_t total) {
      ++calls;
      CHECK(done <= total);
    };
    const auto lr = evaluate_likelihood(f->model, f->tok, loaded.items, opt);
    CHECK(calls == 20);
    CHECK(lr.overall.n + static_cast<std::int64_t>(lr.skipped.size()) == 20);
    CHECK(lr.overall.correct <= lr.overall.n);
    opt.on_item = {};
    // the other likelihood variants on a few items (each item costs a ~500-token forward)
    opt.choice = ScoreChoice::mean;
    opt.continuation = Continuation::pmc_answer;
    const std::vector<McqItem> few(loaded.items.begin(), loaded.items.begin() + 3);
    const auto lm = evaluate_likelihood(f->model, f->tok, few, opt);
    CHECK(lm.overall.n == 3);
    CHECK(lm.choice == "mean");
    for (const auto& it : lm.items) {
      const auto best = std::max_element(it.option_mean.begin(), it.option_mean.end()) - it.option_mean.begin();
      CHECK(it.predicted == best);
    }
    const auto gr = evaluate_generate(f->model, f->tok, loaded.items, opt);
    CHECK(gr.overall.n == 20);
    CHECK(gr.overall.unparsed <= 20);
    const auto j = to_json(gr);
    CHECK(j["n"] == 20);
    CHECK(j["items"].size() == 20);
    std::printf("%-8s likelihood %2lld/%lld (truncated %lld)  generate %2lld/%lld, unparsed %lld (truncated %lld)\n",
                lr.benchmark.c_str(), (long long)lr.overall.correct, (long long)lr.overall.n, (long long)lr.truncated,
                (long long)gr.overall.correct, (long long)gr.overall.n, (long long)gr.overall.unparsed,
                (long long)gr.truncated);
    if (c.bench == Benchmark::pubmedqa) CHECK(lr.truncated > 0);  // abstracts exceed 512 tokens of tok512
    if (c.bench == Benchmark::medqa) CHECK(lr.by_subject.size() >= 1);
  }
}

}  // namespace scoring_test

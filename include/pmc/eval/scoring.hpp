// SPDX-License-Identifier: MIT
// Scoring multiple-choice items with a model: option likelihood (the prompt run once into a KV cache, the
// options scored from copies of it) and PMC-LLaMA-style generation with answer extraction; accuracy with a
// 95% Wilson interval, per-subject breakdowns, skipped/unparsed/truncated counts, JSON and a text table.
// The scorers are device-generic: on a GPU the model and its KV caches stay on the device, and only the
// logits rows that are scored come back to the host.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <pmc/autograd/tape.hpp>
#include <pmc/core/transfer.hpp>
#include <pmc/eval/benchmarks.hpp>
#include <pmc/eval/lm_eval.hpp>
#include <pmc/eval/prompt.hpp>
#include <pmc/eval/statistics.hpp>
#include <pmc/models/llama/generate.hpp>
#include <pmc/models/llama/model.hpp>
#include <pmc/tokenizer/tokenizer.hpp>

namespace pmc::eval {

// ---------------------------------------------------------------------------------------------------------
// Accuracy and its interval

struct Interval {
  double low = 0, high = 1;
};

/// The Wilson score interval of a proportion correct/n at normal quantile z (1.96: 95%). Unlike the
/// normal approximation it stays inside [0, 1] and is sensible for small n and for 0% or 100%.
inline Interval wilson_interval(std::int64_t correct, std::int64_t n, double z = 1.959963984540054) {
  if (n <= 0) return {0.0, 1.0};
  const double nn = static_cast<double>(n), p = static_cast<double>(correct) / nn, z2 = z * z;
  const double denom = 1.0 + z2 / nn;
  const double center = (p + z2 / (2 * nn)) / denom;
  const double half = z * std::sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn)) / denom;
  return {std::max(0.0, center - half), std::min(1.0, center + half)};
}

struct Tally {
  std::int64_t n = 0, correct = 0, unparsed = 0;
  double accuracy() const { return n ? static_cast<double>(correct) / static_cast<double>(n) : 0.0; }
  Interval interval() const { return wilson_interval(correct, n); }
};

// ---------------------------------------------------------------------------------------------------------
// Option likelihood

/// The log-probability of one continuation given the context: per token, summed and averaged.
struct ContinuationScore {
  std::vector<double> token_logprobs;
  double sum = 0, mean = 0;
  bool greedy = true;  // every token is the argmax of its logits row (the harness's is_greedy)
};

namespace detail {

/// log softmax(row)[token], in double so that long vocabularies do not lose the small terms.
template <class T>
double token_logprob(const T* row, std::int64_t vocab, std::int32_t token) {
  double mx = -std::numeric_limits<double>::infinity();
  for (std::int64_t v = 0; v < vocab; ++v) mx = std::max(mx, static_cast<double>(row[v]));
  double s = 0;
  for (std::int64_t v = 0; v < vocab; ++v) s += std::exp(static_cast<double>(row[v]) - mx);
  return static_cast<double>(row[token]) - mx - std::log(s);
}

/// Whether `token` is the first maximum of the row (torch's argmax).
template <class T>
bool is_argmax(const T* row, std::int64_t vocab, std::int32_t token) {
  std::int64_t best = 0;
  for (std::int64_t v = 1; v < vocab; ++v)
    if (static_cast<double>(row[v]) > static_cast<double>(row[best])) best = v;
  return best == token;
}

}  // namespace detail

/// Scores every continuation after `context` with one forward of the context: its keys and values are
/// kept in a KV cache, copied (positions [0, context length)) into each row of a batch cache, and up to
/// `max_batch` continuations are run together from there. Token j of a continuation is scored by the
/// logits at the position before it, so a continuation's last token is never fed. Continuations of
/// different lengths share a batch by padding at the end, which the causal mask keeps from the scored
/// positions. Runs under NoGrad; the result equals a plain forward of context + continuation.
template <class M>
std::vector<ContinuationScore> score_continuations(const M& model, std::span<const std::int32_t> context,
                                                   const std::vector<std::vector<std::int32_t>>& continuations,
                                                   int max_batch = 8) {
  using T = typename M::value_type;
  using D = typename M::device_type;
  const llama::Config cfg = model.config();
  PMC_CHECK(!context.empty(), "score_continuations: empty context (pass at least BOS)");
  PMC_CHECK(max_batch >= 1, "score_continuations: max_batch must be ≥ 1, got ", max_batch);
  const std::int64_t P = static_cast<std::int64_t>(context.size());
  std::size_t longest = 0;
  for (const auto& c : continuations) {
    PMC_CHECK(!c.empty(), "score_continuations: an empty continuation has no tokens to score");
    for (auto t : c) PMC_CHECK(t >= 0 && t < cfg.vocab_size, "score_continuations: token ", t, " outside the vocabulary");
    longest = std::max(longest, c.size());
  }
  PMC_CHECK(P + static_cast<std::int64_t>(longest) - 1 <= cfg.max_seq_len, "score_continuations: context of ", P,
            " tokens and a continuation of ", longest, " exceed the model's context of ", cfg.max_seq_len);

  autograd::NoGrad no_grad;
  llama::KvCache<T, D> cache(cfg.n_layers, 1, P, cfg.n_kv_heads, cfg.head_dim());
  const auto ctx = to_device<D>(Tensor<std::int32_t>::from(Shape{1, P}, context));
  const auto ctx_logits = model.forward(ctx, 0, &cache).value();  // (P, V)
  const auto last_row = to_host(ctx_logits.slice(0, P - 1, P)).contiguous();  // (1, V): only the last position is scored
  const T* last = last_row.data();

  std::vector<ContinuationScore> out(continuations.size());
  for (std::size_t g0 = 0; g0 < continuations.size(); g0 += static_cast<std::size_t>(max_batch)) {
    const std::size_t g1 = std::min(continuations.size(), g0 + static_cast<std::size_t>(max_batch));
    const std::int64_t B = static_cast<std::int64_t>(g1 - g0);
    std::int64_t feed = 0;  // tokens fed per row: all but the last of the longest continuation
    for (std::size_t i = g0; i < g1; ++i) {
      out[i].token_logprobs.assign(continuations[i].size(), 0.0);
      out[i].token_logprobs[0] = detail::token_logprob(last, cfg.vocab_size, continuations[i][0]);
      out[i].greedy = detail::is_argmax(last, cfg.vocab_size, continuations[i][0]);
      feed = std::max<std::int64_t>(feed, static_cast<std::int64_t>(continuations[i].size()) - 1);
    }
    if (feed > 0) {
      llama::KvCache<T, D> batch(cfg.n_layers, B, P + feed, cfg.n_kv_heads, cfg.head_dim());
      for (std::size_t l = 0; l < cache.k.size(); ++l) {
        for (std::int64_t b = 0; b < B; ++b) {
          copy(cache.k[l].slice(1, 0, P), batch.k[l].slice(0, b, b + 1).slice(1, 0, P));
          copy(cache.v[l].slice(1, 0, P), batch.v[l].slice(0, b, b + 1).slice(1, 0, P));
        }
      }
      batch.length = P;
      std::vector<std::int32_t> ids(static_cast<std::size_t>(B * feed), 0);
      for (std::int64_t b = 0; b < B; ++b) {
        const auto& c = continuations[g0 + static_cast<std::size_t>(b)];
        for (std::int64_t j = 0; j < feed; ++j)  // padding repeats the last token; its outputs are never read
          ids[static_cast<std::size_t>(b * feed + j)] = c[std::min<std::size_t>(static_cast<std::size_t>(j), c.size() - 1)];
      }
      const auto tokens = to_device<D>(Tensor<std::int32_t>::from(Shape{B, feed}, std::span<const std::int32_t>(ids)));
      const auto logits = to_host(model.forward(tokens, P, &batch).value()).contiguous();  // (B·feed, V)
      for (std::int64_t b = 0; b < B; ++b) {
        const std::size_t i = g0 + static_cast<std::size_t>(b);
        const auto& c = continuations[i];
        for (std::size_t j = 1; j < c.size(); ++j) {
          const T* row = logits.data() + (b * feed + static_cast<std::int64_t>(j) - 1) * cfg.vocab_size;
          out[i].token_logprobs[j] = detail::token_logprob(row, cfg.vocab_size, c[j]);
          out[i].greedy = out[i].greedy && detail::is_argmax(row, cfg.vocab_size, c[j]);
        }
      }
    }
    for (std::size_t i = g0; i < g1; ++i) {
      double s = 0;
      for (double x : out[i].token_logprobs) s += x;
      out[i].sum = s;
      out[i].mean = s / static_cast<double>(out[i].token_logprobs.size());
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Prompts as tokens, with truncation to the model's context

struct PromptTokens {
  std::vector<std::int32_t> ids;
  std::int64_t dropped = 0;  // tokens cut out of the middle (0: not truncated)
};

/// Encodes `prompt` (BOS first when `bos`) in at most `budget` tokens. A longer prompt keeps its head (the
/// template and instruction, i.e. the tokens of `head`) and its end (the end of the question, the options
/// and "### Response:"), and drops tokens from the middle: the start of the context or question, which is
/// the part a model can best do without. If the head alone would take more than half the budget, only the
/// end is kept (after BOS).
inline PromptTokens encode_prompt(const tokenizer::Tokenizer& tok, const std::string& head, const std::string& prompt,
                                  std::int64_t budget, bool bos = true) {
  PromptTokens r;
  r.ids = tok.encode(prompt, bos);
  const std::int64_t n = static_cast<std::int64_t>(r.ids.size());
  if (n <= budget) return r;
  PMC_CHECK(budget >= 2, "encode_prompt: a budget of ", budget, " tokens is too small for any prompt");
  const auto head_ids = tok.encode(head, bos);
  // the head's tokens as they appear at the start of the prompt (a merge across the boundary ends the match)
  std::int64_t keep = 0;
  while (keep < static_cast<std::int64_t>(head_ids.size()) && keep < n &&
         head_ids[static_cast<std::size_t>(keep)] == r.ids[static_cast<std::size_t>(keep)])
    ++keep;
  if (keep > budget / 2) keep = bos ? 1 : 0;
  std::vector<std::int32_t> ids(r.ids.begin(), r.ids.begin() + keep);
  ids.insert(ids.end(), r.ids.end() - (budget - keep), r.ids.end());
  r.dropped = n - budget;
  r.ids = std::move(ids);
  return r;
}

// ---------------------------------------------------------------------------------------------------------
// Benchmark evaluation

enum class Scorer { likelihood, generate };
/// Which likelihood picks the option: the summed log-probability (default; the option's probability) or
/// the mean per token (length-normalized, which favours neither short nor long options).
enum class ScoreChoice { sum, mean };
/// What is scored after the prompt: the option's text (" Ampicillin", the usual cloze scoring) or
/// PMC-LLaMA's answer sentence for its label ("###Answer: OPTION B IS CORRECT."), the form its tuned models emit.
enum class Continuation { option_text, pmc_answer };

inline std::string_view scorer_name(Scorer s) { return s == Scorer::likelihood ? "likelihood" : "generate"; }
inline std::string_view choice_name(ScoreChoice c) { return c == ScoreChoice::sum ? "sum" : "mean"; }
inline std::string_view continuation_name(Continuation c) {
  return c == Continuation::option_text ? "option_text" : "pmc_answer";
}

struct EvalOptions {
  Benchmark benchmark = Benchmark::mcq;
  std::string instruction;  // empty: default_instruction(benchmark)
  ScoreChoice choice = ScoreChoice::sum;
  Continuation continuation = Continuation::option_text;
  int option_batch = 8;      // continuations per batched forward
  int max_new_tokens = 32;   // generation
  bool bos = true;
  /// pmc_llama: PMC-LLaMA's prompt (above); lm_eval: the harness's task formats, continuations and metrics
  /// (lm_eval.hpp; likelihood only; `instruction`, `choice` and `continuation` do not apply).
  PromptFormat format = PromptFormat::pmc_llama;
  /// lm_eval format, recorded in the report: the shots each item carries (McqItem::lm_eval_fewshot, made by
  /// add_lm_eval_fewshot) and the seed they were drawn with.
  int num_fewshot = 0;
  std::uint64_t fewshot_seed = kLmEvalDefaultFewshotSeed;
  /// Called after each item with (items done, total).
  std::function<void(std::size_t, std::size_t)> on_item{};
};

struct ItemResult {
  std::string id, subject;
  int answer = -1, predicted = -1;  // predicted -1: generation gave no answer (unparsed)
  bool correct = false;
  std::int64_t prompt_tokens = 0, dropped_tokens = 0;
  std::vector<double> option_sum, option_mean;  // likelihood
  std::vector<int> option_tokens;               // likelihood
  std::string response;                         // generate
  AnswerRule rule = AnswerRule::unparsed;       // generate
  // lm_eval format: the harness's task, context, choices and gold; per option is_greedy; acc_norm's pick
  std::string task, lm_context;
  std::vector<std::string> choices;
  std::vector<bool> option_greedy;
  int predicted_norm = -1;
  bool correct_norm = false;
};

struct EvalReport {
  std::string benchmark, scorer, choice, continuation, instruction;
  std::string prompt_format = "pmc_llama";
  Tally overall;
  Tally overall_norm;  // lm_eval format: acc_norm (overall is acc)
  std::map<std::string, Tally> by_subject;
  std::int64_t truncated = 0;
  std::vector<std::string> skipped;  // loader skips and items the scorer could not score, with reasons
  std::vector<ItemResult> items;
  std::int64_t context = 0;  // the model's context in tokens (prompts longer than it lose their middle)
  double seconds = 0;
  int num_fewshot = 0;  // lm_eval format: shots per item, and their seed
  std::uint64_t fewshot_seed = kLmEvalDefaultFewshotSeed;
};

namespace detail {

inline void tally(EvalReport& r, const ItemResult& it) {
  for (Tally* t : {&r.overall, &r.by_subject[it.subject.empty() ? std::string("-") : it.subject]}) {
    ++t->n;
    t->correct += it.correct ? 1 : 0;
    t->unparsed += it.predicted < 0 ? 1 : 0;
  }
  r.truncated += it.dropped_tokens > 0 ? 1 : 0;
}

inline EvalReport start_report(const EvalOptions& o, Scorer s, const std::string& instruction, std::int64_t context) {
  EvalReport r;
  r.context = context;
  r.benchmark = std::string(benchmark_name(o.benchmark));
  r.scorer = std::string(scorer_name(s));
  if (s == Scorer::likelihood) {
    r.choice = std::string(choice_name(o.choice));
    r.continuation = std::string(continuation_name(o.continuation));
  }
  r.instruction = instruction;
  return r;
}

}  // namespace detail

/// The lm-evaluation-harness's multiple-choice scoring (lm_eval.hpp): per item the task's context, each
/// choice scored as target_delimiter + choice with the tokens of encode_pair, acc from the summed
/// log-likelihoods and acc_norm from them divided by the choice's length in characters. The context is run
/// once into a KV cache and the choices are batched from it (score_continuations). A context too long for
/// the model loses tokens from the left, as the harness's _loglikelihood_tokens cuts (context +
/// continuation)[-(max_length + 1):], per choice; such items count in `truncated`.
template <class M>
EvalReport evaluate_lm_eval(const M& model, const tokenizer::Tokenizer& tok, const std::vector<McqItem>& items,
                            const EvalOptions& opt = {}) {
  const llama::Config cfg = model.config();
  EvalReport report = detail::start_report(opt, Scorer::likelihood, std::string(), cfg.max_seq_len);
  report.prompt_format = std::string(prompt_format_name(PromptFormat::lm_eval));
  report.continuation = "target_delimiter + choice";
  report.num_fewshot = opt.num_fewshot;
  report.fewshot_seed = opt.fewshot_seed;
  const auto t0 = std::chrono::steady_clock::now();
  for (std::size_t k = 0; k < items.size(); ++k) {
    const McqItem& item = items[k];
    const LmEvalDoc doc = lm_eval_doc(opt.benchmark, item);
    ItemResult res{.id = item.id, .subject = item.subject, .answer = doc.gold};
    res.task = doc.task;
    res.lm_context = doc.context;
    res.choices = doc.choices;
    std::vector<std::int32_t> ctx;
    std::vector<std::vector<std::int32_t>> conts;
    std::string problem;
    for (const auto& choice : doc.choices) {
      auto pair = encode_pair(tok, doc.context, std::string(kLmEvalTargetDelimiter) + choice, opt.bos);
      if (pair.continuation.empty() || pair.context.empty()) problem = "a choice or the context has no tokens";
      if (static_cast<std::int64_t>(pair.continuation.size()) > cfg.max_seq_len)
        problem = "a choice is longer than the model's context";
      ctx = std::move(pair.context);  // the same for every choice: encode(context)
      res.option_tokens.push_back(static_cast<int>(pair.continuation.size()));
      conts.push_back(std::move(pair.continuation));
    }
    if (!problem.empty()) {
      report.skipped.push_back("item " + item.id + ": " + problem);
      if (opt.on_item) opt.on_item(k + 1, items.size());
      continue;
    }
    res.prompt_tokens = static_cast<std::int64_t>(ctx.size());
    // tokens dropped from the left of the context for each choice: (ctx + cont)[-(L + 1):][:-1]
    std::vector<std::int64_t> drop(conts.size());
    for (std::size_t i = 0; i < conts.size(); ++i)
      drop[i] = std::max<std::int64_t>(
          0, static_cast<std::int64_t>(ctx.size() + conts[i].size()) - (cfg.max_seq_len + 1));
    res.option_sum.assign(conts.size(), 0.0);
    res.option_mean.assign(conts.size(), 0.0);
    res.option_greedy.assign(conts.size(), false);
    std::vector<bool> done(conts.size(), false);
    for (std::size_t i = 0; i < conts.size(); ++i) {  // one batched call per distinct truncation (usually one)
      if (done[i]) continue;
      std::vector<std::size_t> group;
      std::vector<std::vector<std::int32_t>> batch;
      for (std::size_t j = i; j < conts.size(); ++j)
        if (!done[j] && drop[j] == drop[i]) group.push_back(j), batch.push_back(conts[j]), done[j] = true;
      const std::span<const std::int32_t> context(ctx.data() + drop[i], ctx.size() - static_cast<std::size_t>(drop[i]));
      const auto scores = score_continuations(model, context, batch, opt.option_batch);
      for (std::size_t g = 0; g < group.size(); ++g) {
        res.option_sum[group[g]] = scores[g].sum;
        res.option_mean[group[g]] = scores[g].mean;
        res.option_greedy[group[g]] = scores[g].greedy;
      }
      res.dropped_tokens = std::max(res.dropped_tokens, drop[i]);
    }
    const auto& ll = res.option_sum;
    res.predicted = static_cast<int>(std::max_element(ll.begin(), ll.end()) - ll.begin());
    std::vector<double> norm(ll.size());
    for (std::size_t i = 0; i < ll.size(); ++i) norm[i] = ll[i] / static_cast<double>(python_len(doc.choices[i]));
    res.predicted_norm = static_cast<int>(std::max_element(norm.begin(), norm.end()) - norm.begin());
    res.correct = res.predicted == doc.gold;
    res.correct_norm = res.predicted_norm == doc.gold;
    detail::tally(report, res);
    ++report.overall_norm.n;
    report.overall_norm.correct += res.correct_norm ? 1 : 0;
    report.items.push_back(std::move(res));
    if (opt.on_item) opt.on_item(k + 1, items.size());
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

/// Option-likelihood evaluation: each item's PMC-LLaMA prompt, then every option's continuation scored
/// with score_continuations; the option with the highest sum (or mean) log-probability is the answer
/// (the first on ties). Prompts longer than the model's context minus the longest continuation are
/// truncated in the middle (encode_prompt) and counted in `truncated`.
template <class M>
EvalReport evaluate_likelihood(const M& model, const tokenizer::Tokenizer& tok, const std::vector<McqItem>& items,
                               const EvalOptions& opt = {}) {
  if (opt.format == PromptFormat::lm_eval) return evaluate_lm_eval(model, tok, items, opt);
  const llama::Config cfg = model.config();
  const std::string instruction = opt.instruction.empty() ? default_instruction(opt.benchmark) : opt.instruction;
  const std::string head = prompt_head(instruction);
  EvalReport report = detail::start_report(opt, Scorer::likelihood, instruction, cfg.max_seq_len);
  const auto t0 = std::chrono::steady_clock::now();
  for (std::size_t k = 0; k < items.size(); ++k) {
    const McqItem& item = items[k];
    ItemResult res{.id = item.id, .subject = item.subject, .answer = item.answer};
    std::vector<std::vector<std::int32_t>> conts;
    std::size_t longest = 0;
    for (std::size_t i = 0; i < item.options.size(); ++i) {
      conts.push_back(tok.encode(opt.continuation == Continuation::option_text ? item.options[i] : pmc_answer(i)));
      longest = std::max(longest, conts.back().size());
      res.option_tokens.push_back(static_cast<int>(conts.back().size()));
    }
    const bool empty_option = std::any_of(conts.begin(), conts.end(), [](auto& c) { return c.empty(); });
    // the longest continuation needs all but its last token fed after the prompt
    const std::int64_t budget = cfg.max_seq_len - (static_cast<std::int64_t>(longest) - 1);
    if (empty_option || budget < cfg.max_seq_len / 2) {
      report.skipped.push_back("item " + item.id + ": " +
                               (empty_option ? std::string("an option has no tokens")
                                             : "an option of " + std::to_string(longest) +
                                                   " tokens leaves less than half the model's context for the prompt"));
    } else {
      const auto prompt = encode_prompt(tok, head, format_prompt(item, instruction), budget, opt.bos);
      res.prompt_tokens = static_cast<std::int64_t>(prompt.ids.size());
      res.dropped_tokens = prompt.dropped;
      const auto scores = score_continuations(model, prompt.ids, conts, opt.option_batch);
      for (const auto& s : scores) {
        res.option_sum.push_back(s.sum);
        res.option_mean.push_back(s.mean);
      }
      const auto& by = opt.choice == ScoreChoice::sum ? res.option_sum : res.option_mean;
      res.predicted = static_cast<int>(std::max_element(by.begin(), by.end()) - by.begin());
      res.correct = res.predicted == item.answer;
      detail::tally(report, res);
      report.items.push_back(std::move(res));
    }
    if (opt.on_item) opt.on_item(k + 1, items.size());
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

/// Generation evaluation as PMC-LLaMA's: the prompt, greedy decoding of at most max_new_tokens (stopping
/// at EOS or once "OPTION X IS CORRECT" has appeared), and extract_answer on the response. An unparsed
/// response counts as wrong and in `unparsed`. Prompts are truncated to leave room for the new tokens.
template <class M>
EvalReport evaluate_generate(const M& model, const tokenizer::Tokenizer& tok, const std::vector<McqItem>& items,
                             const EvalOptions& opt = {}) {
  PMC_CHECK(opt.format == PromptFormat::pmc_llama,
            "evaluate_generate: the lm_eval prompt format scores options by likelihood; use the likelihood scorer");
  const llama::Config cfg = model.config();
  PMC_CHECK(opt.max_new_tokens >= 1 && opt.max_new_tokens < cfg.max_seq_len / 2, "evaluate_generate: max_new_tokens ",
            opt.max_new_tokens, " must be in [1, ", cfg.max_seq_len / 2, ") for a context of ", cfg.max_seq_len);
  const std::string instruction = opt.instruction.empty() ? default_instruction(opt.benchmark) : opt.instruction;
  const std::string head = prompt_head(instruction);
  EvalReport report = detail::start_report(opt, Scorer::generate, instruction, cfg.max_seq_len);
  const auto t0 = std::chrono::steady_clock::now();
  for (std::size_t k = 0; k < items.size(); ++k) {
    const McqItem& item = items[k];
    ItemResult res{.id = item.id, .subject = item.subject, .answer = item.answer};
    const auto prompt =
        encode_prompt(tok, head, format_prompt(item, instruction), cfg.max_seq_len - opt.max_new_tokens, opt.bos);
    res.prompt_tokens = static_cast<std::int64_t>(prompt.ids.size());
    res.dropped_tokens = prompt.dropped;
    llama::GenerateOptions go;
    go.max_new_tokens = opt.max_new_tokens;
    go.stop_tokens = {tok.eos_id()};
    go.stop_when = [&](std::span<const std::int32_t> ids) {
      // PMC-LLaMA's scorer reads only the first "OPTION X IS CORRECT": nothing after it can change the answer
      return extract_answer(tok.decode(ids), item.options).rule == AnswerRule::option_is_correct;
    };
    const auto out = llama::generate(model, std::span<const std::int32_t>(prompt.ids), go);
    res.response = tok.decode(out);
    const auto ans = extract_answer(res.response, item.options);
    res.rule = ans.rule;
    res.predicted = ans.parsed() ? ans.index : -1;
    res.correct = ans.parsed() && ans.index == item.answer;
    detail::tally(report, res);
    report.items.push_back(std::move(res));
    if (opt.on_item) opt.on_item(k + 1, items.size());
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

// ---------------------------------------------------------------------------------------------------------
// Output

inline nlohmann::json tally_json(const Tally& t) {
  const auto ci = t.interval();
  return {{"n", t.n}, {"correct", t.correct}, {"accuracy", t.accuracy()}, {"ci95", {ci.low, ci.high}},
          {"unparsed", t.unparsed}};
}

/// The report as JSON: the totals, "by_subject", "skipped" and, when `with_items`, every item's result.
inline nlohmann::json to_json(const EvalReport& r, bool with_items = true) {
  nlohmann::json j = tally_json(r.overall);
  j["benchmark"] = r.benchmark;
  j["scorer"] = r.scorer;
  if (!r.choice.empty()) j["choice"] = r.choice;
  if (!r.continuation.empty()) j["continuation"] = r.continuation;
  j["instruction"] = r.instruction;
  j["ci_method"] = "wilson, 95%";
  j["truncated"] = r.truncated;
  j["context_tokens"] = r.context;
  j["seconds"] = r.seconds;
  j["by_subject"] = nlohmann::json::object();
  for (const auto& [s, t] : r.by_subject) j["by_subject"][s] = tally_json(t);
  j["skipped"] = r.skipped;
  if (with_items) {
    auto& items = j["items"] = nlohmann::json::array();
    for (const auto& it : r.items) {
      nlohmann::json e{{"id", it.id},          {"subject", it.subject},           {"answer", it.answer},
                       {"predicted", it.predicted}, {"correct", it.correct}, {"prompt_tokens", it.prompt_tokens},
                       {"dropped_tokens", it.dropped_tokens}};
      if (!it.option_sum.empty()) {
        e["option_logprob_sum"] = it.option_sum;
        e["option_logprob_mean"] = it.option_mean;
        e["option_tokens"] = it.option_tokens;
      }
      if (r.scorer == "generate") {
        e["response"] = it.response;
        e["rule"] = std::string(answer_rule_name(it.rule));
      }
      items.push_back(std::move(e));
    }
  }
  return j;
}

/// A plain-text table: one row per subject (when there is more than one) and the total.
inline std::string format_table(const EvalReport& r) {
  std::string s;
  char buf[256];
  auto row = [&](const std::string& name, const Tally& t) {
    const auto ci = t.interval();
    std::snprintf(buf, sizeof buf, "%-28.28s %7lld %7lld %8.2f%%  [%6.2f%%, %6.2f%%] %8lld\n", name.c_str(),
                  static_cast<long long>(t.n), static_cast<long long>(t.correct), 100 * t.accuracy(), 100 * ci.low,
                  100 * ci.high, static_cast<long long>(t.unparsed));
    s += buf;
  };
  std::snprintf(buf, sizeof buf, "%s, scorer %s%s%s\n", r.benchmark.c_str(), r.scorer.c_str(),
                r.choice.empty() ? "" : (", choice by " + r.choice + " log-prob").c_str(),
                r.continuation.empty() ? "" : (", continuation " + r.continuation).c_str());
  s += buf;
  std::snprintf(buf, sizeof buf, "%-28s %7s %7s %9s  %-18s %8s\n", "subject", "n", "correct", "accuracy",
                "95% CI (Wilson)", "unparsed");
  s += buf;
  if (r.by_subject.size() > 1)
    for (const auto& [name, t] : r.by_subject) row(name, t);
  row("total", r.overall);
  std::snprintf(buf, sizeof buf, "skipped %zu, truncated prompts %lld, %.1f s\n", r.skipped.size(),
                static_cast<long long>(r.truncated), r.seconds);
  s += buf;
  return s;
}

// ---------------------------------------------------------------------------------------------------------
// lm-evaluation-harness output

/// acc and acc_norm of one harness task with the harness's standard errors.
struct LmEvalTaskResult {
  std::string task;
  std::int64_t n = 0, acc_correct = 0, acc_norm_correct = 0;
  double acc() const { return n ? static_cast<double>(acc_correct) / static_cast<double>(n) : 0.0; }
  double acc_norm() const { return n ? static_cast<double>(acc_norm_correct) / static_cast<double>(n) : 0.0; }
  double acc_stderr() const { return harness_stderr(acc_correct, n); }
  double acc_norm_stderr() const { return harness_stderr(acc_norm_correct, n); }
};

/// The report's items grouped by harness task (MMLU: one task per subject), in order of first appearance.
inline std::vector<LmEvalTaskResult> lm_eval_task_results(const EvalReport& r) {
  std::vector<LmEvalTaskResult> out;
  for (const auto& it : r.items) {
    auto t = std::find_if(out.begin(), out.end(), [&](const auto& x) { return x.task == it.task; });
    if (t == out.end()) t = out.insert(out.end(), LmEvalTaskResult{.task = it.task});
    ++t->n;
    t->acc_correct += it.correct ? 1 : 0;
    t->acc_norm_correct += it.correct_norm ? 1 : 0;
  }
  return out;
}

/// A report of the lm_eval prompt format laid out like the harness's results file: "results" (per task
/// "acc,none", "acc_stderr,none", "acc_norm,none", "acc_norm_stderr,none"), "configs", "versions",
/// "n-shot", "higher_is_better", "n-samples" and, when `with_samples`, "samples" per task as the harness
/// logs them (doc_id, target as doc_to_target gives it, arguments, resps/filtered_resps = [log-likelihood,
/// is_greedy], acc, acc_norm; doc holds only pmc's item id).
inline nlohmann::ordered_json to_lm_eval_json(const EvalReport& r, Benchmark b, bool with_samples = true) {
  using oj = nlohmann::ordered_json;
  oj j;
  const auto tasks = lm_eval_task_results(r);
  // built apart and attached at the end: ordered_json keeps its members in a vector, so a reference into j
  // would dangle once a later key is added
  oj results = oj::object(), configs = oj::object(), versions = oj::object(), nshot = oj::object();
  oj hib = oj::object(), nsamples = oj::object(), samples = oj::object();
  for (const auto& t : tasks) {
    const std::string alias = b == Benchmark::mmlu && t.task.starts_with("mmlu_") ? t.task.substr(5) : t.task;
    results[t.task] = {{"alias", alias},
                       {"acc,none", t.acc()},
                       {"acc_stderr,none", t.acc_stderr()},
                       {"acc_norm,none", t.acc_norm()},
                       {"acc_norm_stderr,none", t.acc_norm_stderr()}};
  }
  for (const auto& t : tasks) {
    const auto first = std::find_if(r.items.begin(), r.items.end(), [&](const auto& it) { return it.task == t.task; });
    oj metrics = oj::array();
    for (const auto& m : lm_eval_stock_metrics(b)) metrics.push_back({{"metric", m}, {"aggregation", "mean"}, {"higher_is_better", true}});
    std::string description;
    if (b == Benchmark::mmlu) {
      std::string subject = t.task.substr(5);
      for (auto& c : subject)
        if (c == '_') c = ' ';
      description = "The following are multiple choice questions (with answers) about " + subject + ".\n\n";
    }
    configs[t.task] = {{"task", t.task},
                       {"output_type", "multiple_choice"},
                       {"description", description},
                       {"doc_to_choice", first->choices},
                       {"target_delimiter", std::string(kLmEvalTargetDelimiter)},
                       {"fewshot_delimiter", "\n\n"},
                       {"num_fewshot", r.num_fewshot},
                       {"fewshot_config", {{"sampler", std::string(lm_eval_fewshot_sampler(b))},
                                           {"split", std::string(lm_eval_fewshot_split(b))}}},
                       {"metric_list", metrics},
                       {"metadata", {{"version", lm_eval_task_version(b)}, {"produced_by", "pmc eval --prompt-format lm_eval"}}}};
    versions[t.task] = lm_eval_task_version(b) == "Yaml" ? oj("Yaml") : oj(1.0);
    nshot[t.task] = r.num_fewshot;
    hib[t.task] = {{"acc", true}, {"acc_norm", true}};
    nsamples[t.task] = {{"original", t.n}, {"effective", t.n}};
  }
  if (with_samples) {
    std::map<std::string, std::int64_t> doc_ids;
    for (const auto& it : r.items) {
      oj args = oj::array(), resps = oj::array(), filtered = oj::array();
      for (std::size_t i = 0; i < it.choices.size(); ++i) {
        args.push_back(oj::array({it.lm_context, std::string(kLmEvalTargetDelimiter) + it.choices[i]}));
        resps.push_back(oj::array({oj::array({it.option_sum[i], static_cast<bool>(it.option_greedy[i])})}));
        filtered.push_back(oj::array({it.option_sum[i], static_cast<bool>(it.option_greedy[i])}));
      }
      samples[it.task].push_back({{"doc_id", doc_ids[it.task]++},
                                  {"doc", {{"id", it.id}}},
                                  {"target", b == Benchmark::pubmedqa  // doc_to_target: final_decision
                                                 ? oj(it.choices[static_cast<std::size_t>(it.answer)])
                                                 : oj(it.answer)},
                                  {"arguments", args},
                                  {"resps", resps},
                                  {"filtered_resps", filtered},
                                  {"filter", "none"},
                                  {"metrics", oj::array({"acc", "acc_norm"})},
                                  {"acc", it.correct ? 1.0 : 0.0},
                                  {"acc_norm", it.correct_norm ? 1.0 : 0.0},
                                  {"truncated_tokens", it.dropped_tokens}});
    }
  }
  j["results"] = std::move(results);
  j["configs"] = std::move(configs);
  j["versions"] = std::move(versions);
  j["n-shot"] = std::move(nshot);
  j["higher_is_better"] = std::move(hib);
  j["n-samples"] = std::move(nsamples);
  if (with_samples) j["samples"] = std::move(samples);
  return j;
}

/// The harness's results table (make_table): one row per task and metric.
inline std::string format_lm_eval_table(const EvalReport& r, Benchmark b) {
  std::string s;
  char buf[256];
  std::snprintf(buf, sizeof buf, "|%-28s|Version|Filter|n-shot| Metric |   | Value |   |Stderr|\n", "Tasks");
  s += buf;
  s += "|----------------------------|-------|------|-----:|--------|---|------:|---|-----:|\n";
  for (const auto& t : lm_eval_task_results(r)) {
    const std::string v = lm_eval_task_version(b);
    std::snprintf(buf, sizeof buf, "|%-28.28s|%7s|none  |%6d|acc     |↑  |%7.4f|±  |%6.4f|\n", t.task.c_str(), v.c_str(),
                  r.num_fewshot, t.acc(), t.acc_stderr());
    s += buf;
    std::snprintf(buf, sizeof buf, "|%-28s|%7s|none  |%6d|acc_norm|↑  |%7.4f|±  |%6.4f|\n", "", "", r.num_fewshot,
                  t.acc_norm(), t.acc_norm_stderr());
    s += buf;
  }
  std::snprintf(buf, sizeof buf, "%lld items, skipped %zu, truncated contexts %lld, %.1f s\n",
                static_cast<long long>(r.overall.n), r.skipped.size(), static_cast<long long>(r.truncated), r.seconds);
  s += buf;
  return s;
}

}  // namespace pmc::eval

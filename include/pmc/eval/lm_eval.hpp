// SPDX-License-Identifier: MIT
// EleutherAI lm-evaluation-harness (0.4.13) task formats, so that `pmc eval --prompt-format lm_eval` gives
// numbers comparable with the harness's medqa_4options, medmcqa, pubmedqa and mmlu_<subject> tasks:
//
//   context      = description + doc_to_text(doc)          (zero-shot Task.fewshot_context)
//   continuation = target_delimiter " " + doc_to_choice[i]  (Task.construct_requests, multiple_choice)
//   tokens       = HFLM._encode_pair: trailing whitespace of the context moves to the continuation;
//                  whole = encode(context + continuation), context_enc = encode(context),
//                  continuation_enc = whole[len(context_enc):]; encode adds BOS as the tokenizer does by
//                  default (add_bos_token None; a LLaMA tokenizer adds it), so pmc's `bos` mirrors it.
//   acc          = [argmax_i loglik_i == gold];  acc_norm = [argmax_i loglik_i / len(choice_i) == gold],
//                  len in characters (Python's len of the choice, without the delimiter), as
//                  ConfigurableTask.process_results computes it; ties go to the first (np.argmax).
//
// The doc_to_text of each task (lm_eval/tasks/...):
//   medqa_4options (medqa/preprocess_medqa.py):  "Question: {q}\nA. {a}\nB. {b}\nC. {c}\nD. {d}\nAnswer:"
//   medmcqa (medmcqa/utils_medmcqa.py):           "Question: {q}\nChoices:\nA. {a}\nB. {b}\nC. {c}\nD. {d}\nAnswer:"
//   pubmedqa (pubmedqa/preprocess_pubmedqa.py):   "Abstract: {CONTEXTS joined by \n}\nQuestion: {q}\nAnswer:"
//   mmlu_<s> (mmlu/default/_default_template_yaml): description "The following are multiple choice questions
//       (with answers) about {s with _ as spaces}.\n\n" + "{q.strip()}\nA. {a}\nB. {b}\nC. {c}\nD. {d}\nAnswer:"
// with choices A..D (yes/no/maybe for pubmedqa) and the gold index (MedMCQA's cop 1..4 is the dataset's 0..3).
//
// k-shot (ConfigurableTask.fewshot_context with num_fewshot = k, build_qa_turn, api/samplers.py):
//   context = description + sum over the k examples of (doc_to_text(ex) + target_delimiter + the example's
//             gold choice + fewshot_delimiter "\n\n") + doc_to_text(doc)
//   examples: MMLU's fewshot_config sampler first_n takes the first k docs of its few-shot split (dev);
//             the other tasks' default ContextSampler draws rnd.sample(fewshot_docs, k) per doc, with one
//             random.Random(fewshot_random_seed) per task (simple_evaluate's set_fewshot_seed, default
//             1234) shared by the task's docs in order, so doc i's examples depend on the i draws before it.
//             Their few-shot docs are the training split (no fewshot_split: Task.fewshot_docs takes train).
//             When the few-shot split is the test split, the sampler gets eval_doc: default samples k + 1
//             and drops the doc itself ([x for x in sample if x != doc][:k]); first_n drops it, then takes
//             the first k.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <pmc/core/error.hpp>
#include <pmc/eval/benchmarks.hpp>
#include <pmc/eval/python_random.hpp>
#include <pmc/tokenizer/tokenizer.hpp>

namespace pmc::eval {

/// How items become prompts and continuations: PMC-LLaMA's instruction prompt (pmc's default), or the
/// harness's task formats (lm_eval).
enum class PromptFormat { pmc_llama, lm_eval };

inline std::string_view prompt_format_name(PromptFormat f) { return f == PromptFormat::lm_eval ? "lm_eval" : "pmc_llama"; }

inline PromptFormat parse_prompt_format(std::string_view s) {
  if (s == "pmc_llama") return PromptFormat::pmc_llama;
  if (s == "lm_eval") return PromptFormat::lm_eval;
  fail("unknown prompt format '", s, "'; expected pmc_llama or lm_eval");
}

/// One item as the harness sees it.
struct LmEvalDoc {
  std::string task;                  // medqa_4options, medmcqa, pubmedqa, mmlu_<subject>
  std::string description;           // prepended to the context (MMLU's "The following are ...\n\n")
  std::string context;               // description + doc_to_text
  std::vector<std::string> choices;  // doc_to_choice
  int gold = -1;
};

inline constexpr std::string_view kLmEvalTargetDelimiter = " ";
inline constexpr std::string_view kLmEvalFewshotDelimiter = "\n\n";
/// simple_evaluate's fewshot_random_seed default (lm_eval/defaults.py DEFAULT_OTHER_SEED).
inline constexpr std::uint64_t kLmEvalDefaultFewshotSeed = 1234;

namespace detail {

/// Whether the UTF-8 sequence at s[i..] is a character Python's str.isspace() accepts; its length, else 0.
inline std::size_t python_space_at(std::string_view s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f)) return 1;
  auto cp_at = [&](std::size_t n) -> std::uint32_t {
    if (i + n > s.size()) return 0;
    std::uint32_t cp = n == 2 ? (c & 0x1fu) : (c & 0x0fu);
    for (std::size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3fu);
    return cp;
  };
  if ((c & 0xe0) == 0xc0) {
    const auto cp = cp_at(2);
    return cp == 0x85 || cp == 0xa0 ? 2 : 0;
  }
  if ((c & 0xf0) == 0xe0) {
    const auto cp = cp_at(3);
    const bool space = cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f ||
                       cp == 0x205f || cp == 0x3000;
    return space ? 3 : 0;
  }
  return 0;
}

/// The byte length of the whitespace ending s (Python's notion of whitespace).
inline std::size_t python_trailing_space(std::string_view s) {
  std::size_t end = s.size();
  while (end > 0) {
    std::size_t start = end - 1;  // the start of the last character
    while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xc0) == 0x80) --start;
    if (python_space_at(s, start) != end - start) break;
    end = start;
  }
  return s.size() - end;
}

}  // namespace detail

/// Python's str.strip(): leading and trailing whitespace (ASCII and Unicode spaces) removed.
inline std::string python_strip(std::string_view s) {
  std::size_t b = 0;
  while (b < s.size()) {
    const std::size_t n = detail::python_space_at(s, b);
    if (n == 0) break;
    b += n;
  }
  s.remove_prefix(b);
  s.remove_suffix(detail::python_trailing_space(s));
  return std::string(s);
}

/// Python's len() of a UTF-8 string: its code points.
inline std::int64_t python_len(std::string_view s) {
  std::int64_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xc0) != 0x80;
  return n;
}

/// The harness task an item belongs to.
inline std::string lm_eval_task_name(Benchmark b, const McqItem& item) {
  switch (b) {
    case Benchmark::medqa: return "medqa_4options";
    case Benchmark::medmcqa: return "medmcqa";
    case Benchmark::pubmedqa: return "pubmedqa";
    case Benchmark::mmlu: return "mmlu_" + item.subject;
    case Benchmark::mcq: break;
  }
  fail("--prompt-format lm_eval: the harness has no task for a generic mcq file (use medqa, medmcqa, pubmedqa or mmlu)");
}

/// The harness's version of a task ("Yaml" where its YAML carries no metadata version).
inline std::string lm_eval_task_version(Benchmark b) {
  return b == Benchmark::medqa || b == Benchmark::medmcqa ? "Yaml" : "1.0";
}

/// The metrics of the task's stock metric_list (pmc reports acc_norm for every task; the harness's
/// pubmedqa and MMLU configs list only acc).
inline std::vector<std::string> lm_eval_stock_metrics(Benchmark b) {
  if (b == Benchmark::medqa || b == Benchmark::medmcqa) return {"acc", "acc_norm"};
  return {"acc"};
}

/// The item as the harness's task formats it (zero-shot).
inline LmEvalDoc lm_eval_doc(Benchmark b, const McqItem& item) {
  LmEvalDoc d;
  d.task = lm_eval_task_name(b, item);
  d.gold = item.answer;
  auto letters = [&](std::string& s) {
    PMC_CHECK(item.options.size() == 4, d.task, ": item ", item.id, " has ", item.options.size(),
              " options; the harness's task has exactly 4 (A-D)");
    for (std::size_t i = 0; i < 4; ++i) {
      s += option_label(i);
      s += ". ";
      s += item.options[i];
      s += '\n';
    }
    d.choices = {"A", "B", "C", "D"};
  };
  std::string t;
  switch (b) {
    case Benchmark::medqa:
      t = "Question: " + item.question + "\n";
      letters(t);
      t += "Answer:";
      break;
    case Benchmark::medmcqa:
      t = "Question: " + item.question + "\nChoices:\n";
      letters(t);
      t += "Answer:";
      break;
    case Benchmark::pubmedqa: {
      t = "Abstract: ";
      if (item.passages.empty()) {
        t += item.context;
      } else {
        for (std::size_t i = 0; i < item.passages.size(); ++i) {
          if (i) t += '\n';
          t += item.passages[i];
        }
      }
      t += "\nQuestion: " + item.question + "\nAnswer:";
      d.choices = pubmedqa_options();
      break;
    }
    case Benchmark::mmlu: {
      std::string subject = item.subject;
      for (auto& c : subject)
        if (c == '_') c = ' ';
      d.description = "The following are multiple choice questions (with answers) about " + subject + ".\n\n";
      t = python_strip(item.question) + "\n";
      letters(t);
      t += "Answer:";
      break;
    }
    case Benchmark::mcq: break;
  }
  d.context = d.description + item.lm_eval_fewshot + t;
  return d;
}

/// The harness's few-shot sampler of the task: MMLU's fewshot_config says first_n; the others use the
/// default ContextSampler (seeded random.sample).
inline std::string_view lm_eval_fewshot_sampler(Benchmark b) { return b == Benchmark::mmlu ? "first_n" : "default"; }

/// Where the harness takes the task's few-shot examples from: MMLU's fewshot_split (dev); the others have
/// none, so Task.fewshot_docs takes the training split (train).
inline std::string_view lm_eval_fewshot_split(Benchmark b) { return b == Benchmark::mmlu ? "dev" : "train"; }

/// One solved example as build_qa_turn renders it: doc_to_text + target_delimiter + the gold choice +
/// fewshot_delimiter (pubmedqa's doc_to_target is the decision string itself, the others' an index into
/// doc_to_choice: the same text).
inline std::string lm_eval_fewshot_example(Benchmark b, const McqItem& item) {
  McqItem bare = item;
  bare.lm_eval_fewshot.clear();
  const LmEvalDoc d = lm_eval_doc(b, bare);
  PMC_CHECK(d.gold >= 0 && static_cast<std::size_t>(d.gold) < d.choices.size(), d.task, ": few-shot item ", item.id,
            " has no gold choice");
  std::string s = d.context.substr(d.description.size());
  s += kLmEvalTargetDelimiter;
  s += d.choices[static_cast<std::size_t>(d.gold)];
  s += kLmEvalFewshotDelimiter;
  return s;
}

/// k-shot examples as the harness picks them: for every item of `items`, the indices into `pool` of its k
/// examples, in context order. `items` must be the task docs in the harness's order (the whole evaluated
/// split in file order, before any subset: with the default sampler, doc i's examples come from the
/// generator's state after the draws of docs 0..i-1). Per task (MMLU: per subject, its pool the pool's
/// items of that subject) a fresh PythonRandom(seed), shared by the task's items in order:
///   first_n (MMLU):  the first k of the pool (without the item itself when `same_split`);
///   default:         indices rnd.sample(len(pool), k) — or, when `same_split` (the few-shot docs are the
///                    test docs: the harness's fewshot_split == test_split), rnd.sample(len(pool), k + 1)
///                    without the item itself (matched by id and question), the first k of them.
inline std::vector<std::vector<std::size_t>> lm_eval_fewshot_indices(Benchmark b, const std::vector<McqItem>& items,
                                                                     const std::vector<McqItem>& pool, int k,
                                                                     std::uint64_t seed, bool same_split) {
  PMC_CHECK(k >= 0, "--num-fewshot must be non-negative, got ", k);
  std::vector<std::vector<std::size_t>> out(items.size());
  if (k == 0) return out;
  const auto n = static_cast<std::size_t>(k);
  const bool first_n = b == Benchmark::mmlu;
  std::vector<std::string> task_of_pool;
  for (const auto& p : pool) task_of_pool.push_back(lm_eval_task_name(b, p));
  struct TaskState {
    std::vector<std::size_t> pool;  // indices into `pool`
    PythonRandom rnd;
  };
  std::vector<std::pair<std::string, TaskState>> tasks;  // in order of first appearance
  auto state_of = [&](const std::string& task) -> TaskState& {
    for (auto& [name, st] : tasks)
      if (name == task) return st;
    TaskState st{.pool = {}, .rnd = PythonRandom(seed)};
    for (std::size_t i = 0; i < pool.size(); ++i)
      if (task_of_pool[i] == task) st.pool.push_back(i);
    PMC_CHECK(!st.pool.empty(), task, ": no few-shot items", b == Benchmark::mmlu ? " of this subject" : "",
              " (--fewshot-data)");
    return tasks.emplace_back(task, std::move(st)).second;
  };
  for (std::size_t i = 0; i < items.size(); ++i) {
    const McqItem& item = items[i];
    const std::string task = lm_eval_task_name(b, item);
    TaskState& st = state_of(task);
    auto is_self = [&](std::size_t p) {
      return same_split && pool[p].id == item.id && pool[p].question == item.question;
    };
    auto& chosen = out[i];
    if (first_n) {
      for (std::size_t p : st.pool)
        if (chosen.size() < n && !is_self(p)) chosen.push_back(p);
      PMC_CHECK(chosen.size() == n, task, ": ", n, " few-shot examples requested, but the few-shot split has only ",
                chosen.size(), same_split ? " besides the item" : "");
    } else {
      const std::size_t draw = same_split ? n + 1 : n;
      PMC_CHECK(draw <= st.pool.size(), task, ": ", n, " few-shot examples requested",
                same_split ? " (drawn as k + 1 from the test split)" : "", ", but the few-shot split has only ",
                st.pool.size(), " items (Python's random.sample refuses)");
      for (std::size_t j : st.rnd.sample(st.pool.size(), draw))
        if (chosen.size() < n && !is_self(st.pool[j])) chosen.push_back(st.pool[j]);
      PMC_CHECK(chosen.size() == n, task, ": few-shot sampling gave ", chosen.size(), " examples, not ", n);
    }
  }
  return out;
}

/// k-shot as the harness builds it: sets `lm_eval_fewshot` of every item to its k examples
/// (lm_eval_fewshot_indices, each rendered by lm_eval_fewshot_example). The pool is read before any item
/// is changed, so `pool` may be a copy of `items`.
inline void add_lm_eval_fewshot(Benchmark b, std::vector<McqItem>& items, const std::vector<McqItem>& pool, int k,
                                std::uint64_t seed, bool same_split) {
  const auto chosen = lm_eval_fewshot_indices(b, items, pool, k, seed, same_split);
  std::vector<std::string> examples(pool.size());
  std::vector<bool> made(pool.size(), false);
  for (std::size_t i = 0; i < items.size(); ++i) {
    std::string block;
    for (std::size_t p : chosen[i]) {
      if (!made[p]) examples[p] = lm_eval_fewshot_example(b, pool[p]), made[p] = true;
      block += examples[p];
    }
    items[i].lm_eval_fewshot = std::move(block);
  }
}

/// (context tokens, continuation tokens) as the harness's HFLM._encode_pair makes them.
struct EncodedPair {
  std::vector<std::int32_t> context, continuation;
};

inline EncodedPair encode_pair(const tokenizer::Tokenizer& tok, std::string_view context, std::string_view continuation,
                               bool bos = true) {
  PMC_CHECK(!context.empty(), "encode_pair: empty context");
  const std::size_t n_spaces = detail::python_trailing_space(context);
  std::string cont(context.substr(context.size() - n_spaces));
  cont += continuation;
  context.remove_suffix(n_spaces);
  std::string whole(context);
  whole += cont;
  EncodedPair p;
  const auto whole_enc = tok.encode(whole, bos);
  p.context = tok.encode(context, bos);
  if (p.context.size() < whole_enc.size())
    p.continuation.assign(whole_enc.begin() + static_cast<std::ptrdiff_t>(p.context.size()), whole_enc.end());
  return p;
}

}  // namespace pmc::eval

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
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <pmc/core/error.hpp>
#include <pmc/eval/benchmarks.hpp>
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
  d.context = d.description + t;
  return d;
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

// SPDX-License-Identifier: MIT
// PMC-LLaMA's prompt for multiple-choice items (Alpaca-style template, `###Question:`/`###Options:` input,
// per-benchmark instructions) and the extraction of the chosen option from a generated answer.
#pragma once

#include <algorithm>
#include <cctype>
#include <regex>
#include <string>
#include <string_view>

#include <pmc/eval/benchmarks.hpp>

namespace pmc::eval {

/// PMC-LLaMA's template for an instruction with an input (its instruction tuning and evaluation use it).
inline constexpr std::string_view kPmcPromptPrefix =
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n### Instruction:\n";

/// The template filled in: prefix, instruction, "\n\n### Input:\n", input, "\n\n### Response:".
inline std::string format_pmc_prompt(std::string_view instruction, std::string_view input) {
  std::string s(kPmcPromptPrefix);
  s += instruction;
  s += "\n\n### Input:\n";
  s += input;
  s += "\n\n### Response:";
  return s;
}

/// The instruction PMC-LLaMA's instruction data (MedC-I) pairs with each benchmark. MMLU and generic MCQ
/// files use MedQA's, the plain "answer with the best option" one.
inline std::string default_instruction(Benchmark b) {
  switch (b) {
    case Benchmark::medmcqa:
      return "Given your background as a doctor, please provide your insight in addressing the medical questions "
             "based on the patient's account. Analyze the question and answer with the best option.";
    case Benchmark::pubmedqa:
      return "Your role as a doctor requires you to answer the medical questions taking into account the patient's "
             "description. Analyze the question given its context. Give both long answer and yes/no decision.";
    case Benchmark::medqa:
    case Benchmark::mmlu:
    case Benchmark::mcq: break;
  }
  return "You're a doctor, kindly address the medical queries according to the patient's account. Answer with the "
         "best option directly.";
}

/// The input of an item: "###Question: q\n###Options:\nA. x\nB. y". A context (PubMedQA's abstract) comes
/// first as "###Context: ...\n", so that the options stay at the end, next to the response.
inline std::string format_mcq_input(const McqItem& item) {
  std::string s;
  if (!item.context.empty()) s += "###Context: " + item.context + "\n";
  s += "###Question: " + item.question + "\n###Options:";
  for (std::size_t i = 0; i < item.options.size(); ++i) {
    s += '\n';  // appended piece by piece: g++ 12 warns (-Wrestrict, a false positive) on "\n" + std::string&&
    s += option_label(i);
    s += ". ";
    s += item.options[i];
  }
  return s;
}

/// The full prompt of an item; the response (and any scored continuation) follows "### Response:".
inline std::string format_prompt(const McqItem& item, std::string_view instruction) {
  return format_pmc_prompt(instruction, format_mcq_input(item));
}

/// The part of every prompt before the item's input: kept whole when a long prompt is truncated.
inline std::string prompt_head(std::string_view instruction) {
  std::string s(kPmcPromptPrefix);
  s += instruction;
  s += "\n\n### Input:\n";
  return s;
}

/// PMC-LLaMA's answer format, the continuation its tuned models produce: "###Answer: OPTION B IS CORRECT."
inline std::string pmc_answer(std::size_t option) { return "###Answer: OPTION " + option_label(option) + " IS CORRECT."; }

/// How an answer was read from generated text.
enum class AnswerRule { option_is_correct, answer_is, leading_letter, option_word, unparsed };

inline std::string_view answer_rule_name(AnswerRule r) {
  switch (r) {
    case AnswerRule::option_is_correct: return "option_is_correct";
    case AnswerRule::answer_is: return "answer_is";
    case AnswerRule::leading_letter: return "leading_letter";
    case AnswerRule::option_word: return "option_word";
    case AnswerRule::unparsed: return "unparsed";
  }
  return "?";
}

struct ExtractedAnswer {
  int index = -1;  // option index; may be ≥ the option count when the text names a letter beyond them (wrong)
  AnswerRule rule = AnswerRule::unparsed;
  bool parsed() const { return rule != AnswerRule::unparsed; }
};

/// The option a generated response chooses, by the first rule that matches:
///   1. PMC-LLaMA's scorer: the first match of (?i)OPTION [A-E] IS CORRECT;
///   2. "answer is X", "answer: X", "###Answer: X" (case-insensitive words, capital letter A-E);
///   3. a lone capital letter A-E at the start ("B", "B.", "(B)", "B) ...");
///   4. when options are single words (PubMedQA's yes/no/maybe): the earliest of them in the text, whole-word.
/// Otherwise unparsed, which scorers count separately (and as wrong).
inline ExtractedAnswer extract_answer(std::string_view response, const std::vector<std::string>& options) {
  const std::string text(response);
  std::smatch m;
  static const std::regex option_is(R"(OPTION\s+([A-E])\s+IS\s+CORRECT)", std::regex::icase);
  if (std::regex_search(text, m, option_is))
    return {std::toupper(static_cast<unsigned char>(m[1].str()[0])) - 'A', AnswerRule::option_is_correct};
  static const std::regex answer_is(R"([Aa][Nn][Ss][Ww][Ee][Rr]\s*(?:[Ii][Ss]|:)\s*(?:[Oo][Pp][Tt][Ii][Oo][Nn]\s*)?\(?([A-E])\b)");
  if (std::regex_search(text, m, answer_is)) return {m[1].str()[0] - 'A', AnswerRule::answer_is};
  static const std::regex leading(R"(^\s*\(?([A-E])(?:[.):]|\s|$))");
  if (std::regex_search(text, m, leading)) return {m[1].str()[0] - 'A', AnswerRule::leading_letter};
  // word options: the earliest whole-word, case-insensitive occurrence of any of them
  std::string lower(text);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto is_word_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  std::size_t best = std::string::npos;
  int best_i = -1;
  for (std::size_t i = 0; i < options.size(); ++i) {
    std::string w = options[i];
    for (auto& c : w) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (w.empty() || !std::all_of(w.begin(), w.end(), is_word_char)) continue;  // only one-word options
    for (std::size_t at = lower.find(w); at != std::string::npos; at = lower.find(w, at + 1)) {
      const bool left = at == 0 || !is_word_char(lower[at - 1]);
      const bool right = at + w.size() >= lower.size() || !is_word_char(lower[at + w.size()]);
      if (left && right) {
        if (at < best) best = at, best_i = static_cast<int>(i);
        break;
      }
    }
  }
  if (best_i >= 0) return {best_i, AnswerRule::option_word};
  return {};
}

}  // namespace pmc::eval

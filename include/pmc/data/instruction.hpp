// SPDX-License-Identifier: MIT
// Instruction-tuning data: Alpaca / PMC-LLaMA records {instruction, input, output, source} and chat records
// (a list of user/assistant turns), tokenized with PMC-LLaMA's prompt so that only responses are trained on.
#pragma once

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <pmc/core/error.hpp>
#include <pmc/data/chat_format.hpp>
#include <pmc/eval/prompt.hpp>
#include <pmc/io/jsonl.hpp>
#include <pmc/tokenizer/tokenizer.hpp>

namespace pmc::data {

struct ChatTurn {
  bool assistant = false;
  std::string text;
};

/// One training example: either an instruction (instruction, input, output) or a chat (turns).
struct InstructionRecord {
  std::string instruction, input, output, source;
  std::vector<ChatTurn> turns;
  std::string where;  // "file:line", for messages
};

/// Reads a JSONL file of records. Accepted: {"instruction", "input"?, "output", "source"?} and
/// {"conversations" | "messages": [{"from"|"role": "human"|"user"|"gpt"|"assistant", "value"|"content": text}]}.
/// A malformed line or a record of neither shape is an error naming the file and line.
inline std::vector<InstructionRecord> read_instruction_jsonl(const std::filesystem::path& path) {
  std::vector<InstructionRecord> out;
  io::for_each_jsonl(path, [&](const nlohmann::json& j, std::size_t n) {
    const std::string where = path.string() + ":" + std::to_string(n);
    InstructionRecord r;
    r.where = where;
    auto text = [&](const char* key, bool required) -> std::string {
      if (!j.contains(key) || j[key].is_null()) {
        PMC_CHECK(!required, where, ": missing field \"", key, "\"");
        return {};
      }
      PMC_CHECK(j[key].is_string(), where, ": field \"", key, "\" must be a string");
      return j[key].get<std::string>();
    };
    r.source = text("source", false);
    const char* chat_key = j.contains("conversations") ? "conversations" : j.contains("messages") ? "messages" : nullptr;
    if (chat_key) {
      PMC_CHECK(j[chat_key].is_array() && !j[chat_key].empty(), where, ": \"", chat_key, "\" must be a non-empty list");
      for (const auto& t : j[chat_key]) {
        PMC_CHECK(t.is_object(), where, ": every turn must be an object");
        // the first of `keys` present; it must be a string
        auto turn_text = [&](std::initializer_list<const char*> keys) -> std::string {
          for (const char* key : keys) {
            const auto it = t.find(key);
            if (it == t.end()) continue;
            PMC_CHECK(it->is_string(), where, ": the turn's \"", key, "\" must be a string, got ", it->type_name());
            return it->get<std::string>();
          }
          return {};
        };
        const std::string role = turn_text({"from", "role"});
        const std::string value = turn_text({"value", "content"});
        PMC_CHECK(role == "human" || role == "user" || role == "gpt" || role == "assistant", where, ": unknown role '",
                  role, "' (expected human/user or gpt/assistant)");
        r.turns.push_back({role == "gpt" || role == "assistant", value});
      }
      bool any_assistant = false;
      for (const auto& t : r.turns) any_assistant |= t.assistant;
      PMC_CHECK(any_assistant, where, ": the conversation has no assistant turn to learn from");
    } else {
      r.instruction = text("instruction", true);
      r.input = text("input", false);
      r.output = text("output", true);
    }
    out.push_back(std::move(r));
  });
  return out;
}

/// Token ids of one example and, per token, whether it is trained on (1: response tokens and their EOS).
struct TokenizedExample {
  std::vector<std::int32_t> ids;
  std::vector<std::uint8_t> predict;
};

/// pmc_llama (the default): BOS, the PMC-LLaMA prompt (context), then the response and EOS (trained on); chat:
/// each user turn is context ("### User:\n...\n\n### Assistant:"), each assistant turn and its EOS is trained
/// on. Other formats (chat_format.hpp): an instruction record is one user turn (instruction, then a blank line
/// and the input when there is one) and one assistant turn (the output).
inline TokenizedExample tokenize_example(const InstructionRecord& r, const tokenizer::Tokenizer& tok,
                                         ChatFormat format = ChatFormat::pmc_llama) {
  TokenizedExample ex;
  if (format != ChatFormat::pmc_llama) {
    std::vector<ChatMessage> messages;
    if (r.turns.empty()) {
      messages.push_back({"user", r.input.empty() ? r.instruction : r.instruction + "\n\n" + r.input});
      messages.push_back({"assistant", r.output});
    } else {
      for (const auto& t : r.turns) messages.push_back({t.assistant ? "assistant" : "user", t.text});
    }
    ChatTokens c = encode_chat(messages, format, tok);
    ex.ids = std::move(c.ids);
    ex.predict = std::move(c.predict);
    return ex;
  }
  auto add = [&](const std::vector<std::int32_t>& ids, std::uint8_t predict) {
    ex.ids.insert(ex.ids.end(), ids.begin(), ids.end());
    ex.predict.insert(ex.predict.end(), ids.size(), predict);
  };
  add({tok.bos_id()}, 0);
  if (r.turns.empty()) {
    add(tok.encode(eval::format_pmc_prompt(r.instruction, r.input)), 0);
    add(tok.encode(r.output), 1);
    add({tok.eos_id()}, 1);
  } else {
    for (const auto& t : r.turns) {
      if (t.assistant) {
        add(tok.encode(t.text), 1);
        add({tok.eos_id()}, 1);
      } else {
        add(tok.encode("### User:\n" + t.text + "\n\n### Assistant:"), 0);
      }
    }
  }
  return ex;
}

/// The largest mixing weight: a record appears at most this many times.
inline constexpr double kMaxMixWeight = 1000;

/// What to do with an example longer than a training window (T + 1 tokens from its start), whose response would
/// otherwise be cut off: drop context tokens from the prompt side (just after BOS) until it fits, or skip it.
enum class Overflow { truncate_prompt, skip };

/// Counts of what fit_to_window did, for the run's report.
struct FitCounts {
  std::int64_t fitted = 0;     // kept whole
  std::int64_t truncated = 0;  // kept, with prompt tokens dropped from the left
  std::int64_t skipped = 0;    // left out: --overflow skip, or the response alone does not fit
  std::int64_t overflowing() const { return truncated + skipped; }
  std::int64_t total() const { return fitted + truncated + skipped; }
};

/// `ex` made to fit a window of `window` tokens (T + 1): unchanged when it fits; with truncate_prompt, the
/// size − window tokens after BOS dropped when none of them is trained on (the response stays whole); otherwise
/// skipped (false). Every decision is counted in `counts`.
inline bool fit_to_window(TokenizedExample& ex, std::int64_t window, Overflow overflow, FitCounts& counts) {
  PMC_CHECK(window >= 2, "fit_to_window: a window holds at least 2 tokens, got ", window);
  const auto size = static_cast<std::int64_t>(ex.ids.size());
  if (size <= window) {
    ++counts.fitted;
    return true;
  }
  const std::int64_t drop = size - window;
  bool droppable = overflow == Overflow::truncate_prompt;
  for (std::int64_t i = 1; droppable && i <= drop; ++i) droppable = ex.predict[static_cast<std::size_t>(i)] == 0;
  if (!droppable) {
    ++counts.skipped;
    return false;
  }
  ex.ids.erase(ex.ids.begin() + 1, ex.ids.begin() + 1 + drop);
  ex.predict.erase(ex.predict.begin() + 1, ex.predict.begin() + 1 + drop);
  ++counts.truncated;
  return true;
}

/// Applies per-source mixing weights: each record of a source with weight w appears floor(w) times plus
/// once more with probability frac(w) (seeded). Sources without a weight keep weight 1; a weight outside
/// [0, kMaxMixWeight] (NaN included) is an error.
inline std::vector<InstructionRecord> mix_sources(const std::vector<InstructionRecord>& records,
                                                  const std::map<std::string, double>& weights, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<InstructionRecord> out;
  for (const auto& r : records) {
    const auto it = weights.find(r.source);
    const double w = it == weights.end() ? 1.0 : it->second;
    PMC_CHECK(w >= 0 && w <= kMaxMixWeight, "mixing weight ", w, " of source '", r.source, "' is not in [0, ",
              kMaxMixWeight, "]");
    const auto whole = static_cast<int>(std::floor(w));
    for (int i = 0; i < whole; ++i) out.push_back(r);
    if (u(rng) < w - whole) out.push_back(r);
  }
  return out;
}

}  // namespace pmc::data

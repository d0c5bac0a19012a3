// SPDX-License-Identifier: MIT
// Chat formats for instruction tuning and generation, chosen by name (`--chat-format`):
//   pmc_llama  PMC-LLaMA's prompt: BOS, "Below is an instruction ... ### Response:", the response, EOS; chat
//              turns as "### User:\n...\n\n### Assistant:" (pmc's default, what PMC-LLaMA was tuned with);
//   llama3     Meta's Llama-3 Instruct template: <|begin_of_text|> then per turn
//              <|start_header_id|>ROLE<|end_header_id|>\n\nCONTENT<|eot_id|> (content trimmed of whitespace);
//   chatml     ChatML (Qwen2): <|im_start|>ROLE\nCONTENT<|im_end|>\n per turn (no default system prompt);
//   mistral    Mistral-7B-Instruct v0.1: <s>[INST] USER [/INST]ASSISTANT</s>[INST] ... .
// The llama3, chatml and mistral conversations are rendered to one string and encoded whole, as transformers'
// apply_chat_template does (special tokens written in the text are recognized by a tokenizer.json; a
// SentencePiece model gets BOS and EOS as ids). The assistant's content and its end-of-turn token are trained
// on; where BPE merges a token across that boundary, the token goes to the part it ends in.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <pmc/core/error.hpp>
#include <pmc/tokenizer/tokenizer.hpp>

namespace pmc::data {

enum class ChatFormat : std::uint8_t { pmc_llama, llama3, chatml, mistral };

inline constexpr std::string_view kChatFormatNames = "pmc_llama, llama3, chatml, mistral";

inline ChatFormat chat_format_from_name(std::string_view name) {
  if (name == "pmc_llama") return ChatFormat::pmc_llama;
  if (name == "llama3") return ChatFormat::llama3;
  if (name == "chatml") return ChatFormat::chatml;
  if (name == "mistral") return ChatFormat::mistral;
  fail("unknown chat format '", name, "' (expected one of ", kChatFormatNames, ")");
}
inline std::string_view chat_format_name(ChatFormat f) {
  switch (f) {
    case ChatFormat::pmc_llama: return "pmc_llama";
    case ChatFormat::llama3: return "llama3";
    case ChatFormat::chatml: return "chatml";
    case ChatFormat::mistral: return "mistral";
  }
  return "?";
}

struct ChatMessage {
  std::string role;  // system, user or assistant
  std::string content;
};

/// A conversation's ids and, per id, whether it is trained on (1: assistant content and end of turn).
struct ChatTokens {
  std::vector<std::int32_t> ids;
  std::vector<std::uint8_t> predict;
};

namespace detail {

struct ChatPart {
  std::string text;        // text to encode, or
  std::int32_t id = -1;    // a token given by id (SentencePiece models: BOS / EOS)
  std::uint8_t trained = 0;
};

inline std::string trim(std::string_view s) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return std::string(s);
}

/// The id of special token `name`, which the format needs; an error when the tokenizer lacks it.
inline std::int32_t special_id(const tokenizer::Tokenizer& tok, std::string_view name, ChatFormat f) {
  const std::int32_t id = tok.piece_to_id(name);
  PMC_CHECK(id >= 0 && tok.id_to_piece(id) == name, "chat format ", chat_format_name(f), " needs the token ", name,
            ", which this tokenizer (", tok.format(), ") does not have");
  return id;
}

/// The parts of `messages` in format f (not pmc_llama), with the assistant header added when `generation`.
inline std::vector<ChatPart> render(const std::vector<ChatMessage>& messages, ChatFormat f, const tokenizer::Tokenizer& tok,
                                    bool generation) {
  std::vector<ChatPart> parts;
  auto text = [&](std::string s, std::uint8_t trained = 0) { parts.push_back({std::move(s), -1, trained}); };
  auto token = [&](std::string_view name, std::int32_t id, std::uint8_t trained = 0) {
    if (tok.hf()) {
      parts.push_back({std::string(name), -1, trained});  // written in the text, as the template renders it
    } else {
      parts.push_back({{}, id, trained});
    }
  };
  for (const auto& m : messages)
    PMC_CHECK(m.role == "system" || m.role == "user" || m.role == "assistant", "chat: unknown role '", m.role,
              "' (expected system, user or assistant)");
  switch (f) {
    case ChatFormat::pmc_llama: fail("chat: render() is not used for pmc_llama");
    case ChatFormat::llama3: {
      const std::int32_t bos = special_id(tok, "<|begin_of_text|>", f);
      for (const char* t : {"<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"}) special_id(tok, t, f);
      token("<|begin_of_text|>", bos);
      for (const auto& m : messages) {
        const std::uint8_t tr = m.role == "assistant";
        text("<|start_header_id|>" + m.role + "<|end_header_id|>\n\n");
        text(trim(m.content) + "<|eot_id|>", tr);
      }
      if (generation) text("<|start_header_id|>assistant<|end_header_id|>\n\n");
      break;
    }
    case ChatFormat::chatml: {
      for (const char* t : {"<|im_start|>", "<|im_end|>"}) special_id(tok, t, f);
      for (const auto& m : messages) {
        const std::uint8_t tr = m.role == "assistant";
        text("<|im_start|>" + m.role + "\n");
        text(m.content + "<|im_end|>", tr);
        text("\n");
      }
      if (generation) text("<|im_start|>assistant\n");
      break;
    }
    case ChatFormat::mistral: {
      PMC_CHECK(tok.bos_id() >= 0 && tok.eos_id() >= 0, "chat format mistral needs BOS and EOS tokens");
      const std::string bos = tok.id_to_piece(tok.bos_id()), eos = tok.id_to_piece(tok.eos_id());
      token(bos, tok.bos_id());
      std::size_t turn = 0;
      for (const auto& m : messages) {
        PMC_CHECK(m.role != "system", "chat format mistral has no system turn");
        PMC_CHECK((m.role == "user") == (turn % 2 == 0), "chat format mistral: turns must alternate user/assistant/user/...");
        ++turn;
        if (m.role == "user") {
          text("[INST] " + m.content + " [/INST]");
        } else {
          text(m.content, 1);
          token(eos, tok.eos_id(), 1);
        }
      }
      break;
    }
  }
  return parts;
}

inline std::size_t common_prefix(const std::vector<std::int32_t>& a, const std::vector<std::int32_t>& b) {
  std::size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  return i;
}

/// Encodes the parts: each run of text parts between id parts as one string; a token belongs to the part in
/// which its text ends (found by encoding the run's prefixes).
inline ChatTokens encode_parts(const std::vector<ChatPart>& parts, const tokenizer::Tokenizer& tok) {
  ChatTokens out;
  for (std::size_t b = 0; b < parts.size();) {
    if (parts[b].id >= 0) {
      out.ids.push_back(parts[b].id);
      out.predict.push_back(parts[b].trained);
      ++b;
      continue;
    }
    std::size_t e = b;
    std::string run;
    while (e < parts.size() && parts[e].id < 0) run += parts[e++].text;
    const auto ids = tok.encode(run);
    std::vector<std::uint8_t> predict(ids.size(), parts[e - 1].trained);
    std::string prefix;
    std::size_t from = 0;
    for (std::size_t p = b; p + 1 < e; ++p) {
      prefix += parts[p].text;
      const std::size_t to = std::max(from, common_prefix(ids, tok.encode(prefix)));
      std::fill(predict.begin() + static_cast<std::ptrdiff_t>(from), predict.begin() + static_cast<std::ptrdiff_t>(to), parts[p].trained);
      from = to;
    }
    out.ids.insert(out.ids.end(), ids.begin(), ids.end());
    out.predict.insert(out.predict.end(), predict.begin(), predict.end());
    b = e;
  }
  return out;
}

}  // namespace detail

/// The ids of a conversation in format f (not pmc_llama) with its training mask.
inline ChatTokens encode_chat(const std::vector<ChatMessage>& messages, ChatFormat f, const tokenizer::Tokenizer& tok) {
  return detail::encode_parts(detail::render(messages, f, tok, false), tok);
}

/// The prompt to generate the next assistant turn from: the conversation and the assistant's header.
/// pmc_llama: BOS and the text as it is (pmc's prompts are already formatted).
inline std::vector<std::int32_t> chat_generation_prompt(const std::vector<ChatMessage>& messages, ChatFormat f,
                                                        const tokenizer::Tokenizer& tok) {
  if (f == ChatFormat::pmc_llama) {
    std::string text;
    for (const auto& m : messages) text += m.content;
    return tok.encode(text, tok.bos_id() >= 0);
  }
  return detail::encode_parts(detail::render(messages, f, tok, true), tok).ids;
}

/// The tokens that end an assistant turn in format f (generation stops at them).
inline std::vector<std::int32_t> chat_stop_ids(ChatFormat f, const tokenizer::Tokenizer& tok) {
  switch (f) {
    case ChatFormat::llama3: return {detail::special_id(tok, "<|eot_id|>", f)};
    case ChatFormat::chatml: return {detail::special_id(tok, "<|im_end|>", f)};
    case ChatFormat::pmc_llama:
    case ChatFormat::mistral: break;
  }
  return tok.eos_id() >= 0 ? std::vector<std::int32_t>{tok.eos_id()} : std::vector<std::int32_t>{};
}

}  // namespace pmc::data

// SPDX-License-Identifier: MIT
// Chat formats against transformers' apply_chat_template with each family's own template
// (tools/make_chat_format_golden.py): the same ids for whole conversations and generation prompts, and a
// training mask that covers exactly the assistant turns and their end-of-turn tokens.
#include <doctest/doctest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include <pmc/data/chat_format.hpp>
#include <pmc/data/instruction.hpp>

#include "support/paths.hpp"

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace chat_format_test {

using namespace pmc::data;
using nlohmann::json;

namespace {

std::filesystem::path golden_dir() { return pmc::test::source_dir() / "tests/golden/tokenizer_json"; }

pmc::tokenizer::Tokenizer golden_tokenizer(const std::string& stem) {
  return pmc::tokenizer::Tokenizer::load(golden_dir() / (stem + ".json"));
}

std::vector<ChatMessage> messages_of(const json& j) {
  std::vector<ChatMessage> m;
  for (const auto& x : j) m.push_back({x.at("role").get<std::string>(), x.at("content").get<std::string>()});
  return m;
}

}  // namespace

TEST_CASE("chat formats: llama3, chatml and mistral encode as transformers' apply_chat_template") {
  std::ifstream f(golden_dir() / "chat_formats.jsonl");
  REQUIRE(f.good());
  int cases = 0;
  for (std::string line; std::getline(f, line);) {
    const json g = json::parse(line);
    const auto format = chat_format_from_name(g.at("format").get<std::string>());
    const auto tok = golden_tokenizer(g.at("tokenizer").get<std::string>());
    const auto messages = messages_of(g.at("messages"));
    INFO(g.at("format").get<std::string>(), " on ", g.at("tokenizer").get<std::string>(), ", conversation ",
         g.at("conversation").get<int>());
    const ChatTokens c = encode_chat(messages, format, tok);
    CHECK(json(c.ids).dump() == g.at("ids").dump());
    REQUIRE(c.predict.size() == c.ids.size());
    const std::vector<ChatMessage> head(messages.begin(), messages.end() - 1);
    CHECK(json(chat_generation_prompt(head, format, tok)).dump() == g.at("generation_prompt").dump());

    // the mask: one trained end-of-turn token per assistant turn, and the trained text is the assistants'
    const auto stops = chat_stop_ids(format, tok);
    int assistant_turns = 0, trained_ends = 0;
    std::string assistant_text;
    for (const auto& m : messages)
      if (m.role == "assistant") {
        ++assistant_turns;
        assistant_text += format == ChatFormat::llama3 ? detail::trim(m.content) : m.content;
      }
    std::vector<std::int32_t> trained;
    for (std::size_t i = 0; i < c.ids.size(); ++i) {
      if (!c.predict[i]) continue;
      trained.push_back(c.ids[i]);
      trained_ends += c.ids[i] == stops.front();
    }
    CHECK(trained_ends == assistant_turns);
    const std::string decoded = tok.decode(trained);
    if (format == ChatFormat::mistral) {
      // SentencePiece-style BPE may merge the first character of a reply with "]" of [/INST]
      CHECK(decoded.size() + 2 >= assistant_text.size());
    } else {
      CHECK(decoded == assistant_text);
    }
    ++cases;
  }
  CHECK(cases >= 15);
}

TEST_CASE("chat formats: instruction records become a user and an assistant turn, missing tokens are named") {
  const auto tok = golden_tokenizer("llama3_style");
  InstructionRecord r;
  r.instruction = "Answer briefly.";
  r.input = "What does HbA1c measure?";
  r.output = "Average blood glucose over about three months.";
  const auto ex = tokenize_example(r, tok, ChatFormat::llama3);
  const auto c = encode_chat({{"user", "Answer briefly.\n\nWhat does HbA1c measure?"}, {"assistant", r.output}},
                             ChatFormat::llama3, tok);
  CHECK(ex.ids == c.ids);
  CHECK(ex.predict == c.predict);
  CHECK_THROWS_WITH_AS(encode_chat({{"user", "x"}}, ChatFormat::chatml, tok),
                       doctest::Contains("chat format chatml needs the token <|im_start|>"), pmc::Error);
  CHECK_THROWS_WITH_AS(chat_format_from_name("vicuna"), doctest::Contains("unknown chat format 'vicuna'"), pmc::Error);
  CHECK_THROWS_WITH_AS(encode_chat({{"doctor", "x"}}, ChatFormat::llama3, tok), doctest::Contains("unknown role 'doctor'"),
                       pmc::Error);
  const auto sp = golden_tokenizer("sentencepiece_style");
  CHECK_THROWS_WITH_AS(encode_chat({{"assistant", "x"}}, ChatFormat::mistral, sp),
                       doctest::Contains("turns must alternate"), pmc::Error);
}

}  // namespace chat_format_test

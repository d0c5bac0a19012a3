// SPDX-License-Identifier: MIT
// BpeTokenizer: published LLaMA vectors, llama.cpp's inputs, merge rules on hand-built models, and cost on
// long inputs.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <random>
#include <thread>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include <pmc/tokenizer/bpe.hpp>

#include "support/paths.hpp"
#include "synthetic_model.hpp"
#include "tokenizer_test_support.hpp"

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace bpe_test {

using namespace pmc::tokenizer;

namespace {

const std::string kWs = "\xE2\x96\x81";  // U+2581

std::string llama_model() { return pmc::test::shared_file("data/tokenizer/llama/tokenizer.model").string(); }

std::vector<std::string> pieces_of(const BpeTokenizer& tok, const std::vector<int32_t>& ids) {
  std::vector<std::string> out;
  for (auto id : ids) out.push_back(tok.id_to_piece(id));
  return out;
}

}  // namespace

TEST_CASE("bpe: all 96 LLaMA encode vectors (llama2.c, llama.cpp, llama-tokenizer-js, local)") {
  const auto model = llama_model();
  const auto vectors = pmc::test::shared_file("data/tokenizer/llama/encode_vectors.json");
  if (model.empty() || vectors.empty()) PMC_SKIP("../shared LLaMA tokenizer files absent");
  const auto tok = BpeTokenizer::load(model);
  const auto j = nlohmann::json::parse(pmc::test::read_text(vectors));
  int cases = 0;
  auto run = [&](const nlohmann::json& c) {
    const std::string text = c.at("text").get<std::string>();
    const bool with_bos = c.contains("ids_with_bos");
    const auto expected = c.at(with_bos ? "ids_with_bos" : "ids_no_bos").get<std::vector<int32_t>>();
    INFO("text: '", text, "'");
    CHECK(tok.encode(text, with_bos) == expected);
    if (c.contains("pieces")) CHECK(pieces_of(tok, tok.encode(text)) == c.at("pieces").get<std::vector<std::string>>());
    ++cases;
  };
  for (const auto& [group, value] : j.items()) {
    if (value.is_array()) {
      for (const auto& c : value) run(c);
    } else {
      for (const auto& c : value.at("cases")) run(c);
    }
  }
  CHECK(cases == 96);
}

TEST_CASE("bpe: llama.cpp ggml-vocab-llama-spm inputs give the expected ids") {
  const auto model = llama_model();
  const auto inp = pmc::test::shared_file("data/tokenizer/llama/ggml-vocab-llama-spm.gguf.inp");
  const auto out = pmc::test::shared_file("data/tokenizer/llama/ggml-vocab-llama-spm.gguf.out");
  if (model.empty() || inp.empty() || out.empty()) PMC_SKIP("../shared llama.cpp vocab test files absent");
  const auto tok = BpeTokenizer::load(model);
  const std::string all = pmc::test::read_text(inp);
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> inputs;
  for (size_t pos = 0;;) {
    const size_t next = all.find(sep, pos);
    if (next == std::string::npos) break;
    inputs.push_back(all.substr(pos, next - pos));
    pos = next + sep.size();
  }
  const auto lines = pmc::test::read_lines(out);
  REQUIRE(inputs.size() == lines.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    std::vector<int32_t> expected;
    std::istringstream ss(lines[i]);
    for (int32_t id; ss >> id;) expected.push_back(id);
    INFO("input ", i, ": '", inputs[i], "'");
    CHECK(tok.encode(inputs[i]) == expected);
  }
  CHECK(inputs.size() == 46);
}

TEST_CASE("bpe: decode inverts encode on LLaMA's vocabulary, BOS/EOS and byte pieces included") {
  const auto model = llama_model();
  if (model.empty()) PMC_SKIP("../shared LLaMA tokenizer.model absent");
  const auto tok = BpeTokenizer::load(model);
  for (const std::string text :
       {"Hello world", " leading space", "two  spaces", "tabs\tand\nnewlines\n", "\xF0\x9F\xA6\x99 llama \xE2\x9D\xA4\xEF\xB8\x8F",
        "Ölüdeniz 東京 Привет мир مرحبا", "", " ", "   ", "trailing ", "\x01\x02 control"}) {
    const auto ids = tok.encode(text, true, true);
    CHECK(ids.front() == 1);
    CHECK(ids.back() == 2);
    CHECK(tok.decode(ids) == text);
  }
  // Byte pieces of an invalid sequence become U+FFFD each, as sentencepiece decodes them.
  const std::vector<int32_t> bad = {3 + 0xE2, 3 + 0x96, 3 + 'A' };
  CHECK(tok.decode(bad) == "\xEF\xBF\xBD\xEF\xBF\xBD" "A");
  CHECK(tok.decode(std::vector<int32_t>{0}) == " \xE2\x81\x87 ");
  CHECK_THROWS_AS(tok.decode(std::vector<int32_t>{32000}), pmc::Error);
  CHECK_THROWS_AS(tok.decode(std::vector<int32_t>{-1}), pmc::Error);
  // Each malformed input byte is read as U+FFFD (LLaMA's piece 30140).
  CHECK(tok.encode("\xFF") == std::vector<int32_t>{29871, 30140});
  CHECK(tok.decode(tok.encode("a\xFF\xC3")) == "a\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST_CASE("bpe: merges follow scores, leftmost first on ties, and unknown characters fall back to bytes") {
  // ranks: "ab" beats "bc"; "abc" needs "ab"+"c".
  const auto tok = BpeTokenizer(pmc::test::synthetic_model({kWs, "a", "b", "c", "ab", "bc", "abc", kWs + "abc"}));
  auto pieces = [&](const std::string& t) { return pieces_of(tok, tok.encode(t)); };
  CHECK(pieces("abc") == std::vector<std::string>{kWs + "abc"});
  CHECK(pieces("bcab") == std::vector<std::string>{kWs, "bc", "ab"});
  CHECK(pieces("aa") == std::vector<std::string>{kWs, "a", "a"});
  // 'x' is no piece: byte fallback.
  CHECK(tok.encode("x") == std::vector<int32_t>{tok.piece_to_id(kWs), 3 + 'x'});
  // Equal scores: the leftmost pair merges first ("aa" + "a", not "a" + "aa").
  auto m = pmc::test::synthetic_model({"a", "aa"});
  m.normalizer_spec->add_dummy_prefix = false;
  const auto tie = BpeTokenizer(m);
  CHECK(pieces_of(tie, tie.encode("aaa")) == std::vector<std::string>{"aa", "a"});
}

TEST_CASE("bpe: without byte fallback, runs of unknown characters collapse into one <unk>") {
  auto m = pmc::test::synthetic_model({kWs, "a", kWs + "a"}, /*byte_fallback=*/false);
  const auto tok = BpeTokenizer(m);
  CHECK(tok.encode("a xyz a") == std::vector<int32_t>{5, 3, 0, 5});
  CHECK(tok.encode("xy") == std::vector<int32_t>{3, 0});
  CHECK(tok.decode(tok.encode("xy")) == " \xE2\x81\x87 ");
}

TEST_CASE("bpe: UNUSED pieces merge through but are split back, user-defined symbols stay whole") {
  auto m = pmc::test::synthetic_model({kWs, "a", "b", "c", "ab", "abc", "<med>"});
  m.pieces[3 + 256 + 4].type = PieceType::kUnused;  // "ab"
  m.pieces[3 + 256 + 6].type = PieceType::kUserDefined;  // "<med>"
  const auto tok = BpeTokenizer(m);
  CHECK(pieces_of(tok, tok.encode("ab")) == std::vector<std::string>{kWs, "a", "b"});
  CHECK(pieces_of(tok, tok.encode("abc")) == std::vector<std::string>{kWs, "abc"});
  CHECK(pieces_of(tok, tok.encode("a<med>b")) == std::vector<std::string>{kWs, "a", "<med>", "b"});
}

TEST_CASE("bpe: a 100 kB line without spaces encodes in n log n time") {
  const auto model = llama_model();
  BpeTokenizer tok = model.empty() ? BpeTokenizer(pmc::test::synthetic_model({kWs, "a", "b", "ab", "ba", "aba", "bab", "abab"}))
                                   : BpeTokenizer::load(model);
  auto make = [](size_t n) {
    std::string s;
    std::mt19937_64 rng(1);
    while (s.size() < n) s += "abcdefghij"[rng() % 10];
    return s;
  };
  auto seconds = [&](const std::string& s) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto ids = tok.encode(s);
    CHECK(!ids.empty());
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  const std::string s100 = make(100'000), s400 = make(400'000);
  seconds(s100);  // warm up
  const double t100 = seconds(s100), t400 = seconds(s400);
  MESSAGE("100 kB: ", t100 * 1e3, " ms, 400 kB: ", t400 * 1e3, " ms");
  CHECK(t100 < 0.5);
  CHECK(t400 < 12 * t100 + 0.01);  // quadratic would be 16x
  CHECK(tok.decode(tok.encode(s100)) == s100);
}

TEST_CASE("bpe: concurrent encoding from several threads gives the single-thread ids") {
  const auto model = llama_model();
  const auto tok = model.empty() ? BpeTokenizer(pmc::test::synthetic_model({"\xE2\x96\x81" "a", "b", "ab"}))
                                 : BpeTokenizer::load(model);
  std::mt19937_64 rng(3);
  std::vector<std::string> texts;
  for (int i = 0; i < 2000; ++i) texts.push_back(pmc::test::random_text(rng, 60));
  std::vector<std::vector<int32_t>> expected;
  for (const auto& t : texts) expected.push_back(tok.encode(t));
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (size_t i = 0; i < texts.size(); ++i) {
        const size_t k = (i * 7 + static_cast<size_t>(t) * 131) % texts.size();
        if (tok.encode(texts[k]) != expected[k]) ++mismatches;
      }
    });
  for (auto& th : threads) th.join();
  CHECK(mismatches.load() == 0);
  // A second tokenizer on the same thread does not see the first one's cached words.
  const auto other = BpeTokenizer(pmc::test::synthetic_model({"\xE2\x96\x81", "H", "e", "l", "o", "ll", "He"}));
  const auto a = tok.encode("Hello"), b = other.encode("Hello");
  CHECK(other.encode("Hello") == b);
  CHECK(tok.encode("Hello") == a);
  CHECK(b == std::vector<int32_t>{3 + 256, 3 + 256 + 6, 3 + 256 + 5, 3 + 256 + 4});  // ▁ He ll o
}

}  // namespace bpe_test

// SPDX-License-Identifier: MIT
// pmc's tokenizer.json reader (HfTokenizer) against the `tokenizers` library: goldens made by
// tools/make_tokenizer_json_golden.py for byte-level (Llama-3, Qwen2, GPT-2 layouts) and SentencePiece-style
// (LLaMA-2 legacy and transformers 5 Metaspace layouts) tokenizers, on mixed-script texts (full ids) and on
// the shared corpora (per-line hashes), plus LLaMA's tokenizer.model converted by pmc and by transformers.
#include <doctest/doctest.h>

#include <cstdint>
#include <fstream>
#include <functional>
#include <optional>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include <pmc/tokenizer/hf_tokenizer.hpp>
#include <pmc/tokenizer/tokenizer.hpp>

#include "support/paths.hpp"

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace hf_tokenizer_test {

using namespace pmc::tokenizer;
using nlohmann::json;

#define PMC_CHECK_THROWS_WITH(expr, text) CHECK_THROWS_WITH_AS(expr, doctest::Contains(doctest::String(std::string(text).c_str())), pmc::Error)

namespace {

std::filesystem::path golden_dir() { return pmc::test::source_dir() / "tests/golden/tokenizer_json"; }

std::string read_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  REQUIRE_MESSAGE(f.good(), "cannot open ", p.string());
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<json> read_jsonl(const std::filesystem::path& p) {
  std::vector<json> out;
  std::istringstream in(read_file(p));
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(json::parse(line));
  return out;
}

uint64_t fnv1a(const void* data, size_t n, uint64_t h = 0xcbf29ce484222325ull) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}
std::string hex64(uint64_t h) {
  char b[17];
  std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(h));
  return b;
}
const char* kGoldenTokenizers[] = {"llama3_style", "qwen2_style", "gpt2_style", "sentencepiece_style", "metaspace_style"};

std::vector<std::string> split_on(const std::string& s, const std::string& sep) {
  std::vector<std::string> out;
  size_t b = 0;
  for (size_t at; (at = s.find(sep, b)) != std::string::npos; b = at + sep.size()) out.push_back(s.substr(b, at - b));
  out.push_back(s.substr(b));
  return out;
}

}  // namespace

TEST_CASE("tokenizer.json: encode and decode as the tokenizers library on mixed-script texts") {
  std::vector<std::string> texts;
  for (const json& j : read_jsonl(golden_dir() / "texts.jsonl")) texts.push_back(j.at("text").get<std::string>());
  REQUIRE(texts.size() > 100);
  std::map<std::string, HfTokenizer> toks;
  for (const char* name : kGoldenTokenizers) toks.emplace(name, HfTokenizer::load(golden_dir() / (std::string(name) + ".json")));
  std::map<std::string, int> checked, failed;
  for (const json& e : read_jsonl(golden_dir() / "encodings.jsonl")) {
    const std::string name = e.at("tokenizer").get<std::string>();
    REQUIRE_MESSAGE(toks.count(name), "unknown tokenizer ", name);
    const HfTokenizer& tok = toks.at(name);
    ++checked[name];
    bool ok = true;
    std::vector<int32_t> ids;
    if (e.contains("text")) {
      const std::string& text = texts.at(e.at("text").get<size_t>());
      INFO(name, " text ", e.at("text").get<size_t>(), ": ", json(text).dump());
      const auto want = e.at("ids").get<std::vector<int32_t>>();
      const auto got = tok.encode_hf(text, false);
      ids = e.at("ids_special").get<std::vector<int32_t>>();
      const auto got_special = tok.encode_hf(text, true);
      ok = got == want && got_special == ids;
      if (!ok && failed[name] < 4) {
        CHECK(json(got).dump() == json(want).dump());
        CHECK(json(got_special).dump() == json(ids).dump());
      }
    } else {
      ids = e.at("decode_only").get<std::vector<int32_t>>();
    }
    INFO(name, " decoding ", json(ids).dump());
    const std::string d = tok.decode(ids, true), d_all = tok.decode(ids, false);
    const bool dec_ok = d == e.at("decoded").get<std::string>() && d_all == e.at("decoded_all").get<std::string>();
    if (!dec_ok && failed[name] < 4) {
      CHECK(json(d).dump() == e.at("decoded").dump());
      CHECK(json(d_all).dump() == e.at("decoded_all").dump());
    }
    if (!ok || !dec_ok) ++failed[name];
  }
  for (const char* name : kGoldenTokenizers) {
    INFO(name);
    CHECK(checked[name] > 100);
    CHECK(failed[name] == 0);
  }
}

namespace {

/// The cases of encode_vectors.json in file order: groups of cases, each a list or an object with "cases".
std::vector<nlohmann::ordered_json> encode_vector_cases(const std::filesystem::path& p) {
  std::vector<nlohmann::ordered_json> out;
  const auto all = nlohmann::ordered_json::parse(read_file(p));  // file order, as Python reads it
  for (const auto& [name, group] : all.items()) {
    const auto& cases = group.is_object() ? group.at("cases") : group;
    out.insert(out.end(), cases.begin(), cases.end());
  }
  return out;
}

/// The lines of a shared source as the golden script cut them, or an empty optional when the file is absent.
std::optional<std::vector<std::string>> shared_lines(const std::string& source) {
  if (source == "encode_vectors") {
    const auto p = pmc::test::shared_file("data/tokenizer/llama/encode_vectors.json");
    if (p.empty()) return std::nullopt;
    std::vector<std::string> out;
    for (const auto& c : encode_vector_cases(p)) out.push_back(c.at("text").get<std::string>());
    return out;
  }
  if (source == "ggml_vocab") {
    const auto p = pmc::test::shared_file("data/tokenizer/llama/ggml-vocab-llama-spm.gguf.inp");
    if (p.empty()) return std::nullopt;
    auto parts = split_on(read_file(p), "\n__ggml_vocab_test__\n");
    if (!parts.empty() && parts.back().empty()) parts.pop_back();  // as the golden script: the file ends with one
    return parts;
  }
  const std::string rel = source == "pubmed_abstracts" ? "data/corpus/pubmedqa_pqal_trainval_abstracts.txt"
                          : source == "medquad"        ? "data/corpus/medquad_small_niddk_ninds_mplus.txt"
                                                       : "";
  REQUIRE_MESSAGE(!rel.empty(), "unknown source ", source);
  const auto p = pmc::test::shared_file(rel);
  if (p.empty()) return std::nullopt;
  auto lines = split_on(read_file(p), "\n");
  if (!lines.empty() && lines.back().empty()) lines.pop_back();  // the file's final newline ends the last line
  return lines;
}

HfTokenizer llama_converted_by_pmc() {
  const auto model = pmc::test::shared_file("data/tokenizer/llama/tokenizer.model");
  return HfTokenizer::from_json(tokenizer_json_from_sentencepiece(BpeTokenizer::load(model)).dump(), "converted tokenizer.model");
}

}  // namespace

TEST_CASE("tokenizer.json: the shared corpora encode and decode as the tokenizers library (hashes per 64 lines)") {
  const json golden = json::parse(read_file(golden_dir() / "shared_hashes.json"));
  std::map<std::string, HfTokenizer> toks;
  size_t lines = 0, bytes = 0, skipped = 0;
  std::map<std::string, size_t> per_tokenizer;
  for (const json& e : golden.at("records")) {
    const std::string name = e.at("tokenizer").get<std::string>(), source = e.at("source").get<std::string>();
    const auto text = shared_lines(source);
    if (!text) {
      ++skipped;
      continue;
    }
    if (!toks.count(name)) {
      if (name == "llama_converted") {
        if (pmc::test::shared_file("data/tokenizer/llama/tokenizer.model").empty()) continue;
        toks.emplace(name, llama_converted_by_pmc());
      } else {
        toks.emplace(name, HfTokenizer::load(golden_dir() / (name + ".json")));
      }
    }
    const HfTokenizer& tok = toks.at(name);
    INFO(name, " on ", source);
    REQUIRE_MESSAGE(text->size() == e.at("count").get<size_t>(), "the shared file has changed since the golden was made");
    const size_t block = e.at("block").get<size_t>();
    const json& want = e.at("blocks");
    REQUIRE(want.size() == (text->size() + block - 1) / block);
    size_t bad = 0;
    for (size_t b = 0; b < want.size(); ++b) {
      std::vector<unsigned char> ids_blob, dec_blob;
      auto put32 = [](std::vector<unsigned char>& v, uint32_t x) {
        for (int k = 0; k < 4; ++k) v.push_back(static_cast<unsigned char>(x >> (8 * k)));
      };
      size_t n_ids = 0;
      const size_t end = std::min(text->size(), (b + 1) * block);
      for (size_t i = b * block; i < end; ++i) {
        const auto ids = tok.encode_hf((*text)[i], false);
        const std::string dec = tok.decode(ids, true);
        put32(ids_blob, static_cast<uint32_t>(ids.size()));
        for (const int32_t id : ids) put32(ids_blob, static_cast<uint32_t>(id));
        put32(dec_blob, static_cast<uint32_t>(dec.size()));
        dec_blob.insert(dec_blob.end(), dec.begin(), dec.end());
        n_ids += ids.size();
        bytes += (*text)[i].size();
      }
      const bool ok = n_ids == want[b][1].get<size_t>() && hex64(fnv1a(ids_blob.data(), ids_blob.size())) == want[b][2].get<std::string>() &&
                      hex64(fnv1a(dec_blob.data(), dec_blob.size())) == want[b][3].get<std::string>();
      if (!ok && bad++ < 3) {
        INFO("lines ", b * block, "..", end - 1, " (", n_ids, " ids, the golden has ", want[b][1].get<size_t>(), ")");
        CHECK(ok);
      }
    }
    CHECK(bad == 0);
    lines += text->size();
    per_tokenizer[name] += text->size();
  }
  if (lines == 0) PMC_SKIP("../shared data absent: the shared-corpus comparison did not run");
  MESSAGE("compared ", lines, " lines (", bytes, " bytes) over ", per_tokenizer.size(), " tokenizers; ", skipped,
          " sources absent");
  CHECK(per_tokenizer.count("llama_converted"));
}

TEST_CASE("tokenizer.json: Tokenizer::load takes a file or a folder, and tokenizer_config.json names BOS and EOS") {
  const auto dir = pmc::test::tmp_dir() / "hf_tokenizer_folder";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(golden_dir() / "qwen2_style.json", dir / "tokenizer.json");
  const Tokenizer plain = Tokenizer::load(dir);
  CHECK(plain.format() == "tokenizer.json");
  CHECK(plain.eos_id() == plain.piece_to_id("<|endoftext|>"));
  CHECK(plain.bos_id() == -1);
  { std::ofstream(dir / "tokenizer_config.json") << R"({"bos_token": null, "eos_token": {"content": "<|im_end|>"}})"; }
  const Tokenizer configured = Tokenizer::load(dir);
  CHECK(configured.eos_id() == configured.piece_to_id("<|im_end|>"));
  const auto ids = configured.encode("Hello <|im_start|>world", false, true);
  CHECK(ids.back() == configured.eos_id());
  CHECK(configured.decode(ids) == "Hello world");
  PMC_CHECK_THROWS_WITH(configured.encode("x", true), "no BOS token");
  { std::ofstream(dir / "tokenizer_config.json") << R"({"eos_token": "<|nope|>"})"; }
  PMC_CHECK_THROWS_WITH(Tokenizer::load(dir), "tokenizer_config.json: eos_token: '<|nope|>' is not a token");
  const Tokenizer llama3 = Tokenizer::load(golden_dir() / "llama3_style.json");
  CHECK(llama3.bos_id() == llama3.piece_to_id("<|begin_of_text|>"));
  CHECK(llama3.encode("hi", true).front() == llama3.bos_id());
  std::filesystem::remove(dir / "tokenizer.json");
  std::filesystem::remove(dir / "tokenizer_config.json");
  PMC_CHECK_THROWS_WITH(Tokenizer::load(dir), "a folder without tokenizer.json or tokenizer.model");
}

TEST_CASE("tokenizer.json: malformed or unsupported files are refused, naming the file and the key") {
  json base = json::parse(read_file(golden_dir() / "llama3_style.json"));
  auto refused = [&](const std::function<void(json&)>& edit, const std::string& message) {
    json j = base;
    edit(j);
    INFO("expecting: ", message);
    PMC_CHECK_THROWS_WITH(HfTokenizer::from_json(j.dump(), "bad.json"), message);
  };
  PMC_CHECK_THROWS_WITH(HfTokenizer::from_json("{\"model\": ", "cut.json"), "cut.json: malformed JSON");
  PMC_CHECK_THROWS_WITH(HfTokenizer::from_json("[1, 2]", "arr.json"), "arr.json: (top level): not a JSON object");
  PMC_CHECK_THROWS_WITH(HfTokenizer::load(pmc::test::tmp_dir() / "no_such_tokenizer.json"), "no_such_tokenizer.json");
  refused([](json& j) { j.erase("model"); }, "bad.json: model: missing");
  refused([](json& j) { j["model"]["type"] = "Unigram"; }, "model.type: only BPE models are supported");
  refused([](json& j) { j["model"]["dropout"] = 0.1; }, "model.dropout");
  refused([](json& j) { j["model"]["vocab"]["zzz"] = -4; }, "model.vocab[\"zzz\"]: id must be an integer");
  refused([](json& j) { j["model"]["merges"].push_back(json::array({"no-such-token", "x"})); }, "'no-such-token' is not in the vocabulary");
  refused([](json& j) { j["model"]["merges"][0] = 17; }, "model.merges[0]: not a [left, right] pair");
  refused([](json& j) { j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\w+"; },
          "pre_tokenizer.pretokenizers[0].pattern.Regex: pmc runs the split regexes of GPT-2, Llama-3 and Qwen2 only");
  refused([](json& j) { j["normalizer"] = {{"type", "NFKC"}}; }, "normalizer.type: normalizer 'NFKC' is not supported");
  refused([](json& j) { j["decoder"] = {{"type", "WordPiece"}}; }, "decoder.type: decoder 'WordPiece' is not supported");
  refused([](json& j) { j["added_tokens"][0].erase("id"); }, "added_tokens[0].id: missing");
  // ids far beyond the vocabulary would size the id table by the id (found by the fuzzer: 8.9 GB)
  refused([](json& j) { j["model"]["vocab"]["zzz"] = 277777777; }, "model.vocab: id 277777777 is far beyond");
  refused([](json& j) { j["added_tokens"][0]["id"] = 500000000; }, "added_tokens: the id 500000000 of");
  refused([](json& j) { j["post_processor"] = {{"type", "RobertaProcessing"}}; }, "post-processor 'RobertaProcessing' is not supported");
  const HfTokenizer ok = HfTokenizer::from_json(base.dump(), "ok.json");
  PMC_CHECK_THROWS_WITH(ok.decode(std::vector<int32_t>{ok.vocab_size()}), "ok.json: invalid id");
  PMC_CHECK_THROWS_WITH(ok.decode(std::vector<int32_t>{-1}), "invalid id -1");
}

TEST_CASE("tokenizer.json: LLaMA's tokenizer.model converted by pmc encodes the shared vectors as SentencePiece where they agree") {
  const auto model = pmc::test::shared_file("data/tokenizer/llama/tokenizer.model");
  const auto vectors = pmc::test::shared_file("data/tokenizer/llama/encode_vectors.json");
  if (model.empty() || vectors.empty()) PMC_SKIP("../shared LLaMA tokenizer absent");
  const BpeTokenizer sp = BpeTokenizer::load(model);
  const HfTokenizer hf = llama_converted_by_pmc();
  CHECK(hf.vocab_size() == sp.vocab_size());
  CHECK(hf.bos_id() == sp.bos_id());
  CHECK(hf.eos_id() == sp.eos_id());
  // Two kinds of text differ by design (the tokenizers library does the same; the hash test above checks it):
  // a text that starts with a space (SentencePiece always adds its dummy prefix, the Metaspace pre-tokenizer with
  // prepend_scheme "first" only when the text does not start with one), and runs of spaces (without a
  // pre-tokenizer split, BPE by merge rank joins U+2581 runs otherwise than SentencePiece's scores do).
  size_t same = 0, compared = 0;
  for (const auto& c : encode_vector_cases(vectors)) {
    const std::string text = c.at("text").get<std::string>();
    if (!text.empty() && (text[0] == ' ' || text.rfind(std::string(kSpaceSymbol), 0) == 0)) continue;
    if (text.find("  ") != std::string::npos) continue;
    ++compared;
    const auto want = c.contains("ids_with_bos") ? c.at("ids_with_bos").get<std::vector<int32_t>>() : c.at("ids_no_bos").get<std::vector<int32_t>>();
    const auto got = hf.encode(text, c.contains("ids_with_bos"));
    INFO(json(text).dump());
    CHECK(got == want);
    same += got == want;
  }
  CHECK(compared > 50);
  MESSAGE(same, " of ", compared, " published LLaMA encode vectors reproduced through tokenizer.json");
}

}  // namespace hf_tokenizer_test

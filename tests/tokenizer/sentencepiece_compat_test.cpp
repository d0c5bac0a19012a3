// SPDX-License-Identifier: MIT
// pmc's BpeTokenizer against libsentencepiece, the reference: every line of the shared corpora and medical
// QA files, randomized Unicode text, random id sequences, and models with every normalizer/trainer flag.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <pmc/tokenizer/bpe.hpp>

#include "support/paths.hpp"
#include "tokenizer_test_support.hpp"

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace sentencepiece_compat_test {

using namespace pmc::tokenizer;

#ifndef PMC_HAVE_SENTENCEPIECE

TEST_CASE("sentencepiece compat: libsentencepiece not available") {
  PMC_SKIP("built without libsentencepiece (pkg-config sentencepiece not found); comparisons compiled out");
}

#else

namespace {

const std::string kLlama = "data/tokenizer/llama/tokenizer.model";
const std::string kTok512 = "data/models/stories260K/tok512.model";

bool valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t len;
    if (!utf8::valid_prefix(s.substr(i), &len)) return false;
    i += len;
  }
  return true;
}

/// Compares pmc and libsentencepiece on every text; reports the first mismatches and the counts.
struct Comparison {
  const BpeTokenizer& tok;
  const pmc::test::SpReference& sp;
  bool check_roundtrip = true;
  size_t texts = 0, bytes = 0, ids = 0, encode_mismatch = 0, decode_mismatch = 0, roundtrip_mismatch = 0;

  void run(const std::string& text, bool bos = false) {
    ++texts;
    bytes += text.size();
    const auto mine = tok.encode(text, bos);
    const auto ref = sp.encode(text, bos);
    ids += mine.size();
    if (mine != ref) {
      if (encode_mismatch++ < 3) {
        INFO("text: '", text, "'");
        CHECK(mine == ref);
      }
      return;
    }
    const std::string dec = tok.decode(mine);
    if (dec != sp.decode(ref)) {
      if (decode_mismatch++ < 3) {
        INFO("text: '", text, "'");
        CHECK(dec == sp.decode(ref));
      }
    }
    if (check_roundtrip && valid_utf8(text) && text.find("\xE2\x96\x81") == std::string::npos && dec != text) {
      if (roundtrip_mismatch++ < 3) {
        INFO("text: '", text, "'");
        CHECK(dec == text);
      }
    }
  }
  void report(const std::string& what) const {
    MESSAGE(what, ": ", texts, " texts, ", bytes, " bytes, ", ids, " ids; mismatches: encode ", encode_mismatch,
            ", decode ", decode_mismatch, ", round trip ", roundtrip_mismatch);
    CHECK(texts > 0);
    CHECK(encode_mismatch == 0);
    CHECK(decode_mismatch == 0);
    CHECK(roundtrip_mismatch == 0);
  }
};

void compare_file_lines(const std::string& rel, const std::string& model_rel = kLlama) {
  const auto model = pmc::test::shared_file(model_rel);
  const auto file = pmc::test::shared_file(rel);
  if (model.empty() || file.empty()) PMC_SKIP("../shared/" + rel + " or the model absent");
  const auto tok = BpeTokenizer::load(model);
  const pmc::test::SpReference sp(model);
  Comparison cmp{tok, sp};
  // tok512 removes extra whitespace, so its decode is not the identity on such lines.
  cmp.check_roundtrip = model_rel == kLlama;
  size_t n = 0;
  for (const auto& line : pmc::test::read_lines(file)) cmp.run(line, (n++ % 7) == 0);
  cmp.report(rel);
}

/// The text fields that a QA evaluation actually tokenizes, from each benchmark's own layout.
std::vector<std::string> qa_fields(const std::string& rel) {
  std::vector<std::string> out;
  auto add = [&](const nlohmann::json& v) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  };
  const auto file = pmc::test::shared_file(rel);
  if (rel.find("pubmedqa") != std::string::npos) {
    const auto j = nlohmann::json::parse(pmc::test::read_text(file));
    for (const auto& [pmid, item] : j.items()) {
      add(item.at("QUESTION"));
      for (const auto& c : item.at("CONTEXTS")) add(c);
      add(item.at("LONG_ANSWER"));
    }
  } else if (rel.find("medqa") != std::string::npos) {
    for (const auto& line : pmc::test::read_lines(file)) {
      const auto j = nlohmann::json::parse(line);
      add(j.at("question"));
      for (const auto& [k, v] : j.at("options").items()) add(v);
    }
  } else if (rel.find("medmcqa") != std::string::npos) {
    for (const auto& line : pmc::test::read_lines(file)) {
      const auto j = nlohmann::json::parse(line);
      for (const char* k : {"question", "opa", "opb", "opc", "opd", "exp"})
        if (j.contains(k)) add(j.at(k));
    }
  }
  return out;
}

void compare_qa(const std::string& rel) {
  const auto model = pmc::test::shared_file(kLlama);
  if (model.empty() || pmc::test::shared_file(rel).empty()) PMC_SKIP("../shared/" + rel + " or the model absent");
  const auto tok = BpeTokenizer::load(model);
  const pmc::test::SpReference sp(model);
  Comparison cmp{tok, sp};
  for (const auto& text : qa_fields(rel)) cmp.run(text);
  cmp.report(rel + " (question/option/context fields)");
}

}  // namespace

TEST_CASE("sentencepiece compat: every line of the PubMedQA abstracts corpus") {
  compare_file_lines("data/corpus/pubmedqa_pqal_trainval_abstracts.txt");
}
TEST_CASE("sentencepiece compat: every line of the MedQuAD corpus") {
  compare_file_lines("data/corpus/medquad_small_niddk_ninds_mplus.txt");
}
TEST_CASE("sentencepiece compat: every line of the corpora with stories260K's tok512.model") {
  compare_file_lines("data/corpus/pubmedqa_pqal_trainval_abstracts.txt", kTok512);
}
TEST_CASE("sentencepiece compat: every line of MedQA (USMLE test jsonl)") { compare_file_lines("data/benchmarks/medqa/phrases_no_exclude_test.jsonl"); }
TEST_CASE("sentencepiece compat: the question/option/context fields of MedQA (USMLE test jsonl)") {
  compare_qa("data/benchmarks/medqa/phrases_no_exclude_test.jsonl");
}
TEST_CASE("sentencepiece compat: every line of MedMCQA dev") { compare_file_lines("data/benchmarks/medmcqa/dev.json"); }
TEST_CASE("sentencepiece compat: the question/option/context fields of MedMCQA dev") {
  compare_qa("data/benchmarks/medmcqa/dev.json");
}
TEST_CASE("sentencepiece compat: every line of PubMedQA ori_pqal.json") { compare_file_lines("data/benchmarks/pubmedqa/ori_pqal.json"); }
TEST_CASE("sentencepiece compat: the question/option/context fields of PubMedQA ori_pqal.json") {
  compare_qa("data/benchmarks/pubmedqa/ori_pqal.json");
}
TEST_CASE("sentencepiece compat: every line of the MMLU medical subjects") {
  for (const char* f : {"anatomy_test.csv", "clinical_knowledge_test.csv", "college_biology_test.csv",
                        "college_medicine_test.csv", "medical_genetics_test.csv", "professional_medicine_test.csv"})
    compare_file_lines(std::string("data/benchmarks/mmlu_medical/") + f);
}

namespace {

void compare_random_text(const std::string& rel) {
  {
    const auto model = pmc::test::shared_file(rel);
    if (model.empty()) PMC_SKIP("../shared/" + rel + " absent");
    const auto tok = BpeTokenizer::load(model);
    const pmc::test::SpReference sp(model);
    Comparison cmp{tok, sp};
    cmp.check_roundtrip = rel == kLlama;
    std::mt19937_64 rng(2024);
    for (int i = 0; i < 20000; ++i) cmp.run(pmc::test::random_text(rng, i % 100 == 0 ? 2000 : 60, i % 2 == 1), i % 5 == 0);
    cmp.report(rel + " random text");
  }
}

}  // namespace

TEST_CASE("sentencepiece compat: randomized Unicode text (scripts, emoji, controls, space runs, bad UTF-8), LLaMA") {
  compare_random_text(kLlama);
}
TEST_CASE("sentencepiece compat: randomized Unicode text (scripts, emoji, controls, space runs, bad UTF-8), tok512") {
  compare_random_text(kTok512);
}

TEST_CASE("sentencepiece compat: decoding random id sequences (bytes, controls, <unk>) matches") {
  for (const auto& rel : {kLlama, kTok512}) {
    const auto model = pmc::test::shared_file(rel);
    if (model.empty()) PMC_SKIP("../shared/" + rel + " absent");
    const auto tok = BpeTokenizer::load(model);
    const pmc::test::SpReference sp(model);
    std::mt19937_64 rng(99);
    size_t mismatches = 0;
    for (int i = 0; i < 20000; ++i) {
      std::vector<int32_t> ids(rng() % 12);
      for (auto& id : ids) {
        const int k = static_cast<int>(rng() % 10);
        id = k < 4 ? static_cast<int32_t>(3 + rng() % 256)  // byte pieces, often invalid UTF-8
             : k < 5 ? static_cast<int32_t>(rng() % 3)     // <unk>, <s>, </s>
                     : static_cast<int32_t>(rng() % static_cast<uint64_t>(tok.vocab_size()));
      }
      const std::string mine = tok.decode(ids), ref = sp.decode(ids);
      if (mine != ref && mismatches++ < 3) CHECK(mine == ref);
    }
    CHECK(mismatches == 0);
  }
}

namespace {

/// Writes `m` to the scratch folder and compares pmc and libsentencepiece on random text and corpus lines.
void compare_variant(const ModelProto& m, const std::string& name) {
  const auto path = pmc::test::tmp_dir() / ("variant_" + name + ".model");
  save_model_proto(m, path);
  const auto tok = BpeTokenizer::load(path);
  const pmc::test::SpReference sp(path);
  Comparison cmp{tok, sp};
  cmp.check_roundtrip = false;
  std::mt19937_64 rng(5);
  for (int i = 0; i < 4000; ++i) cmp.run(pmc::test::random_text(rng, 80, i % 3 == 0), i % 4 == 0);
  if (const auto corpus = pmc::test::shared_file("data/corpus/pubmedqa_pqal_trainval_abstracts.txt"); !corpus.empty()) {
    const auto lines = pmc::test::read_lines(corpus);
    for (size_t i = 0; i < lines.size(); i += 5) cmp.run(lines[i]);
  }
  cmp.report("variant " + name);
}

}  // namespace

TEST_CASE("sentencepiece compat: normalizer variants of a real model") {
  const auto model = pmc::test::shared_file(kTok512);
  if (model.empty()) PMC_SKIP("../shared/" + kTok512 + " absent");
  const ModelProto base = load_model_proto(model);
  {
    auto m = base;
    m.normalizer_spec->remove_extra_whitespaces = false;
    compare_variant(m, "keep_whitespace");
  }
  {
    auto m = base;
    m.normalizer_spec->add_dummy_prefix = false;
    m.normalizer_spec->remove_extra_whitespaces = false;
    compare_variant(m, "no_dummy_prefix");
  }
  {
    auto m = base;
    m.normalizer_spec->escape_whitespaces = false;
    compare_variant(m, "no_escape");
  }
}

TEST_CASE("sentencepiece compat: vocabulary variants of a real model") {
  const auto model = pmc::test::shared_file(kTok512);
  if (model.empty()) PMC_SKIP("../shared/" + kTok512 + " absent");
  const ModelProto base = load_model_proto(model);
  {
    auto m = base;  // no byte pieces: unknown characters become (collapsed) <unk>
    m.trainer_spec->byte_fallback = false;
    std::erase_if(m.pieces, [](const ModelPiece& p) { return p.type == PieceType::kByte; });
    compare_variant(m, "no_byte_fallback");
  }
  {
    auto m = base;  // UNUSED pieces are merged through and split back
    for (size_t i = 300; i < m.pieces.size(); i += 7) m.pieces[i].type = PieceType::kUnused;
    compare_variant(m, "unused");
  }
  {
    auto m = base;  // user-defined symbols are matched before normalization and never merged
    for (const char* u : {"<med>", "<ing>", "\xE2\x96\x81the\xE2\x96\x81", "mg/dL", "a b"})
      m.pieces.push_back(ModelPiece{u, 0.0f, PieceType::kUserDefined});
    compare_variant(m, "user_defined");
  }
  {
    auto m = base;  // a piece with U+2581 inside forces whole-line merging
    m.pieces.push_back(ModelPiece{"e\xE2\x96\x81t", 10.0f, PieceType::kNormal});
    compare_variant(m, "space_inside");
  }
  {
    auto m = base;
    m.trainer_spec->treat_whitespace_as_suffix = true;
    for (auto& p : m.pieces)
      if (p.type == PieceType::kNormal && p.piece.rfind("\xE2\x96\x81", 0) == 0 && p.piece.size() > 3)
        p.piece = p.piece.substr(3) + "\xE2\x96\x81";
    std::erase_if(m.pieces, [&, seen = std::set<std::string>()](const ModelPiece& p) mutable {
      return !seen.insert(p.piece).second;
    });
    compare_variant(m, "whitespace_suffix");
  }
}

TEST_CASE("sentencepiece compat: an nmt_nfkc model trained by libsentencepiece (precompiled charsmap)") {
  // Trains a small BPE model with sentencepiece's own trainer and default normalization (nmt_nfkc), which
  // exercises the double-array character map, extra-whitespace removal and NFKC rules such as full-width
  // letters and ligatures.
  std::mt19937_64 rng(11);
  const auto corpus = pmc::test::tmp_dir() / "nfkc_corpus.txt";
  {
    std::ofstream out(corpus, std::ios::binary);
    const char* words[] = {"the", "patient", "was", "given", "mg", "of", "insulin", "ﬁle", "ＡＢＣ", "①", "½",
                           "Ⅻ", "café", "naïve", "ｶﾀｶﾅ", "x²", "  ", "\t"};
    for (int i = 0; i < 3000; ++i) {
      for (int w = 0; w < 12; ++w) out << words[rng() % std::size(words)] << ' ';
      out << '\n';
    }
  }
  const auto prefix = pmc::test::tmp_dir() / "nfkc";
  const auto st = sentencepiece::SentencePieceTrainer::Train(
      "--input=" + corpus.string() + " --model_prefix=" + prefix.string() +
      " --model_type=bpe --vocab_size=390 --hard_vocab_limit=false --character_coverage=0.995 --byte_fallback=true --minloglevel=2"
      " --num_threads=1");
  REQUIRE_MESSAGE(st.ok(), st.ToString());
  ModelProto m = load_model_proto(prefix.string() + ".model");
  REQUIRE(!m.normalizer_spec->precompiled_charsmap.empty());
  compare_variant(m, "nmt_nfkc");
  std::string nfkc = "ＡＢＣ　ﬁle  ①  x";
  const auto tok = BpeTokenizer(m);
  const pmc::test::SpReference sp(prefix.string() + ".model");
  CHECK(tok.encode(nfkc) == sp.encode(nfkc));
}

#endif

}  // namespace sentencepiece_compat_test

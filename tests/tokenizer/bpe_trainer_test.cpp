// SPDX-License-Identifier: MIT
// The BPE trainer: learns a vocabulary from a generated corpus, writes a `.model` that libsentencepiece loads,
// and libsentencepiece and pmc then encode text (unseen characters included) identically.
#include <doctest/doctest.h>

#include <chrono>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <pmc/tokenizer/bpe.hpp>
#include <pmc/tokenizer/bpe_trainer.hpp>

#include "support/paths.hpp"
#include "tokenizer_test_support.hpp"

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace bpe_trainer_test {

using namespace pmc::tokenizer;

namespace {

/// About `bytes` of clinical-sounding sentences: Zipf-distributed words built from syllables, numbers with
/// units, punctuation, a little Greek/Cyrillic/CJK, and now and then a run of spaces.
std::vector<std::string> generate_corpus(size_t bytes, uint64_t seed) {
  static const char* kSyll[] = {"car", "di", "o", "my", "path", "y", "neu", "ro", "gen", "ic", "hep", "at",
                                "itis", "the", "ra", "py", "pa", "tient", "dose", "mg", "re", "nal", "in", "sul",
                                "in", "an", "ti", "bio", "tic", "ab", "do", "men", "pul", "mo", "nary", "ed", "ema"};
  static const char* kOther[] = {"αβγ", "белок", "病人", "°C", "μg", "±", "—", "…"};
  std::mt19937_64 rng(seed);
  std::vector<std::string> vocab;
  for (int i = 0; i < 20000; ++i) {
    std::string w;
    const int n = 1 + static_cast<int>(rng() % 5);
    for (int k = 0; k < n; ++k) w += kSyll[rng() % std::size(kSyll)];
    if (rng() % 9 == 0) w[0] = static_cast<char>(w[0] - 32);
    vocab.push_back(w);
  }
  std::vector<double> weights;
  for (size_t i = 0; i < vocab.size(); ++i) weights.push_back(1.0 / static_cast<double>(i + 1));
  std::discrete_distribution<size_t> zipf(weights.begin(), weights.end());
  std::vector<std::string> lines;
  size_t total = 0;
  while (total < bytes) {
    std::string line;
    const int n = 5 + static_cast<int>(rng() % 25);
    for (int k = 0; k < n; ++k) {
      if (k) line += rng() % 40 == 0 ? "   " : " ";
      const int r = static_cast<int>(rng() % 100);
      if (r < 6) {
        line += std::to_string(rng() % 1000);
        line += rng() % 2 ? " mg" : "%";
      } else if (r < 8) {
        line += kOther[rng() % std::size(kOther)];
      } else {
        line += vocab[zipf(rng)];
      }
      if (rng() % 10 == 0) line += ",.;:)"[rng() % 5];
    }
    line += '.';
    total += line.size() + 1;
    lines.push_back(std::move(line));
  }
  return lines;
}

}  // namespace

TEST_CASE("bpe trainer: learns a vocabulary of the requested size with LLaMA's layout") {
  const auto corpus = generate_corpus(200'000, 1);
  BpeTrainerOptions opt;
  opt.vocab_size = 1000;
  const ModelProto m = train_bpe(corpus, opt);
  REQUIRE(m.pieces.size() == 1000);
  CHECK(m.pieces[0].piece == "<unk>");
  CHECK(m.pieces[0].type == PieceType::kUnknown);
  CHECK(m.pieces[1].piece == "<s>");
  CHECK(m.pieces[2].piece == "</s>");
  CHECK(m.pieces[3].piece == "<0x00>");
  CHECK(m.pieces[258].piece == "<0xFF>");
  std::set<std::string> unique;
  for (size_t i = 0; i < m.pieces.size(); ++i) {
    CHECK(unique.insert(m.pieces[i].piece).second);
    if (i > 259) CHECK(m.pieces[i].score < m.pieces[i - 1].score);
    // No piece has U+2581 after another character, and digits stand alone.
    const std::string& p = m.pieces[i].piece;
    const size_t ws = p.find("\xE2\x96\x81", 1);
    if (ws != std::string::npos) CHECK(p.find_first_not_of("\xE2\x96\x81") == std::string::npos);
    if (p.size() > 1 && p.find_first_of("0123456789") != std::string::npos && p.find("<0x") != 0)
      CHECK(p.find_first_of("0123456789") == std::string::npos);
  }
  const auto tok = BpeTokenizer(m);
  // Frequent words become single pieces.
  const auto ids = tok.encode(corpus[0]);
  CHECK(ids.size() < corpus[0].size() / 3);
  CHECK(tok.decode(ids) == corpus[0]);
  CHECK_THROWS_AS(train_bpe(corpus, BpeTrainerOptions{.vocab_size = 100}), pmc::Error);
  CHECK_THROWS_AS(train_bpe(std::vector<std::string>{}, opt), pmc::Error);
}

TEST_CASE("bpe trainer: a 1 MB corpus trains 4000 pieces in seconds") {
  const auto corpus = generate_corpus(1'000'000, 2);
  BpeTrainerOptions opt;
  opt.vocab_size = 4000;
  const auto t0 = std::chrono::steady_clock::now();
  const ModelProto m = train_bpe(corpus, opt);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  MESSAGE("trained ", m.pieces.size(), " pieces from ", corpus.size(), " lines in ", s, " s");
  CHECK(m.pieces.size() == 4000);
  CHECK(s < 10.0);
}

#ifdef PMC_HAVE_SENTENCEPIECE
TEST_CASE("bpe trainer: libsentencepiece loads the saved .model and encodes exactly as pmc") {
  const auto corpus = generate_corpus(400'000, 3);
  BpeTrainerOptions opt;
  opt.vocab_size = 2000;
  opt.character_coverage = 0.995f;  // rare characters left to byte fallback
  const auto path = pmc::test::tmp_dir() / "trained_2000.model";
  save_bpe_model(train_bpe(corpus, opt), path);
  const auto tok = BpeTokenizer::load(path);
  pmc::test::SpReference sp(path);
  CHECK(sp.processor().GetPieceSize() == tok.vocab_size());
  std::vector<std::string> texts = generate_corpus(100'000, 4);  // unseen sentences
  texts.insert(texts.end(), corpus.begin(), corpus.begin() + 500);
  std::mt19937_64 rng(5);
  for (int i = 0; i < 3000; ++i) texts.push_back(pmc::test::random_text(rng, 80, i % 4 == 0));  // unseen chars
  if (const auto f = pmc::test::shared_file("data/corpus/pubmedqa_pqal_trainval_abstracts.txt"); !f.empty())
    for (const auto& l : pmc::test::read_lines(f)) texts.push_back(l);
  size_t mismatches = 0, byte_pieces = 0;
  for (const auto& t : texts) {
    const auto mine = tok.encode(t, true);
    if (mine != sp.encode(t, true) && mismatches++ < 3) CHECK(mine == sp.encode(t, true));
    for (auto id : mine) byte_pieces += tok.type(id) == PieceType::kByte;
    if (tok.decode(mine) != sp.decode(mine) && mismatches++ < 3) CHECK(tok.decode(mine) == sp.decode(mine));
  }
  MESSAGE(texts.size(), " texts compared, ", byte_pieces, " byte-fallback ids");
  CHECK(mismatches == 0);
  CHECK(byte_pieces > 0);
}

TEST_CASE("bpe trainer: a model trained on the shared corpus matches libsentencepiece on every line") {
  const auto f = pmc::test::shared_file("data/corpus/medquad_small_niddk_ninds_mplus.txt");
  if (f.empty()) PMC_SKIP("../shared corpus absent");
  BpeTrainerOptions opt;
  opt.vocab_size = 4000;
  const auto path = pmc::test::tmp_dir() / "medquad_4000.model";
  save_bpe_model(train_bpe_files(std::vector<std::filesystem::path>{f}, opt), path);
  const auto tok = BpeTokenizer::load(path);
  const pmc::test::SpReference sp(path);
  size_t mismatches = 0, n = 0;
  for (const auto& l : pmc::test::read_lines(f)) {
    ++n;
    if (tok.encode(l) != sp.encode(l) && mismatches++ < 3) CHECK(tok.encode(l) == sp.encode(l));
  }
  MESSAGE(n, " lines compared");
  CHECK(mismatches == 0);
}
#endif

}  // namespace bpe_trainer_test

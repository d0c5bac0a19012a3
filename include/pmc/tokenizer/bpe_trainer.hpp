// SPDX-License-Identifier: MIT
// pmc::tokenizer::train_bpe: learns a SentencePiece-compatible BPE vocabulary from text, in the style of
// sentencepiece's bpe_model_trainer, and produces a ModelProto that libsentencepiece and BpeTokenizer load.
//
// Algorithm (Sennrich et al. 2016, as sentencepiece runs it):
//   1. normalize every line (identity rules: ' ' -> U+2581, dummy prefix) and cut it into words before each
//      U+2581 that follows another character (a run of U+2581 stays one word), counting word frequencies;
//   2. keep the most frequent characters until `character_coverage` of all characters is covered (plus
//      `required_chars`); the others become an unknown symbol that never merges (byte fallback covers them
//      at encoding time);
//   3. repeat: merge the adjacent symbol pair with the highest frequency (ties: shorter, then lexicographically
//      smaller piece) into a new piece, skipping pieces sentencepiece deems invalid (too long, U+2581 other
//      than as a prefix or whole-whitespace piece, mixed Unicode scripts, digits with other characters when
//      `split_digits`);
//   4. the vocabulary is <unk>, <s>, </s>, the 256 byte pieces <0x00>..<0xFF>, the merged pieces in merge
//      order and then the characters by frequency, scored -rank so that encoding replays the merge order.
// Pair counts live in a hash map with the list of words containing each pair; a max-heap with lazy deletion
// finds the best pair (counts of existing pairs only ever fall), so a merge costs time in the words it touches.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <queue>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <pmc/core/error.hpp>
#include <pmc/tokenizer/normalizer.hpp>
#include <pmc/tokenizer/sentencepiece_model.hpp>

namespace pmc::tokenizer {

struct BpeTrainerOptions {
  int32_t vocab_size = 8000;            ///< total pieces, meta and byte pieces included
  float character_coverage = 0.9995f;   ///< fraction of character occurrences the alphabet must cover
  bool byte_fallback = true;            ///< add <0x00>..<0xFF> so that no text is ever <unk>
  int32_t max_piece_length = 16;        ///< in characters
  bool split_digits = true;             ///< every digit its own piece (LLaMA)
  bool split_by_unicode_script = true;  ///< no piece mixes scripts (e.g. letters and punctuation)
  bool allow_whitespace_only_pieces = true;  ///< pieces of several U+2581 (LLaMA)
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = false;  ///< LLaMA keeps runs of spaces
  std::string required_chars;             ///< characters always in the alphabet
};

namespace detail {

/// A coarse Unicode script classifier: enough to keep letters, digits, punctuation and the major scripts
/// apart, as sentencepiece's split_by_unicode_script does. Hiragana and Katakana count as Han.
enum class Script : int32_t {
  kCommon = 0, kLatin, kGreek, kCyrillic, kArmenian, kHebrew, kArabic, kIndic, kThai, kHangul, kHan, kInherited
};

inline int32_t script_of(char32_t c) {
  auto is = [&](char32_t lo, char32_t hi) { return c >= lo && c <= hi; };
  if (c < 0x80) {
    return ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ? static_cast<int32_t>(Script::kLatin)
                                                     : static_cast<int32_t>(Script::kCommon);
  }
  if (is(0xC0, 0x24F) && c != 0xD7 && c != 0xF7) return static_cast<int32_t>(Script::kLatin);
  if (is(0x1E00, 0x1EFF) || is(0xFF21, 0xFF3A) || is(0xFF41, 0xFF5A)) return static_cast<int32_t>(Script::kLatin);
  if (is(0x300, 0x36F) || is(0x200C, 0x200D) || is(0xFE00, 0xFE0F)) return static_cast<int32_t>(Script::kInherited);
  if (is(0x370, 0x3FF) || is(0x1F00, 0x1FFF)) return static_cast<int32_t>(Script::kGreek);
  if (is(0x400, 0x52F)) return static_cast<int32_t>(Script::kCyrillic);
  if (is(0x530, 0x58F)) return static_cast<int32_t>(Script::kArmenian);
  if (is(0x590, 0x5FF)) return static_cast<int32_t>(Script::kHebrew);
  if (is(0x600, 0x6FF) || is(0x750, 0x77F)) return static_cast<int32_t>(Script::kArabic);
  if (is(0x900, 0xDFF)) return static_cast<int32_t>(Script::kIndic) + static_cast<int32_t>((c - 0x900) >> 7) * 64;
  if (is(0xE00, 0xE7F)) return static_cast<int32_t>(Script::kThai);
  if (is(0x1100, 0x11FF) || is(0x3130, 0x318F) || is(0xAC00, 0xD7AF)) return static_cast<int32_t>(Script::kHangul);
  if (is(0x3040, 0x30FF) || is(0x3400, 0x4DBF) || is(0x4E00, 0x9FFF) || is(0xF900, 0xFAFF) ||
      is(0x20000, 0x3FFFF) || is(0xFF66, 0xFF9F))
    return static_cast<int32_t>(Script::kHan);
  if (is(0x80, 0xBF) || is(0x2000, 0x2BFF) || is(0x3000, 0x303F) || is(0xFF00, 0xFFEF) || is(0x1F000, 0x1FAFF))
    return static_cast<int32_t>(Script::kCommon);
  return 1000 + static_cast<int32_t>(c >> 7);  // other blocks: each its own script
}

inline bool is_decimal_digit(char32_t c) {
  return (c >= '0' && c <= '9') || (c >= 0x660 && c <= 0x669) || (c >= 0x966 && c <= 0x96F) ||
         (c >= 0xFF10 && c <= 0xFF19);
}

inline std::vector<char32_t> to_chars(std::string_view s) {
  std::vector<char32_t> out;
  for (size_t i = 0; i < s.size();) {
    size_t len;
    out.push_back(utf8::decode(s.substr(i), &len));
    i += len;
  }
  return out;
}

}  // namespace detail

/// Collects word frequencies from text, then learns the vocabulary. Memory grows with distinct words only.
class BpeTrainer {
 public:
  explicit BpeTrainer(BpeTrainerOptions options = {}) : opt_(std::move(options)) {
    NormalizerSpec ns;
    ns.name = "identity";
    ns.add_dummy_prefix = opt_.add_dummy_prefix;
    ns.remove_extra_whitespaces = opt_.remove_extra_whitespaces;
    ns.escape_whitespaces = true;
    normalizer_ = Normalizer(ns, false, {}, "trainer");
  }

  /// Adds one sentence (a line of text, without its newline).
  void add_text(std::string_view line) {
    normalizer_.normalize(line, norm_);
    // Cut before each U+2581 that follows a non-U+2581 character (sentencepiece's SplitIntoWords with
    // allow_whitespace_only_pieces; without it, before every U+2581).
    const std::string_view s(norm_);
    size_t start = 0;
    bool prev_ws = false;
    for (size_t i = 0; i < s.size();) {
      const size_t len = std::min(utf8::one_char_len(s[i]), s.size() - i);
      const bool ws = s.substr(i, len) == kSpaceSymbol;
      if (ws && i > start && (!prev_ws || !opt_.allow_whitespace_only_pieces)) {
        ++words_[std::string(s.substr(start, i - start))];
        start = i;
      }
      prev_ws = ws;
      i += len;
    }
    if (start < s.size()) ++words_[std::string(s.substr(start))];
    ++sentences_;
  }

  /// Adds every line of a text file.
  void add_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    PMC_CHECK(in.good(), path.string(), ": cannot open corpus file");
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      add_text(line);
    }
    PMC_CHECK(!in.bad(), path.string(), ": read error");
  }

  size_t sentences() const { return sentences_; }
  size_t distinct_words() const { return words_.size(); }

  /// Learns the vocabulary; throws pmc::Error when vocab_size cannot hold the meta pieces and alphabet.
  ModelProto train() const {
    PMC_CHECK(sentences_ > 0, "train_bpe: empty corpus");
    PMC_CHECK(opt_.character_coverage > 0.0f && opt_.character_coverage <= 1.0f,
              "train_bpe: character_coverage must be in (0, 1], got ", opt_.character_coverage);
    PMC_CHECK(opt_.max_piece_length >= 1, "train_bpe: max_piece_length must be >= 1");
    State st(opt_);
    st.load(words_);
    const int32_t meta = 3 + (opt_.byte_fallback ? 256 : 0);
    const int32_t alphabet = static_cast<int32_t>(st.alphabet.size());
    PMC_CHECK(opt_.vocab_size >= meta + alphabet, "train_bpe: vocab_size ", opt_.vocab_size,
              " is smaller than the meta pieces and alphabet (", meta, " + ", alphabet,
              "); raise vocab_size or lower character_coverage");
    st.run(static_cast<size_t>(opt_.vocab_size - meta - alphabet));
    return st.model(opt_);
  }

 private:
  /// The merge loop's state: symbols (characters, then merged pieces), words as symbol sequences, pair counts.
  struct State {
    explicit State(const BpeTrainerOptions& o) : opt(o) {}

    struct Word {
      std::vector<int32_t> syms;
      int64_t freq;
    };
    struct PairInfo {
      int64_t count = 0;
      bool valid = false;
      std::vector<int32_t> words;  // may hold stale or repeated entries; merging re-checks
    };
    struct HeapEntry {
      int64_t count;
      int32_t a, b;
    };

    const BpeTrainerOptions& opt;
    std::vector<std::string> sym_str;
    std::vector<std::vector<char32_t>> sym_chars;
    std::unordered_map<std::string, int32_t> sym_id;
    int32_t unk_sym = -1;
    std::vector<std::pair<char32_t, int64_t>> alphabet;  // by frequency, descending
    std::vector<Word> words;
    std::unordered_map<uint64_t, PairInfo> pairs;
    std::vector<HeapEntry> heap;
    std::vector<std::string> merged;  // final pieces in merge order
    std::vector<uint32_t> visited;
    uint32_t stamp = 0;

    static uint64_t key(int32_t a, int32_t b) {
      return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
    }

    int32_t symbol_for(const std::string& s) {
      auto [it, inserted] = sym_id.try_emplace(s, static_cast<int32_t>(sym_str.size()));
      if (inserted) {
        sym_str.push_back(s);
        sym_chars.push_back(detail::to_chars(s));
      }
      return it->second;
    }

    void load(const std::unordered_map<std::string, int64_t>& counts) {
      // Alphabet: required characters first, then by frequency until the coverage is reached.
      std::unordered_map<char32_t, int64_t> freq;
      int64_t total = 0;
      for (const auto& [w, n] : counts)
        for (char32_t c : detail::to_chars(w)) {
          if (c == 0) continue;
          freq[c] += n;
          total += n;
        }
      std::unordered_set<char32_t> required;
      for (char32_t c : detail::to_chars(opt.required_chars))
        if (c) required.insert(c);
      std::vector<std::pair<char32_t, int64_t>> sorted(freq.begin(), freq.end());
      for (char32_t c : required)
        if (!freq.count(c)) sorted.emplace_back(c, 0);
      std::sort(sorted.begin(), sorted.end(), [&](const auto& x, const auto& y) {
        const bool rx = required.count(x.first), ry = required.count(y.first);
        if (rx != ry) return rx;
        return x.second != y.second ? x.second > y.second : x.first < y.first;
      });
      int64_t covered = 0;
      std::unordered_set<char32_t> kept;
      for (const auto& [c, n] : sorted) {
        if (!required.count(c) && total > 0 &&
            static_cast<double>(covered) / static_cast<double>(total) >= opt.character_coverage)
          break;
        covered += n;
        kept.insert(c);
        alphabet.emplace_back(c, n);
      }
      for (const auto& [c, n] : alphabet) {
        std::string s;
        utf8::append(s, c);
        symbol_for(s);
      }
      unk_sym = symbol_for("\xE2\x96\x85");  // U+2585, sentencepiece's stand-in for uncovered characters
      for (const auto& [w, n] : counts) {
        Word word{{}, n};
        for (char32_t c : detail::to_chars(w)) {
          if (!kept.count(c)) {
            word.syms.push_back(unk_sym);
          } else {
            std::string s;
            utf8::append(s, c);
            word.syms.push_back(sym_id.at(s));
          }
        }
        words.push_back(std::move(word));
      }
      visited.assign(words.size(), 0);
      for (size_t wi = 0; wi < words.size(); ++wi) add_pairs(static_cast<int32_t>(wi), +1, -1);
      for (auto& [k, p] : pairs)
        if (p.valid && p.count > 0) heap.push_back({p.count, static_cast<int32_t>(k >> 32), static_cast<int32_t>(k & 0xFFFFFFFFu)});
      std::make_heap(heap.begin(), heap.end(), [this](const HeapEntry& x, const HeapEntry& y) { return worse(x, y); });
    }

    // sentencepiece's IsValidSentencePiece for the concatenation of two symbols.
    bool valid_piece(int32_t a, int32_t b) const {
      if (a == unk_sym || b == unk_sym) return false;
      std::vector<char32_t> cs = sym_chars[static_cast<size_t>(a)];
      const auto& cb = sym_chars[static_cast<size_t>(b)];
      cs.insert(cs.end(), cb.begin(), cb.end());
      if (cs.size() > static_cast<size_t>(opt.max_piece_length)) return false;
      const bool all_ws = std::all_of(cs.begin(), cs.end(), [](char32_t c) { return c == 0x2581; });
      int32_t prev = -1;
      for (size_t pos = 0; pos < cs.size(); ++pos) {
        const char32_t c = cs[pos];
        if (c == 0x2585 || c == 0 || c == ' ') return false;
        if (c == 0x2581) {
          if ((!opt.allow_whitespace_only_pieces || !all_ws) && pos > 0) return false;
          continue;
        }
        int32_t s = detail::script_of(c);
        if (s == static_cast<int32_t>(detail::Script::kInherited)) s = prev;
        if (opt.split_digits && detail::is_decimal_digit(c) && cs.size() > 1) return false;
        if (opt.split_by_unicode_script && s != -1 && prev != -1 && s != prev) return false;
        prev = s;
      }
      return true;
    }

    // Heap order: higher count first, then the shorter piece, then the lexicographically smaller one.
    bool worse(const HeapEntry& x, const HeapEntry& y) const {
      if (x.count != y.count) return x.count < y.count;
      const size_t lx = sym_chars[static_cast<size_t>(x.a)].size() + sym_chars[static_cast<size_t>(x.b)].size();
      const size_t ly = sym_chars[static_cast<size_t>(y.a)].size() + sym_chars[static_cast<size_t>(y.b)].size();
      if (lx != ly) return lx > ly;
      return concat_less(y, x);
    }
    bool concat_less(const HeapEntry& x, const HeapEntry& y) const {
      const std::string& xa = sym_str[static_cast<size_t>(x.a)];
      const std::string& xb = sym_str[static_cast<size_t>(x.b)];
      const std::string& ya = sym_str[static_cast<size_t>(y.a)];
      const std::string& yb = sym_str[static_cast<size_t>(y.b)];
      auto at = [](const std::string& a, const std::string& b, size_t i) {
        return static_cast<uint8_t>(i < a.size() ? a[i] : b[i - a.size()]);
      };
      const size_t nx = xa.size() + xb.size(), ny = ya.size() + yb.size();
      for (size_t i = 0; i < std::min(nx, ny); ++i) {
        const uint8_t cx = at(xa, xb, i), cy = at(ya, yb, i);
        if (cx != cy) return cx < cy;
      }
      return nx < ny;
    }

    // Adds (sign +1) or removes (-1) the pairs of word `wi`; new pairs involving `fresh` record the word.
    void add_pairs(int32_t wi, int sign, int32_t fresh) {
      const Word& w = words[static_cast<size_t>(wi)];
      for (size_t i = 1; i < w.syms.size(); ++i) {
        const int32_t a = w.syms[i - 1], b = w.syms[i];
        auto [it, inserted] = pairs.try_emplace(key(a, b));
        PairInfo& p = it->second;
        if (inserted) p.valid = valid_piece(a, b);
        if (!p.valid) continue;
        p.count += sign * w.freq;
        if (sign > 0 && (fresh < 0 || a == fresh || b == fresh)) {
          if (p.words.empty() || p.words.back() != wi) p.words.push_back(wi);
        }
      }
    }

    void push(int32_t a, int32_t b) {
      const PairInfo& p = pairs.at(key(a, b));
      if (!p.valid || p.count <= 0) return;
      heap.push_back({p.count, a, b});
      std::push_heap(heap.begin(), heap.end(), [this](const HeapEntry& x, const HeapEntry& y) { return worse(x, y); });
    }

    void run(size_t target) {
      auto cmp = [this](const HeapEntry& x, const HeapEntry& y) { return worse(x, y); };
      while (merged.size() < target && !heap.empty()) {
        std::pop_heap(heap.begin(), heap.end(), cmp);
        const HeapEntry top = heap.back();
        heap.pop_back();
        auto it = pairs.find(key(top.a, top.b));
        if (it == pairs.end() || !it->second.valid || it->second.count <= 0) continue;
        if (it->second.count != top.count) {  // stale: counts only fall, so re-queue with the current one
          push(top.a, top.b);
          continue;
        }
        const std::string piece = sym_str[static_cast<size_t>(top.a)] + sym_str[static_cast<size_t>(top.b)];
        it->second.valid = false;  // never selected again
        if (sym_id.count(piece)) continue;  // the same piece was formed by another path already
        const int32_t c = symbol_for(piece);
        merged.push_back(piece);
        const std::vector<int32_t> ws = std::move(it->second.words);
        ++stamp;
        std::vector<uint64_t> touched;
        for (const int32_t wi : ws) {
          if (visited[static_cast<size_t>(wi)] == stamp) continue;
          visited[static_cast<size_t>(wi)] = stamp;
          Word& w = words[static_cast<size_t>(wi)];
          bool found = false;
          for (size_t i = 1; i < w.syms.size() && !found; ++i) found = w.syms[i - 1] == top.a && w.syms[i] == top.b;
          if (!found) continue;
          add_pairs(wi, -1, -1);
          std::vector<int32_t> next;
          next.reserve(w.syms.size());
          for (size_t i = 0; i < w.syms.size(); ++i) {
            if (i + 1 < w.syms.size() && w.syms[i] == top.a && w.syms[i + 1] == top.b) {
              next.push_back(c);
              ++i;
            } else {
              next.push_back(w.syms[i]);
            }
          }
          w.syms = std::move(next);
          add_pairs(wi, +1, c);
          for (size_t i = 1; i < w.syms.size(); ++i)
            if (w.syms[i - 1] == c || w.syms[i] == c) touched.push_back(key(w.syms[i - 1], w.syms[i]));
        }
        std::sort(touched.begin(), touched.end());
        touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
        for (const uint64_t k : touched) push(static_cast<int32_t>(k >> 32), static_cast<int32_t>(k & 0xFFFFFFFFu));
      }
    }

    ModelProto model(const BpeTrainerOptions& o) const {
      ModelProto m;
      m.pieces.push_back({"<unk>", 0.0f, PieceType::kUnknown});
      m.pieces.push_back({"<s>", 0.0f, PieceType::kControl});
      m.pieces.push_back({"</s>", 0.0f, PieceType::kControl});
      if (o.byte_fallback) {
        for (int b = 0; b < 256; ++b) {
          char name[8];
          std::snprintf(name, sizeof name, "<0x%02X>", b);
          m.pieces.push_back({name, 0.0f, PieceType::kByte});
        }
      }
      std::unordered_set<std::string> taken;
      for (const auto& p : m.pieces) taken.insert(p.piece);
      float rank = 0.0f;
      for (const auto& p : merged)
        if (taken.insert(p).second) m.pieces.push_back({p, -(rank++), PieceType::kNormal});
      for (const auto& [c, n] : alphabet) {
        std::string s;
        utf8::append(s, c);
        if (taken.insert(s).second) m.pieces.push_back({s, -(rank++), PieceType::kNormal});
      }
      TrainerSpec ts;
      ts.model_type = ModelType::kBpe;
      ts.vocab_size = static_cast<int32_t>(m.pieces.size());
      ts.character_coverage = o.character_coverage;
      ts.max_sentencepiece_length = o.max_piece_length;
      ts.split_by_unicode_script = o.split_by_unicode_script;
      ts.split_digits = o.split_digits;
      ts.allow_whitespace_only_pieces = o.allow_whitespace_only_pieces;
      ts.byte_fallback = o.byte_fallback;
      ts.required_chars = o.required_chars;
      ts.num_threads = 1;
      ts.model_prefix = "pmc";
      m.trainer_spec = ts;
      NormalizerSpec ns;
      ns.name = "identity";
      ns.add_dummy_prefix = o.add_dummy_prefix;
      ns.remove_extra_whitespaces = o.remove_extra_whitespaces;
      ns.escape_whitespaces = true;
      m.normalizer_spec = ns;
      return m;
    }
  };

  BpeTrainerOptions opt_;
  Normalizer normalizer_;
  std::string norm_;
  std::unordered_map<std::string, int64_t> words_;
  size_t sentences_ = 0;
};

/// Learns a BPE model from lines of text.
inline ModelProto train_bpe(std::span<const std::string> lines, const BpeTrainerOptions& options = {}) {
  BpeTrainer t(options);
  for (const auto& l : lines) t.add_text(l);
  return t.train();
}

/// Learns a BPE model from the lines of text files.
inline ModelProto train_bpe_files(std::span<const std::filesystem::path> files, const BpeTrainerOptions& options = {}) {
  BpeTrainer t(options);
  for (const auto& f : files) t.add_file(f);
  return t.train();
}

/// Writes a trained (or any) model as a SentencePiece `.model` file.
inline void save_bpe_model(const ModelProto& model, const std::filesystem::path& path) { save_model_proto(model, path); }

}  // namespace pmc::tokenizer

// SPDX-License-Identifier: MIT
// pmc::tokenizer::BpeTokenizer: SentencePiece-compatible BPE encoding and decoding (LLaMA's tokenizer.model).
//
// Encoding follows sentencepiece's bpe::Model::Encode bit for bit:
//   1. normalize (identity for LLaMA: ' ' -> U+2581, a dummy U+2581 in front, malformed UTF-8 -> U+FFFD);
//   2. split into characters (user-defined symbols are matched first and never merged);
//   3. repeatedly merge the adjacent pair whose concatenation is a vocabulary piece with the highest score,
//      the leftmost on ties; pieces of type UNUSED may be merged through but are split back afterwards;
//   4. a symbol that is no piece becomes its UTF-8 bytes' <0xXX> pieces (byte fallback) or <unk>, with
//      consecutive <unk>s collapsed to one.
// Cost: the merge keeps the pairs in a binary heap and the symbols in a doubly-linked list, so a word of n
// characters costs O(n log n). When no mergeable piece has U+2581 after another character (true of models
// trained with split_by_whitespace, the default, LLaMA's included), no merge can cross the start of a U+2581 run that follows a
// non-U+2581 character, so the text is cut there into words, which are encoded independently and memoized
// in a per-thread cache; a line without spaces is one word and still costs O(n log n).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <pmc/core/error.hpp>
#include <pmc/tokenizer/normalizer.hpp>
#include <pmc/tokenizer/sentencepiece_model.hpp>

namespace pmc::tokenizer {

namespace detail {

inline uint64_t hash_bytes(const char* p, size_t n) {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xFF51AFD7ED558CCDull);
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    h = (h ^ v) * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 31;
    p += 8;
    n -= 8;
  }
  if (n) {
    uint64_t v = 0;
    std::memcpy(&v, p, n);
    h = (h ^ v) * 0x94D049BB133111EBull;
    h ^= h >> 29;
  }
  h *= 0xBF58476D1CE4E5B9ull;
  return h ^ (h >> 32);
}

/// Immutable open-addressing map from byte strings to int32 values; keys live in one arena.
class StringIdMap {
 public:
  /// Sizes an empty table for `n` keys (load factor <= 1/2).
  void reserve(size_t n) {
    size_t cap = 16;
    while (cap < n * 2 + 1) cap <<= 1;
    slots_.assign(cap, Slot{});
    mask_ = cap - 1;
    arena_.clear();
  }
  /// Builds from (key, value) items; the first of equal keys wins.
  void build(const std::vector<std::pair<std::string_view, int32_t>>& items) {
    reserve(items.size());
    for (const auto& [k, v] : items) insert(k, v);
  }
  /// Inserts unless present; returns false when the key was already there.
  bool insert(std::string_view k, int32_t v) {
    const uint64_t h = hash_bytes(k.data(), k.size());
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.value < 0) {
        s = Slot{static_cast<uint32_t>(h), static_cast<uint32_t>(arena_.size()), static_cast<uint32_t>(k.size()), v};
        arena_.append(k);
        return true;
      }
      if (s.hash == static_cast<uint32_t>(h) && key(s) == k) return false;
    }
  }
  int32_t find(std::string_view k) const {
    if (slots_.empty()) return -1;
    const uint64_t h = hash_bytes(k.data(), k.size());
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.value < 0) return -1;
      if (s.hash == static_cast<uint32_t>(h) && s.len == k.size() && std::memcmp(arena_.data() + s.off, k.data(), k.size()) == 0)
        return s.value;
    }
  }

 private:
  struct Slot {
    uint32_t hash = 0, off = 0, len = 0;
    int32_t value = -1;
  };
  std::string_view key(const Slot& s) const { return std::string_view(arena_).substr(s.off, s.len); }
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  std::string arena_;
};

/// Memo of word -> ids for one tokenizer on one thread; cleared when it grows past its budget.
class WordCache {
 public:
  static constexpr size_t kMaxEntries = 1 << 18;  // about 10 MB of words and ids per thread at most

  const int32_t* find(uint64_t owner, std::string_view w, uint64_t h, size_t* n) {
    if (owner != owner_) reset(owner);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.ids_len == kEmpty) return nullptr;
      if (s.hash == h && s.key_len == w.size() && std::memcmp(keys_.data() + s.key_off, w.data(), w.size()) == 0) {
        *n = s.ids_len;
        return ids_.data() + s.ids_off;
      }
    }
  }
  void insert(std::string_view w, uint64_t h, const int32_t* ids, size_t n) {
    if (size_ + 1 > (mask_ + 1) / 2) {
      if (size_ >= kMaxEntries) {
        reset(owner_);
      } else {
        grow();
      }
    }
    place(Slot{h, static_cast<uint32_t>(keys_.size()), static_cast<uint32_t>(w.size()),
               static_cast<uint32_t>(ids_.size()), static_cast<uint32_t>(n)});
    keys_.append(w);
    ids_.insert(ids_.end(), ids, ids + n);
    ++size_;
  }

 private:
  static constexpr uint32_t kEmpty = 0xFFFFFFFFu;
  struct Slot {
    uint64_t hash = 0;
    uint32_t key_off = 0, key_len = 0, ids_off = 0, ids_len = kEmpty;
  };
  void reset(uint64_t owner) {
    owner_ = owner;
    slots_.assign(1024, Slot{});
    mask_ = slots_.size() - 1;
    keys_.clear();
    ids_.clear();
    size_ = 0;
  }
  void place(const Slot& s) {
    for (size_t i = s.hash & mask_;; i = (i + 1) & mask_)
      if (slots_[i].ids_len == kEmpty) {
        slots_[i] = s;
        return;
      }
  }
  void grow() {
    std::vector<Slot> old(slots_.size() * 2, Slot{});
    old.swap(slots_);
    mask_ = slots_.size() - 1;
    for (const Slot& s : old)
      if (s.ids_len != kEmpty) place(s);
  }
  uint64_t owner_ = 0;
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  std::string keys_;
  std::vector<int32_t> ids_;
  size_t size_ = 0;
};

/// The ids of word `w` from `cache` (owned by tokenizer `uid`), or from merge(w, out) appended to `out` and
/// memoized; words longer than `max_cached` are merged without the cache.
template <class Merge>
void encode_memoized(WordCache& cache, uint64_t uid, std::string_view w, size_t max_cached, std::vector<int32_t>& out,
                     Merge&& merge) {
  if (w.size() > max_cached) {
    merge(w, out);
    return;
  }
  const uint64_t h = hash_bytes(w.data(), w.size());
  size_t cnt = 0;
  if (const int32_t* ids = cache.find(uid, w, h, &cnt)) {
    out.insert(out.end(), ids, ids + cnt);
    return;
  }
  const size_t before = out.size();
  merge(w, out);
  cache.insert(w, h, out.data() + before, out.size() - before);
}

inline uint64_t next_tokenizer_uid() {
  static std::atomic<uint64_t> counter{0};
  return ++counter;
}

}  // namespace detail

/// A SentencePiece BPE model loaded from a `.model` file, encoding and decoding as libsentencepiece does.
/// Thread-safe: encode/decode are const; each thread keeps its own word cache and scratch buffers.
class BpeTokenizer {
 public:
  BpeTokenizer() = default;

  /// Builds the tokenizer from a parsed model; `what` names the source in error messages.
  explicit BpeTokenizer(ModelProto model, const std::string& what = "<model>") : model_(std::move(model)) {
    init(what);
  }

  /// Loads a `.model` file; a truncated, corrupt or non-BPE file is a pmc::Error naming the file.
  static BpeTokenizer load(const std::filesystem::path& path) {
    return BpeTokenizer(load_model_proto(path), path.string());
  }
  static BpeTokenizer from_serialized(std::string_view data, const std::string& what = "<memory>") {
    return BpeTokenizer(parse_model_proto(data, what), what);
  }

  int32_t vocab_size() const { return static_cast<int32_t>(model_.pieces.size()); }
  int32_t unk_id() const { return unk_id_; }
  /// Id of the BOS / EOS / PAD piece when it is a control piece, else -1 (as sentencepiece).
  int32_t bos_id() const { return bos_id_; }
  int32_t eos_id() const { return eos_id_; }
  int32_t pad_id() const { return pad_id_; }
  bool byte_fallback() const { return byte_fallback_; }
  const ModelProto& model() const { return model_; }

  const std::string& id_to_piece(int32_t id) const {
    check_id(id);
    return model_.pieces[static_cast<size_t>(id)].piece;
  }
  /// The id of `piece`, or unk_id() when it is no piece (as sentencepiece's PieceToId).
  int32_t piece_to_id(std::string_view piece) const {
    const int32_t id = any_.find(piece);
    return id >= 0 ? id : unk_id_;
  }
  float score(int32_t id) const {
    check_id(id);
    return model_.pieces[static_cast<size_t>(id)].score;
  }
  PieceType type(int32_t id) const {
    check_id(id);
    return types_[static_cast<size_t>(id)];
  }

  /// Encodes UTF-8 text (malformed bytes allowed) to ids; `bos`/`eos` add the control pieces.
  std::vector<int32_t> encode(std::string_view text, bool bos = false, bool eos = false) const {
    std::vector<int32_t> ids;
    encode_append(text, ids, bos, eos);
    return ids;
  }

  /// Appends the ids of `text` to `out` (no allocation when `out` has capacity).
  void encode_append(std::string_view text, std::vector<int32_t>& out, bool bos = false, bool eos = false) const {
    if (bos) {
      PMC_CHECK(bos_id_ >= 0, "tokenizer: no BOS piece '", bos_piece(), "' of type CONTROL in this model");
      out.push_back(bos_id_);
    }
    Scratch& sc = scratch();
    normalizer_.normalize(text, sc.norm);
    const std::string_view norm(sc.norm);
    const size_t first = out.size();
    if (!norm.empty()) {
      if (split_words_) {
        encode_words(norm, out, sc);
      } else {
        encode_symbols(norm, out, sc);
      }
      if (!byte_fallback_) collapse_unknown(out, first);
    }
    if (eos) {
      PMC_CHECK(eos_id_ >= 0, "tokenizer: no EOS piece '", eos_piece(), "' of type CONTROL in this model");
      out.push_back(eos_id_);
    }
  }

  /// Empties the calling thread's word cache (benchmarks use it to measure encoding from a cold start).
  static void clear_thread_cache() { scratch().cache = detail::WordCache{}; }

  /// Decodes ids to text as sentencepiece's DecodeIds: control pieces vanish, <unk> becomes unk_surface,
  /// runs of byte pieces are reassembled into UTF-8 (each malformed byte -> U+FFFD), U+2581 -> ' ', and
  /// the U+2581 of the dummy prefix is dropped from the first piece. An id outside the vocabulary is an error.
  std::string decode(std::span<const int32_t> ids) const {
    std::string text;
    std::string bytes;
    auto flush_bytes = [&] {
      size_t off = 0;
      while (off < bytes.size()) {
        size_t len;
        const std::string_view rest = std::string_view(bytes).substr(off);
        if (utf8::valid_prefix(rest, &len)) {
          text.append(rest.substr(0, len));
        } else {
          text.append(kReplacementChar);
        }
        off += len;
      }
      bytes.clear();
    };
    const NormalizerSpec& ns = normalizer_.spec();
    const bool strip_bos_ws = ns.add_dummy_prefix || ns.remove_extra_whitespaces;
    bool is_bos_ws = true, bos_ws_seen = false;
    for (const int32_t raw : ids) {
      PMC_CHECK(raw >= 0 && raw < vocab_size(), "tokenizer: invalid id ", raw, " (vocabulary size ", vocab_size(), ")");
      const std::string_view piece = model_.pieces[static_cast<size_t>(raw)].piece;
      const int32_t id = decode_id_[static_cast<size_t>(raw)];
      const PieceType t = types_[static_cast<size_t>(id)];
      if (t == PieceType::kByte) {
        bytes.push_back(static_cast<char>(byte_value_[static_cast<size_t>(id)]));
        continue;
      }
      flush_bytes();
      if (bos_ws_seen || !text.empty()) is_bos_ws = false;
      bos_ws_seen = false;
      if (t == PieceType::kControl) continue;
      if (t == PieceType::kUnknown) {
        text.append(model_.pieces[static_cast<size_t>(id)].piece == piece ? std::string_view(unk_surface())
                                                                            : piece);
        continue;
      }
      std::string_view p = piece;
      if (is_bos_ws && strip_bos_ws && p.substr(0, kSpaceSymbol.size()) == kSpaceSymbol) {
        p.remove_prefix(kSpaceSymbol.size());
        bos_ws_seen = !ns.remove_extra_whitespaces;
      }
      append_unescaped(text, p);
    }
    flush_bytes();
    if (has_denormalizer_) {
      std::string out;
      denormalizer_.normalize(text, out);
      return out;
    }
    return text;
  }
  std::string decode(const std::vector<int32_t>& ids) const { return decode(std::span<const int32_t>(ids)); }

 private:
  struct Symbol {
    int32_t prev, next;
    uint32_t begin, len;
    int32_t id;  // mergeable piece id once merged (or a matched user-defined symbol), else -1
    bool freeze;
  };
  struct Pair {
    float score;
    int32_t left, right;
    uint32_t size;
    int32_t id;
  };
  // Max-heap order: higher score first, then the leftmost pair (sentencepiece's SymbolPairComparator).
  struct PairLess {
    bool operator()(const Pair& a, const Pair& b) const {
      return a.score < b.score || (a.score == b.score && a.left > b.left);
    }
  };
  struct Scratch {
    std::string norm;
    std::vector<Symbol> symbols;
    std::vector<Pair> heap;
    std::vector<int32_t> word_ids;
    std::unordered_map<std::string_view, std::pair<std::string_view, std::string_view>> rev_merge;
    detail::WordCache cache;
  };
  static Scratch& scratch() {
    thread_local Scratch s;
    return s;
  }

  static constexpr size_t kMaxCachedWord = 128;

  // both arms string_view: with a std::string arm the result would view a temporary copy (dangling)
  std::string_view bos_piece() const {
    return model_.trainer_spec ? std::string_view(model_.trainer_spec->bos_piece) : std::string_view("<s>");
  }
  std::string_view eos_piece() const {
    return model_.trainer_spec ? std::string_view(model_.trainer_spec->eos_piece) : std::string_view("</s>");
  }
  std::string_view unk_surface() const {
    return model_.trainer_spec ? std::string_view(model_.trainer_spec->unk_surface) : " \xE2\x81\x87 ";
  }

  void check_id(int32_t id) const {
    PMC_CHECK(id >= 0 && id < vocab_size(), "tokenizer: invalid id ", id, " (vocabulary size ", vocab_size(), ")");
  }

  static void append_unescaped(std::string& out, std::string_view p) {
    size_t pos;
    while ((pos = p.find(kSpaceSymbol)) != std::string_view::npos) {
      out.append(p.substr(0, pos));
      out += ' ';
      p.remove_prefix(pos + kSpaceSymbol.size());
    }
    out.append(p);
  }

  static int parse_byte_piece(std::string_view p) {
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    if (p.size() != 6 || p.substr(0, 3) != "<0x" || p[5] != '>') return -1;
    const int hi = hex(p[3]), lo = hex(p[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
  }

  // Builds the lookup tables and validates the model as sentencepiece's ModelInterface::InitializePieces.
  void init(const std::string& what) {
    PMC_CHECK(model_.trainer_spec.has_value(), what,
              ": not a usable SentencePiece model (no trainer_spec; the file may be truncated)");
    // sentencepiece writes pieces, trainer_spec, normalizer_spec in this order, so a missing spec means a
    // file cut short at a field boundary, which protobuf itself cannot tell from a complete message.
    PMC_CHECK(model_.normalizer_spec.has_value(), what,
              ": not a usable SentencePiece model (no normalizer_spec; the file may be truncated)");
    const TrainerSpec& ts = *model_.trainer_spec;
    PMC_CHECK(ts.model_type == ModelType::kBpe, what, ": only BPE SentencePiece models are supported (model_type ",
              static_cast<int>(ts.model_type), ")");
    PMC_CHECK(!model_.pieces.empty(), what, ": SentencePiece model has no pieces");
    PMC_CHECK(model_.pieces.size() < (1u << 30), what, ": too many pieces");
    byte_fallback_ = ts.byte_fallback;
    const size_t n = model_.pieces.size();
    types_.resize(n);
    scores_.resize(n);
    byte_value_.assign(n, -1);
    std::vector<std::pair<std::string_view, int32_t>> normal, reserved;
    std::vector<std::string> user_defined;
    std::vector<bool> byte_found(256, false);
    unk_id_ = -1;
    for (size_t i = 0; i < n; ++i) {
      const ModelPiece& p = model_.pieces[i];
      PMC_CHECK(!p.piece.empty(), what, ": corrupt SentencePiece model (piece ", i, " is empty)");
      types_[i] = p.type;
      scores_[i] = p.score;
      const bool mergeable =
          p.type == PieceType::kNormal || p.type == PieceType::kUserDefined || p.type == PieceType::kUnused;
      (mergeable ? normal : reserved).emplace_back(p.piece, static_cast<int32_t>(i));
      if (p.type == PieceType::kUserDefined) user_defined.push_back(p.piece);
      if (p.type == PieceType::kUnused) has_unused_ = true;
      if (p.type == PieceType::kUnknown) {
        PMC_CHECK(unk_id_ < 0, what, ": corrupt SentencePiece model (a second <unk> piece at id ", i, ")");
        unk_id_ = static_cast<int32_t>(i);
      }
      if (p.type == PieceType::kByte) {
        PMC_CHECK(byte_fallback_, what, ": corrupt SentencePiece model (byte piece ", p.piece,
                  " although byte_fallback is false)");
        const int b = parse_byte_piece(p.piece);
        PMC_CHECK(b >= 0, what, ": corrupt SentencePiece model (invalid byte piece '", p.piece, "')");
        byte_found[static_cast<size_t>(b)] = true;
        byte_value_[i] = b;
      }
    }
    PMC_CHECK(unk_id_ >= 0, what, ": corrupt SentencePiece model (no <unk> piece)");
    if (byte_fallback_)
      PMC_CHECK(std::find(byte_found.begin(), byte_found.end(), false) == byte_found.end(), what,
                ": corrupt SentencePiece model (byte_fallback is set but not all 256 byte pieces exist)");
    // Duplicates are checked per map, as sentencepiece keeps normal and reserved pieces apart.
    pieces_ = build_unique(normal, what);
    reserved_ = build_unique(reserved, what);
    // PieceToId: reserved pieces first, then the others.
    std::vector<std::pair<std::string_view, int32_t>> all = reserved;
    all.insert(all.end(), normal.begin(), normal.end());
    any_.build(all);
    decode_id_.resize(n);
    for (size_t i = 0; i < n; ++i) decode_id_[i] = piece_to_id(model_.pieces[i].piece);
    for (int c = 0; c < 128; ++c) {
      const char ch = static_cast<char>(c);
      ascii_id_[static_cast<size_t>(c)] = piece_to_id(std::string_view(&ch, 1));
    }
    for (int b = 0; b < 256; ++b) {
      char name[8];
      std::snprintf(name, sizeof name, "<0x%02X>", b);
      byte_id_[static_cast<size_t>(b)] = piece_to_id(name);
    }
    auto control_id = [&](const std::string& piece) {
      const int32_t id = piece_to_id(piece);
      return types_[static_cast<size_t>(id)] == PieceType::kControl ? id : -1;
    };
    bos_id_ = control_id(ts.bos_piece);
    eos_id_ = control_id(ts.eos_piece);
    pad_id_ = control_id(ts.pad_piece);
    has_user_defined_ = !user_defined.empty();
    max_user_len_ = 0;
    for (const auto& u : user_defined) max_user_len_ = std::max(max_user_len_, u.size());

    NormalizerSpec ns = model_.normalizer_spec.value_or(NormalizerSpec{});
    normalizer_ = Normalizer(ns, ts.treat_whitespace_as_suffix, user_defined, what);
    has_denormalizer_ = model_.denormalizer_spec && !model_.denormalizer_spec->precompiled_charsmap.empty();
    if (has_denormalizer_) denormalizer_ = Normalizer(*model_.denormalizer_spec, false, {}, what);

    // Words may be encoded apart only if no mergeable piece has U+2581 right after another character,
    // and no UNUSED piece exists (their split-back memo is shared by the whole line in sentencepiece).
    split_words_ = !has_unused_;
    for (const auto& [k, v] : normal) {
      for (size_t pos = k.find(kSpaceSymbol, 1); pos != std::string_view::npos; pos = k.find(kSpaceSymbol, pos + 1)) {
        if (pos < kSpaceSymbol.size() || k.substr(pos - kSpaceSymbol.size(), kSpaceSymbol.size()) != kSpaceSymbol) {
          split_words_ = false;
          break;
        }
      }
      if (!split_words_) break;
    }
    uid_ = detail::next_tokenizer_uid();
  }

  static detail::StringIdMap build_unique(const std::vector<std::pair<std::string_view, int32_t>>& items,
                                          const std::string& what) {
    detail::StringIdMap m;
    m.reserve(items.size());
    for (const auto& [k, v] : items)
      PMC_CHECK(m.insert(k, v), what, ": corrupt SentencePiece model (piece '", k, "' is defined twice, id ", v, ")");
    return m;
  }

  // Length of the user-defined symbol at the start of `s` (longest), 0 if none.
  size_t match_user(std::string_view s) const {
    for (size_t len = std::min(max_user_len_, s.size()); len > 0; --len) {
      const int32_t id = pieces_.find(s.substr(0, len));
      if (id >= 0 && types_[static_cast<size_t>(id)] == PieceType::kUserDefined) return len;
    }
    return 0;
  }

  // Cuts `norm` before each U+2581 run that follows another character and encodes the words.
  void encode_words(std::string_view norm, std::vector<int32_t>& out, Scratch& sc) const {
    const char* s = norm.data();
    const size_t n = norm.size();
    size_t start = 0;
    size_t i = 0;
    while (i < n) {
      // U+2581 is E2 96 81; the character before position i is U+2581 iff the 3 bytes before are.
      const void* hit = std::memchr(s + i, '\xE2', n - i);
      if (!hit) break;
      i = static_cast<size_t>(static_cast<const char*>(hit) - s);
      if (i + 3 <= n && s[i + 1] == '\x96' && s[i + 2] == '\x81') {
        if (i > start && !(i >= 3 && s[i - 3] == '\xE2' && s[i - 2] == '\x96' && s[i - 1] == '\x81')) {
          encode_word(norm.substr(start, i - start), out, sc);
          start = i;
        }
        i += 3;
      } else {
        ++i;
      }
    }
    encode_word(norm.substr(start), out, sc);
  }

  void encode_word(std::string_view w, std::vector<int32_t>& out, Scratch& sc) const {
    detail::encode_memoized(sc.cache, uid_, w, kMaxCachedWord, out,
                            [&](std::string_view x, std::vector<int32_t>& o) { encode_symbols(x, o, sc); });
  }

  void emit(std::string_view piece, int32_t id, std::vector<int32_t>& out) const {
    if (id == unk_id_ && byte_fallback_) {
      for (const char b : piece) out.push_back(byte_id_[static_cast<uint8_t>(b)]);
    } else {
      out.push_back(id);
    }
  }

  // sentencepiece merges consecutive <unk> pieces into one (when byte fallback is off).
  void collapse_unknown(std::vector<int32_t>& out, size_t first) const {
    size_t w = first;
    for (size_t r = first; r < out.size(); ++r) {
      if (out[r] == unk_id_ && w > first && out[w - 1] == unk_id_) continue;
      out[w++] = out[r];
    }
    out.resize(w);
  }

  void resegment(std::string_view w, std::vector<int32_t>& out, const Scratch& sc) const {
    const int32_t id = piece_to_id(w);
    if (types_[static_cast<size_t>(id)] != PieceType::kUnused) {
      emit(w, id, out);
      return;
    }
    const auto it = sc.rev_merge.find(w);
    if (it == sc.rev_merge.end()) {
      emit(w, id, out);
      return;
    }
    resegment(it->second.first, out, sc);
    resegment(it->second.second, out, sc);
  }

  /// The BPE merge over one string (a word or a whole line): heap of candidate pairs + linked symbols.
  void encode_symbols(std::string_view s, std::vector<int32_t>& out, Scratch& sc) const {
    auto& sy = sc.symbols;
    sy.clear();
    const char* base = s.data();
    for (size_t pos = 0; pos < s.size();) {
      size_t len = 0;
      bool freeze = false;
      if (has_user_defined_) {
        len = match_user(s.substr(pos));
        freeze = len > 0;
      }
      if (!len) len = std::min(utf8::one_char_len(s[pos]), s.size() - pos);
      const auto idx = static_cast<int32_t>(sy.size());
      sy.push_back(Symbol{idx - 1, idx + 1, static_cast<uint32_t>(pos), static_cast<uint32_t>(len), -1, freeze});
      pos += len;
    }
    sy.back().next = -1;

    if (sy.size() > 1) {
      auto& heap = sc.heap;
      heap.clear();
      const bool track_unused = has_unused_;
      if (track_unused) sc.rev_merge.clear();
      auto maybe_add = [&](int32_t l, int32_t r) {
        if (l < 0 || r < 0 || sy[l].freeze || sy[r].freeze) return;
        const std::string_view piece(base + sy[l].begin, sy[l].len + sy[r].len);
        const int32_t id = pieces_.find(piece);
        if (id < 0) return;
        heap.push_back(Pair{scores_[static_cast<size_t>(id)], l, r, static_cast<uint32_t>(piece.size()), id});
        std::push_heap(heap.begin(), heap.end(), PairLess{});
        if (track_unused && types_[static_cast<size_t>(id)] == PieceType::kUnused)
          sc.rev_merge[piece] = {std::string_view(base + sy[l].begin, sy[l].len),
                                 std::string_view(base + sy[r].begin, sy[r].len)};
      };
      for (size_t i = 1; i < sy.size(); ++i) maybe_add(static_cast<int32_t>(i - 1), static_cast<int32_t>(i));
      while (!heap.empty()) {
        std::pop_heap(heap.begin(), heap.end(), PairLess{});
        const Pair top = heap.back();
        heap.pop_back();
        Symbol& L = sy[top.left];
        Symbol& R = sy[top.right];
        // A stale pair: one side was merged away or grew since the pair was pushed.
        if (L.len == 0 || R.len == 0 || L.len + R.len != top.size) continue;
        L.len += R.len;
        L.id = top.id;
        L.next = R.next;
        if (R.next >= 0) sy[R.next].prev = top.left;
        R.len = 0;
        maybe_add(L.prev, top.left);
        maybe_add(top.left, L.next);
      }
    }

    for (int32_t i = 0; i != -1; i = sy[i].next) {
      const Symbol& x = sy[i];
      const std::string_view piece(base + x.begin, x.len);
      int32_t id;
      if (x.id >= 0 || x.freeze) {
        // A merged symbol is a mergeable piece, but PieceToId prefers a reserved piece of the same text.
        if (has_unused_) {
          resegment(piece, out, sc);
          continue;
        }
        id = decode_id_[static_cast<size_t>(x.id >= 0 ? x.id : piece_to_id(piece))];
      } else if (x.len == 1 && static_cast<uint8_t>(*piece.data()) < 0x80) {
        id = ascii_id_[static_cast<uint8_t>(*piece.data())];
      } else {
        id = piece_to_id(piece);
      }
      emit(piece, id, out);
    }
  }

  ModelProto model_;
  std::vector<PieceType> types_;
  std::vector<float> scores_;
  std::vector<int> byte_value_;
  std::vector<int32_t> decode_id_;  // PieceToId(IdToPiece(id)): differs only for duplicated texts
  detail::StringIdMap pieces_;      // NORMAL, USER_DEFINED, UNUSED: the pieces merges may form
  detail::StringIdMap reserved_;    // CONTROL, UNKNOWN, BYTE
  detail::StringIdMap any_;         // PieceToId: reserved first
  int32_t ascii_id_[128] = {};
  int32_t byte_id_[256] = {};
  int32_t unk_id_ = 0, bos_id_ = -1, eos_id_ = -1, pad_id_ = -1;
  bool byte_fallback_ = false, has_unused_ = false, has_user_defined_ = false, split_words_ = true;
  bool has_denormalizer_ = false;
  size_t max_user_len_ = 0;
  Normalizer normalizer_, denormalizer_;
  uint64_t uid_ = 0;
};

}  // namespace pmc::tokenizer

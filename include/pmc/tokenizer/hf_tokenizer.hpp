// SPDX-License-Identifier: MIT
// pmc::tokenizer::HfTokenizer: a Hugging Face `tokenizer.json` with a BPE model, encoding and decoding as the
// `tokenizers` library does (Llama-3, Qwen2 and GPT-2's byte-level BPE; LLaMA-2 and Mistral's SentencePiece-style
// BPE with byte fallback).
//
// encode(text) runs the library's pipeline:
//   1. added tokens whose `normalized` is false are cut out of the raw text (leftmost-longest; lstrip/rstrip
//      swallow the whitespace beside them; single_word ones only between non-word characters);
//   2. each remaining segment is normalized (Prepend, Replace, NFC, in a Sequence), and added tokens whose
//      `normalized` is true are cut out of the normalized text;
//   3. each segment is pre-tokenized into words (Split with a known regex, ByteLevel, Metaspace, Sequence);
//   4. each word is BPE-encoded: its characters, looked up in the vocabulary (a missing one becomes its
//      <0xXX> byte pieces with byte_fallback, else unk_token, fused when fuse_unk), are merged repeatedly at
//      the pair of lowest merge rank, the leftmost on ties; with ignore_merges a word that is itself in the
//      vocabulary is one token;
//   5. with special tokens requested, the TemplateProcessing post-processor adds its special tokens around.
// decode(ids) maps ids to tokens (dropping special added tokens when asked) and runs the decoder chain
// (ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace, Sequence).
// Anything else in the file (another model type, normalizer, pre-tokenizer or regex) is refused with a message
// naming the file and the key, never approximated.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <pmc/core/error.hpp>
#include <pmc/io/mapped_file.hpp>
#include <pmc/tokenizer/bpe.hpp>
#include <pmc/tokenizer/pre_tokenizer.hpp>
#include <pmc/tokenizer/unicode.hpp>

namespace pmc::tokenizer {

/// An entry of tokenizer.json's added_tokens.
struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool single_word = false, lstrip = false, rstrip = false, normalized = false, special = false;
};

class HfTokenizer {
 public:
  HfTokenizer() = default;

  /// Loads a tokenizer.json; anything malformed or unsupported is a pmc::Error naming the file and the key.
  static HfTokenizer load(const std::filesystem::path& path) {
    const auto map = io::MappedFile::open(path);
    const auto* p = reinterpret_cast<const char*>(map->data());
    return from_json(std::string_view(p, map->size()), path.string());
  }
  static HfTokenizer from_json(std::string_view text, const std::string& what = "tokenizer.json") {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(text.begin(), text.end());
    } catch (const nlohmann::json::exception& e) {
      fail(what, ": malformed JSON: ", e.what());
    }
    HfTokenizer t;
    t.parse(j, what);
    return t;
  }

  /// One past the largest id of the vocabulary and the added tokens.
  int32_t vocab_size() const { return static_cast<int32_t>(id_to_token_.size()); }
  int32_t unk_id() const { return unk_id_; }
  /// BOS / EOS: the special tokens TemplateProcessing puts before / after a single sequence, or the usual
  /// names (<s>, <|begin_of_text|>; </s>, <|end_of_text|>, <|endoftext|>) among the added tokens, else -1;
  /// set_special_ids overrides them (tokenizer_config.json, config.json).
  int32_t bos_id() const { return bos_id_; }
  int32_t eos_id() const { return eos_id_; }
  int32_t pad_id() const { return pad_id_; }
  void set_special_ids(std::optional<int32_t> bos, std::optional<int32_t> eos, std::optional<int32_t> pad) {
    auto set = [&](std::optional<int32_t> v, int32_t& dst, const char* name) {
      if (!v) return;
      PMC_CHECK(*v >= -1 && *v < vocab_size(), what_, ": ", name, " id ", *v, " is outside the vocabulary (size ",
                vocab_size(), ")");
      dst = *v;
    };
    set(bos, bos_id_, "bos");
    set(eos, eos_id_, "eos");
    set(pad, pad_id_, "pad");
  }
  const std::vector<AddedToken>& added_tokens() const { return added_; }
  bool byte_level() const { return byte_level_; }

  const std::string& id_to_piece(int32_t id) const {
    check_id(id);
    return id_to_token_[static_cast<size_t>(id)];
  }
  /// The id of an added token or vocabulary entry, or unk_id() (-1 when there is no unk token).
  int32_t piece_to_id(std::string_view piece) const {
    for (const AddedToken& a : added_)
      if (a.content == piece) return a.id;
    const int32_t id = vocab_.find(piece);
    return id >= 0 ? id : unk_id_;
  }
  bool is_special(int32_t id) const {
    check_id(id);
    return special_[static_cast<size_t>(id)];
  }

  /// encode(text, add_special_tokens) as the `tokenizers` library.
  std::vector<int32_t> encode_hf(std::string_view text, bool add_special_tokens) const {
    std::vector<int32_t> ids;
    if (add_special_tokens) ids.insert(ids.end(), template_before_.begin(), template_before_.end());
    encode_text(text, ids);
    if (add_special_tokens) ids.insert(ids.end(), template_after_.begin(), template_after_.end());
    return ids;
  }

  /// The text's ids without the template, with the BOS / EOS ids added when asked (as BpeTokenizer::encode).
  std::vector<int32_t> encode(std::string_view text, bool bos = false, bool eos = false) const {
    std::vector<int32_t> ids;
    encode_append(text, ids, bos, eos);
    return ids;
  }
  void encode_append(std::string_view text, std::vector<int32_t>& out, bool bos = false, bool eos = false) const {
    if (bos) {
      PMC_CHECK(bos_id_ >= 0, what_, ": this tokenizer has no BOS token");
      out.push_back(bos_id_);
    }
    encode_text(text, out);
    if (eos) {
      PMC_CHECK(eos_id_ >= 0, what_, ": this tokenizer has no EOS token");
      out.push_back(eos_id_);
    }
  }

  /// Empties the calling thread's word cache (benchmarks use it to measure encoding from a cold start).
  static void clear_thread_cache() { scratch().cache = detail::WordCache{}; }

  /// decode(ids, skip_special_tokens) as the `tokenizers` library; an id outside the vocabulary is an error.
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = true) const {
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (const int32_t id : ids) {
      check_id(id);
      if (skip_special_tokens && special_[static_cast<size_t>(id)]) continue;
      tokens.push_back(id_to_token_[static_cast<size_t>(id)]);
    }
    if (decoders_.empty()) {
      std::string out;
      for (size_t i = 0; i < tokens.size(); ++i) {
        if (i) out += ' ';
        out += tokens[i];
      }
      return out;
    }
    for (const Decoder& d : decoders_) apply(d, tokens);
    std::string out;
    for (const auto& t : tokens) out += t;
    return out;
  }
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = true) const {
    return decode(std::span<const int32_t>(ids), skip_special_tokens);
  }

 private:
  // ---- the pipeline's parts, as read from the file ----
  struct NormalizerStep {
    enum Kind : std::uint8_t { prepend, replace, nfc } kind;
    std::string a, b;  // prepend: a; replace: a -> b
  };
  struct PreTokenizerStep {
    enum Kind : std::uint8_t { split, byte_level, metaspace } kind;
    SplitPattern pattern = SplitPattern::gpt2;  // split; byte_level with use_regex: gpt2
    bool use_regex = false, add_prefix_space = false;  // byte_level
    std::string replacement = std::string(kSpaceSymbol);  // metaspace
    enum Prepend : std::uint8_t { always, first, never } prepend = always;  // metaspace
    bool split_words = true;  // metaspace
  };
  struct Decoder {
    enum Kind : std::uint8_t { byte_level, replace, byte_fallback, fuse, strip, metaspace } kind;
    std::string a, b;  // replace: a -> b; metaspace: a = replacement
    char32_t content = ' ';
    size_t start = 0, stop = 0;
    bool prepend = true;  // metaspace: prepend_scheme != never
  };
  struct Merge {
    int32_t rank, id;
  };
  // A word being merged: symbols in a linked list.
  struct Symbol {
    int32_t id, prev, next;
    bool alive;
  };
  struct Candidate {
    int32_t rank, left, right, left_id, right_id, id;
  };
  struct CandidateGreater {  // min-heap on (rank, left position)
    bool operator()(const Candidate& a, const Candidate& b) const {
      return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
    }
  };
  // One piece of the text on its way to the model: text bytes, or an added token's id.
  struct Segment {
    std::string text;
    int32_t id = -1;          // an added token
    bool at_start = false;    // starts at offset 0 of the original text (Metaspace's prepend_scheme first)
  };
  struct Scratch {
    std::vector<Segment> segs, segs2;
    std::vector<std::string> words, words2;
    std::vector<detail::ScanChar> chars;
    std::vector<std::pair<std::uint32_t, std::uint32_t>> cuts;
    std::vector<Symbol> symbols;
    std::vector<Candidate> heap;
    std::vector<int32_t> word_ids;
    std::string buf;
    detail::WordCache cache;
  };
  static Scratch& scratch() {
    thread_local Scratch s;
    return s;
  }
  static constexpr size_t kMaxCachedWord = 256;

  // ---- reading tokenizer.json ----
  [[noreturn]] void bad(const std::string& key, const std::string& problem) const { fail(what_, ": ", key, ": ", problem); }

  static const nlohmann::json* find(const nlohmann::json& j, const char* key) {
    if (!j.is_object()) return nullptr;
    const auto it = j.find(key);
    return it == j.end() || it->is_null() ? nullptr : &*it;
  }
  std::string str(const nlohmann::json& j, const char* key, const std::string& where) const {
    const auto* v = find(j, key);
    if (!v || !v->is_string()) bad(where + "." + key, "missing or not a string");
    return v->get<std::string>();
  }
  bool flag(const nlohmann::json& j, const char* key, const std::string& where, bool dflt) const {
    const auto* v = find(j, key);
    if (!v) return dflt;
    if (!v->is_boolean()) bad(where + "." + key, "not true or false");
    return v->get<bool>();
  }
  std::string pattern_string(const nlohmann::json& j, const std::string& where) const {
    const auto* p = find(j, "pattern");
    if (!p || !p->is_object()) bad(where + ".pattern", "missing or not an object");
    if (const auto* s = find(*p, "String"); s && s->is_string()) return s->get<std::string>();
    bad(where + ".pattern", "only a {\"String\": ...} pattern is supported here, got " + p->dump());
  }
  static char32_t single_char(const std::string& s) {
    size_t len = 0;
    const char32_t c = s.empty() ? 0 : utf8::decode(s, &len);
    return len == s.size() && !s.empty() ? c : 0;
  }

  void parse(const nlohmann::json& j, const std::string& what) {
    what_ = what;
    if (!j.is_object()) bad("(top level)", "not a JSON object");
    parse_model(j, what);
    if (const auto* a = find(j, "added_tokens")) parse_added(*a);
    if (const auto* n = find(j, "normalizer")) parse_normalizer(*n, "normalizer");
    if (const auto* p = find(j, "pre_tokenizer")) parse_pre_tokenizer(*p, "pre_tokenizer");
    if (const auto* p = find(j, "post_processor")) parse_post_processor(*p, "post_processor");
    if (const auto* d = find(j, "decoder")) parse_decoder(*d, "decoder");
    finish();
  }

  void parse_model(const nlohmann::json& j, const std::string&) {
    const auto* m = find(j, "model");
    if (!m || !m->is_object()) bad("model", "missing or not an object");
    const auto type = find(*m, "type");
    if (type && (!type->is_string() || type->get<std::string>() != "BPE"))
      bad("model.type", "only BPE models are supported, got " + type->dump());
    if (const auto* d = find(*m, "dropout"); d && !(d->is_number() && d->get<double>() == 0.0))
      bad("model.dropout", "BPE dropout is for training and is not supported when encoding, got " + d->dump());
    for (const char* k : {"continuing_subword_prefix", "end_of_word_suffix"})
      if (const auto* v = find(*m, k); v && !(v->is_string() && v->get<std::string>().empty()))
        bad(std::string("model.") + k, "not supported (only null), got " + v->dump());
    byte_fallback_ = flag(*m, "byte_fallback", "model", false);
    fuse_unk_ = flag(*m, "fuse_unk", "model", false);
    ignore_merges_ = flag(*m, "ignore_merges", "model", false);
    const auto* vocab = find(*m, "vocab");
    if (!vocab || !vocab->is_object()) bad("model.vocab", "missing or not an object of token: id");
    std::vector<std::pair<std::string, int32_t>> items;
    items.reserve(vocab->size());
    int64_t max_id = -1;
    for (auto it = vocab->begin(); it != vocab->end(); ++it) {
      if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() >= (int64_t{1} << 30))
        bad("model.vocab[\"" + it.key() + "\"]", "id must be an integer in [0, 2^30), got " + it->dump());
      items.emplace_back(it.key(), static_cast<int32_t>(it->get<int64_t>()));
      max_id = std::max<int64_t>(max_id, it->get<int64_t>());
    }
    if (max_id >= dense_limit(items.size()))
      bad("model.vocab", "id " + std::to_string(max_id) + " is far beyond the vocabulary's " + std::to_string(items.size()) +
                             " tokens (ids are expected dense: below 2 x tokens + 65536)");
    id_to_token_.assign(static_cast<size_t>(max_id + 1), std::string());
    std::vector<bool> seen(static_cast<size_t>(max_id + 1), false);
    vocab_.reserve(items.size());
    for (const auto& [tok, id] : items) {
      if (seen[static_cast<size_t>(id)])
        bad("model.vocab[\"" + tok + "\"]", "id " + std::to_string(id) + " is given to two tokens");
      seen[static_cast<size_t>(id)] = true;
      id_to_token_[static_cast<size_t>(id)] = tok;
    }
    for (const auto& [tok, id] : items) vocab_.insert(id_to_token_[static_cast<size_t>(id)], id);
    if (const auto* u = find(*m, "unk_token")) {
      if (!u->is_string()) bad("model.unk_token", "not a string");
      unk_id_ = vocab_.find(u->get<std::string>());
      if (unk_id_ < 0) bad("model.unk_token", "'" + u->get<std::string>() + "' is not in the vocabulary");
    }
    if (byte_fallback_)
      for (int b = 0; b < 256; ++b) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", b);
        byte_id_[static_cast<size_t>(b)] = vocab_.find(name);
      }
    const auto* merges = find(*m, "merges");
    if (!merges || !merges->is_array()) bad("model.merges", "missing or not an array");
    merges_.reserve(merges->size());
    int32_t rank = 0;
    for (const auto& e : *merges) {
      const std::string where = "model.merges[" + std::to_string(rank) + "]";
      std::string a, b;
      if (e.is_string()) {  // "a b" (tokenizers < 0.20)
        const std::string s = e.get<std::string>();
        const size_t sp = s.find(' ');
        if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
          bad(where, "'" + s + "' is not two tokens separated by one space");
        a = s.substr(0, sp), b = s.substr(sp + 1);
      } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
        a = e[0].get<std::string>(), b = e[1].get<std::string>();
      } else {
        bad(where, "not a [left, right] pair of strings, got " + e.dump());
      }
      const int32_t ia = vocab_.find(a), ib = vocab_.find(b), ic = vocab_.find(a + b);
      if (ia < 0 || ib < 0) bad(where, "'" + (ia < 0 ? a : b) + "' is not in the vocabulary");
      if (ic < 0) bad(where, "the merged token '" + a + b + "' is not in the vocabulary");
      merges_.emplace(pair_key(ia, ib), Merge{rank, ic});  // the first of duplicated merges wins
      ++rank;
    }
  }

  void parse_added(const nlohmann::json& a) {
    if (!a.is_array()) bad("added_tokens", "not an array");
    for (size_t i = 0; i < a.size(); ++i) {
      const std::string where = "added_tokens[" + std::to_string(i) + "]";
      const auto& e = a[i];
      AddedToken t;
      const auto* id = find(e, "id");
      if (!id || !id->is_number_integer() || id->get<int64_t>() < 0 || id->get<int64_t>() >= (int64_t{1} << 30))
        bad(where + ".id", "missing or not an integer in [0, 2^30)");
      t.id = static_cast<int32_t>(id->get<int64_t>());
      t.content = str(e, "content", where);
      if (t.content.empty()) bad(where + ".content", "empty");
      t.single_word = flag(e, "single_word", where, false);
      t.lstrip = flag(e, "lstrip", where, false);
      t.rstrip = flag(e, "rstrip", where, false);
      t.normalized = flag(e, "normalized", where, true);
      t.special = flag(e, "special", where, false);
      added_.push_back(std::move(t));
    }
  }

  void parse_normalizer(const nlohmann::json& n, const std::string& where) {
    const std::string type = str(n, "type", where);
    if (type == "Sequence") {
      const auto* list = find(n, "normalizers");
      if (!list || !list->is_array()) bad(where + ".normalizers", "missing or not an array");
      for (size_t i = 0; i < list->size(); ++i) parse_normalizer((*list)[i], where + ".normalizers[" + std::to_string(i) + "]");
    } else if (type == "Prepend") {
      normalizers_.push_back({NormalizerStep::prepend, str(n, "prepend", where), {}});
    } else if (type == "Replace") {
      normalizers_.push_back({NormalizerStep::replace, pattern_string(n, where), str(n, "content", where)});
      if (normalizers_.back().a.empty()) bad(where + ".pattern", "empty pattern");
    } else if (type == "NFC") {
      normalizers_.push_back({NormalizerStep::nfc, {}, {}});
    } else {
      bad(where + ".type", "normalizer '" + type + "' is not supported (Sequence, Prepend, Replace and NFC are)");
    }
  }

  void parse_pre_tokenizer(const nlohmann::json& p, const std::string& where) {
    const std::string type = str(p, "type", where);
    PreTokenizerStep s{};
    if (type == "Sequence") {
      const auto* list = find(p, "pretokenizers");
      if (!list || !list->is_array()) bad(where + ".pretokenizers", "missing or not an array");
      for (size_t i = 0; i < list->size(); ++i)
        parse_pre_tokenizer((*list)[i], where + ".pretokenizers[" + std::to_string(i) + "]");
      return;
    } else if (type == "Split") {
      const auto* pat = find(p, "pattern");
      const auto* re = pat ? find(*pat, "Regex") : nullptr;
      if (!re || !re->is_string()) bad(where + ".pattern", "only a {\"Regex\": ...} pattern is supported, got " + (pat ? pat->dump() : "nothing"));
      const auto known = split_pattern_of(re->get<std::string>());
      if (!known)
        bad(where + ".pattern.Regex", "pmc runs the split regexes of GPT-2, Llama-3 and Qwen2 only; this one is not supported: " +
                                          re->get<std::string>());
      const std::string behavior = str(p, "behavior", where);
      if (behavior != "Isolated") bad(where + ".behavior", "only Isolated is supported, got " + behavior);
      if (flag(p, "invert", where, false)) bad(where + ".invert", "only false is supported");
      s.kind = PreTokenizerStep::split;
      s.pattern = *known;
    } else if (type == "ByteLevel") {
      s.kind = PreTokenizerStep::byte_level;
      s.add_prefix_space = flag(p, "add_prefix_space", where, true);
      s.use_regex = flag(p, "use_regex", where, true);
      byte_level_ = true;
    } else if (type == "Metaspace") {
      s.kind = PreTokenizerStep::metaspace;
      s.replacement = str(p, "replacement", where);
      if (!single_char(s.replacement)) bad(where + ".replacement", "must be one character");
      s.split_words = flag(p, "split", where, true);
      if (const auto* ps = find(p, "prepend_scheme")) {
        const std::string v = ps->is_string() ? ps->get<std::string>() : "";
        if (v == "always") s.prepend = PreTokenizerStep::always;
        else if (v == "first") s.prepend = PreTokenizerStep::first;
        else if (v == "never") s.prepend = PreTokenizerStep::never;
        else bad(where + ".prepend_scheme", "expected always, first or never, got " + ps->dump());
      } else if (!flag(p, "add_prefix_space", where, true)) {
        s.prepend = PreTokenizerStep::never;
      }
    } else {
      bad(where + ".type", "pre-tokenizer '" + type + "' is not supported (Sequence, Split, ByteLevel and Metaspace are)");
    }
    pre_tokenizers_.push_back(std::move(s));
  }

  void parse_post_processor(const nlohmann::json& p, const std::string& where) {
    const std::string type = str(p, "type", where);
    if (type == "Sequence") {
      const auto* list = find(p, "processors");
      if (!list || !list->is_array()) bad(where + ".processors", "missing or not an array");
      for (size_t i = 0; i < list->size(); ++i)
        parse_post_processor((*list)[i], where + ".processors[" + std::to_string(i) + "]");
    } else if (type == "ByteLevel") {
      // only trims offsets: the ids are unchanged
    } else if (type == "TemplateProcessing") {
      const auto* single = find(p, "single");
      if (!single || !single->is_array()) bad(where + ".single", "missing or not an array");
      const auto* specials = find(p, "special_tokens");
      bool after = false, seen_a = false;
      for (size_t i = 0; i < single->size(); ++i) {
        const auto& e = (*single)[i];
        const std::string w = where + ".single[" + std::to_string(i) + "]";
        if (const auto* seq = find(e, "Sequence")) {
          if (str(*seq, "id", w + ".Sequence") != "A") bad(w + ".Sequence.id", "a single sequence is A");
          if (seen_a) bad(w, "the sequence A appears twice");
          seen_a = after = true;
        } else if (const auto* sp = find(e, "SpecialToken")) {
          const std::string name = str(*sp, "id", w + ".SpecialToken");
          const auto* entry = specials ? find(*specials, name.c_str()) : nullptr;
          const auto* ids = entry ? find(*entry, "ids") : nullptr;
          if (!ids || !ids->is_array()) bad(where + ".special_tokens", "no ids for '" + name + "'");
          for (const auto& id : *ids) {
            if (!id.is_number_integer()) bad(where + ".special_tokens[\"" + name + "\"].ids", "not integers");
            (after ? template_after_ : template_before_).push_back(static_cast<int32_t>(id.get<int64_t>()));
          }
        } else {
          bad(w, "expected a Sequence or a SpecialToken, got " + e.dump());
        }
      }
    } else {
      bad(where + ".type", "post-processor '" + type + "' is not supported (Sequence, ByteLevel and TemplateProcessing are)");
    }
  }

  void parse_decoder(const nlohmann::json& d, const std::string& where) {
    const std::string type = str(d, "type", where);
    Decoder s{};
    if (type == "Sequence") {
      const auto* list = find(d, "decoders");
      if (!list || !list->is_array()) bad(where + ".decoders", "missing or not an array");
      for (size_t i = 0; i < list->size(); ++i) parse_decoder((*list)[i], where + ".decoders[" + std::to_string(i) + "]");
      return;
    } else if (type == "ByteLevel") {
      s.kind = Decoder::byte_level;
    } else if (type == "Replace") {
      s.kind = Decoder::replace;
      s.a = pattern_string(d, where);
      s.b = str(d, "content", where);
      if (s.a.empty()) bad(where + ".pattern", "empty pattern");
    } else if (type == "ByteFallback") {
      s.kind = Decoder::byte_fallback;
    } else if (type == "Fuse") {
      s.kind = Decoder::fuse;
    } else if (type == "Strip") {
      s.kind = Decoder::strip;
      s.content = single_char(str(d, "content", where));
      if (!s.content) bad(where + ".content", "must be one character");
      auto count = [&](const char* k) -> size_t {
        const auto* v = find(d, k);
        if (!v) return 0;
        if (!v->is_number_integer() || v->get<int64_t>() < 0 || v->get<int64_t>() > (1 << 20)) bad(where + "." + k, "not a small non-negative integer");
        return static_cast<size_t>(v->get<int64_t>());
      };
      s.start = count("start");
      s.stop = count("stop");
    } else if (type == "Metaspace") {
      s.kind = Decoder::metaspace;
      s.a = str(d, "replacement", where);
      if (!single_char(s.a)) bad(where + ".replacement", "must be one character");
      if (const auto* ps = find(d, "prepend_scheme"); ps && ps->is_string()) s.prepend = ps->get<std::string>() != "never";
      else s.prepend = flag(d, "add_prefix_space", where, true);
    } else {
      bad(where + ".type", "decoder '" + type + "' is not supported (Sequence, ByteLevel, Replace, ByteFallback, Fuse, Strip and Metaspace are)");
    }
    decoders_.push_back(std::move(s));
  }

  // Ids beyond this would make the id table (and the memory it takes) out of proportion to the file.
  static int64_t dense_limit(size_t tokens) { return 2 * static_cast<int64_t>(tokens) + 65536; }

  void finish() {
    int64_t n = static_cast<int64_t>(id_to_token_.size());
    for (const AddedToken& a : added_) {
      if (a.id >= dense_limit(id_to_token_.size() + added_.size()))
        bad("added_tokens", "the id " + std::to_string(a.id) + " of '" + a.content + "' is far beyond the vocabulary's " +
                                std::to_string(id_to_token_.size()) + " ids (ids are expected dense)");
      n = std::max<int64_t>(n, int64_t{a.id} + 1);
    }
    id_to_token_.resize(static_cast<size_t>(n));
    special_.assign(static_cast<size_t>(n), false);
    for (const AddedToken& a : added_) {
      id_to_token_[static_cast<size_t>(a.id)] = a.content;
      special_[static_cast<size_t>(a.id)] = a.special;
      (a.normalized ? normalized_added_ : raw_added_).push_back(static_cast<size_t>(&a - added_.data()));
      first_byte_[static_cast<unsigned char>(a.content[0])] = true;
    }
    for (const int32_t id : template_before_) PMC_CHECK(id >= 0 && id < n, what_, ": post_processor: special token id ", id, " is outside the vocabulary");
    for (const int32_t id : template_after_) PMC_CHECK(id >= 0 && id < n, what_, ": post_processor: special token id ", id, " is outside the vocabulary");
    auto first_named = [&](std::initializer_list<std::string_view> names) -> int32_t {
      for (const auto name : names)
        for (const AddedToken& a : added_)
          if (a.content == name) return a.id;
      return -1;
    };
    bos_id_ = template_before_.size() == 1 ? template_before_[0] : first_named({"<s>", "<|begin_of_text|>"});
    eos_id_ = template_after_.size() == 1 ? template_after_[0] : first_named({"</s>", "<|end_of_text|>", "<|endoftext|>"});
    // A SentencePiece-style vocabulary (U+2581 for spaces) in which no token has U+2581 right after another
    // character: no merge can join the text before such a U+2581 to it, so a word may be cut there (the
    // SentencePiece-style layouts have no pre-tokenizer split, and a line would otherwise be merged whole).
    cut_before_space_ = vocab_.find(kSpaceSymbol) >= 0 && !byte_level_;
    for (size_t id = 0; cut_before_space_ && id < id_to_token_.size(); ++id) {
      const std::string_view t = id_to_token_[id];
      for (size_t at = t.find(kSpaceSymbol, 1); at != std::string_view::npos; at = t.find(kSpaceSymbol, at + 1))
        if (at < kSpaceSymbol.size() || t.compare(at - kSpaceSymbol.size(), kSpaceSymbol.size(), kSpaceSymbol) != 0) {
          cut_before_space_ = false;
          break;
        }
    }
    uid_ = detail::next_tokenizer_uid();
  }

  // ---- encoding ----
  static uint64_t pair_key(int32_t a, int32_t b) { return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b); }

  void check_id(int32_t id) const {
    PMC_CHECK(id >= 0 && id < vocab_size() && (!id_to_token_[static_cast<size_t>(id)].empty()), what_, ": invalid id ",
              id, " (vocabulary size ", vocab_size(), ")");
  }

  static bool word_char(char32_t c) { return c == '_' || unicode::is_letter(c) || unicode::is_number(c); }

  // Cuts `segs` further at the added tokens listed in `which` (indexes into added_), leftmost-longest.
  void split_added(std::vector<Segment>& segs, std::vector<Segment>& out, const std::vector<size_t>& which) const {
    out.clear();
    for (Segment& seg : segs) {
      if (seg.id >= 0 || which.empty()) {
        out.push_back(std::move(seg));
        continue;
      }
      const std::string_view s = seg.text;
      size_t start_offset = 0, pos = 0;
      bool first = seg.at_start;
      auto push_text = [&](size_t b, size_t e) {
        if (e > b) out.push_back(Segment{std::string(s.substr(b, e - b)), -1, first && b == 0});
      };
      while (pos < s.size()) {
        if (!first_byte_[static_cast<unsigned char>(s[pos])]) {
          ++pos;
          continue;
        }
        // the longest added token starting at pos
        const AddedToken* best = nullptr;
        for (const size_t k : which) {
          const AddedToken& a = added_[k];
          if (a.content.size() <= s.size() - pos && s.compare(pos, a.content.size(), a.content) == 0 &&
              (!best || a.content.size() > best->content.size()))
            best = &a;
        }
        if (!best) {
          ++pos;
          continue;
        }
        size_t b = pos, e = pos + best->content.size();
        if (best->single_word) {
          const bool left_ok = b == 0 || !word_char(last_char(s.substr(0, b)));
          const bool right_ok = e == s.size() || !word_char(first_char(s.substr(e)));
          if (!left_ok || !right_ok) {  // the search goes on after the refused match, as aho-corasick's
            pos = e;
            continue;
          }
        }
        if (best->lstrip) b = std::max(start_offset, b - trailing_space(s.substr(0, b)));
        if (best->rstrip) e += leading_space(s.substr(e));
        push_text(start_offset, b);
        out.push_back(Segment{{}, best->id, false});
        start_offset = pos = e;
      }
      push_text(start_offset, s.size());
    }
  }
  static char32_t first_char(std::string_view s) {
    size_t len;
    return utf8::decode(s, &len);
  }
  static char32_t last_char(std::string_view s) {
    size_t i = s.size() - 1;
    while (i > 0 && utf8::is_trail(s[i])) --i;
    size_t len;
    return utf8::decode(s.substr(i), &len);
  }
  // Byte length of the whitespace (Rust's char::is_whitespace) at the end / start of s.
  static size_t trailing_space(std::string_view s) {
    size_t n = 0;
    while (n < s.size()) {
      const std::string_view head = s.substr(0, s.size() - n);
      size_t i = head.size() - 1;
      while (i > 0 && utf8::is_trail(head[i])) --i;
      size_t len;
      if (!unicode::is_space(utf8::decode(head.substr(i), &len))) break;
      n += head.size() - i;
    }
    return n;
  }
  static size_t leading_space(std::string_view s) {
    size_t n = 0;
    while (n < s.size()) {
      size_t len;
      if (!unicode::is_space(utf8::decode(s.substr(n), &len))) break;
      n += len;
    }
    return n;
  }

  void normalize(std::string& s, std::string& tmp) const {
    for (const NormalizerStep& n : normalizers_) {
      switch (n.kind) {
        case NormalizerStep::prepend:
          if (!s.empty()) s.insert(0, n.a);
          break;
        case NormalizerStep::replace: {
          if (s.find(n.a) == std::string::npos) break;
          tmp.clear();
          size_t from = 0;
          for (size_t at; (at = s.find(n.a, from)) != std::string::npos; from = at + n.a.size()) {
            tmp.append(s, from, at - from);
            tmp.append(n.b);
          }
          tmp.append(s, from);
          s.swap(tmp);
          break;
        }
        case NormalizerStep::nfc:
          tmp.clear();
          unicode::nfc(s, tmp);
          s.swap(tmp);
          break;
      }
    }
  }

  // Runs the pre-tokenizers over one segment; words go to sc.words.
  void pre_tokenize(Segment& seg, Scratch& sc) const {
    auto& words = sc.words;
    auto& next = sc.words2;
    words.clear();
    words.push_back(std::move(seg.text));
    bool first_word_at_start = seg.at_start;
    for (const PreTokenizerStep& p : pre_tokenizers_) {
      next.clear();
      for (size_t w = 0; w < words.size(); ++w) {
        std::string& word = words[w];
        switch (p.kind) {
          case PreTokenizerStep::split:
            sc.cuts.clear();
            split_by_pattern(word, p.pattern, sc.chars, sc.cuts);
            for (const auto& [b, e] : sc.cuts) next.emplace_back(word, b, e - b);
            break;
          case PreTokenizerStep::byte_level: {
            if (p.add_prefix_space && word.front() != ' ') word.insert(0, 1, ' ');
            auto add = [&](std::string_view piece) {
              std::string mapped;
              ByteLevelAlphabet::get().encode(piece, mapped);
              next.push_back(std::move(mapped));
            };
            if (p.use_regex) {
              sc.cuts.clear();
              split_by_pattern(word, SplitPattern::gpt2, sc.chars, sc.cuts);
              for (const auto& [b, e] : sc.cuts) add(std::string_view(word).substr(b, e - b));
            } else {
              add(word);
            }
            break;
          }
          case PreTokenizerStep::metaspace: {
            std::string t;
            t.reserve(word.size() + 3);
            for (const char c : word) {
              if (c == ' ') {
                t.append(p.replacement);
              } else {
                t.push_back(c);
              }
            }
            const bool starts = t.compare(0, p.replacement.size(), p.replacement) == 0;
            if (!starts && (p.prepend == PreTokenizerStep::always ||
                            (p.prepend == PreTokenizerStep::first && w == 0 && first_word_at_start)))
              t.insert(0, p.replacement);
            if (!p.split_words) {
              next.push_back(std::move(t));
            } else {  // split before each replacement character (MergedWithNext)
              size_t b = 0;
              for (size_t at = t.find(p.replacement, 1); at != std::string::npos; at = t.find(p.replacement, at + 1)) {
                next.emplace_back(t, b, at - b);
                b = at;
              }
              next.emplace_back(t, b);
            }
            break;
          }
        }
      }
      // words that come from the first word keep their place at the start; only the first can be there
      first_word_at_start = first_word_at_start && !next.empty();
      words.swap(next);
      std::erase_if(words, [](const std::string& x) { return x.empty(); });
    }
  }

  void encode_text(std::string_view text, std::vector<int32_t>& out) const {
    if (text.empty()) return;
    Scratch& sc = scratch();
    auto& segs = sc.segs;
    segs.clear();
    segs.push_back(Segment{std::string(text), -1, true});
    split_added(segs, sc.segs2, raw_added_);
    segs.swap(sc.segs2);
    for (Segment& s : segs)
      if (s.id < 0) normalize(s.text, sc.buf);
    split_added(segs, sc.segs2, normalized_added_);
    segs.swap(sc.segs2);
    for (Segment& s : segs) {
      if (s.id >= 0) {
        out.push_back(s.id);
        continue;
      }
      if (s.text.empty()) continue;
      pre_tokenize(s, sc);
      for (const std::string& w : sc.words) encode_word(w, out, sc);
    }
  }

  void encode_word(std::string_view w, std::vector<int32_t>& out, Scratch& sc) const {
    if (ignore_merges_) {
      const int32_t id = vocab_.find(w);
      if (id >= 0) {
        out.push_back(id);
        return;
      }
    }
    if (!cut_before_space_) {
      encode_piece(w, out, sc);
      return;
    }
    // Cut before each U+2581 run that follows another character (see cut_before_space_): the parts are
    // merged independently, and each is memoized.
    const std::string_view sp = kSpaceSymbol;
    size_t start = 0;
    for (size_t at = w.find(sp, 1); at != std::string_view::npos; at = w.find(sp, at + sp.size())) {
      if (at >= sp.size() && w.compare(at - sp.size(), sp.size(), sp) == 0) continue;  // inside a run
      encode_piece(w.substr(start, at - start), out, sc);
      start = at;
    }
    encode_piece(w.substr(start), out, sc);
  }

  void encode_piece(std::string_view w, std::vector<int32_t>& out, Scratch& sc) const {
    detail::encode_memoized(sc.cache, uid_, w, kMaxCachedWord, out,
                            [&](std::string_view x, std::vector<int32_t>& o) { merge_word(x, o, sc); });
  }

  // tokenizers' BPE::merge_word and Word::merge_all.
  void merge_word(std::string_view w, std::vector<int32_t>& out, Scratch& sc) const {
    auto& sy = sc.symbols;
    sy.clear();
    bool pending_unk = false;
    auto add = [&](int32_t id) { sy.push_back(Symbol{id, static_cast<int32_t>(sy.size()) - 1, static_cast<int32_t>(sy.size()) + 1, true}); };
    for (size_t i = 0; i < w.size();) {
      const size_t len = std::min(utf8::one_char_len(w[i]), w.size() - i);
      const std::string_view ch = w.substr(i, len);
      i += len;
      const int32_t id = vocab_.find(ch);
      if (id >= 0) {
        if (pending_unk) add(unk_id_), pending_unk = false;
        add(id);
        continue;
      }
      if (byte_fallback_) {
        bool all = true;
        for (const char b : ch) all = all && byte_id_[static_cast<unsigned char>(b)] >= 0;
        if (all) {
          // (a pending unk stays pending: tokenizers adds it only before a known character or at the end)
          for (const char b : ch) add(byte_id_[static_cast<unsigned char>(b)]);
          continue;
        }
      }
      if (unk_id_ >= 0) {
        if (pending_unk && !fuse_unk_) add(unk_id_);
        pending_unk = true;
      }
      // without an unk token the character is dropped, as the library does
    }
    if (pending_unk) add(unk_id_);
    if (sy.empty()) return;
    sy.back().next = -1;
    auto& heap = sc.heap;
    heap.clear();
    auto push = [&](int32_t l) {
      const int32_t r = sy[static_cast<size_t>(l)].next;
      if (r < 0) return;
      const auto it = merges_.find(pair_key(sy[static_cast<size_t>(l)].id, sy[static_cast<size_t>(r)].id));
      if (it == merges_.end()) return;
      heap.push_back(Candidate{it->second.rank, l, r, sy[static_cast<size_t>(l)].id, sy[static_cast<size_t>(r)].id, it->second.id});
      std::push_heap(heap.begin(), heap.end(), CandidateGreater{});
    };
    for (int32_t i = 0; i + 1 < static_cast<int32_t>(sy.size()); ++i) push(i);
    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), CandidateGreater{});
      const Candidate c = heap.back();
      heap.pop_back();
      Symbol& L = sy[static_cast<size_t>(c.left)];
      if (!L.alive || L.next != c.right || L.id != c.left_id) continue;
      Symbol& R = sy[static_cast<size_t>(c.right)];
      if (!R.alive || R.id != c.right_id) continue;
      L.id = c.id;
      L.next = R.next;
      if (R.next >= 0) sy[static_cast<size_t>(R.next)].prev = c.left;
      R.alive = false;
      if (L.prev >= 0) push(L.prev);
      push(c.left);
    }
    for (int32_t i = 0; i >= 0; i = sy[static_cast<size_t>(i)].next) out.push_back(sy[static_cast<size_t>(i)].id);
  }

  // ---- decoding ----
  static int byte_token(std::string_view t) {
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      return -1;
    };
    if (t.size() != 6 || t.substr(0, 3) != "<0x" || t[5] != '>') return -1;
    const int hi = hex(t[3]), lo = hex(t[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
  }

  static void apply(const Decoder& d, std::vector<std::string>& tokens) {
    switch (d.kind) {
      case Decoder::byte_level: {
        std::string bytes;
        const auto& alpha = ByteLevelAlphabet::get();
        for (const std::string& t : tokens) {
          const size_t mark = bytes.size();
          bool all = true;
          for (size_t i = 0; i < t.size();) {
            size_t len;
            const int b = alpha.byte_of(utf8::decode(std::string_view(t).substr(i), &len));
            if (b < 0) {
              all = false;
              break;
            }
            bytes.push_back(static_cast<char>(b));
            i += len;
          }
          if (!all) bytes.resize(mark), bytes.append(t);
        }
        std::string text;
        append_utf8_lossy(text, bytes);
        tokens.assign(1, std::move(text));
        break;
      }
      case Decoder::replace:
        for (std::string& t : tokens) {
          std::string r;
          size_t from = 0;
          for (size_t at; (at = t.find(d.a, from)) != std::string::npos; from = at + d.a.size()) r.append(t, from, at - from).append(d.b);
          r.append(t, from);
          t.swap(r);
        }
        break;
      case Decoder::byte_fallback: {
        std::vector<std::string> next;
        std::string bytes;
        size_t n_bytes = 0;
        auto flush = [&] {
          if (!n_bytes) return;
          if (utf8_valid(bytes)) {
            next.push_back(bytes);
          } else {
            for (size_t i = 0; i < n_bytes; ++i) next.emplace_back(kReplacementChar);
          }
          bytes.clear();
          n_bytes = 0;
        };
        for (std::string& t : tokens) {
          const int b = byte_token(t);
          if (b >= 0) {
            bytes.push_back(static_cast<char>(b));
            ++n_bytes;
          } else {
            flush();
            next.push_back(std::move(t));
          }
        }
        flush();
        tokens.swap(next);
        break;
      }
      case Decoder::fuse: {
        std::string all;
        for (const auto& t : tokens) all += t;
        tokens.assign(1, std::move(all));
        break;
      }
      case Decoder::strip:
        for (std::string& t : tokens) {
          std::vector<std::pair<size_t, char32_t>> chars;  // (offset, char)
          for (size_t i = 0; i < t.size();) {
            size_t len;
            chars.emplace_back(i, utf8::decode(std::string_view(t).substr(i), &len));
            i += len;
          }
          size_t b = 0, e = chars.size();
          for (size_t i = 0; i < d.start && i < chars.size() && chars[i].second == d.content; ++i) b = i + 1;
          for (size_t i = 0; i < d.stop && i < chars.size(); ++i) {
            const size_t idx = chars.size() - i - 1;
            if (chars[idx].second != d.content) break;
            e = idx;
          }
          if (e < b) e = b;
          const size_t bo = b < chars.size() ? chars[b].first : t.size();
          const size_t eo = e < chars.size() ? chars[e].first : t.size();
          t = t.substr(bo, eo - bo);
        }
        break;
      case Decoder::metaspace:
        for (size_t i = 0; i < tokens.size(); ++i) {
          std::string r;
          std::string_view t = tokens[i];
          size_t from = 0;
          for (size_t at; (at = t.find(d.a, from)) != std::string_view::npos; from = at + d.a.size()) {
            r.append(t.substr(from, at - from));
            if (!(i == 0 && d.prepend)) r += ' ';
          }
          r.append(t.substr(from));
          tokens[i].swap(r);
        }
        break;
    }
  }

  static bool utf8_valid(std::string_view s) {
    std::string check;
    append_utf8_lossy(check, s);
    return check == s;  // lossy decoding changes exactly the ill-formed texts
  }

  std::string what_;
  detail::StringIdMap vocab_;
  std::unordered_map<uint64_t, Merge> merges_;
  std::vector<std::string> id_to_token_;
  std::vector<bool> special_;
  std::vector<AddedToken> added_;
  std::vector<size_t> raw_added_, normalized_added_;
  std::vector<NormalizerStep> normalizers_;
  std::vector<PreTokenizerStep> pre_tokenizers_;
  std::vector<Decoder> decoders_;
  std::vector<int32_t> template_before_, template_after_;
  int32_t byte_id_[256] = {};
  bool first_byte_[256] = {};  // the first bytes of added tokens
  int32_t unk_id_ = -1, bos_id_ = -1, eos_id_ = -1, pad_id_ = -1;
  bool byte_fallback_ = false, fuse_unk_ = false, ignore_merges_ = false, byte_level_ = false;
  bool cut_before_space_ = false;
  uint64_t uid_ = 0;
};


/// The tokenizer.json that transformers 5 makes from a SentencePiece BPE model (LlamaConverter): the same
/// vocabulary, merges generated as transformers' generate_merges does (for each piece in id order, its splits
/// into two pieces of the vocabulary, the shorter left part first), UNKNOWN and CONTROL pieces as special added
/// tokens and USER_DEFINED ones as plain added tokens, a Metaspace pre-tokenizer (prepend_scheme "first") and
/// the Replace / ByteFallback / Fuse / Strip decoder. The template adds BOS, as LLaMA-2's own tokenizer.json
/// does. A model whose normalizer is not the identity (a precompiled character map, extra-whitespace removal)
/// or without the dummy prefix is refused: its conversion would need normalizers pmc does not implement.
inline nlohmann::ordered_json tokenizer_json_from_sentencepiece(const BpeTokenizer& sp) {
  const ModelProto& m = sp.model();
  const NormalizerSpec ns = m.normalizer_spec.value_or(NormalizerSpec{});
  PMC_CHECK(ns.precompiled_charsmap.empty() && !ns.remove_extra_whitespaces && ns.add_dummy_prefix && ns.escape_whitespaces,
            "tokenizer.json from a SentencePiece model: only models with the identity normalizer, a dummy prefix "
            "and escaped whitespace (LLaMA's) can be converted");
  using json = nlohmann::ordered_json;
  json vocab = json::object();
  std::unordered_map<std::string_view, int32_t> ids;
  // As the Python dict {piece: id}: a duplicated text keeps its first place and its last id.
  for (size_t i = 0; i < m.pieces.size(); ++i) {
    vocab[m.pieces[i].piece] = static_cast<int32_t>(i);
    ids[m.pieces[i].piece] = static_cast<int32_t>(i);
  }
  json merges = json::array();
  for (size_t i = 0; i < m.pieces.size(); ++i) {
    const std::string_view piece = m.pieces[i].piece;
    if (ids[piece] != static_cast<int32_t>(i)) continue;  // a duplicated text appears once, at its last id
    for (size_t cut = utf8::one_char_len(piece[0]); cut < piece.size(); cut += utf8::one_char_len(piece[cut])) {
      const std::string_view l = piece.substr(0, cut), r = piece.substr(cut);
      if (ids.count(l) && ids.count(r)) merges.push_back(json::array({std::string(l), std::string(r)}));
    }
  }
  json added = json::array();
  for (size_t i = 0; i < m.pieces.size(); ++i) {
    const PieceType t = m.pieces[i].type;
    if (t != PieceType::kUnknown && t != PieceType::kControl && t != PieceType::kUserDefined) continue;
    added.push_back({{"id", static_cast<int32_t>(i)}, {"content", m.pieces[i].piece}, {"single_word", false},
                     {"lstrip", false}, {"rstrip", false}, {"normalized", false},
                     {"special", t != PieceType::kUserDefined}});
  }
  const std::string space(kSpaceSymbol);
  json single = json::array({json{{"Sequence", {{"id", "A"}, {"type_id", 0}}}}});
  json pair = json::array({json{{"Sequence", {{"id", "A"}, {"type_id", 0}}}}, json{{"Sequence", {{"id", "B"}, {"type_id", 1}}}}});
  json specials = json::object();
  if (sp.bos_id() >= 0) {
    const std::string& bos = sp.id_to_piece(sp.bos_id());
    const json tok = {{"SpecialToken", {{"id", bos}, {"type_id", 0}}}};
    single.insert(single.begin(), tok);
    pair.insert(pair.begin(), tok);
    pair.insert(pair.begin() + 2, json{{"SpecialToken", {{"id", bos}, {"type_id", 1}}}});
    specials[bos] = {{"id", bos}, {"ids", json::array({sp.bos_id()})}, {"tokens", json::array({bos})}};
  }
  json decoders = json::array({json{{"type", "Replace"}, {"pattern", {{"String", space}}}, {"content", " "}},
                               json{{"type", "ByteFallback"}}, json{{"type", "Fuse"}},
                               json{{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}});
  json model = {{"type", "BPE"},          {"dropout", nullptr},          {"unk_token", nullptr},
                {"continuing_subword_prefix", nullptr}, {"end_of_word_suffix", nullptr}, {"fuse_unk", true},
                {"byte_fallback", sp.byte_fallback()}, {"ignore_merges", false}, {"vocab", std::move(vocab)},
                {"merges", std::move(merges)}};
  return json{{"version", "1.0"},
              {"truncation", nullptr},
              {"padding", nullptr},
              {"added_tokens", std::move(added)},
              {"normalizer", nullptr},
              {"pre_tokenizer", {{"type", "Metaspace"}, {"replacement", space}, {"prepend_scheme", "first"}, {"split", false}}},
              {"post_processor", {{"type", "TemplateProcessing"}, {"single", std::move(single)}, {"pair", std::move(pair)},
                                  {"special_tokens", std::move(specials)}}},
              {"decoder", {{"type", "Sequence"}, {"decoders", std::move(decoders)}}},
              {"model", std::move(model)}};
}

}  // namespace pmc::tokenizer

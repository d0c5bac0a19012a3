// SPDX-License-Identifier: MIT
// SentencePiece text normalization: whitespace escaping to U+2581, dummy prefix, extra-whitespace removal,
// the precompiled character map (a Darts-clone double-array trie) and UTF-8 validation as sentencepiece does it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include <pmc/core/error.hpp>
#include <pmc/tokenizer/sentencepiece_model.hpp>

namespace pmc::tokenizer {

/// U+2581 LOWER ONE EIGHTH BLOCK, which SentencePiece writes for ' '.
inline constexpr std::string_view kSpaceSymbol = "\xE2\x96\x81";
/// U+FFFD, which replaces each byte of malformed UTF-8.
inline constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";

namespace utf8 {

/// Length of the UTF-8 character that starts with `lead`, judged by the lead byte alone (1 for a stray
/// continuation byte), as sentencepiece's OneCharLen.
inline size_t one_char_len(char lead) {
  static constexpr uint8_t kLen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLen[static_cast<uint8_t>(lead) >> 4];
}

inline bool is_trail(char c) { return (static_cast<uint8_t>(c) & 0xC0) == 0x80; }

/// Decodes one character of `s` (non-empty). Returns the code point and its length, or U+FFFD with length 1
/// for malformed input: overlong forms, surrogates and values above U+10FFFF are malformed.
inline char32_t decode(std::string_view s, size_t* len) {
  const auto b0 = static_cast<uint8_t>(s[0]);
  const size_t n = s.size();
  if (b0 < 0x80) {
    *len = 1;
    return b0;
  }
  auto valid = [](char32_t c) { return c < 0xD800 || (c >= 0xE000 && c <= 0x10FFFF); };
  if (n >= 2 && (b0 & 0xE0) == 0xC0) {
    const char32_t c = ((b0 & 0x1F) << 6) | (s[1] & 0x3F);
    if (is_trail(s[1]) && c >= 0x80 && valid(c)) {
      *len = 2;
      return c;
    }
  } else if (n >= 3 && (b0 & 0xF0) == 0xE0) {
    const char32_t c = ((b0 & 0x0F) << 12) | ((s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    if (is_trail(s[1]) && is_trail(s[2]) && c >= 0x800 && valid(c)) {
      *len = 3;
      return c;
    }
  } else if (n >= 4 && (b0 & 0xF8) == 0xF0) {
    const char32_t c = ((b0 & 0x07) << 18) | ((s[1] & 0x3F) << 12) | ((s[2] & 0x3F) << 6) | (s[3] & 0x3F);
    if (is_trail(s[1]) && is_trail(s[2]) && is_trail(s[3]) && c >= 0x10000 && valid(c)) {
      *len = 4;
      return c;
    }
  }
  *len = 1;
  return 0xFFFD;
}

/// True when `s` starts with a well-formed character (a literal U+FFFD counts as well-formed).
inline bool valid_prefix(std::string_view s, size_t* len) {
  const char32_t c = decode(s, len);
  return c != 0xFFFD || *len == 3;
}

inline void append(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

}  // namespace utf8

/// Applies a NormalizerSpec exactly as sentencepiece's Normalizer::Normalize. User-defined symbols are matched
/// first (longest match) and copied unnormalized; otherwise the longest rule of the precompiled character map
/// applies; otherwise the character is copied, or replaced by U+FFFD (one byte consumed) when malformed.
class Normalizer {
 public:
  Normalizer() = default;
  Normalizer(NormalizerSpec spec, bool treat_whitespace_as_suffix, std::vector<std::string> user_defined,
             const std::string& what)
      : spec_(std::move(spec)), suffix_(treat_whitespace_as_suffix), user_defined_(std::move(user_defined)) {
    for (const auto& u : user_defined_) {
      user_set_.insert(u);
      max_user_len_ = std::max(max_user_len_, u.size());
    }
    if (!spec_.precompiled_charsmap.empty()) decode_charsmap(what);
  }

  const NormalizerSpec& spec() const { return spec_; }

  /// Normalizes `in` into `out` (cleared first). Empty input stays empty (no dummy prefix).
  void normalize(std::string_view in, std::string& out) const {
    out.clear();
    if (in.empty()) return;
    if (trie_.empty() && user_set_.empty()) {
      normalize_identity(in, out);
    } else {
      normalize_general(in, out);
    }
  }

 private:
  void add_ws(std::string& out) const {
    if (spec_.escape_whitespaces) {
      out.append(kSpaceSymbol);
    } else {
      out += ' ';
    }
  }

  void strip_trailing(std::string& out) const {
    if (!spec_.remove_extra_whitespaces) return;
    const std::string_view ws = spec_.escape_whitespaces ? kSpaceSymbol : std::string_view(" ");
    while (out.size() >= ws.size() && std::string_view(out).substr(out.size() - ws.size()) == ws)
      out.resize(out.size() - ws.size());
  }

  // The common case (no character map, no user symbols): each character maps to itself.
  void normalize_identity(std::string_view in, std::string& out) const {
    const bool remove_extra = spec_.remove_extra_whitespaces;
    size_t i = 0;
    if (remove_extra)
      while (i < in.size() && in[i] == ' ') ++i;
    if (i == in.size()) return;
    out.reserve(in.size() + in.size() / 2 + 4);
    if (!suffix_ && spec_.add_dummy_prefix) add_ws(out);
    bool prev_space = remove_extra;
    const bool escape = spec_.escape_whitespaces;
    while (i < in.size()) {
      const char c = in[i];
      if (static_cast<uint8_t>(c) < 0x80) {
        if (c == ' ') {
          if (!(remove_extra && prev_space)) {
            if (escape) {
              out.append(kSpaceSymbol);
            } else {
              out += ' ';
            }
          }
          prev_space = remove_extra;
        } else {
          out += c;
          prev_space = false;
        }
        ++i;
        continue;
      }
      size_t len;
      if (utf8::valid_prefix(in.substr(i), &len)) {
        out.append(in.data() + i, len);
      } else {
        out.append(kReplacementChar);
      }
      i += len;
      prev_space = false;
    }
    strip_trailing(out);
    if (suffix_ && spec_.add_dummy_prefix) add_ws(out);
  }

  // Longest user-defined symbol at the start of `in`, 0 if none.
  size_t match_user(std::string_view in) const {
    for (size_t n = std::min(max_user_len_, in.size()); n > 0; --n)
      if (user_set_.count(std::string(in.substr(0, n)))) return n;
    return 0;
  }

  /// Longest common-prefix match in the double-array trie; returns the match length (0 for none) and
  /// sets `value`. Mirrors darts-clone's commonPrefixSearch with bounds checks on the untrusted array.
  size_t trie_longest(std::string_view in, uint32_t* value) const {
    size_t best = 0;
    size_t node = 0;
    auto unit = [&](size_t p) -> uint32_t { return p < trie_.size() ? trie_[p] : 0xFFFFFFFFu; };
    auto offset = [](uint32_t u) -> size_t { return (u >> 10) << ((u & (1u << 9)) >> 6); };
    uint32_t u = unit(node);
    node ^= offset(u);
    for (size_t i = 0; i < in.size(); ++i) {
      const auto ch = static_cast<uint8_t>(in[i]);
      node ^= ch;
      if (node >= trie_.size()) return best;
      u = trie_[node];
      if ((u & ((1u << 31) | 0xFF)) != ch) return best;
      node ^= offset(u);
      if ((u >> 8) & 1) {
        const uint32_t leaf = unit(node);
        best = i + 1;
        *value = leaf & ((1u << 31) - 1);
      }
    }
    return best;
  }

  // One step of sentencepiece's NormalizePrefix: (replacement, bytes consumed).
  std::pair<std::string_view, size_t> normalize_prefix(std::string_view in) const {
    if (!user_set_.empty()) {
      if (const size_t n = match_user(in)) return {in.substr(0, n), n};
    }
    if (!trie_.empty()) {
      uint32_t value = 0;
      if (const size_t n = trie_longest(in, &value)) {
        if (value < replacements_.size()) {
          const char* s = replacements_.data() + value;
          return {std::string_view(s, ::strnlen(s, replacements_.size() - value)), n};
        }
        return {std::string_view(), n};  // out-of-range rule in a damaged map: drop the input like an empty rule
      }
    }
    size_t len;
    if (!utf8::valid_prefix(in, &len)) return {kReplacementChar, 1};
    return {in.substr(0, len), len};
  }

  void normalize_general(std::string_view in, std::string& out) const {
    if (spec_.remove_extra_whitespaces) {
      while (!in.empty()) {
        auto [sp, n] = normalize_prefix(in);
        if (sp != " ") break;
        in.remove_prefix(n);
      }
    }
    if (in.empty()) return;
    if (!suffix_ && spec_.add_dummy_prefix) add_ws(out);
    bool prev_space = spec_.remove_extra_whitespaces;
    while (!in.empty()) {
      auto [sp, n] = normalize_prefix(in);
      while (prev_space && !sp.empty() && sp.front() == ' ') sp.remove_prefix(1);
      if (!sp.empty()) {
        for (char c : sp) {
          if (spec_.escape_whitespaces && c == ' ') {
            out.append(kSpaceSymbol);
          } else {
            out += c;
          }
        }
        prev_space = sp.back() == ' ';
      }
      in.remove_prefix(n);
      if (!spec_.remove_extra_whitespaces) prev_space = false;
    }
    strip_trailing(out);
    if (suffix_ && spec_.add_dummy_prefix) add_ws(out);
  }

  // Blob layout: uint32 little-endian trie size in bytes, the trie's 32-bit units, then NUL-terminated
  // replacement strings that trie values index.
  void decode_charsmap(const std::string& what) {
    const std::string& blob = spec_.precompiled_charsmap;
    PMC_CHECK(blob.size() > 4, what, ": corrupt SentencePiece model (precompiled_charsmap of ", blob.size(),
              " bytes is too short)");
    uint32_t trie_bytes = 0;
    for (int i = 0; i < 4; ++i) trie_bytes |= static_cast<uint32_t>(static_cast<uint8_t>(blob[i])) << (8 * i);
    PMC_CHECK(trie_bytes < blob.size() - 4 + 1 && trie_bytes % 4 == 0 && trie_bytes > 0, what,
              ": corrupt SentencePiece model (precompiled_charsmap trie size ", trie_bytes, " does not fit its ",
              blob.size(), "-byte blob)");
    trie_.resize(trie_bytes / 4);
    for (size_t k = 0; k < trie_.size(); ++k) {
      uint32_t u = 0;
      for (int i = 0; i < 4; ++i)
        u |= static_cast<uint32_t>(static_cast<uint8_t>(blob[4 + 4 * k + i])) << (8 * i);
      trie_[k] = u;
    }
    replacements_ = blob.substr(4 + trie_bytes);
  }

  NormalizerSpec spec_;
  bool suffix_ = false;
  std::vector<std::string> user_defined_;
  std::unordered_set<std::string> user_set_;
  size_t max_user_len_ = 0;
  std::vector<uint32_t> trie_;
  std::string replacements_;
};

}  // namespace pmc::tokenizer

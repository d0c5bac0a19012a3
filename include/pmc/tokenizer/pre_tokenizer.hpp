// SPDX-License-Identifier: MIT
// The pre-tokenizers of Hugging Face tokenizer.json files: how a text is cut into words before BPE.
//
// The byte-level models (GPT-2, Llama-3, Qwen2) cut with a regular expression that the `tokenizers` library
// runs with Oniguruma. Rather than carry a regex engine, pmc recognizes the three patterns those models ship
// (SplitPattern) and runs each as a hand-written scanner with the same leftmost-first alternation and
// backtracking, over Unicode classes from unicode.hpp (\p{L} letters, \p{N} numbers, \s Oniguruma's space).
//   llama3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//   qwen2:  the same with \p{N} (one digit a word) in place of \p{N}{1,3}
//   gpt2:   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// A tokenizer.json with any other pattern is refused with the pattern in the message.
// ByteLevel then maps each byte to one printable character (GPT-2's bytes_to_unicode), the alphabet of the
// byte-level vocabularies.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <pmc/tokenizer/normalizer.hpp>
#include <pmc/tokenizer/unicode.hpp>

namespace pmc::tokenizer {

/// The Split regexes pmc runs (see the file comment).
enum class SplitPattern : std::uint8_t { llama3, qwen2, gpt2 };

inline constexpr std::string_view kLlama3SplitRegex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
inline constexpr std::string_view kQwen2SplitRegex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
inline constexpr std::string_view kGpt2SplitRegex =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

/// The SplitPattern whose regex is `regex` (as written in tokenizer.json), or none.
inline std::optional<SplitPattern> split_pattern_of(std::string_view regex) {
  if (regex == kLlama3SplitRegex) return SplitPattern::llama3;
  if (regex == kQwen2SplitRegex) return SplitPattern::qwen2;
  if (regex == kGpt2SplitRegex) return SplitPattern::gpt2;
  return std::nullopt;
}

namespace detail {

/// One decoded character of the text being split, with its character class.
struct ScanChar {
  char32_t c;
  std::uint32_t off;  // byte offset in the text
  std::uint8_t cls;   // kLetter | kNumber | kSpace | kNewline bits
};
inline constexpr std::uint8_t kLetter = 1, kNumber = 2, kSpace = 4, kNewline = 8;

inline void scan_chars(std::string_view s, std::vector<ScanChar>& out) {
  out.clear();
  for (size_t i = 0; i < s.size();) {
    size_t len;
    const char32_t c = static_cast<unsigned char>(s[i]) < 0x80 ? (len = 1, static_cast<char32_t>(s[i])) : utf8::decode(s.substr(i), &len);
    std::uint8_t cls = 0;
    if (unicode::is_letter(c)) cls |= kLetter;
    if (unicode::is_number(c)) cls |= kNumber;
    if (unicode::is_space(c)) cls |= kSpace;
    if (c == '\r' || c == '\n') cls |= kNewline;
    out.push_back(ScanChar{c, static_cast<std::uint32_t>(i), cls});
    i += len;
  }
  out.push_back(ScanChar{0, static_cast<std::uint32_t>(s.size()), 0});  // sentinel
}

/// Length in characters of the contraction ('s 't 're 've 'm 'll 'd) at chars[i], 0 if none; `fold` makes it
/// case-insensitive as Oniguruma's (?i:...) (which also folds U+017F LONG S to s).
inline size_t contraction_at(const std::vector<ScanChar>& ch, size_t i, size_t n, bool fold) {
  if (ch[i].c != '\'' || i + 1 >= n) return 0;
  auto lower = [fold](char32_t c) -> char32_t {
    if (!fold) return c;
    if (c >= 'A' && c <= 'Z') return c + 32;
    if (c == 0x017F) return 's';
    return c;
  };
  const char32_t a = lower(ch[i + 1].c);
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if (i + 2 >= n) return 0;
  const char32_t b = lower(ch[i + 2].c);
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  return 0;
}

}  // namespace detail

/// Cuts `s` into the matches of `pattern` (every character lands in exactly one piece: the patterns match
/// everything, so no gaps remain) and appends each piece's [begin, end) byte range to `cuts`.
inline void split_by_pattern(std::string_view s, SplitPattern pattern, std::vector<detail::ScanChar>& ch,
                             std::vector<std::pair<std::uint32_t, std::uint32_t>>& cuts) {
  using namespace detail;
  scan_chars(s, ch);
  const size_t n = ch.size() - 1;
  auto is = [&](size_t i, std::uint8_t c) { return i < n && (ch[i].cls & c) != 0; };
  auto other = [&](size_t i) { return i < n && (ch[i].cls & (kLetter | kNumber | kSpace)) == 0; };  // [^\s\p{L}\p{N}]
  auto run = [&](size_t i, auto pred) {
    while (i < n && pred(i)) ++i;
    return i;
  };
  auto emit = [&](size_t b, size_t e) { cuts.emplace_back(ch[b].off, ch[e].off); };
  const size_t max_digits = pattern == SplitPattern::llama3 ? 3 : pattern == SplitPattern::qwen2 ? 1 : SIZE_MAX;
  size_t i = 0;
  while (i < n) {
    if (const size_t k = contraction_at(ch, i, n, pattern != SplitPattern::gpt2)) {
      emit(i, i + k);
      i += k;
      continue;
    }
    size_t e = i;
    if (pattern == SplitPattern::gpt2) {
      // ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+' in this order: an optional space, then a run of one class
      const size_t j = ch[i].c == ' ' && i + 1 < n ? i + 1 : i;
      if (is(i, kLetter) || (j != i && is(j, kLetter))) {
        e = run(is(i, kLetter) ? i : j, [&](size_t x) { return is(x, kLetter); });
      } else if (is(i, kNumber) || (j != i && is(j, kNumber))) {
        e = run(is(i, kNumber) ? i : j, [&](size_t x) { return is(x, kNumber); });
      } else if (other(i) || (j != i && other(j))) {
        e = run(other(i) ? i : j, other);
      }
    } else {
      if (!is(i, kNewline | kLetter | kNumber) && is(i + 1, kLetter)) {  // [^\r\n\p{L}\p{N}]?\p{L}+
        e = run(i + 1, [&](size_t x) { return is(x, kLetter); });
      } else if (is(i, kLetter)) {
        e = run(i, [&](size_t x) { return is(x, kLetter); });
      } else if (is(i, kNumber)) {  // \p{N}{1,max}
        e = i;
        while (e < n && e - i < max_digits && is(e, kNumber)) ++e;
      } else if (other(i) || (ch[i].c == ' ' && other(i + 1))) {  // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
        e = run(other(i) ? i : i + 1, other);
        e = run(e, [&](size_t x) { return is(x, kNewline); });
      }
    }
    if (e == i) {  // whitespace: \s*[\r\n]+ (not gpt2), \s+(?!\S), \s+
      const size_t end = run(i, [&](size_t x) { return is(x, kSpace); });
      size_t last_newline = SIZE_MAX;
      if (pattern != SplitPattern::gpt2)
        for (size_t x = i; x < end; ++x)
          if (is(x, kNewline)) last_newline = x;
      if (last_newline != SIZE_MAX) {
        e = last_newline + 1;
      } else if (end == n || end - i == 1) {
        e = end;  // at the end of the text, or one space before a non-space (\s+(?!\S) fails; \s+ takes it)
      } else {
        e = end - 1;  // leave the last space to the word that follows
      }
      if (e == i) e = i + 1;  // not whitespace either (cannot happen: the classes cover every character)
    }
    emit(i, e);
    i = e;
  }
}

/// GPT-2's bytes_to_unicode: byte b is written as one character, itself when printable (33..126, 161..172,
/// 174..255), else U+0100 + its rank among the others.
class ByteLevelAlphabet {
 public:
  ByteLevelAlphabet() {
    int next = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      const char32_t c = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + next++);
      utf8::append(encoded_[static_cast<size_t>(b)], c);
      if (c < byte_of_.size()) byte_of_[c] = static_cast<std::int16_t>(b);
    }
  }
  static const ByteLevelAlphabet& get() {
    static const ByteLevelAlphabet a;
    return a;
  }
  /// Appends the byte-level form of `bytes`.
  void encode(std::string_view bytes, std::string& out) const {
    for (const char b : bytes) out.append(encoded_[static_cast<unsigned char>(b)]);
  }
  /// The byte that character c stands for, or -1 when c is no byte-level character.
  int byte_of(char32_t c) const { return c < byte_of_.size() ? byte_of_[c] : -1; }

 private:
  std::array<std::string, 256> encoded_{};
  std::array<std::int16_t, 324> byte_of_ = [] {
    std::array<std::int16_t, 324> a{};
    a.fill(-1);
    return a;
  }();
};

/// Appends `bytes` to `out` as Rust's String::from_utf8_lossy: each maximal ill-formed subsequence (the longest
/// prefix of a well-formed sequence that cannot be completed, or one byte) becomes one U+FFFD.
inline void append_utf8_lossy(std::string& out, std::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char b = p[i];
    if (b < 0x80) {
      out += static_cast<char>(b);
      ++i;
      continue;
    }
    size_t need = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // the range of the second byte
    if (b >= 0xC2 && b <= 0xDF) need = 1;
    else if (b == 0xE0) need = 2, lo = 0xA0;
    else if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) need = 2;
    else if (b == 0xED) need = 2, hi = 0x9F;
    else if (b == 0xF0) need = 3, lo = 0x90;
    else if (b >= 0xF1 && b <= 0xF3) need = 3;
    else if (b == 0xF4) need = 3, hi = 0x8F;
    size_t k = 1;  // bytes of a valid prefix so far
    bool ok = need > 0;
    for (size_t t = 0; ok && t < need; ++t) {
      if (i + k >= n) {
        ok = false;
        break;
      }
      const unsigned char c = p[i + k];
      const bool in = t == 0 ? (c >= lo && c <= hi) : (c >= 0x80 && c <= 0xBF);
      if (!in) {
        ok = false;
        break;
      }
      ++k;
    }
    if (ok) {
      out.append(bytes.substr(i, k));
    } else {
      out.append(kReplacementChar);
    }
    i += k;
  }
}

}  // namespace pmc::tokenizer

// SPDX-License-Identifier: MIT
// Helpers shared by the tokenizer tests: reading text lines, generating random Unicode text, and the
// libsentencepiece reference (compiled in when PMC_HAVE_SENTENCEPIECE is defined).
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <pmc/core/error.hpp>
#include <pmc/tokenizer/normalizer.hpp>

#ifdef PMC_HAVE_SENTENCEPIECE
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>
#endif

namespace pmc::test {

inline std::vector<std::string> read_lines(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  PMC_CHECK(in.good(), path.string(), ": cannot open");
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  PMC_CHECK(in.good(), path.string(), ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// UTF-8 of one code point (the library's encoder: generating test text is not what these tests check).
inline void append_utf8(std::string& out, char32_t c) { pmc::tokenizer::utf8::append(out, c); }

/// Random text mixing scripts (Latin, Greek, Cyrillic, CJK, Arabic, Devanagari), emoji with ZWJ and variation
/// selectors, digits, punctuation, control characters, tabs/newlines, runs of spaces and rare planes.
/// With `malformed`, stray bytes (lone continuation bytes, truncated sequences, 0xFF) are mixed in too.
inline std::string random_text(std::mt19937_64& rng, size_t max_chars, bool malformed = false) {
  static const char32_t kWords[][8] = {{'t', 'h', 'e'},       {'p', 'a', 't', 'i', 'e', 'n', 't'},
                                       {0x3B1, 0x3C3, 0x3B8}, {0x43A, 0x440, 0x43E, 0x432, 0x44C},
                                       {0x75C5, 0x6C17},      {0x645, 0x631, 0x636},
                                       {0x930, 0x94B, 0x917}, {'m', 'g', '/', 'd', 'L'}};
  std::uniform_int_distribution<size_t> len_d(0, max_chars);
  std::uniform_int_distribution<int> kind(0, 99);
  std::string s;
  const size_t n = len_d(rng);
  for (size_t i = 0; i < n; ++i) {
    const int k = kind(rng);
    char32_t c;
    if (k < 25) {
      c = static_cast<char32_t>(U'a' + rng() % 26);
    } else if (k < 30) {
      c = static_cast<char32_t>(U'A' + rng() % 26);
    } else if (k < 42) {
      c = U' ';
    } else if (k < 46) {
      c = static_cast<char32_t>(U'0' + rng() % 10);
    } else if (k < 52) {
      c = U".,;:!?()[]{}-_'\"/\\#*%&@"[rng() % 23];
    } else if (k < 58) {
      for (char32_t w : kWords[rng() % 8])
        if (w) append_utf8(s, w);
      continue;
    } else if (k < 62) {
      c = U"\t\n\r\v\f\x01\x1b\x7f"[rng() % 8];
    } else if (k < 66) {
      c = static_cast<char32_t>(0x80 + rng() % 0x780);  // Latin-1 supplement .. Hebrew, incl. C1 controls
    } else if (k < 72) {
      c = static_cast<char32_t>(0x4E00 + rng() % 0x5200);  // CJK
    } else if (k < 76) {
      c = static_cast<char32_t>(0x1F300 + rng() % 0x300);  // emoji
      append_utf8(s, c);
      if (rng() % 3 == 0) append_utf8(s, 0xFE0F);
      if (rng() % 4 == 0) {
        append_utf8(s, 0x200D);
        append_utf8(s, static_cast<char32_t>(0x1F466 + rng() % 4));
      }
      continue;
    } else if (k < 80) {
      c = static_cast<char32_t>(0x370 + rng() % 0x500);  // Greek, Cyrillic, Armenian, Arabic
    } else if (k < 83) {
      c = static_cast<char32_t>(0x900 + rng() % 0x80);  // Devanagari
    } else if (k < 86) {
      c = U"\u00A0\u2002\u3000\u2581\uFFFD\u200B\u00AD"[rng() % 7];  // odd spaces, U+2581 itself, U+FFFD
    } else if (k < 89) {
      c = static_cast<char32_t>(0x10000 + rng() % 0xFFFF0);  // any plane 1..15 (many unassigned)
      if (c >= 0xD800 && c < 0xE000) c = 0x10400;
    } else if (k < 93) {
      s.append(std::string(1 + rng() % 6, ' '));
      continue;
    } else if (malformed && k < 97) {
      static const char* kBad[] = {"\x80", "\xBF", "\xC3", "\xE2\x96", "\xF0\x9F\x98", "\xFF", "\xC0\xAF",
                                   "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xFE"};
      s += kBad[rng() % 10];
      continue;
    } else {
      c = static_cast<char32_t>(U'a' + rng() % 26);
    }
    append_utf8(s, c);
  }
  return s;
}

#ifdef PMC_HAVE_SENTENCEPIECE
/// libsentencepiece, the reference implementation.
class SpReference {
 public:
  explicit SpReference(const std::filesystem::path& model) {
    const auto st = sp_.Load(model.string());
    PMC_CHECK(st.ok(), model.string(), ": libsentencepiece cannot load: ", st.ToString());
  }
  std::vector<int32_t> encode(const std::string& text, bool bos = false) const {
    std::vector<int> ids;
    const auto st = sp_.Encode(text, &ids);
    PMC_CHECK(st.ok(), "libsentencepiece Encode failed: ", st.ToString());
    std::vector<int32_t> out;
    if (bos) out.push_back(sp_.bos_id());
    out.insert(out.end(), ids.begin(), ids.end());
    return out;
  }
  std::string decode(const std::vector<int32_t>& ids) const {
    std::string text;
    const auto st = sp_.Decode(std::vector<int>(ids.begin(), ids.end()), &text);
    PMC_CHECK(st.ok(), "libsentencepiece Decode failed: ", st.ToString());
    return text;
  }
  sentencepiece::SentencePieceProcessor& processor() { return sp_; }

 private:
  sentencepiece::SentencePieceProcessor sp_;
};
#endif

}  // namespace pmc::test

// SPDX-License-Identifier: MIT
// pmc::tokenizer::unicode against Python's unicodedata (tests/golden/tokenizer_json/unicode_golden.json, made
// by tools/make_unicode_tables.py): the class of every code point, NFC of hand-picked strings, of every code
// point, of every (code point, marks) over Latin/Greek/Cyrillic, of pseudo-random strings; the fast path.
#include <doctest/doctest.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include <pmc/tokenizer/unicode.hpp>

#include "support/paths.hpp"
#include "tokenizer_test_support.hpp"

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace unicode_test {

namespace u = pmc::tokenizer::unicode;

namespace {

const nlohmann::json& golden() {
  static const nlohmann::json j = nlohmann::json::parse(
      pmc::test::read_text(pmc::test::source_dir() / "tests/golden/tokenizer_json/unicode_golden.json"));
  return j;
}

uint64_t hex64(const nlohmann::json& v) { return std::stoull(v.get<std::string>(), nullptr, 16); }

struct Fnv {
  uint64_t h = 0xCBF29CE484222325ull;
  void byte(uint8_t b) { h = (h ^ b) * 0x100000001B3ull; }
  void bytes(std::string_view s) {
    for (char c : s) byte(static_cast<uint8_t>(c));
  }
};

std::string utf8_of(std::initializer_list<char32_t> cps) {
  std::string s;
  for (char32_t c : cps) pmc::test::append_utf8(s, c);
  return s;
}

bool is_surrogate(char32_t c) { return c >= 0xD800 && c <= 0xDFFF; }

std::string nfc_ref(std::string_view s) {
  std::string out;
  u::detail::nfc_reference(s, out);
  return out;
}

struct SplitMix {
  uint64_t state;
  uint64_t next() {
    state += 0x9E3779B97F4A7C15ull;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
};

}  // namespace

TEST_CASE("unicode: letter, number, space and combining class of every code point match unicodedata") {
  const auto& g = golden().at("classes");
  Fnv h;
  size_t letters = 0, numbers = 0, spaces = 0, marks = 0, count = 0;
  for (char32_t c = 0; c <= 0x10FFFF; ++c) {
    if (is_surrogate(c)) continue;
    const bool l = u::is_letter(c), n = u::is_number(c), s = u::is_space(c);
    const bool m = u::canonical_combining_class(c) != 0;
    letters += l;
    numbers += n;
    spaces += s;
    marks += m;
    ++count;
    h.byte(static_cast<uint8_t>(l | n << 1 | s << 2 | m << 3));
  }
  CHECK(count == g.at("code_points").get<size_t>());
  CHECK(letters == g.at("letters").get<size_t>());
  CHECK(numbers == g.at("numbers").get<size_t>());
  CHECK(spaces == g.at("spaces").get<size_t>());
  CHECK(marks == g.at("nonzero_ccc").get<size_t>());
  CHECK(h.h == hex64(g.at("hash")));
  CHECK(golden().at("unicode_version").get<std::string>() == u::tables::kUnicodeVersion);
}

TEST_CASE("unicode: spot checks of the classes") {
  CHECK(u::is_letter('a'));
  CHECK(u::is_letter('Z'));
  CHECK_FALSE(u::is_letter('@'));
  CHECK_FALSE(u::is_letter('['));
  CHECK_FALSE(u::is_letter('`'));
  CHECK_FALSE(u::is_letter('{'));
  CHECK(u::is_letter(0xAA));     // FEMININE ORDINAL INDICATOR, Lo
  CHECK(u::is_letter(0x3042));   // HIRAGANA A
  CHECK(u::is_letter(0x4E00));   // CJK
  CHECK(u::is_letter(0x2B738));  // CJK Extension C, added in Unicode 14.0
  CHECK_FALSE(u::is_letter(0x2B739));  // unassigned in Unicode 14.0
  CHECK_FALSE(u::is_letter(0x0301));
  CHECK_FALSE(u::is_letter(0x00D7));  // MULTIPLICATION SIGN, Sm
  CHECK(u::is_number('0'));
  CHECK(u::is_number('9'));
  CHECK_FALSE(u::is_number('/'));
  CHECK_FALSE(u::is_number(':'));
  CHECK(u::is_number(0xB2));    // SUPERSCRIPT TWO, No
  CHECK(u::is_number(0xBD));    // VULGAR FRACTION ONE HALF, No
  CHECK(u::is_number(0x0663));  // ARABIC-INDIC DIGIT THREE, Nd
  CHECK(u::is_number(0x2167));  // ROMAN NUMERAL EIGHT, Nl
  CHECK(u::is_number(0x1D7CE));
  CHECK_FALSE(u::is_number(0x4E00));
  CHECK(u::canonical_combining_class(0x0301) == 230);
  CHECK(u::canonical_combining_class(0x0323) == 220);
  CHECK(u::canonical_combining_class(0x0345) == 240);
  CHECK(u::canonical_combining_class(0x093C) == 7);
  CHECK(u::canonical_combining_class(0x3099) == 8);
  CHECK(u::canonical_combining_class(0x1D165) == 216);
  CHECK(u::canonical_combining_class('a') == 0);
  CHECK(u::canonical_combining_class(0x10FFFF) == 0);
}

TEST_CASE("unicode: is_space is Oniguruma's \\s (White_Space)") {
  const std::vector<char32_t> spaces = {0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000, 0x2001,
                                        0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200A,
                                        0x2028, 0x2029, 0x202F, 0x205F, 0x3000};
  size_t count = 0;
  for (char32_t c = 0; c < 0x20000; ++c) count += u::is_space(c);
  CHECK(count == spaces.size());
  for (char32_t c : spaces) CHECK(u::is_space(c));
  // Not white space: information separators (Python's isspace says yes), ZWSP, BOM, Mongolian vowel separator
  // (White_Space before Unicode 6.3), U+2581.
  for (char32_t c : {0x1Cu, 0x1Du, 0x1Eu, 0x1Fu, 0x08u, 0x0Eu, 0x200Bu, 0xFEFFu, 0x180Eu, 0x2581u, 0x2060u})
    CHECK_FALSE(u::is_space(c));
}

TEST_CASE("unicode: NFC of hand-picked strings matches Python") {
  const auto& cases = golden().at("nfc_cases");
  REQUIRE(cases.size() >= 60);
  for (const auto& c : cases) {
    const auto in = c.at("in").get<std::string>();
    const auto want = c.at("out").get<std::string>();
    INFO(c.at("name").get<std::string>());
    CHECK(u::nfc(in) == want);
    CHECK(nfc_ref(in) == want);
    CHECK(u::nfc(want) == want);  // NFC is idempotent
    std::string out = "stale";
    u::nfc(in, out);  // the output string is replaced, not appended to
    CHECK(out == want);
  }
}

TEST_CASE("unicode: NFC of every code point matches Python") {
  const auto& g = golden().at("nfc_each_code_point");
  Fnv h;
  std::string in, out;
  size_t changed = 0;
  for (char32_t c = 0; c <= 0x10FFFF; ++c) {
    if (is_surrogate(c)) continue;
    in.clear();
    pmc::test::append_utf8(in, c);
    u::nfc(in, out);
    changed += out != in;
    h.bytes(out);
  }
  CHECK(changed == g.at("changed").get<size_t>());
  CHECK(h.h == hex64(g.at("hash")));
}

TEST_CASE("unicode: NFC of every Latin/Greek/Cyrillic code point followed by combining marks matches Python") {
  const auto& g = golden().at("nfc_sequences");
  const auto marks = g.at("marks").get<std::vector<std::vector<char32_t>>>();
  Fnv h, h_ref;
  std::string in, out;
  size_t count = 0, changed = 0;
  for (const auto& r : g.at("ranges")) {
    for (char32_t c = r.at(0).get<char32_t>(); c <= r.at(1).get<char32_t>(); ++c) {
      for (const auto& m : marks) {
        in.clear();
        pmc::test::append_utf8(in, c);
        for (char32_t x : m) pmc::test::append_utf8(in, x);
        u::nfc(in, out);
        changed += out != in;
        h.bytes(out);
        h.byte('|');
        h_ref.bytes(nfc_ref(in));
        h_ref.byte('|');
        ++count;
      }
    }
  }
  CHECK(count == g.at("count").get<size_t>());
  CHECK(changed == g.at("changed").get<size_t>());
  CHECK(h.h == hex64(g.at("hash")));
  CHECK(h_ref.h == hex64(g.at("hash")));
}

TEST_CASE("unicode: NFC of pseudo-random strings of marks, jamo, exclusions and singletons matches Python") {
  const auto& g = golden().at("nfc_random");
  const auto pool = golden().at("nfc_random_pool").get<std::vector<char32_t>>();
  SplitMix rng{g.at("seed").get<uint64_t>()};
  Fnv h;
  std::string in, out, joined;
  size_t changed = 0;
  const size_t count = g.at("count").get<size_t>();
  for (size_t k = 0; k < count; ++k) {
    in.clear();
    const uint64_t n = 1 + rng.next() % 8;
    for (uint64_t j = 0; j < n; ++j) pmc::test::append_utf8(in, pool[rng.next() % pool.size()]);
    u::nfc(in, out);
    changed += out != in;
    h.bytes(out);
    h.byte('|');
    CHECK(nfc_ref(in) == out);
    joined += in;
  }
  CHECK(changed == g.at("changed").get<size_t>());
  CHECK(h.h == hex64(g.at("hash")));
  // All of them in one text: segmenting at boundaries must agree with normalizing the whole at once.
  CHECK(u::nfc(joined) == nfc_ref(joined));
}

TEST_CASE("unicode: text below U+0300 takes the fast path and equals the slow path") {
  std::string all;
  for (char32_t c = 0; c < 0x300; ++c) pmc::test::append_utf8(all, c);
  CHECK(u::detail::nfc_inert_prefix(all) == all.size());
  CHECK(u::nfc(all) == all);
  CHECK(nfc_ref(all) == all);  // the full algorithm agrees: every such code point is NFC-inert

  std::mt19937_64 rng(7);
  for (int t = 0; t < 300; ++t) {
    std::string s;
    const size_t n = rng() % 40;
    for (size_t k = 0; k < n; ++k) pmc::test::append_utf8(s, static_cast<char32_t>(rng() % 0x300));
    REQUIRE(u::detail::nfc_inert_prefix(s) == s.size());
    CHECK(u::nfc(s) == s);
    CHECK(nfc_ref(s) == s);
    // One combining mark spliced in ends the fast prefix right there, and the composed result agrees.
    const std::string cut = s.substr(0, s.size() / 2);
    const std::string with_mark = cut + "\xCC\x81" + s.substr(cut.size());  // U+0301
    if (pmc::tokenizer::utf8::is_trail(s.size() > cut.size() ? s[cut.size()] : 'x')) continue;
    CHECK(u::detail::nfc_inert_prefix(with_mark) == cut.size());
    CHECK(u::nfc(with_mark) == nfc_ref(with_mark));
  }
  // U+0300 itself is the first code point that leaves the fast path.
  CHECK(u::detail::nfc_inert_prefix("e\xCC\x80") == 1);
  CHECK(u::nfc("e\xCC\x80") == "\xC3\xA8");  // e + grave -> U+00E8
  CHECK(u::detail::nfc_inert_prefix("\xCB\xBF") == 2);  // U+02FF
}

TEST_CASE("unicode: NFC of random mixed text equals the unsegmented reference") {
  std::mt19937_64 rng(11);
  for (int t = 0; t < 400; ++t) {
    const std::string s = pmc::test::random_text(rng, 120, t % 3 == 0);
    const std::string got = u::nfc(s);
    CHECK(got == nfc_ref(s));
    CHECK(u::nfc(got) == got);
  }
}

TEST_CASE("unicode: NFC writes U+FFFD for each malformed byte") {
  const std::string fffd = "\xEF\xBF\xBD";
  CHECK(u::nfc("a\xCC") == "a" + fffd);                  // truncated U+0301
  CHECK(u::nfc("\xC0\x80") == fffd + fffd);              // overlong NUL
  CHECK(u::nfc("\xED\xA0\x80") == fffd + fffd + fffd);   // surrogate
  CHECK(u::nfc("e\x80\xCC\x81") == "e" + fffd + "\xCC\x81");  // the U+FFFD blocks the composition
  CHECK(u::nfc("e\xCC\x81\xFF") == "\xC3\xA9" + fffd);
  CHECK(u::nfc("\xFF" "e\xCC\x81") == fffd + "\xC3\xA9");
  CHECK(u::nfc(fffd + "\xCC\x81") == fffd + "\xCC\x81");  // a real U+FFFD is kept
  CHECK(nfc_ref("e\x80\xCC\x81") == "e" + fffd + "\xCC\x81");
}

TEST_CASE("unicode: NFC orders and composes long runs of combining marks") {
  // a, 3000 x U+0301 (class 230), 3000 x U+0316 (class 220): the stable sort puts the 220s first, and the
  // first U+0301 is then unblocked (220 < 230) and composes with a to U+00E1.
  std::string in = "a";
  for (int k = 0; k < 3000; ++k) in += "\xCC\x81";
  for (int k = 0; k < 3000; ++k) in += "\xCC\x96";
  std::string want = "\xC3\xA1";
  for (int k = 0; k < 3000; ++k) want += "\xCC\x96";
  for (int k = 0; k < 2999; ++k) want += "\xCC\x81";
  CHECK(u::nfc(in) == want);
  CHECK(nfc_ref(in) == want);
  // Hangul: L V T composes to one syllable; an intervening mark blocks V from L.
  CHECK(u::nfc(utf8_of({0x1100, 0x1161, 0x11A8})) == utf8_of({0xAC01}));
  CHECK(u::nfc(utf8_of({0x1100, 0x0301, 0x1161})) == utf8_of({0x1100, 0x0301, 0x1161}));
  CHECK(u::nfc(utf8_of({0xAC00, 0x11A7})) == utf8_of({0xAC00, 0x11A7}));
}

}  // namespace unicode_test

// SPDX-License-Identifier: MIT
// Unicode character classes and NFC as Hugging Face `tokenizers` sees them: \p{L}, \p{N} and \s of its
// Oniguruma regexes, and Unicode Normalization Form C (UAX #15). Tables: unicode_data.hpp (Unicode 14.0.0,
// made by tools/make_unicode_tables.py).
#pragma once

#include <algorithm>
#include <iterator>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <pmc/tokenizer/normalizer.hpp>
#include <pmc/tokenizer/unicode_data.hpp>

namespace pmc::tokenizer::unicode {

namespace detail {

/// True when `c` lies in one of the sorted, disjoint, inclusive `ranges`: binary search, O(log n).
template <size_t N>
inline bool in_ranges(const tables::CodeRange (&ranges)[N], char32_t c) {
  size_t lo = 0, hi = N;  // first range with hi >= c lies in [lo, hi]
  while (lo < hi) {
    const size_t mid = (lo + hi) / 2;
    if (ranges[mid].hi < c) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo < N && ranges[lo].lo <= c;
}

}  // namespace detail

/// is_letter(c) = [General_Category(c) ∈ {Lu, Ll, Lt, Lm, Lo}], i.e. Oniguruma's \p{L} (Unicode 14.0.0).
inline bool is_letter(char32_t c) {
  if (c < 0x80) return static_cast<char32_t>((c | 0x20) - 'a') < 26;
  return detail::in_ranges(tables::kLetterRanges, c);
}

/// is_number(c) = [General_Category(c) ∈ {Nd, Nl, No}], i.e. Oniguruma's \p{N} (Unicode 14.0.0).
inline bool is_number(char32_t c) {
  if (c < 0x80) return static_cast<char32_t>(c - '0') < 10;
  return detail::in_ranges(tables::kNumberRanges, c);
}

/// is_space(c) = Oniguruma's \s for UTF-8 (ONIGENC_CTYPE_SPACE, its table CR_Space), which is the Unicode
/// White_Space property: U+0009..U+000D, U+0020, U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029,
/// U+202F, U+205F, U+3000: the same set in every Unicode version since 6.3 (CR_Space of the Oniguruma that
/// onig_sys 69.9 bundles, Unicode 16.0, is exactly this). Not Python's str.isspace (which adds U+001C..U+001F).
inline bool is_space(char32_t c) {
  if (c < 0x80) return c == 0x20 || (c >= 0x09 && c <= 0x0D);
  if (c < 0x1680) return c == 0x85 || c == 0xA0;
  return c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

/// canonical_combining_class(c) = Canonical_Combining_Class(c) (UCD, Unicode 14.0.0), 0 for starters and
/// for code points that are not assigned.
inline uint8_t canonical_combining_class(char32_t c) {
  if (c < 0x300) return 0;
  const auto& t = tables::kCccRanges;
  const auto* it =
      std::partition_point(std::begin(t), std::end(t), [c](const tables::CccRange& r) { return r.hi < c; });
  return it != std::end(t) && it->lo <= c ? it->ccc : 0;
}

namespace detail {

inline constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
inline constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount;
inline constexpr char32_t kSCount = kLCount * kNCount;  // 11172 precomposed Hangul syllables
inline constexpr unsigned kCccShift = 24;          // buffer entries: ccc << 24 | code point
inline constexpr uint32_t kCpMask = 0x1FFFFF;

/// The canonical full decomposition of `c` from the table (Hangul syllables not included), or nullptr when
/// c decomposes to itself.
inline const tables::Decomposition* find_decomposition(char32_t c) {
  const auto& t = tables::kDecompositions;
  if (c < t[0].cp) return nullptr;
  const auto* it =
      std::partition_point(std::begin(t), std::end(t), [c](const tables::Decomposition& d) { return d.cp < c; });
  return it != std::end(t) && it->cp == c ? it : nullptr;
}

/// The primary composite of the pair (a, b), a a starter, or 0 when there is none (UAX #15 canonical
/// composition; Hangul L+V -> LV and LV+T -> LVT by the algorithm of Unicode §3.12).
inline char32_t compose(char32_t a, char32_t b) {
  if (a - kLBase < kLCount && b - kVBase < kVCount) return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  if (a - kSBase < kSCount && (a - kSBase) % kTCount == 0 && b - (kTBase + 1) < kTCount - 1) return a + (b - kTBase);
  const uint64_t key = (static_cast<uint64_t>(a) << 21) | b;
  const auto& t = tables::kCompositions;
  const auto* it =
      std::partition_point(std::begin(t), std::end(t), [key](const tables::Composition& p) { return p.key < key; });
  return it != std::end(t) && it->key == key ? it->composite : 0;
}

/// Appends the canonical full decomposition of `c` to `buf` as ccc << 24 | code point entries.
inline void push_decomposed(char32_t c, std::vector<uint32_t>& buf) {
  if (c < 0xC0) {  // nothing below U+00C0 decomposes or has a non-zero class
    buf.push_back(c);
    return;
  }
  if (c - kSBase < kSCount) {
    const char32_t s = c - kSBase;
    buf.push_back(kLBase + s / kNCount);
    buf.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) buf.push_back(kTBase + s % kTCount);
    return;
  }
  if (const auto* d = find_decomposition(c)) {
    for (size_t k = 0; k < d->length; ++k) {
      const char32_t x = tables::kDecompositionPool[d->offset + k];
      buf.push_back(static_cast<uint32_t>(canonical_combining_class(x)) << kCccShift | x);
    }
    return;
  }
  buf.push_back(static_cast<uint32_t>(canonical_combining_class(c)) << kCccShift | c);
}

/// Canonical ordering (UAX #15 / Unicode §3.11): within every maximal run of non-starters, a stable sort by
/// combining class.
inline void canonical_order(std::vector<uint32_t>& buf) {
  const size_t n = buf.size();
  size_t i = 0;
  while (i < n) {
    if ((buf[i] >> kCccShift) == 0) {
      ++i;
      continue;
    }
    size_t j = i + 1;
    while (j < n && (buf[j] >> kCccShift) != 0) ++j;
    if (j - i > 1) {
      auto by_class = [](uint32_t x, uint32_t y) { return (x >> kCccShift) < (y >> kCccShift); };
      if (j - i <= 32) {
        for (size_t k = i + 1; k < j; ++k) {  // insertion sort: stable
          const uint32_t x = buf[k];
          size_t m = k;
          for (; m > i && by_class(x, buf[m - 1]); --m) buf[m] = buf[m - 1];
          buf[m] = x;
        }
      } else {
        std::stable_sort(buf.begin() + static_cast<std::ptrdiff_t>(i), buf.begin() + static_cast<std::ptrdiff_t>(j),
                         by_class);
      }
    }
    i = j;
  }
}

/// Canonical composition (UAX #15 / Unicode §3.11) of canonically ordered `buf`, in place: each code point C
/// combines with the last starter S before it when C is not blocked from S (no code point between them of
/// class 0 or of class >= ccc(C)) and (S, C) has a primary composite.
inline void canonical_compose(std::vector<uint32_t>& buf) {
  const size_t n = buf.size();
  if (n < 2) return;
  constexpr size_t kNone = static_cast<size_t>(-1);
  size_t starter = (buf[0] >> kCccShift) == 0 ? 0 : kNone;
  unsigned last_class = starter == 0 ? 0 : 256;  // class of the last code point kept; 256: no starter yet
  size_t w = 1;
  for (size_t r = 1; r < n; ++r) {
    const uint32_t e = buf[r];
    const unsigned cc = e >> kCccShift;
    if (starter != kNone && (last_class < cc || last_class == 0)) {
      if (const char32_t comp = compose(buf[starter] & kCpMask, e & kCpMask)) {
        buf[starter] = comp;  // primary composites are starters
        continue;
      }
    }
    if (cc == 0) starter = w;
    last_class = cc;
    buf[w++] = e;
  }
  buf.resize(w);
}

/// Reorders, composes and appends the decomposed code points in `buf` to `out` as UTF-8; clears `buf`.
inline void flush(std::vector<uint32_t>& buf, std::string& out) {
  canonical_order(buf);
  canonical_compose(buf);
  for (const uint32_t e : buf) utf8::append(out, e & kCpMask);
  buf.clear();
}

/// True when a normalization boundary lies before `c` (ccc(c) = 0 and NFC_Quick_Check(c) = Yes), so that
/// NFC(x c y) = NFC(x) NFC(c y); every code point below U+0300 qualifies (checked by the table generator).
inline bool nfc_boundary_before(char32_t c) { return c < 0x300 || !in_ranges(tables::kNfcNoBoundaryRanges, c); }

/// Length of the longest prefix of `s` made of well-formed code points below U+0300, which NFC leaves as it
/// is: NFC(prefix) = prefix.
inline size_t nfc_inert_prefix(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    const auto b = static_cast<uint8_t>(s[i]);
    if (b < 0x80) {
      ++i;
    } else if (b >= 0xC2 && b < 0xCC && i + 1 < n && utf8::is_trail(s[i + 1])) {
      i += 2;  // U+0080..U+02FF
    } else {
      break;
    }
  }
  return i;
}

/// NFC without any shortcut: decomposes the whole text into one buffer, orders and composes it. The
/// reference the segmented nfc() is tested against. Malformed bytes become U+FFFD, one per byte.
inline void nfc_reference(std::string_view in, std::string& out) {
  out.clear();
  std::vector<uint32_t> buf;
  buf.reserve(in.size());
  for (size_t i = 0; i < in.size();) {
    size_t len;
    const char32_t c = utf8::decode(in.substr(i), &len);
    push_decomposed(c, buf);
    i += len;
  }
  flush(buf, out);
}

}  // namespace detail

/// out = NFC(text): Unicode Normalization Form C (UAX #15, Unicode 14.0.0 data): canonical full decomposition
/// (Hangul syllables algorithmically), canonical ordering (stable sort of each run of non-starters by
/// combining class), then canonical composition (primary composites only; a mark is blocked by an earlier
/// starter or by a mark of the same or a higher class; Hangul LV and LVT by the algorithm). `out` is
/// replaced. Input should be valid UTF-8; each malformed byte (as utf8::decode judges it) is written as
/// U+FFFD and is a normalization boundary. Well-formed text without code points >= U+0300 is copied as it is.
/// Work: O(n) for text whose runs of combining marks are short; text is processed one segment (a starter
/// with NFC_Quick_Check=Yes and what follows it up to the next such starter) at a time, and a segment that
/// is one such starter alone is copied byte for byte.
inline void nfc(std::string_view text, std::string& out) {
  out.clear();
  const size_t n = text.size();
  size_t i = detail::nfc_inert_prefix(text);
  if (i == n) {
    out.assign(text);
    return;
  }
  out.reserve(n + n / 16 + 8);
  constexpr size_t kNone = static_cast<size_t>(-1);
  std::vector<uint32_t> buf;
  size_t copy_from = 0;  // text[copy_from, i) holds boundary starters not yet written (while !active)
  size_t last_start = kNone;  // where the last of those starts
  if (i > 0) last_start = (static_cast<uint8_t>(text[i - 1]) < 0x80) ? i - 1 : i - 2;
  bool active = false;  // buf holds the decomposed current segment
  while (i < n) {
    const auto b = static_cast<uint8_t>(text[i]);
    if (b < 0x80) {
      if (active) {
        detail::flush(buf, out);
        active = false;
        copy_from = i;
      }
      size_t j = i + 1;
      while (j < n && static_cast<uint8_t>(text[j]) < 0x80) ++j;
      last_start = j - 1;
      i = j;
      continue;
    }
    size_t len;
    const char32_t c = utf8::decode(text.substr(i), &len);
    if (c == 0xFFFD && len == 1) {  // malformed byte: U+FFFD, a boundary on both sides
      if (active) {
        detail::flush(buf, out);
        active = false;
      } else {
        out.append(text.data() + copy_from, i - copy_from);
      }
      out.append(kReplacementChar);
      copy_from = ++i;
      last_start = kNone;
      continue;
    }
    if (detail::nfc_boundary_before(c)) {
      if (active) {
        detail::flush(buf, out);
        active = false;
        copy_from = i;
      }
      last_start = i;
      i += len;
      continue;
    }
    if (!active) {  // the segment starts at the last boundary starter (if any): decompose it too
      const size_t seg = last_start == kNone ? i : last_start;
      out.append(text.data() + copy_from, seg - copy_from);
      if (seg < i) {
        size_t l;
        detail::push_decomposed(utf8::decode(text.substr(seg, i - seg), &l), buf);
      }
      active = true;
    }
    detail::push_decomposed(c, buf);
    i += len;
  }
  if (active) {
    detail::flush(buf, out);
  } else {
    out.append(text.data() + copy_from, n - copy_from);
  }
}

/// NFC(text) as a new string; see nfc(text, out).
inline std::string nfc(std::string_view text) {
  std::string out;
  nfc(text, out);
  return out;
}

}  // namespace pmc::tokenizer::unicode

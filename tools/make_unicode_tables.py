#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Writes include/pmc/tokenizer/unicode_data.hpp (the Unicode tables of include/pmc/tokenizer/unicode.hpp) and
# tests/golden/tokenizer_json/unicode_golden.json (what tests/tokenizer/unicode_test.cpp checks them against).
#
#   python3 tools/make_unicode_tables.py          # regenerate both files (deterministic)
#   python3 tools/make_unicode_tables.py --check  # regenerate in memory and compare with the committed files
"""Unicode tables and goldens for pmc::tokenizer::unicode, from Python's `unicodedata`.

The committed files were made by Python 3.11.7, whose unicodedata is Unicode 14.0.0; another Python gives
another Unicode version (the script prints which one and writes it into both files).

Tables (all sorted, ranges inclusive):
  * letters: General_Category L (Lu Ll Lt Lm Lo), as ranges; numbers: N (Nd Nl No), as ranges;
  * canonical combining class: ranges of code points with the same non-zero class;
  * canonical full decompositions: unicodedata.normalize('NFD', c) where it differs from c, Hangul syllables
    excluded (they decompose algorithmically): (code point, offset, length) into a pool of code points;
  * primary composites: (a, b) -> c iff c's decomposition mapping (no <tag>) is exactly `a b` and
    NFC(a b) == c (this drops composition exclusions, singletons and non-starter decompositions), sorted by
    the key a << 21 | b;
  * NFC "no boundary" ranges: code points c with ccc(c) != 0 or NFC_Quick_Check(c) != Yes, i.e. NFC(c) != c
    (QC=No) or c is the second code point of a primary composite, Hangul V and T jamo included (QC=Maybe).
    Before any other code point there is a normalization boundary: NFC(x c y) == NFC(x) NFC(c y).

The script asserts the claim behind nfc()'s fast path: every code point below U+0300 is a starter with
NFC_Quick_Check=Yes, and every string of them (checked for all pairs) is its own NFC.

Goldens: a 64-bit FNV-1a hash over one byte per code point (letter | number << 1 | space << 2 | (ccc != 0)
<< 3), NFC of hand-picked strings, hashes of the NFC of every code point, of every (code point, mark) and
(code point, mark, mark) over the Latin, Greek and Cyrillic blocks, and of pseudo-random strings drawn from a
pool of tricky code points with splitmix64 (the C++ test draws the same strings).
"""
import argparse
import json
import pathlib
import re
import sys
import unicodedata

ROOT = pathlib.Path(__file__).resolve().parent.parent
HEADER = ROOT / "include" / "pmc" / "tokenizer" / "unicode_data.hpp"
GOLDEN = ROOT / "tests" / "golden" / "tokenizer_json" / "unicode_golden.json"

MAX_CP = 0x10FFFF
S_BASE, S_COUNT = 0xAC00, 11172
L_BASE, L_COUNT = 0x1100, 19
V_BASE, V_COUNT = 0x1161, 21
T_BASE, T_COUNT = 0x11A7, 28  # T jamo are U+11A8..U+11C2 (T_BASE itself is no T jamo)

# Oniguruma's \s for Unicode encodings (ONIGENC_CTYPE_SPACE -> CR_Space = the White_Space property).
SPACE_RANGES = [(0x09, 0x0D), (0x20, 0x20), (0x85, 0x85), (0xA0, 0xA0), (0x1680, 0x1680), (0x2000, 0x200A),
                (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000)]


def code_points():
    """All Unicode scalar values (surrogates skipped)."""
    return (c for c in range(MAX_CP + 1) if not 0xD800 <= c <= 0xDFFF)


def nfc(s):
    return unicodedata.normalize("NFC", s)


def is_space(c):
    return any(lo <= c <= hi for lo, hi in SPACE_RANGES)


def ranges_of(pred):
    out = []
    for c in code_points():
        if pred(c):
            if out and out[-1][1] == c - 1:
                out[-1][1] = c
            else:
                out.append([c, c])
    return out


def ccc_ranges():
    out = []
    for c in code_points():
        k = unicodedata.combining(chr(c))
        if k:
            if out and out[-1][1] == c - 1 and out[-1][2] == k:
                out[-1][1] = c
            else:
                out.append([c, c, k])
    return out


def decompositions():
    entries, pool = [], []
    for c in code_points():
        if S_BASE <= c < S_BASE + S_COUNT:
            continue
        d = unicodedata.normalize("NFD", chr(c))
        if d != chr(c):
            entries.append((c, len(pool), len(d)))
            pool.extend(ord(x) for x in d)
    return entries, pool


def compositions():
    pairs = []
    for c in code_points():
        m = unicodedata.decomposition(chr(c))
        if not m or m.startswith("<"):
            continue
        parts = [int(x, 16) for x in m.split()]
        if len(parts) == 2 and nfc(chr(parts[0]) + chr(parts[1])) == chr(c):
            a, b = parts
            assert unicodedata.combining(chr(a)) == 0 and unicodedata.combining(chr(c)) == 0, hex(c)
            pairs.append(((a << 21) | b, c))
    pairs.sort()
    return pairs


def no_boundary_ranges(pairs):
    seconds = {key & 0x1FFFFF for key, _ in pairs}
    seconds.update(range(V_BASE, V_BASE + V_COUNT))
    seconds.update(range(T_BASE + 1, T_BASE + T_COUNT))

    def pred(c):
        return unicodedata.combining(chr(c)) != 0 or nfc(chr(c)) != chr(c) or c in seconds

    return ranges_of(pred), pred


def check_fast_path_claim(no_boundary):
    """Below U+0300 every code point is an NFC-inert starter, so text of them is its own NFC."""
    for c in range(0x300):
        assert not (0xD800 <= c <= 0xDFFF)
        assert unicodedata.combining(chr(c)) == 0, hex(c)
        assert nfc(chr(c)) == chr(c), hex(c)
        assert not no_boundary(c), hex(c)
    for a in range(0x300):
        for b in range(0x300):
            s = chr(a) + chr(b)
            assert nfc(s) == s, (hex(a), hex(b))
    assert no_boundary(0x300)  # the first code point that is not inert


def fnv1a(data, h=0xCBF29CE484222325):
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


class Fnv:
    """FNV-1a 64 over bytes fed in pieces (bytes.translate-free loop, kept simple and exact)."""

    def __init__(self):
        self.h = 0xCBF29CE484222325

    def update(self, data):
        self.h = fnv1a(data, self.h)


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return state, z ^ (z >> 31)


# Hand-picked NFC cases: (what it exercises, input).
NFC_CASES = [
    ("ascii", "Hello, world! 123"),
    ("empty", ""),
    ("latin-1 precomposed stays", "caf\u00e9 na\u00efve \u00c5ngstr\u00f6m"),
    ("e + acute", "e\u0301"),
    ("A + ring", "A\u030a"),
    ("angstrom sign (singleton)", "\u212b"),
    ("ohm sign (singleton)", "\u2126"),
    ("kelvin sign (singleton)", "\u212a"),
    ("devanagari qa (exclusion)", "\u0958"),
    ("devanagari ka + nukta stays", "\u0915\u093c"),
    ("devanagari nukta letters", "\u095c\u095d\u0929\u0931\u0934"),
    ("dot below then circumflex", "a\u0323\u0302"),
    ("circumflex then dot below", "a\u0302\u0323"),
    ("d dot above + dot below", "\u1e0b\u0323"),
    ("d dot below + dot above", "\u1e0d\u0307"),
    ("d + dot above + dot below", "d\u0307\u0323"),
    ("q dot above dot below", "q\u0307\u0323"),
    ("long combining run", "a" + "\u0301\u0316\u0300\u0317\u0302\u0318\u0303\u0319\u0304\u031a" * 3),
    ("zalgo", "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324\u031e\u0349\u035a\u032f"
              "\u031e\u0320\u034da\u036b\u0357\u0364\u0312\u0306\u0317\u034e\u033a"),
    ("blocked by same class", "a\u0301\u0301"),
    ("blocked by starter", "a\u0915\u0301"),
    ("combining mark first", "\u0301a"),
    ("only marks", "\u0323\u0301\u0300"),
    ("hangul syllables", "\ud55c\uad6d\uc5b4 \uc548\ub155\ud558\uc138\uc694"),
    ("hangul L V", "\u1112\u1161"),
    ("hangul L V T", "\u1112\u1161\u11ab"),
    ("hangul LV + T", "\ud558\u11ab"),
    ("hangul LVT + T stays", "\ud55c\u11ab"),
    ("hangul LV + T_BASE stays", "\ud558\u11a7"),
    ("hangul L V T sequence", "\u1100\u1161\u11a8\u1100\u1161\u1102\u1161\u11ab"),
    ("hangul old jamo stay", "\u1113\u1161\u1100\u1176\u1100\u1161\u11c3"),
    ("hangul L + mark + V", "\u1100\u0301\u1161"),
    ("hangul compatibility jamo stay", "\u3131\u314f"),
    ("greek tonos", "\u03b1\u0301\u03b5\u0301\u03b9\u0301"),
    ("greek oxia singleton", "\u1f71\u1f73"),
    ("greek dialytika tonos", "\u03b9\u0308\u0301\u03c5\u0308\u0301"),
    ("greek polytonic", "\u1f00\u0345\u03b1\u0313\u0342\u0345\u03c9\u0314\u0301\u0345"),
    ("greek ypogegrammeni order", "\u03b1\u0345\u0313"),
    ("greek ano teleia / question mark", "\u0387\u037e"),
    ("cyrillic short i", "\u0438\u0306\u0415\u0308"),
    ("vietnamese", "Tie\u0302\u0301ng Vie\u0323\u0302t co\u0301 da\u0302\u0301u"),
    ("vietnamese precomposed", "Ti\u1ebfng Vi\u1ec7t"),
    ("tibetan", "\u0f40\u0f71\u0f72\u0f80\u0f74\u0f73\u0f75\u0f81\u0f43\u0fb2\u0f80"),
    ("tibetan non-starter decomposition", "\u0f73\u0f77\u0f79"),
    ("hebrew points", "\u05e9\u05c1\u05bc\u05b8\ufb2c\ufb2e"),
    ("arabic", "\u0627\u0653\u0627\u0654\u0648\u0654\u064a\u0654"),
    ("bengali two-part vowel", "\u0995\u09c7\u09be\u09c7\u09d7"),
    ("tamil", "\u0b95\u0bc6\u0bbe\u0bc6\u0bd7\u0bc7\u0bbe"),
    ("kannada", "\u0cbf\u0cd5\u0cc6\u0cc2\u0cca\u0cd5"),
    ("malayalam", "\u0d46\u0d3e\u0d47\u0d3e\u0d46\u0d57"),
    ("sinhala", "\u0dd9\u0dca\u0dd9\u0dcf\u0dca\u0dd9\u0ddf"),
    ("balinese", "\u1b05\u1b35\u1b3a\u1b35"),
    ("kana voiced marks", "\u304b\u3099\u30cf\u309a\u30a6\u3099\u304b\uff9e"),
    ("cjk compatibility ideographs", "\uf900\uf9ff\ufa10\U0002f800"),
    ("musical symbols (exclusions)", "\U0001d15e\U0001d160\U0001d1bb"),
    ("kaithi / chakma / grantha", "\U00011099\U000110ba\U00011131\U00011127\U00011347\U0001133e"),
    ("emoji", "\U0001f600 \U0001f469\u200d\U0001f4bb \u2764\ufe0f \U0001f1eb\U0001f1f7 \U0001f44d\U0001f3fd"),
    ("compatibility forms untouched", "\ufb01 \u2460 \uff21 \u00bd \u2126"),
    ("mixed", "Stra\u00dfe r\u00e9sum\u00e9 \u1e9b\u0323 \u0041\u030a\u212b x\u0327\u0301 \ud55c\u11ab"),
    ("U+0344 / U+0340 / U+0341", "a\u0344\u0340\u0341"),
    ("iota subscript after tonos", "\u03c9\u0301\u0345"),
    ("final sigma untouched", "\u03bf\u03c2 \u03a3"),
]

# Pool for the pseudo-random strings: starters that compose, marks of many classes, Hangul jamo, singletons,
# exclusions and non-starter decompositions.
RANDOM_POOL = [
    0x61, 0x65, 0x6F, 0x41, 0x55, 0x64, 0x20, 0xC5, 0xE9, 0x1EA0, 0x390, 0x3B1, 0x3C9, 0x3B9, 0x418, 0x438,
    0x1100, 0x1112, 0x1161, 0x1175, 0x11A7, 0x11A8, 0x11C2, 0xAC00, 0xAC01, 0xD7A3,
    0x300, 0x301, 0x302, 0x308, 0x30A, 0x313, 0x314, 0x316, 0x323, 0x327, 0x328, 0x334, 0x342, 0x345, 0x35C,
    0x5B0, 0x5BC, 0x5C1, 0x651, 0x654, 0x93C, 0x915, 0x958, 0x9C7, 0x9BE, 0x9D7, 0xB47, 0xB3E, 0xB57,
    0xBC6, 0xBBE, 0xCC6, 0xCC2, 0xCD5, 0xD46, 0xD3E, 0xDD9, 0xDCF, 0xDCA, 0xF40, 0xF71, 0xF72, 0xF73, 0xF80,
    0xFB2, 0x1B05, 0x1B35, 0x304B, 0x3099, 0x309A, 0x1E0B, 0x212B, 0x2126, 0x344, 0x340, 0x1F71,
    0x11099, 0x110BA, 0x11131, 0x11127, 0x1D165, 0x1D16D, 0x1D15E, 0xFB2C, 0xFFFD,
]


def random_strings(count=4000, seed=20240607):
    state = seed
    out = []
    for _ in range(count):
        state, r = splitmix64(state)
        n = 1 + r % 8
        s = []
        for _ in range(n):
            state, r = splitmix64(state)
            s.append(chr(RANDOM_POOL[r % len(RANDOM_POOL)]))
        out.append("".join(s))
    return out


# (code point, marks...) over these ranges, for these mark sequences.
SEQ_RANGES = [(0x0000, 0x058F), (0x1E00, 0x1FFF)]
SEQ_MARKS = [[0x300], [0x301], [0x302], [0x303], [0x304], [0x306], [0x307], [0x308], [0x30A], [0x30B],
             [0x30C], [0x30F], [0x311], [0x313], [0x314], [0x31B], [0x323], [0x324], [0x325], [0x326],
             [0x327], [0x328], [0x32D], [0x32E], [0x330], [0x331], [0x338], [0x342], [0x345],
             [0x323, 0x302], [0x302, 0x323], [0x313, 0x301], [0x301, 0x313], [0x308, 0x301],
             [0x301, 0x345], [0x345, 0x301], [0x327, 0x306], [0x31B, 0x323], [0x304, 0x308]]


def sequences():
    for lo, hi in SEQ_RANGES:
        for c in range(lo, hi + 1):
            for marks in SEQ_MARKS:
                yield chr(c) + "".join(map(chr, marks))


def hash_nfc(strings, sep=b""):
    h = Fnv()
    for s in strings:
        h.update(nfc(s).encode("utf-8") + sep)
    return h.h


def build():
    version = unicodedata.unidata_version
    letters = ranges_of(lambda c: unicodedata.category(chr(c))[0] == "L")
    numbers = ranges_of(lambda c: unicodedata.category(chr(c))[0] == "N")
    cccs = ccc_ranges()
    dec_entries, pool = decompositions()
    pairs = compositions()
    nob, nob_pred = no_boundary_ranges(pairs)
    check_fast_path_claim(nob_pred)
    assert len(pool) < 65536 and max(n for _, _, n in dec_entries) < 256
    assert min(c for c, _, _ in dec_entries) >= 0xC0

    header = render_header(version, letters, numbers, cccs, dec_entries, pool, pairs, nob)
    golden = render_golden(version)
    return header, golden


def fmt_rows(items, per_line, indent="    "):
    lines = []
    for i in range(0, len(items), per_line):
        lines.append(indent + ", ".join(items[i:i + per_line]) + ",")
    return "\n".join(lines)


def render_header(version, letters, numbers, cccs, dec_entries, pool, pairs, nob):
    py = ".".join(map(str, sys.version_info[:3]))
    r = lambda rs: [f"{{0x{lo:X}, 0x{hi:X}}}" for lo, hi in rs]
    parts = [f"""// SPDX-License-Identifier: MIT
// Unicode {version} tables for pmc::tokenizer::unicode (unicode.hpp), generated by tools/make_unicode_tables.py
// from Python {py}'s unicodedata (Unicode {version}). Do not edit; regenerate with that script.
// Ranges are inclusive and sorted; every array is searched by binary search.
#pragma once

#include <cstdint>

namespace pmc::tokenizer::unicode::tables {{

/// The Unicode version of these tables.
inline constexpr char kUnicodeVersion[] = "{version}";

/// Code points lo..hi (inclusive).
struct CodeRange {{
  char32_t lo, hi;
}};

/// Code points lo..hi (inclusive), all of canonical combining class `ccc` (non-zero).
struct CccRange {{
  char32_t lo, hi;
  uint8_t ccc;
}};

/// Canonical full decomposition of `cp`: kDecompositionPool[offset .. offset + length).
struct Decomposition {{
  char32_t cp;
  uint16_t offset;
  uint8_t length;
}};

/// Primary composite: key = first << 21 | second, composed to `composite`.
struct Composition {{
  uint64_t key;
  char32_t composite;
}};

/// General_Category L (Lu Ll Lt Lm Lo).
inline constexpr CodeRange kLetterRanges[] = {{
{fmt_rows(r(letters), 6)}
}};

/// General_Category N (Nd Nl No).
inline constexpr CodeRange kNumberRanges[] = {{
{fmt_rows(r(numbers), 6)}
}};

/// Canonical_Combining_Class, non-zero values only (every other code point has class 0).
inline constexpr CccRange kCccRanges[] = {{
{fmt_rows([f"{{0x{lo:X}, 0x{hi:X}, {k}}}" for lo, hi, k in cccs], 5)}
}};

/// Canonical full decompositions (NFD of the single code point), Hangul syllables excluded, sorted by cp.
inline constexpr Decomposition kDecompositions[] = {{
{fmt_rows([f"{{0x{c:X}, {o}, {n}}}" for c, o, n in dec_entries], 6)}
}};

inline constexpr char32_t kDecompositionPool[] = {{
{fmt_rows([f"0x{c:X}" for c in pool], 12)}
}};

/// Primary composites (composition exclusions, singletons and non-starter decompositions left out; Hangul
/// is algorithmic), sorted by key.
inline constexpr Composition kCompositions[] = {{
{fmt_rows([f"{{0x{k:X}, 0x{c:X}}}" for k, c in pairs], 4)}
}};

/// Code points c with ccc(c) != 0 or NFC_Quick_Check(c) != Yes: no NFC boundary is known before them.
inline constexpr CodeRange kNfcNoBoundaryRanges[] = {{
{fmt_rows(r(nob), 6)}
}};

}}  // namespace pmc::tokenizer::unicode::tables
"""]
    return "".join(parts)


def render_golden(version):
    h = Fnv()
    counts = {"letters": 0, "numbers": 0, "spaces": 0, "nonzero_ccc": 0, "code_points": 0}
    buf = bytearray()
    for c in code_points():
        ch = chr(c)
        cat = unicodedata.category(ch)
        letter = cat[0] == "L"
        number = cat[0] == "N"
        space = is_space(c)
        ccc = unicodedata.combining(ch) != 0
        counts["letters"] += letter
        counts["numbers"] += number
        counts["spaces"] += space
        counts["nonzero_ccc"] += ccc
        counts["code_points"] += 1
        buf.append(letter | number << 1 | space << 2 | ccc << 3)
    h.update(buf)
    classes = {"hash": f"0x{h.h:016X}", **counts}

    each = Fnv()
    each.update("".join(nfc(chr(c)) for c in code_points()).encode("utf-8"))
    changed = sum(1 for c in code_points() if nfc(chr(c)) != chr(c))

    seqs = list(sequences())
    rnd = random_strings()
    golden = {
        "generator": "tools/make_unicode_tables.py",
        "python": ".".join(map(str, sys.version_info[:3])),
        "unicode_version": version,
        "hash": "FNV-1a 64 (offset 0xCBF29CE484222325, prime 0x100000001B3), hex",
        "classes": classes,
        "nfc_cases": [{"name": name, "in": s, "out": nfc(s)} for name, s in NFC_CASES],
        "nfc_each_code_point": {"hash": f"0x{each.h:016X}", "changed": changed},
        "nfc_sequences": {
            "ranges": [list(r) for r in SEQ_RANGES],
            "marks": SEQ_MARKS,
            "count": len(seqs),
            "hash": f"0x{hash_nfc(seqs, b'|'):016X}",
            "changed": sum(1 for s in seqs if nfc(s) != s),
        },
        "nfc_random": {
            "seed": 20240607,
            "count": len(rnd),
            "pool": RANDOM_POOL,
            "hash": f"0x{hash_nfc(rnd, b'|'):016X}",
            "changed": sum(1 for s in rnd if nfc(s) != s),
        },
    }
    # One line per case and for the pool, to keep the file small and diffable.
    cases = golden.pop("nfc_cases")
    pool = golden["nfc_random"].pop("pool")
    text = json.dumps(golden, indent=1, ensure_ascii=True)
    compact = lambda m: json.dumps(json.loads(m.group(0)))
    text = re.sub(r"\[[^\[\]{}\"]*\]", compact, text)  # lists of numbers on one line
    text = re.sub(r"\[(\s*\[[^\[\]{}\"]*\],?)+\s*\]", compact, text)  # and lists of such lists
    rows = ",\n".join("  " + json.dumps(c, ensure_ascii=True) for c in cases)
    text = text[:-2] + f',\n "nfc_cases": [\n{rows}\n ],\n "nfc_random_pool": {json.dumps(pool)}\n}}'
    json.loads(text)
    return text + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare with the committed files instead of writing")
    args = ap.parse_args()
    print(f"Python {sys.version.split()[0]}, Unicode {unicodedata.unidata_version}")
    header, golden = build()
    if args.check:
        ok = True
        for path, text in ((HEADER, header), (GOLDEN, golden)):
            same = path.exists() and path.read_text(encoding="utf-8") == text
            print(f"{path.relative_to(ROOT)}: {'same' if same else 'DIFFERS'}")
            ok &= same
        sys.exit(0 if ok else 1)
    HEADER.write_text(header, encoding="utf-8")
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_text(golden, encoding="utf-8")
    print(f"wrote {HEADER.relative_to(ROOT)} ({len(header)} bytes), {GOLDEN.relative_to(ROOT)} ({len(golden)} bytes)")


if __name__ == "__main__":
    main()

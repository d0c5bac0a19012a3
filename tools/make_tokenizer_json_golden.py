#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
r"""Golden files for pmc's reader/encoder/decoder of Hugging Face `tokenizer.json` files.

Writes tests/golden/tokenizer_json/ (see its README.md):

  llama3_style.json, qwen2_style.json, gpt2_style.json,     five real tokenizer.json files, saved by the
  sentencepiece_style.json, metaspace_style.json            `tokenizers` library (Tokenizer.save), each
                                                            with a BPE vocabulary trained here (BpeTrainer)
  texts.jsonl         the test texts, {"text": ...} per line
  encodings.jsonl     encode/decode results of every tokenizer on every text, and decode-only cases
  shared_hashes.json  FNV-1a 64 hashes of the ids (and decoded text) of every line of the real data in
                      ../shared, for the five tokenizers and `llama_converted` (only when ../shared exists)
  tokenizers_speed.json   only with --speed (timings are not deterministic)

Run from anywhere:

    python3 tools/make_tokenizer_json_golden.py           # regenerate (deterministic: byte-identical reruns)
    python3 tools/make_tokenizer_json_golden.py --check   # regenerate in a temp dir, compare bytewise
    python3 tools/make_tokenizer_json_golden.py --speed   # also time `tokenizers`, write tokenizers_speed.json
    python3 tools/make_tokenizer_json_golden.py --out DIR # write elsewhere

The committed files were made with Python 3.11.7, tokenizers 0.23.3, transformers 5.24.0 (only for
`llama_converted`), sentencepiece 0.2.3. Other `tokenizers` versions may train different vocabularies.

Training text (deterministic): docs/*.md (sorted by name) then README.md, each file as one sequence, as they
are in commit TRAIN_COMMIT = 723bb79ed400 (read with `git show`, so later edits of the docs change
nothing; without git or that commit the script warns and uses the working tree), then every test text as one
sequence. Nothing from ../shared is used for training or copied into the repo.

The tokenizers:
  llama3_style        byte-level BPE laid out like Meta Llama-3's tokenizer.json (Split(LLAMA3 regex) +
                      ByteLevel(use_regex=False), ignore_merges=True, specials after the vocabulary, a
                      non-special added token `<med>` and a non-special `[MASKED]` with lstrip and rstrip,
                      post-processor ByteLevel + TemplateProcessing "<|begin_of_text|> $A").
  qwen2_style         like Qwen2's: NFC, Split(QWEN2 regex: single digits) + ByteLevel, ignore_merges=False,
                      specials <|endoftext|> <|im_start|> <|im_end|>, and (beyond Qwen2) one non-special
                      added token `µmol/L` (normalized=False) whose character U+00B5 is itself a
                      byte-level alphabet character, so the ByteLevel decoder turns it into the byte 0xB5.
  gpt2_style          ByteLevel(add_prefix_space=True, use_regex=True) (GPT-2's own regex), <|endoftext|>,
                      post-processor ByteLevel (no template).
  sentencepiece_style the "legacy" LLaMA-2 / Mistral layout: normalizer Prepend("▁") + Replace(" ", "▁"),
                      no pre-tokenizer, BPE with byte_fallback and fuse_unk, ids 0..2 = <unk> <s> </s>,
                      3..258 = <0x00>..<0xFF>, then pieces trained on Metaspace-split text. Tabs, newlines,
                      other control/line-separator characters, emoji, Khmer and a few CJK characters
                      (镇 龘 鬱 Ꙋ and everything above U+FFFF) are kept out of the training text so
                      they are encoded by byte fallback.
  metaspace_style     the same vocabulary and merges, laid out as transformers 5 writes Llama tokenizers:
                      no normalizer, pre-tokenizer Metaspace(prepend_scheme "first", split False).

encodings.jsonl lines (one per tokenizer and text, in the order tokenizers x texts, then the decode-only
cases of each tokenizer):
  {"tokenizer": stem, "text": index into texts.jsonl, "ids": encode(text, add_special_tokens=False).ids,
   "ids_special": encode(text, add_special_tokens=True).ids,
   "decoded": decode(ids_special, skip_special_tokens=True),
   "decoded_all": decode(ids_special, skip_special_tokens=False)}
  {"tokenizer": stem, "decode_only": [ids], "decoded": ..., "decoded_all": ...}
decode-only cases: byte tokens that split or garble multi-byte UTF-8 (decoded with U+FFFD replacements),
a lone byte-fallback id <0xE2>, added tokens next to ordinary tokens, and 6 random id sequences (Python's
random.Random(20240607 + tokenizer index)) over the whole vocabulary including the added tokens.

shared_hashes.json: {"fnv1a64": ..., "records": [...]} with one record per tokenizer and source:
  {"tokenizer": name, "source": src, "file_sha256": ..., "file_fnv1a64": FNV-1a 64 of the file's bytes,
   "count": number of lines, "block": 64, "blocks": [[n_lines, n_ids, ids_hash, decode_hash], ...]}
  Per block of 64 lines: ids = encode(line, add_special_tokens=False).ids; ids_hash = FNV-1a 64 (offset
  0xcbf29ce484222325, prime 0x100000001b3) over, for each line, its id count then its ids, all written as
  little-endian int32; decode_hash = FNV-1a 64 over, for each line, the byte length (int32 LE) then the UTF-8
  bytes of decode(ids, skip_special_tokens=True); both as 16 lowercase hex digits.
  Tokenizers: the five files above (by stem) and `llama_converted` = transformers 5.24's
  AutoTokenizer.from_pretrained(dir with ../shared/data/tokenizer/llama/tokenizer.model and tokenizer_config.json
  {"tokenizer_class": "LlamaTokenizer"}).backend_tokenizer (its tokenizer.json is not committed).
  Sources (paths relative to the repo root):
    encode_vectors    ../shared/data/tokenizer/llama/encode_vectors.json: the `text` of its 96 cases in file
                      order (groups in file order; a group is a list of cases or an object with "cases").
    ggml_vocab        ../shared/data/tokenizer/llama/ggml-vocab-llama-spm.gguf.inp split on
                      "\n__ggml_vocab_test__\n"; the file ends with that separator, so the empty piece after the
                      last separator is dropped: 46 pieces (the empty piece at index 2 is an input and is kept).
    pubmed_abstracts  ../shared/data/corpus/pubmedqa_pqal_trainval_abstracts.txt, decoded as strict UTF-8,
                      split on "\n"; the file ends with "\n", so the empty piece after it is dropped (the
                      same rule as ggml_vocab): 1000 lines, the blank separator lines included.
    medquad           ../shared/data/corpus/medquad_small_niddk_ninds_mplus.txt, the same way: 9606 lines.
  Without ../shared the script still makes the other files and says it skipped shared_hashes.json.

Speed (--speed; `tokenizers` 0.23.3, one thread: RAYON_NUM_THREADS=1, TOKENIZERS_PARALLELISM=false;
pubmed_abstracts + medquad, 10606 lines, 4.31 MB UTF-8; best of 3; CPU "AMD EPYC", 2 cores visible):
  tokenizer        mode           MB/s   tokens/s   (tokens)
  llama_converted  encode         1.53     386299   (1085536)
  llama_converted  encode_batch   2.06     519712
  llama3_style     encode         0.77     301506   (1677711)
  llama3_style     encode_batch   1.79     697546
(a shared 2-CPU machine: an earlier run of the same code measured about half these figures)
"""

import argparse
import hashlib
import json
import os
import pathlib
import random
import shutil
import subprocess
import sys
import tempfile
import time
import unicodedata

# Single-threaded `tokenizers` (must be set before the library starts its thread pool).
os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import tokenizers  # noqa: E402
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers  # noqa: E402
from tokenizers import pre_tokenizers, processors, trainers  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "golden" / "tokenizer_json"
SHARED = ROOT.parent / "shared"

LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
          r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2 = LLAMA3.replace(r"\p{N}{1,3}", r"\p{N}")
assert QWEN2 != LLAMA3

# The docs/*.md and README.md that the vocabularies are trained on are read from this commit (git show), so
# that later edits of the docs do not change the golden files.
TRAIN_COMMIT = "723bb79ed400560ea5426504bac8361f06e4cb3a"

BYTE_LEVEL_VOCAB = 3500
SP_VOCAB = 3500  # total, including <unk> <s> </s> and the 256 byte tokens

LLAMA3_SPECIAL = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
QWEN2_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
SP_SPECIAL = ["<unk>", "<s>", "</s>"]

# Whole words appended to llama3_style's vocabulary without merges (BPE alone splits each of them), so that
# ignore_merges=True changes their encoding, as it does for some words of Llama-3's real vocabulary.
LLAMA3_EXTRA_WORDS = [" Sitagliptin", " bradykinesia", " diarrhoea", " γρήγορη"]

STEMS = ["llama3_style", "qwen2_style", "gpt2_style", "sentencepiece_style", "metaspace_style"]

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
MASK64 = (1 << 64) - 1


# ----------------------------------------------------------------------------------------------- texts

PMC_PROMPT = ("Below is an instruction that describes a task, paired with an input that provides further context. "
              "Write a response that appropriately completes the request.\n\n### Instruction:\n{instruction}\n\n"
              "### Input:\n{input}\n\n### Response:")

MED_PARAGRAPHS = [
    "Metformin is the first-line pharmacological treatment for type 2 diabetes mellitus (T2DM). It lowers "
    "hepatic glucose production and improves insulin sensitivity. The usual starting dose is 500 mg once or "
    "twice daily with meals, titrated to 2,000 mg/day; it is contraindicated when eGFR < 30 mL/min/1.73 m². "
    "Gastrointestinal side effects (nausea, diarrhoea) are common; lactic acidosis is rare (~3 per 100,000 "
    "patient-years).",
    "Background: Interleukin-6 (IL-6) is a pleiotropic cytokine. Methods: We enrolled 1,248 adults (mean age "
    "61.4 ± 9.8 years; 52% women) and measured serum IL-6, CRP and TNF-α at baseline. Results: Each 1-SD "
    "increase in log IL-6 was associated with a hazard ratio of 1.37 (95% CI, 1.18-1.59; P<.001) for incident "
    "heart failure. Conclusions: IL-6 predicts HF independently of NT-proBNP.",
    "What are the symptoms of Parkinson's disease? The four primary symptoms are tremor, or trembling in hands, "
    "arms, legs, jaw, and face; rigidity, or stiffness of the limbs and trunk; bradykinesia, or slowness of "
    "movement; and postural instability, or impaired balance and coordination. Patients' symptoms usually "
    "begin on one side of the body.",
    "Dosing in children: amoxicillin 45 mg/kg/day divided q12h (max 1 g/dose) for 10 days; for severe "
    "infection use 90 mg/kg/day. Do NOT exceed 4 g/day. Re-check HbA1c (target < 7.0%, i.e. < 53 mmol/mol) "
    "every 3 months; if ≥ 6.5% on two occasions, diabetes is diagnosed.",
    "Le patient, âgé de 72 ans, présente une dyspnée d'effort et des œdèmes des membres inférieurs. "
    "Der Patient klagt über Brustschmerzen; die Herzfrequenz beträgt 110/min. El paciente niega fiebre, "
    "tos o pérdida de peso.",
]


def make_texts() -> list[str]:
    t: list[str] = []
    # plain and medical English
    t += ["Hello world", "Hello World!", "hello", "HELLO", "Hello, world!", "The quick brown fox jumps over the lazy "
          "dog.", "Hello, y'all! How are you 😁 ?我想在apple工作1314151天～", "grabbed", " grabbed",
          "A tokenizer splits text into tokens.", "ied 4 ½ months", "' era", " discards"]
    t += ["Administer 5 mg/kg IV every 8 h; max 40 mg/kg/day.",
          "HbA1c 6.5% or higher on two occasions is diagnostic of diabetes mellitus.",
          "IL-6, TNF-α and CRP were elevated (p < 0.001).",
          "A 67-year-old man with COPD, CHF (EF 35%) and T2DM on metformin 500 mg BID.",
          "BP 120/80 mmHg, HR 72 bpm, SpO₂ 98% on RA, T 37.2 °C.",
          "Vitamin B12 1000 µg IM monthly (µ U+00B5) vs 1000 μg (μ U+03BC).",
          "Troponin I rose from 0.04 ng/mL to 2.3 ng/mL (Δ > 50×).",
          "Q: What causes type 1 diabetes?\nA: Autoimmune destruction of pancreatic β-cells.",
          "###Question: Which drug is first-line for T2DM?\n###Options:\nA. Insulin\nB. Metformin\nC. Sitagliptin\n"
          "D. Glipizide",
          " Sitagliptin", "Sitagliptin or  sitagliptin (ignore_merges)", "bradykinesia, diarrhoea and γρήγορη",
          "###Answer: OPTION B IS CORRECT.", "###Answer: OPTION D IS CORRECT.",
          PMC_PROMPT.format(instruction="Answer the multiple-choice question.",
                            input="###Question: What is the normal range of HbA1c?\n###Options:\nA. < 5.7%\n"
                                  "B. 6.5-7%\nC. > 8%\nD. 10%"),
          PMC_PROMPT.split("{instruction}")[0]]
    t += MED_PARAGRAPHS
    # numbers of every length
    t += ["1", "12", "123", "1234", "12345", "123456", "1234567", "12345678", "123456789", "1234567890123",
          "3.14159", "1,000,000", "0.5", "-42", "+7", "1e-9", "2024-01-15", "10:30:59", "$1,234.56", "50%",
          "3..3", "3...3", "a1b22c333d4444e55555", "x2 y34 z567", "٣٤٥ (Arabic-Indic)", "१२३ देवनागरी",
          "①②③ ½¾ ²³", "１２３４ fullwidth", "Ⅻ roman", "33 333 3333 33333"]
    # contractions in all cases
    t += ["I'll", "DON'T", "she'S", "we've", "They'RE", "'s", "'ſ", "'S", "'t", "'re", "'Ve", "'M", "'lL", "'D",
          "I'm you'd he'D IT'S", "O'Neill's", "rock 'n' roll", "we''ll", "’s and ’t (curly)", "'ﬆ'",
          "I've been 'told he's there, 'RE you sure? 'M not sure I'll make it, 'D you like some tea? We'Ve a'lL",
          "'", "''", "'123", " 's", "\n's", "a's'b"]
    # whitespace
    t += ["", " ", "  ", "   ", "\t", "\n", "\n\n", "\n\n\n", "\r\n", "\t\n", " \n", "\r", "a\r\nb\r\n",
          "  leading", "trailing  ", "   both   ", " \t \n ", "a\tb", "a  b", "a   b", "a \n b", "a\n\n\nb",
          "    Hello\n    Hello", "\ttabs\t\t\t\tout here", "ax\n####\nboo", "           grabbed",
          "\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n", "x\u00a0y", "\u00a0", "\u00a0\u00a0a",
          "a\u3000b", "\u3000", "a\u2028b", "a\u0085b", "\u2029", "\u000b\u000c", "a\u200bb", "\u200d",
          "end with space ", "end with newline\n", " \u00a0 \u3000 ", "a \u00a0b"]
    # scripts
    t += ["Η γρήγορη καφέ αλεπού πηδάει", "нещо на Български", "Привет, мир! Здравствуйте.",
          "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "สวัสดีชาวโลก", "你好，世界！", "糖尿病患者的血糖控制",
          "こんにちは世界、カタカナとひらがな。", "안녕하세요 세계", "한국어 의학 용어",
          "\u1100\u1161\u11a8", "\u1112\u1161\u11ab\u1100\u1173\u11af", "\u1100\u1161 \u110b\u1175",
          "កាន់តែពិសេសអាចខលចេញ", "Cửa Việt", "Führer", "镇", "龘 鬱 𠀋", "Ꙋ", "ÆØÅ æøå ß ẞ"]
    # combining marks, normalization
    t += ["e\u0301", "caf\u00e9 vs cafe\u0301", "A\u030a", "\u212b", "\u00c5", "\u0958", "a\u0323\u0302",
          "\u1e0b\u0323", "\u0041\u0308\u0301", "ﬁ ligature", "\u03a9 \u2126", "K \u212a", "\u0301 lone mark"]
    # emoji
    t += ["🦙", "🚀 (normal) 😶‍🌫️ (multiple emojis concatenated) ✅ (only emoji that has its own token)",
          "👍🏽 👋🏿", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇺🇸🇯🇵", "❤️", "1️⃣", "😁", "Ꙋ🦙", "🦙Ꙋ", "this is 🦙.cpp"]
    # math
    t += ["∀x∈ℝ: x² ≥ 0", "∑_{i=1}^{n} i = n(n+1)/2", "√2 ≈ 1.41421", "α + β = γ", "∫₀^∞ e^{-x} dx = 1",
          "≤ ≥ ≠ ± × ÷ ∞", "f'(x) = 2x"]
    # punctuation
    t += ["!!!", "...", "?!\n", "!!!!!!", "......", "------=======", "''''''```````\"\"\"\"",
          "«quoted» „German“ “double”", "— – -", "(a)[b]{c}<d>", "@#$%^&*", "...!?", "a.b.c", "e.g., i.e.,",
          "?!\n\n", " !!!\r\n", "..\n."]
    # code and URLs
    t += ["def f(x):\n    return x ** 2\n", "int main() {\n\tprintf(\"%d\\n\", 42);\n}\n",
          "for (int i = 0; i < n; ++i) { sum += a[i]; }", "if x != None and y >= 3:\n    pass",
          "SELECT * FROM patients WHERE age > 65;", "<div class=\"x\">Hi</div>", "{\"key\": [1, 2, 3], \"ok\": true}",
          "$ make -j8 && ./run --flag=1", "std::vector<int> v{1,2,3};", "x+=1;y-=2", "    indented code",
          "https://pubmed.ncbi.nlm.nih.gov/12345678/", "http://example.com/path?q=1&r=two#frag",
          "mailto:someone@example.org", "doi:10.1000/xyz123", "www.who.int", "C:\\Program Files\\x"]
    # added tokens of every tokenizer, embedded in several ways
    t += ["<|begin_of_text|>Hello", "Hello<|end_of_text|>",
          "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>"
          "<|start_header_id|>user<|end_header_id|>\n\nWhat is IL-6?<|eot_id|><|start_header_id|>assistant"
          "<|end_header_id|>\n\n",
          "<|eot_id|><|start_header_id|>user", "a <|eot_id|> b", " <|eot_id|>", "<|eot_id|>\n\n",
          "<|eot_id", "<|begin_of_text|", "x<med>y", "<med>", " <med> ", "<med><med>", "<MED>", "dose<med>",
          "a  [MASKED]  b", "[MASKED]", "  [MASKED]", "[MASKED]\n\n", "The [MASKED] is [MASKED].", "x[MASKED]y",
          "[MASKED][MASKED]", " [MASKED]<med> [MASKED] ", "[masked]", "\t[MASKED]\t", "[MASKED]<|eot_id|>",
          "<|im_start|>system\nYou are Qwen.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
          "<|im_start|><|im_end|>", "<|endoftext|>", "text<|endoftext|>more", " <|endoftext|> ",
          "µmol/L", "glucose 5.5 µmol/L", "µmol/Lµmol/L", "xµmol/Ly", "μmol/L (Greek mu)", "µmol/l",
          "<s>Hello</s>", "<s> Hello </s>", "Hello<s>World", "<unk>", "<s><s></s>", "</s>", "a </s> b",
          "<s>\n", " <s>", "<s>  two spaces", "<s>▁already"]
    # the replacement character and other oddities
    t += ["▁", "▁▁Hello", "a▁b", "\ufffd", "\ufeffBOM", "\u00ad soft hyphen", "Ġ and Ċ", "\x7f", "\x00",
          "<0x41>", "<0xE2>"]
    return t


# ----------------------------------------------------------------------------------------------- helpers

def fnv1a64(data: bytes) -> str:
    h = FNV_OFFSET
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & MASK64
    return f"{h:016x}"


def ids_bytes(ids) -> bytes:
    return b"".join(int(i).to_bytes(4, "little", signed=True) for i in ids)


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], check=True, capture_output=True).stdout.decode("utf-8")


def training_sequences(texts: list[str]) -> list[str]:
    """docs/*.md (sorted) and README.md as of TRAIN_COMMIT, then the test texts."""
    try:
        names = sorted(n for n in git("ls-tree", "--name-only", TRAIN_COMMIT, "docs/").splitlines()
                       if n.endswith(".md"))
        docs = [git("show", f"{TRAIN_COMMIT}:{n}") for n in names + ["README.md"]]
    except (OSError, subprocess.CalledProcessError):
        print(f"WARNING: git cannot show commit {TRAIN_COMMIT}; training on the working tree's docs/*.md and "
              "README.md, so the vocabularies will differ from the committed files")
        docs = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]]
    return docs + texts


def is_rare_for_sp(ch: str) -> bool:
    """Characters kept out of the sentencepiece-style training text, so they are encoded by byte fallback."""
    cp = ord(ch)
    return (cp > 0xFFFF or 0x2600 <= cp < 0x2800 or 0x1780 <= cp < 0x1800 or cp in (0x200D, 0xFE0F, 0x20E3)
            or ch in "镇龘鬱Ꙋ" or unicodedata.category(ch) in ("Cc", "Zl", "Zp"))


def trained_model(tok: Tokenizer, seqs: list[str], vocab_size: int, **trainer_kw):
    """Train `tok` (its normalizer and pre-tokenizer are used) and return (vocab sorted by id, merges)."""
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, show_progress=False, **trainer_kw)
    tok.train_from_iterator(seqs, trainer=trainer)
    m = json.loads(tok.to_str())["model"]
    vocab = sorted(m["vocab"].items(), key=lambda kv: kv[1])
    assert [i for _, i in vocab] == list(range(len(vocab)))
    merges = [tuple(x.split(" ", 1)) if isinstance(x, str) else tuple(x) for x in m["merges"]]
    return [w for w, _ in vocab], merges


def byte_level_tokenizer(seqs, normalizer, pre_tokenizer, ignore_merges: bool, extra=()) -> Tokenizer:
    """A trained byte-level BPE; `extra` words (pre-tokens, e.g. " word") are appended to the vocabulary as
    byte-level strings without merges, so only ignore_merges=True can produce them."""
    probe = Tokenizer(models.BPE())
    if normalizer is not None:
        probe.normalizer = normalizer
    probe.pre_tokenizer = pre_tokenizer
    words, merges = trained_model(probe, seqs, BYTE_LEVEL_VOCAB, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    assert set(pre_tokenizers.ByteLevel.alphabet()) <= set(words)
    b2u = bytes_to_unicode()
    for w in extra:
        w = "".join(b2u[b] for b in w.encode("utf-8"))
        assert w not in words
        words.append(w)
    tok = Tokenizer(models.BPE(vocab={w: i for i, w in enumerate(words)}, merges=merges, ignore_merges=ignore_merges,
                               byte_fallback=False, fuse_unk=False))
    if normalizer is not None:
        tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    return tok


def add_tokens(tok: Tokenizer, special: list[str], plain: list[AddedToken]):
    n = tok.get_vocab_size(with_added_tokens=True)
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in special])
    tok.add_tokens(plain)
    # every added token got a fresh id after the vocabulary, in order
    for k, s in enumerate(special + [a.content for a in plain]):
        assert tok.token_to_id(s) == n + k, (s, tok.token_to_id(s), n + k)


def build_tokenizers(texts: list[str]) -> dict[str, Tokenizer]:
    seqs = training_sequences(texts)
    out: dict[str, Tokenizer] = {}

    # llama3_style
    split = pre_tokenizers.Split(Regex(LLAMA3), behavior="isolated", invert=False)
    bl = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)
    tok = byte_level_tokenizer(seqs, None, pre_tokenizers.Sequence([split, bl]), ignore_merges=True,
                               extra=LLAMA3_EXTRA_WORDS)
    add_tokens(tok, LLAMA3_SPECIAL, [AddedToken("<med>", special=False, normalized=False),
                                     AddedToken("[MASKED]", special=False, normalized=False, lstrip=True, rstrip=True)])
    bos = "<|begin_of_text|>"
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A {bos}:1 $B:1",
                                      special_tokens=[(bos, tok.token_to_id(bos))])])
    tok.decoder = decoders.ByteLevel()
    out["llama3_style"] = tok

    # qwen2_style
    split = pre_tokenizers.Split(Regex(QWEN2), behavior="isolated", invert=False)
    bl = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    tok = byte_level_tokenizer(seqs, normalizers.NFC(), pre_tokenizers.Sequence([split, bl]), ignore_merges=False)
    add_tokens(tok, QWEN2_SPECIAL, [AddedToken("µmol/L", special=False, normalized=False)])
    tok.post_processor = processors.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    # decoders.ByteLevel() takes no options in Python; Qwen2's file has all three false (decoding ignores them)
    d = json.loads(tok.to_str())
    d["decoder"].update(add_prefix_space=False, trim_offsets=False, use_regex=False)
    tok = Tokenizer.from_str(json.dumps(d))
    out["qwen2_style"] = tok

    # gpt2_style
    tok = byte_level_tokenizer(seqs, None, pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True),
                               ignore_merges=False)
    add_tokens(tok, ["<|endoftext|>"], [])
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.decoder = decoders.ByteLevel()
    out["gpt2_style"] = tok

    # sentencepiece_style / metaspace_style: pieces trained on Metaspace-split text
    def sp_clean(s: str) -> str:
        for st in SP_SPECIAL:
            s = s.replace(st, " ")
        # control and line/paragraph separators become spaces, the other rare characters are dropped
        return "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else "" if is_rare_for_sp(c) else c
                       for c in s)

    probe = Tokenizer(models.BPE())
    probe.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    words, merges = trained_model(probe, [sp_clean(s) for s in seqs], SP_VOCAB - 3 - 256)
    bytes_tok = [f"<0x{b:02X}>" for b in range(256)]
    assert not set(words) & set(SP_SPECIAL + bytes_tok)
    assert not any(is_rare_for_sp(c) for w in words for c in w)
    vocab = {w: i for i, w in enumerate(SP_SPECIAL + bytes_tok + words)}

    def sp_model():
        return models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True, fuse_unk=True,
                          ignore_merges=False)

    def sp_common(tok: Tokenizer):
        tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in SP_SPECIAL])
        assert [tok.token_to_id(s) for s in SP_SPECIAL] == [0, 1, 2]
        tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s>:1 $B:1",
                                                           special_tokens=[("<s>", 1)])
        tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                         decoders.Strip(" ", 1, 0)])

    tok = Tokenizer(sp_model())
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    sp_common(tok)
    out["sentencepiece_style"] = tok

    tok = Tokenizer(sp_model())
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
    sp_common(tok)
    out["metaspace_style"] = tok
    return out


def byte_token_ids(tok: Tokenizer, stem: str, data: bytes) -> list[int]:
    """The ids of the single-byte tokens spelling `data`."""
    if stem in ("sentencepiece_style", "metaspace_style"):
        names = [f"<0x{b:02X}>" for b in data]
    else:
        b2u = bytes_to_unicode()
        names = [b2u[b] for b in data]
    ids = [tok.token_to_id(n) for n in names]
    assert None not in ids, (stem, data)
    return ids


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> character table (the ByteLevel alphabet)."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def decode_only_cases(tok: Tokenizer, stem: str, index: int) -> list[list[int]]:
    tid = tok.token_to_id
    bt = lambda data: byte_token_ids(tok, stem, data)  # noqa: E731
    sp = stem in ("sentencepiece_style", "metaspace_style")
    word = (lambda w: tid("▁" + w) if sp else tid("Ġ" + w))
    cases = [
        bt(b"\xe2"),                                  # lone lead byte of a 3-byte character
        bt(b"\xe2\x82"),                              # truncated euro sign
        bt(b"\xe2\x82\xac"),                          # the whole euro sign
        bt(b"\x82\xac"),                              # continuation bytes only
        bt(b"a\xe2b"),                                # lead byte between ASCII letters
        bt(b"\xf0\x9f\xa6") + bt(b"\x99"),            # llama emoji from two pieces
        bt(b"\xf0\x9f\xa6") + bt(b"!"),               # truncated 4-byte character then ASCII
        bt(b"\xff\xfe"), bt(b"\xc0\x80"), bt(b"\xed\xa0\x80"),  # never valid / overlong / surrogate
        bt("é".encode()[:1]) + bt("é".encode()[:1]),  # two lead bytes
        [word("the"), *bt(b"\xe2"), word("the")],
    ]
    specials = [t.content for t in tok.get_added_tokens_decoder().values()]
    for s in specials:
        cases.append([tid(s)])
        cases.append([word("the"), tid(s), word("the"), *bt(b" x")])
    rng = random.Random(20240607 + index)
    n = tok.get_vocab_size(with_added_tokens=True)
    for _ in range(6):
        cases.append([rng.randrange(n) for _ in range(rng.randrange(1, 24))])
    assert all(None not in c for c in cases), stem
    return cases


def dump_line(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(", ", ": "))


# ----------------------------------------------------------------------------------------------- shared data

def read_lines(path: pathlib.Path, sep: str) -> list[str]:
    """Split a strict-UTF-8 file on `sep`, dropping the empty piece after a final separator."""
    pieces = path.read_bytes().decode("utf-8", errors="strict").split(sep)
    if pieces and pieces[-1] == "":
        pieces.pop()
    return pieces


def shared_sources() -> dict[str, tuple[pathlib.Path, list[str]]]:
    tokdir = SHARED / "data" / "tokenizer" / "llama"
    corpus = SHARED / "data" / "corpus"
    ev_path = tokdir / "encode_vectors.json"
    ev = json.loads(ev_path.read_text(encoding="utf-8"))
    ev_texts = []
    for group in ev.values():
        cases = group["cases"] if isinstance(group, dict) else group
        ev_texts += [c["text"] for c in cases]
    assert len(ev_texts) == 96, len(ev_texts)
    ggml = tokdir / "ggml-vocab-llama-spm.gguf.inp"
    assert ggml.read_bytes().endswith(b"\n__ggml_vocab_test__\n")
    pub = corpus / "pubmedqa_pqal_trainval_abstracts.txt"
    med = corpus / "medquad_small_niddk_ninds_mplus.txt"
    return {
        "encode_vectors": (ev_path, ev_texts),
        "ggml_vocab": (ggml, read_lines(ggml, "\n__ggml_vocab_test__\n")),
        "pubmed_abstracts": (pub, read_lines(pub, "\n")),
        "medquad": (med, read_lines(med, "\n")),
    }


def llama_converted() -> Tokenizer:
    from transformers import AutoTokenizer
    with tempfile.TemporaryDirectory(prefix="pmc_llama_conv_") as tmp:
        shutil.copy(SHARED / "data" / "tokenizer" / "llama" / "tokenizer.model", tmp)
        pathlib.Path(tmp, "tokenizer_config.json").write_text('{"tokenizer_class": "LlamaTokenizer"}')
        return Tokenizer.from_str(AutoTokenizer.from_pretrained(tmp).backend_tokenizer.to_str())


BLOCK = 64  # lines per hashed block of shared_hashes.json (per-line hashes would make it 3 MB)


def write_shared_hashes(out: pathlib.Path, toks: dict[str, Tokenizer]):
    sources = shared_sources()
    rel = {name: os.path.relpath(p, ROOT) for name, (p, _) in sources.items()}
    chunks = []
    for tname, tok in toks.items():
        for sname, (path, lines) in sources.items():
            encs = tok.encode_batch(lines, add_special_tokens=False)
            rows = []
            for b in range(0, len(encs), BLOCK):
                block = encs[b:b + BLOCK]
                ids_blob, dec_blob = b"", b""
                for enc in block:
                    dec = tok.decode(enc.ids, skip_special_tokens=True).encode("utf-8")
                    ids_blob += ids_bytes([len(enc.ids)]) + ids_bytes(enc.ids)
                    dec_blob += ids_bytes([len(dec)]) + dec
                rows.append(json.dumps([len(block), sum(len(e.ids) for e in block), fnv1a64(ids_blob), fnv1a64(dec_blob)]))
            head = {"tokenizer": tname, "source": sname, "path": rel[sname],
                    "file_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                    "file_fnv1a64": fnv1a64(path.read_bytes()), "count": len(lines), "block": BLOCK}
            chunks.append(json.dumps(head)[:-1] + ', "blocks": [\n' + ",\n".join(rows) + "\n]}")
    meta = {"fnv1a64": {"offset": "cbf29ce484222325", "prime": "100000001b3",
                        "ids": "ids as little-endian int32",
                        "decode": "UTF-8 of decode(ids, skip_special_tokens=True)"},
            "block_format": ["n_lines", "n_ids", "ids_hash", "decode_hash"],
            "tokenizers_version": tokenizers.__version__}
    text = json.dumps(meta)[:-1] + ', "records": [\n' + ",\n".join(chunks) + "\n]}\n"
    (out / "shared_hashes.json").write_text(text, encoding="utf-8")


# ----------------------------------------------------------------------------------------------- speed

def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def measure_speed(out: pathlib.Path, toks: dict[str, Tokenizer]):
    sources = shared_sources()
    lines = sources["pubmed_abstracts"][1] + sources["medquad"][1]
    nbytes = sum(len(s.encode("utf-8")) for s in lines)
    result = {"tokenizers_version": tokenizers.__version__, "cpu": cpu_model(), "cpus_visible": os.cpu_count(),
              "threads": "RAYON_NUM_THREADS=1, TOKENIZERS_PARALLELISM=false",
              "text": "pubmed_abstracts + medquad lines (as in shared_hashes.json)", "lines": len(lines),
              "bytes": nbytes, "best_of": 3, "results": []}
    for name in ("llama_converted", "llama3_style"):
        tok = toks[name]
        ntok = sum(len(e.ids) for e in tok.encode_batch(lines, add_special_tokens=False))
        for mode in ("encode", "encode_batch"):
            best = float("inf")
            for _ in range(3):
                t0 = time.perf_counter()
                if mode == "encode":
                    for s in lines:
                        tok.encode(s, add_special_tokens=False)
                else:
                    tok.encode_batch(lines, add_special_tokens=False)
                best = min(best, time.perf_counter() - t0)
            r = {"tokenizer": name, "mode": mode, "seconds": round(best, 4), "tokens": ntok,
                 "MB_per_s": round(nbytes / best / 1e6, 3), "tokens_per_s": round(ntok / best)}
            result["results"].append(r)
            print(f"speed {name:16s} {mode:13s} {r['MB_per_s']:7.2f} MB/s {r['tokens_per_s']:>9d} tokens/s "
                  f"({best:.3f} s, {ntok} tokens, {nbytes} bytes)")
    (out / "tokenizers_speed.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


# ----------------------------------------------------------------------------------------------- main

def make(out: pathlib.Path) -> dict[str, Tokenizer]:
    out.mkdir(parents=True, exist_ok=True)
    texts = make_texts()
    assert len(texts) == len(set(texts)), [t for t in texts if texts.count(t) > 1]
    with open(out / "texts.jsonl", "w", encoding="utf-8", newline="\n") as f:
        for s in texts:
            f.write(dump_line({"text": s}) + "\n")

    toks = build_tokenizers(texts)
    for stem, tok in toks.items():
        tok.save(str(out / f"{stem}.json"))

    # encode/decode with the tokenizers read back from the files (what C++ will read)
    loaded = {stem: Tokenizer.from_file(str(out / f"{stem}.json")) for stem in STEMS}
    with open(out / "encodings.jsonl", "w", encoding="utf-8", newline="\n") as f:
        for stem, tok in loaded.items():
            for i, s in enumerate(texts):
                ids = tok.encode(s, add_special_tokens=False).ids
                ids_sp = tok.encode(s, add_special_tokens=True).ids
                assert ids == toks[stem].encode(s, add_special_tokens=False).ids
                f.write(dump_line({"tokenizer": stem, "text": i, "ids": ids, "ids_special": ids_sp,
                                   "decoded": tok.decode(ids_sp, skip_special_tokens=True),
                                   "decoded_all": tok.decode(ids_sp, skip_special_tokens=False)}) + "\n")
        for k, (stem, tok) in enumerate(loaded.items()):
            for ids in decode_only_cases(tok, stem, k):
                f.write(dump_line({"tokenizer": stem, "decode_only": ids,
                                   "decoded": tok.decode(ids, skip_special_tokens=True),
                                   "decoded_all": tok.decode(ids, skip_special_tokens=False)}) + "\n")

    if SHARED.is_dir():
        loaded["llama_converted"] = llama_converted()
        write_shared_hashes(out, loaded)
    else:
        print(f"skipped shared_hashes.json: {SHARED} is absent")
    return loaded


def summary(out: pathlib.Path, toks: dict[str, Tokenizer]):
    for stem in STEMS:
        d = json.loads((out / f"{stem}.json").read_text(encoding="utf-8"))
        m = d["model"]
        print(f"== {stem}.json  {(out / f'{stem}.json').stat().st_size} bytes  vocab {len(m['vocab'])} "
              f"merges {len(m['merges'])} (+{len(d['added_tokens'])} added, total "
              f"{toks[stem].get_vocab_size(with_added_tokens=True)})")
        for k in ("normalizer", "pre_tokenizer", "post_processor", "decoder"):
            print(f"  {k}: {json.dumps(d[k], ensure_ascii=False)}")
        print("  model: " + json.dumps({k: v for k, v in m.items() if k not in ("vocab", "merges")}))
        print(f"  merges[0]: {json.dumps(m['merges'][0], ensure_ascii=False)}")
        for a in d["added_tokens"]:
            print("  added: " + json.dumps(a, ensure_ascii=False))
    for p in sorted(out.iterdir()):
        print(f"{p.name:28s} {p.stat().st_size:>9d} bytes")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=pathlib.Path, default=OUT)
    ap.add_argument("--check", action="store_true", help="regenerate in a temp dir and compare bytewise with --out")
    ap.add_argument("--speed", action="store_true", help="also time tokenizers and write tokenizers_speed.json")
    args = ap.parse_args()
    if args.check:
        with tempfile.TemporaryDirectory(prefix="pmc_tokjson_") as tmp:
            make(pathlib.Path(tmp))
            bad = []
            for p in sorted(pathlib.Path(tmp).iterdir()):
                q = args.out / p.name
                if not q.exists() or q.read_bytes() != p.read_bytes():
                    bad.append(p.name)
            print("check: " + ("OK, all files identical" if not bad else "DIFFERENT: " + ", ".join(bad)))
            return 1 if bad else 0
    toks = make(args.out)
    if args.speed:
        if "llama_converted" in toks:
            measure_speed(args.out, toks)
        else:
            print("skipped the speed figures: ../shared is absent")
    summary(args.out, toks)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Writes tests/golden/eval/stories_mcq_scores.json: the per-option summed log-probabilities of
# tests/golden/eval/stories_mcq.jsonl under the real stories260K model, computed independently of pmc:
# the llama2.c forward pass in numpy (float64), tokenization with the `sentencepiece` package, and
# PMC-LLaMA's prompt written out here. Reads ../shared at generation time; the output holds only derived
# numbers (token ids and scores), no copy of shared data.
#
#   python3 tools/make_golden_eval.py            # regenerate
#   python3 tools/make_golden_eval.py --check    # compare with the committed file (within 1e-9)
import argparse
import hashlib
import json
import os
import struct
import sys

import numpy as np
import sentencepiece as spm

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data", "models", "stories260K")
GOLDEN = os.path.join(ROOT, "tests", "golden", "eval")

# PMC-LLaMA's prompt (its README and instruction data); the instruction is the MedQA one, which pmc uses
# for generic MCQ files.
TEMPLATE = ("Below is an instruction that describes a task, paired with an input that provides further context. "
            "Write a response that appropriately completes the request.\n\n"
            "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:")
INSTRUCTION = ("You're a doctor, kindly address the medical queries according to the patient's account. "
               "Answer with the best option directly.")
EPS = 1e-5
THETA = 10000.0


def load_llama2c(path):
    """The legacy v0 llama2.c checkpoint: 7 int32 header fields, then float32 arrays in a fixed order."""
    with open(path, "rb") as f:
        data = f.read()
    dim, hidden, L, H, KV, vocab, seq = struct.unpack("7i", data[:28])
    shared = vocab > 0
    vocab = abs(vocab)
    hs = dim // H
    a = np.frombuffer(data, dtype=np.float32, offset=28).astype(np.float64)
    off = 0

    def take(*shape):
        nonlocal off
        n = int(np.prod(shape))
        out = a[off:off + n].reshape(shape)
        off += n
        return out

    w = dict(tok=take(vocab, dim), rms_att=take(L, dim), wq=take(L, dim, dim), wk=take(L, KV * hs, dim),
             wv=take(L, KV * hs, dim), wo=take(L, dim, dim), rms_ffn=take(L, dim), w1=take(L, hidden, dim),
             w2=take(L, dim, hidden), w3=take(L, hidden, dim), rms_final=take(dim))
    take(seq, hs // 2)  # freq_cis_real (unused: recomputed)
    take(seq, hs // 2)  # freq_cis_imag
    w["cls"] = w["tok"] if shared else take(vocab, dim)
    assert off == a.size, (off, a.size)
    cfg = dict(dim=dim, hidden=hidden, L=L, H=H, KV=KV, vocab=vocab, seq=seq, hs=hs)
    return cfg, w


def rmsnorm(x, g):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + EPS) * g


def rope(x, hs):
    """Meta's interleaved RoPE on (T, heads, hs): pairs (2i, 2i+1) rotate by pos * theta^(-2i/hs)."""
    T = x.shape[0]
    inv = THETA ** (-np.arange(0, hs, 2, dtype=np.float64) / hs)  # (hs/2)
    ang = np.arange(T, dtype=np.float64)[:, None] * inv[None, :]  # (T, hs/2)
    c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    x0, x1 = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = x0 * c - x1 * s
    out[..., 1::2] = x0 * s + x1 * c
    return out


def forward(cfg, w, tokens):
    """Logits (T, vocab) of a full causal forward over `tokens`."""
    T, hs, H, KV = len(tokens), cfg["hs"], cfg["H"], cfg["KV"]
    x = w["tok"][np.array(tokens)]
    mask = np.triu(np.full((T, T), -np.inf), k=1)
    for l in range(cfg["L"]):
        xb = rmsnorm(x, w["rms_att"][l])
        q = rope((xb @ w["wq"][l].T).reshape(T, H, hs), hs)
        k = rope((xb @ w["wk"][l].T).reshape(T, KV, hs), hs)
        v = (xb @ w["wv"][l].T).reshape(T, KV, hs)
        att = np.empty((T, H, hs))
        for h in range(H):
            kh = h // (H // KV)
            s = q[:, h, :] @ k[:, kh, :].T / np.sqrt(hs) + mask
            s = np.exp(s - s.max(axis=1, keepdims=True))
            s /= s.sum(axis=1, keepdims=True)
            att[:, h, :] = s @ v[:, kh, :]
        x = x + att.reshape(T, H * hs) @ w["wo"][l].T
        xb = rmsnorm(x, w["rms_ffn"][l])
        a, b = xb @ w["w1"][l].T, xb @ w["w3"][l].T
        x = x + (a / (1 + np.exp(-a)) * b) @ w["w2"][l].T
    return rmsnorm(x, w["rms_final"]) @ w["cls"].T


def log_softmax(z):
    m = z.max(axis=-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


def mcq_input(item):
    opts = item["options"]
    if isinstance(opts, dict):
        opts = [opts[k] for k in sorted(opts)]
    s = ""
    if item.get("context"):
        s += "###Context: " + item["context"] + "\n"
    s += "###Question: " + item["question"] + "\n###Options:"
    for i, o in enumerate(opts):
        s += "\n" + chr(ord("A") + i) + ". " + o
    return s, opts


def answer_index(item, n):
    a = item["answer"]
    return a if isinstance(a, int) else ord(a) - ord("A")


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def self_check(cfg, w):
    """The numpy port must reproduce llama2.c's published greedy story (stories260K_reference.json):
    teacher-forced on those 200 ids, every position's argmax is the next id."""
    with open(os.path.join(SHARED, "stories260K_reference.json")) as f:
        ref = json.load(f)
    ids = ref["greedy_ids_200_steps"]
    logits = forward(cfg, w, ids[:-1])
    assert list(np.argmax(logits, axis=-1)) == ids[1:], "numpy forward disagrees with llama2.c's greedy output"
    assert np.allclose(logits[0, :16], ref["pos0_logits_first16"], atol=1e-4)


def build():
    model_path = os.path.join(SHARED, "stories260K.bin")
    tok_path = os.path.join(SHARED, "tok512.model")
    cfg, w = load_llama2c(model_path)
    self_check(cfg, w)
    sp = spm.SentencePieceProcessor(model_file=tok_path)
    items = []
    correct = 0
    with open(os.path.join(GOLDEN, "stories_mcq.jsonl")) as f:
        for line in f:
            if not line.strip():
                continue
            item = json.loads(line)
            text, opts = mcq_input(item)
            prompt = [sp.bos_id()] + sp.encode(TEMPLATE.format(instruction=INSTRUCTION, input=text))
            option_ids = [sp.encode(o) for o in opts]
            sums = []
            for ids in option_ids:
                lp = log_softmax(forward(cfg, w, prompt + ids))
                P = len(prompt)
                sums.append(float(sum(lp[P - 1 + j, t] for j, t in enumerate(ids))))
            pred = int(np.argmax(sums))
            correct += pred == answer_index(item, len(opts))
            items.append(dict(id=item["id"], prompt_ids=prompt, option_ids=option_ids, option_logprob_sum=sums,
                              predicted=pred))
    return dict(generator="tools/make_golden_eval.py (numpy float64 llama2.c forward, sentencepiece "
                          + spm.__version__ + ", numpy " + np.__version__ + ")",
                model_sha256=sha256(model_path), tokenizer_sha256=sha256(tok_path), instruction=INSTRUCTION,
                scoring="sum over option tokens of log softmax(logits at the previous position); "
                        "prompt = BOS + encode(PMC prompt); option = encode(option text)",
                accuracy=correct / len(items), items=items)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true", help="compare with the committed file instead of writing")
    args = ap.parse_args()
    if not os.path.exists(os.path.join(SHARED, "stories260K.bin")):
        sys.exit("make_golden_eval.py: ../shared/data/models/stories260K is needed")
    out = build()
    path = os.path.join(GOLDEN, "stories_mcq_scores.json")
    if args.check:
        with open(path) as f:
            old = json.load(f)
        err = max(abs(a - b) for x, y in zip(old["items"], out["items"])
                  for a, b in zip(x["option_logprob_sum"], y["option_logprob_sum"]))
        same_ids = all(x["prompt_ids"] == y["prompt_ids"] and x["option_ids"] == y["option_ids"]
                       for x, y in zip(old["items"], out["items"]))
        print(f"max |difference| {err:.3g}, ids identical: {same_ids}")
        sys.exit(0 if err < 1e-9 and same_ids and len(old["items"]) == len(out["items"]) else 1)
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {path}: {len(out['items'])} items, accuracy {out['accuracy']:.3f}")


if __name__ == "__main__":
    main()

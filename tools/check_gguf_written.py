#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Reads GGUF files pmc wrote (llama::save_gguf, `pmc convert --gguf`) with the gguf package's own reader and
dequantizer (PyPI: gguf, numpy) and compares each file's tensors with the first file's (write that one in f32):
the metadata a llama.cpp LLaMA needs, the tensor names, shapes and types, and the largest difference per tensor
type. Not run by the tests (no Python at test time): a check by hand of the writer against an independent reader.

    python3 tools/check_gguf_written.py model_f32.gguf model_f16.gguf model_q8_0.gguf model_q4_0.gguf
"""
import sys

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize

REQUIRED = ["general.architecture", "llama.context_length", "llama.embedding_length", "llama.block_count",
            "llama.feed_forward_length", "llama.rope.dimension_count", "llama.attention.head_count",
            "llama.attention.head_count_kv", "llama.attention.layer_norm_rms_epsilon", "tokenizer.ggml.model",
            "tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type"]


def tensors(path):
    r = GGUFReader(path)
    missing = [k for k in REQUIRED if k not in r.fields]
    if missing:
        sys.exit(f"{path}: metadata missing: {missing}")
    out = {t.name: (t.tensor_type.name, dequantize(t.data, t.tensor_type).astype(np.float64)) for t in r.tensors}
    return r, out


def main(paths):
    ref_reader, ref = tensors(paths[0])
    print(f"{paths[0]}: {len(ref)} tensors, {len(ref_reader.fields['tokenizer.ggml.tokens'].data)} tokens (reference)")
    for path in paths[1:]:
        _, got = tensors(path)
        if set(got) != set(ref):
            sys.exit(f"{path}: tensor names differ from {paths[0]}")
        worst = {}
        for name, (kind, w) in got.items():
            if w.shape != ref[name][1].shape:
                sys.exit(f"{path}: {name} has shape {w.shape}, {paths[0]} {ref[name][1].shape}")
            d = float(np.abs(w - ref[name][1]).max() / max(np.abs(ref[name][1]).max(), 1e-30))
            worst[kind] = max(worst.get(kind, 0.0), d)
        print(f"{path}: largest |difference| / max |reference| per type: " +
              ", ".join(f"{k} {v:.3g}" for k, v in sorted(worst.items())))


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1:])

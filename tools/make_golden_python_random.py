#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Golden sequences of Python's `random.Random` for pmc::eval::PythonRandom (include/pmc/eval/python_random.hpp).

lm-evaluation-harness draws few-shot examples with `random.Random(seed).sample(docs, n)` (its ContextSampler,
one generator per task, shared by the task's documents in order). This writes, for several seeds, what
CPython's own generator returns, so that tests/eval/python_random_test.cpp checks the C++ copy bit for bit:

  u32          the first 8 outputs of getrandbits(32) after Random(seed)
  bits         getrandbits(k) for k in KS, in that order, from a fresh Random(seed) (64-bit values as strings)
  randbelow    _randbelow(n) for n in NS, in that order, from a fresh Random(seed)
  samples      [n, k, sample(range(n), k)] in order from ONE Random(seed): both of sample's algorithms
               (the pool one when n <= setsize, the set one otherwise) and a shared state across calls,
               as the harness's sampler has

Run:  python3 tools/make_golden_python_random.py    # writes tests/golden/python_random/sequences.json
Made with CPython 3.11.
"""
import json
import os
import random
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "golden", "python_random", "sequences.json")
SEEDS = [0, 1, 42, 1234, 2**32 - 1, 2**32, 2**32 + 5, 2**63 + 12345, 2**64 - 1]
KS = [0, 1, 2, 5, 13, 31, 32, 33, 40, 63, 64]
NS = [1, 2, 3, 5, 7, 20, 21, 22, 100, 1253, 4183, 2**31 - 1, 2**32 + 1, 2**40 + 3]
SAMPLES = [(10, 3), (21, 3), (22, 3), (1253, 3), (4183, 4), (500, 3), (4, 4), (5, 0), (27, 6), (28, 6),
           (85, 7), (86, 7), (1000, 25), (1273, 5), (3, 1), (100, 100)]


def main():
    out = {"python": sys.version.split()[0], "seeds": []}
    for seed in SEEDS:
        r = random.Random(seed)
        u32 = [r.getrandbits(32) for _ in range(8)]
        r = random.Random(seed)
        bits = [str(r.getrandbits(k)) for k in KS]
        r = random.Random(seed)
        below = [str(r._randbelow(n)) for n in NS]
        r = random.Random(seed)
        samples = [[n, k, r.sample(range(n), k)] for n, k in SAMPLES]
        out["seeds"].append({"seed": str(seed), "u32": u32, "ks": KS, "bits": bits, "ns": [str(n) for n in NS],
                             "randbelow": below, "samples": samples})
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    print("wrote", OUT, os.path.getsize(OUT), "bytes")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""MedQA option scoring on the CPU: `pmc eval` against a plain transformers scorer, questions per second.

Both score the same items of a MedQA file with the same model folder (a Hugging Face LLaMA checkpoint). pmc runs
`pmc eval --benchmark medqa --first N` in each of its formats (fp32, bf16, q8_0, q4_0) and reports its own scoring
time (the JSON's "seconds", model load excluded). transformers' LlamaForCausalLM (fp32 and bf16) scores each item
the plain way: the options batched, each row the context followed by one option (padded on the right), one forward,
the option tokens' log-probabilities summed. Its inputs have the lengths pmc's JSON reports for each item (prompt
and option tokens; the token ids themselves are drawn at random, which does not change the work), so both do the
same number of positions. Configurations alternate, in rounds, with the same thread count.

  python tools/bench_scoring_cpu.py --model DIR --data medqa_test.jsonl --pmc build/release/bin/pmc \\
      --items 10 --rounds 2 --threads 2

Needs torch and transformers (PyPI); prints a table and writes --out (JSON) when given.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def run_pmc(args, fmt):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "eval.json")
        cmd = [args.pmc, "eval", "--model", args.model, "--benchmark", "medqa", "--data", args.data,
               "--first", str(args.items), "--out", out]
        if args.tokenizer:
            cmd += ["--tokenizer", args.tokenizer]
        if fmt == "bf16":
            cmd += ["--precision", "bf16"]
        elif fmt in ("q8_0", "q4_0"):
            cmd += ["--weights", fmt]
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"pmc eval ({fmt}) failed:\n{r.stderr[-2000:]}")
        with open(out) as f:
            return json.load(f)


def run_transformers(args, dtype_name, items):
    import torch
    from transformers import LlamaForCausalLM

    torch.set_num_threads(args.threads)
    dtype = torch.float32 if dtype_name == "fp32" else torch.bfloat16
    model = LlamaForCausalLM.from_pretrained(args.model, torch_dtype=dtype)
    model.eval()
    gen = torch.Generator().manual_seed(0)
    vocab = model.config.vocab_size
    t0 = time.perf_counter()
    with torch.inference_mode():
        for it in items:
            ctx = torch.randint(3, vocab, (it["prompt_tokens"],), generator=gen)
            opts = [torch.randint(3, vocab, (n,), generator=gen) for n in it["option_tokens"]]
            longest = max(len(o) for o in opts)
            rows = torch.zeros((len(opts), len(ctx) + longest), dtype=torch.long)
            mask = torch.zeros_like(rows)
            for i, o in enumerate(opts):
                rows[i, :len(ctx) + len(o)] = torch.cat([ctx, o])
                mask[i, :len(ctx) + len(o)] = 1
            logits = model(input_ids=rows, attention_mask=mask).logits.float()
            logp = torch.log_softmax(logits, dim=-1)
            scores = []
            for i, o in enumerate(opts):
                pos = torch.arange(len(ctx) - 1, len(ctx) - 1 + len(o))
                scores.append(logp[i, pos, o].sum().item())
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="Hugging Face LLaMA folder (config.json, safetensors)")
    ap.add_argument("--data", required=True, help="a MedQA jsonl file")
    ap.add_argument("--pmc", required=True, help="the pmc program")
    ap.add_argument("--tokenizer", help="tokenizer.model for pmc (default: the model's folder)")
    ap.add_argument("--items", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pmc-formats", default="fp32,bf16,q8_0,q4_0")
    ap.add_argument("--hf-dtypes", default="fp32,bf16")
    ap.add_argument("--out")
    args = ap.parse_args()

    results = {}
    items = None
    for rnd in range(args.rounds):
        for fmt in args.pmc_formats.split(","):
            rep = run_pmc(args, fmt)
            items = items or rep["items"]
            qps = rep["n"] / rep["seconds"]
            results.setdefault(f"pmc {fmt}", []).append(qps)
            print(f"round {rnd + 1}: pmc {fmt}: {rep['n']} items in {rep['seconds']:.1f} s, {qps:.3f} questions/s",
                  flush=True)
        for dt in args.hf_dtypes.split(","):
            secs = run_transformers(args, dt, items)
            qps = len(items) / secs
            results.setdefault(f"transformers {dt}", []).append(qps)
            print(f"round {rnd + 1}: transformers {dt}: {len(items)} items in {secs:.1f} s, {qps:.3f} questions/s",
                  flush=True)
    positions = sum(i["prompt_tokens"] + sum(i["option_tokens"]) for i in items)
    print(f"\n{len(items)} items, {positions} context + option tokens, {args.threads} threads")
    print("| scorer | questions/s (each round) | best / transformers fp32 best |")
    print("|---|---|---:|")
    ref = max(results.get("transformers fp32", [float("nan")]))
    for k, v in results.items():
        print(f"| {k} | {', '.join(f'{x:.3f}' for x in v)} | {max(v) / ref:.2f} |")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"items": len(items), "threads": args.threads, "questions_per_s": results}, f, indent=1)


if __name__ == "__main__":
    main()

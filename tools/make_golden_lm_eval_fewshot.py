#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Golden numbers of lm-evaluation-harness's k-shot contexts for `pmc eval --prompt-format lm_eval --num-fewshot K`.

The sibling of tools/make_golden_lm_eval.py (zero-shot; its data layouts and model are reused: the tiny random
LLaMA of tests/golden/lm_eval/model is read, not rewritten). What it writes (under tests/golden/lm_eval_fewshot/):
  <task>.jsonl   per item of the first 20 items (file order) of each ../shared benchmark file, with K = 3 shots
                 and the harness's default fewshot_random_seed 1234
  summary.json   per task: acc, acc_stderr, acc_norm, acc_norm_stderr, n-shot, the few-shot source

The task objects are the harness's own (ConfigurableTask from the installed YAML), only the data source changed
to local JSON files in the datasets' layouts, and the few-shot split pointed at other items of the same shared
file, since ../shared holds only each benchmark's evaluation split:
  medqa_4options     train split = the shared file's items 21.. (1253); the YAML's training_split, no
                     fewshot_split: Task.fewshot_docs takes train; default sampler (random.sample, 3 per doc)
  medmcqa            fewshot_split = test_split = the whole shared dev.json (4183): the sampler gets eval_doc,
                     draws 3 + 1 and drops the doc itself
  pubmedqa           train split = the ori_pqal.json items outside test_ground_truth.json (500, file order)
  mmlu_anatomy       fewshot_split = test_split = the whole CSV, sampler first_n: the first 3 without the doc
  mmlu_<others>      fewshot_split "dev" = the CSV's items 21.., sampler first_n: its first 3
Each task gets `task.set_fewshot_seed(1234)` as simple_evaluate does (one random.Random per task, shared by
its docs in order), then `evaluator.evaluate(lm, {task}, limit=20, log_samples=True)`.

Per item: context_fnv1a64 / context_bytes (FNV-1a 64 and UTF-8 length of the harness's context: the text is
the benchmark's and is not stored), fewshot_ids (the ids of the examples the harness's sampler returned for
this doc, recorded by wrapping task.sampler.sample), choices, continuations, gold, loglikelihoods, is_greedy,
context_token_count / context_tokens_fnv1a64 (HFLM._encode_pair's context ids, hashed as little-endian int32
bytes), continuation_tokens, acc, acc_norm.

Run (needs ../shared/data/benchmarks and tests/golden/lm_eval/model; offline):
    python3 tools/make_golden_lm_eval_fewshot.py            # rewrite tests/golden/lm_eval_fewshot
    python3 tools/make_golden_lm_eval_fewshot.py --check    # regenerate in a temp dir and compare
Made with lm-eval 0.4.13, transformers 5.24, torch 2.15 (Python 3.11).
"""
import argparse
import json
import os
import struct
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_golden_lm_eval as zs  # noqa: E402  (sets the offline environment, imports the harness)

from lm_eval import evaluator  # noqa: E402
from lm_eval.api.task import ConfigurableTask  # noqa: E402
from lm_eval.models.huggingface import HFLM  # noqa: E402

OUT = os.path.join(zs.ROOT, "tests", "golden", "lm_eval_fewshot")
MODEL = os.path.join(zs.ROOT, "tests", "golden", "lm_eval", "model")
N = 20
K = 3
SEED = 1234


def all_items(fn, *args):
    old = zs.N
    zs.N = 10**9
    try:
        return fn(*args)
    finally:
        zs.N = old


def pubmedqa_trainval():
    """The ori_pqal.json items outside test_ground_truth.json, in ori_pqal.json's order, bigbio layout."""
    data = json.load(open(os.path.join(zs.SHARED, "pubmedqa", "ori_pqal.json"), encoding="utf-8"))
    gt = json.load(open(os.path.join(zs.SHARED, "pubmedqa", "test_ground_truth.json"), encoding="utf-8"))
    out = []
    for pmid, e in data.items():
        if pmid in gt:
            continue
        out.append({"id": pmid, "pubid": int(pmid), "QUESTION": e["QUESTION"], "CONTEXTS": e["CONTEXTS"],
                    "LABELS": e["LABELS"], "MESHES": e.get("MESHES", []), "YEAR": str(e.get("YEAR", "")),
                    "final_decision": e["final_decision"], "LONG_ANSWER": e.get("LONG_ANSWER", "")})
    return out


def task_specs():
    """(task, YAML path, test docs, few-shot docs or None when the few-shot split is the test split, source)."""
    medqa = all_items(zs.to_medqa_hf)
    yield ("medqa_4options", os.path.join(zs.TASKS_DIR, "medqa", "medqa.yaml"), medqa[:N], medqa[N:],
           "train = items 21.. of the shared test file")
    yield ("medmcqa", os.path.join(zs.TASKS_DIR, "medmcqa", "medmcqa.yaml"), all_items(zs.to_medmcqa_hf), None,
           "fewshot_split = test_split (the whole shared dev.json)")
    yield ("pubmedqa", os.path.join(zs.TASKS_DIR, "pubmedqa", "pubmedqa.yaml"), all_items(zs.to_pubmedqa_bigbio)[:N],
           pubmedqa_trainval(), "train = ori_pqal.json items outside test_ground_truth.json")
    for s in zs.MMLU:
        docs = all_items(zs.to_mmlu_cais, s)
        path = os.path.join(zs.TASKS_DIR, "mmlu", "default", f"mmlu_{s}.yaml")
        if s == "anatomy":
            yield "mmlu_" + s, path, docs, None, "fewshot_split = test_split (the whole CSV), first_n"
        else:
            yield "mmlu_" + s, path, docs[:N], docs[N:], "fewshot_split dev = items 21.. of the CSV, first_n"


def write_jsonl(path, docs):
    with open(path, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")


def build_task(yaml_path, test_docs, shot_docs, tmp):
    cfg = zs.load_yaml_config(yaml_path)
    stock = [m["metric"] for m in cfg.get("metric_list", [])]
    metrics = list(cfg.get("metric_list", []))
    if "acc_norm" not in stock:
        metrics.append({"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True})
    name = cfg["task"]
    files = {"test": os.path.join(tmp, name + "_test.jsonl")}
    write_jsonl(files["test"], test_docs)
    mmlu = name.startswith("mmlu_")
    for k in ("training_split", "validation_split", "fewshot_split", "tag", "group"):
        cfg.pop(k, None)
    if shot_docs is None:  # the few-shot split is the test split
        cfg["fewshot_split"] = "test"
    else:
        split = "dev" if mmlu else "train"
        files[split] = os.path.join(tmp, name + "_" + split + ".jsonl")
        write_jsonl(files[split], shot_docs)
        if mmlu:
            cfg["fewshot_split"] = "dev"  # the YAML's, with fewshot_config sampler first_n kept
        else:
            cfg["training_split"] = "train"  # the YAML's; no fewshot_split: Task.fewshot_docs takes train
    cfg.update(dataset_path="json", dataset_name=None, dataset_kwargs={"data_files": files}, test_split="test",
               metric_list=metrics)
    return ConfigurableTask(config=cfg), stock


def fnv1a64_bytes(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def generate(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    lm = HFLM(pretrained=MODEL, dtype="float32", batch_size=1, device="cpu")
    summary = {"lm_eval_version": getattr(zs.lm_eval, "__version__", "0.4.13"),
               "transformers_version": zs.transformers.__version__, "torch_version": zs.torch.__version__,
               "n_items": N, "num_fewshot": K, "fewshot_seed": SEED, "add_bos_token": lm.add_bos_token, "tasks": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name, yaml_path, test_docs, shot_docs, source in task_specs():
            task, stock = build_task(yaml_path, test_docs, shot_docs, tmp)
            task.set_config(key="num_fewshot", value=K)
            task.set_fewshot_seed(seed=SEED)  # as simple_evaluate does for every task
            drawn = []
            sample = task.sampler.sample

            def logged(*a, _sample=sample, **kw):
                res = _sample(*a, **kw)
                drawn.append([d["id"] for d in res])
                return res

            task.sampler.sample = logged
            res = evaluator.evaluate(lm=lm, task_dict={name: task}, limit=N, log_samples=True)
            r = res["results"][name]
            samples = sorted(res["samples"][name], key=lambda s: s["doc_id"])
            assert len(samples) == N and len(drawn) == N, (name, len(samples), len(drawn))
            with open(os.path.join(out_dir, name + ".jsonl"), "w", encoding="utf-8") as f:
                for s in samples:
                    doc = s["doc"]
                    choices = task.doc_to_choice(doc)
                    gold = task.doc_to_target(doc)
                    if isinstance(gold, str):
                        gold = choices.index(gold)
                    ctx = s["arguments"][0][0]
                    conts = [a[1] for a in s["arguments"]]
                    enc = [lm._encode_pair(ctx, c) for c in conts]
                    ctx_ids = enc[0][0]
                    rec = {"doc_id": s["doc_id"], "id": doc["id"], "fewshot_ids": drawn[s["doc_id"]],
                           "context_fnv1a64": zs.fnv1a64(ctx), "context_bytes": len(ctx.encode("utf-8")),
                           "choices": choices, "continuations": conts, "gold": int(gold),
                           "loglikelihoods": [float(r_[0][0]) for r_ in s["resps"]],
                           "is_greedy": [bool(r_[0][1]) for r_ in s["resps"]],
                           "context_token_count": len(ctx_ids),
                           "context_tokens_fnv1a64": fnv1a64_bytes(struct.pack(f"<{len(ctx_ids)}i", *ctx_ids)),
                           "continuation_tokens": [e[1] for e in enc],
                           "acc": float(s["acc"]), "acc_norm": float(s["acc_norm"])}
                    f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            summary["tasks"][name] = {
                "acc": r["acc,none"], "acc_stderr": r["acc_stderr,none"], "acc_norm": r["acc_norm,none"],
                "acc_norm_stderr": r["acc_norm_stderr,none"], "stock_metrics": stock,
                "version": res["versions"].get(name), "n-shot": res["n-shot"].get(name),
                "sampler": task.fewshot_cfg.sampler, "fewshot_source": source}
    with open(os.path.join(out_dir, "summary.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")
    print("wrote", out_dir)


def check():
    with tempfile.TemporaryDirectory() as tmp:
        generate(tmp)
        bad = 0
        for name in sorted(os.listdir(tmp)):
            with open(os.path.join(tmp, name), encoding="utf-8") as f:
                new = [json.loads(line) for line in f if line.strip()] if name.endswith(".jsonl") else json.load(f)
            with open(os.path.join(OUT, name), encoding="utf-8") as f:
                old = [json.loads(line) for line in f if line.strip()] if name.endswith(".jsonl") else json.load(f)
            if name == "summary.json":
                for k in ("transformers_version", "torch_version", "lm_eval_version"):
                    new.pop(k, None), old.pop(k, None)
            d = zs.same(new, old, name)
            if d:
                print("differs:", d)
                bad += 1
        print("check:", "ok" if bad == 0 else f"{bad} files differ")
        return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="regenerate in a temp dir and compare with the committed files")
    args = ap.parse_args()
    if not os.path.isdir(zs.SHARED):
        sys.exit(f"{zs.SHARED}: not found (the shared benchmarks are needed to make the golden files)")
    if args.check:
        sys.exit(check())
    generate(OUT)


if __name__ == "__main__":
    main()

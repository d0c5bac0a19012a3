#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Golden numbers from EleutherAI's lm-evaluation-harness for pmc's `--prompt-format lm_eval`.

What it writes (under tests/golden/lm_eval/):
  model/            a small random LlamaForCausalLM (transformers; hidden 32, 2 layers, 4 heads, 2 KV heads,
                    intermediate 64, vocab 3500, tied embeddings, torch.manual_seed(1234), fp32 safetensors)
                    with tests/golden/tokenizer_json/sentencepiece_style.json as its tokenizer.json and a
                    tokenizer_config.json (PreTrainedTokenizerFast, bos "<s>", eos "</s>").
  <task>.jsonl      per item of the first 20 items (file order) of each ../shared benchmark file, for the
                    harness tasks medqa_4options, medmcqa, pubmedqa and mmlu_{anatomy, clinical_knowledge,
                    college_biology, college_medicine, medical_genetics, professional_medicine}.
  summary.json      per task: acc, acc_stderr, acc_norm, acc_norm_stderr over those 20 items.

How the fields are produced: the harness itself runs, not a re-implementation.
  * The task objects are the harness's own: `lm_eval.tasks.TaskManager().load(...)`-equivalent
    `ConfigurableTask(config=...)` built from the installed YAML (`lm_eval.tasks._yaml_loader.load_yaml`, which
    resolves `include` and `!function`), with only the data source changed to a local JSON file
    (dataset_path "json", data_files = a temporary JSONL of the shared items in the dataset's field layout,
    see `to_medqa_hf`, `to_medmcqa_hf`, `to_pubmedqa_bigbio`, `to_mmlu_cais`), num_fewshot 0. For
    pubmedqa and the MMLU subjects, whose stock metric_list holds only `acc`, `acc_norm` is appended to the
    metric list so that the harness computes it too (`summary.json` says which metrics are stock).
  * The model is the harness's HFLM(pretrained=<model folder>, dtype float32, batch_size 1, device cpu),
    add_bos_token left at its default (None: the tokenizer's own behaviour, here the template "<s> $A").
  * `lm_eval.evaluator.evaluate(lm, task_dict, limit=20, log_samples=True)` runs everything; from its
    "samples" come, per item: `context_fnv1a64` / `context_bytes` = the FNV-1a 64 hash (hex) and UTF-8
    length of arguments[i][0] (Task.fewshot_context; the text itself, the benchmark's, is not stored), `choices` =
    Task.doc_to_choice(doc), `continuations` = arguments[i][1] (target_delimiter + choice,
    Task.construct_requests), `gold` = sample "target" mapped to an index as Task.process_results does,
    `loglikelihoods` / `is_greedy` = resps (HFLM.loglikelihood → _encode_pair → _loglikelihood_tokens), and
    `acc` / `acc_norm` = the sample's metric values (Task.process_results: acc = argmax of the summed
    log-likelihoods, acc_norm = argmax of log-likelihood / len(choice) in characters). `context_tokens` and
    `continuation_tokens` are HFLM._encode_pair(context, continuation) for each choice.
  * summary.json's numbers are the harness's "results" (mean aggregation and its stderr, mean_stderr:
    sample standard deviation with ddof 1 over sqrt(n)), plus its "versions" and "n-shot".
  No text from ../shared is stored: contexts as hashes (and, like tests/golden/eval, token ids), items by id.

Run (needs ../shared/data/benchmarks; no network: HF_HUB_OFFLINE and HF_DATASETS_OFFLINE are set):
    python3 tools/make_golden_lm_eval.py            # rewrite tests/golden/lm_eval
    python3 tools/make_golden_lm_eval.py --check    # regenerate in a temp dir and compare (numbers within 1e-6)

Made with lm-eval 0.4.13, transformers 5.24, torch 2.15, tokenizers 0.23.3, datasets 5.2 (Python 3.11).
"""
import argparse
import csv
import json
import math
import os
import shutil
import sys
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
import transformers  # noqa: E402

import lm_eval  # noqa: E402
from lm_eval import evaluator  # noqa: E402
from lm_eval.api.task import ConfigurableTask  # noqa: E402
from lm_eval.models.huggingface import HFLM  # noqa: E402
from lm_eval.tasks._yaml_loader import load_yaml as load_yaml_config  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data", "benchmarks")
OUT = os.path.join(ROOT, "tests", "golden", "lm_eval")
TOKENIZER = os.path.join(ROOT, "tests", "golden", "tokenizer_json", "sentencepiece_style.json")
TASKS_DIR = os.path.join(os.path.dirname(lm_eval.__file__), "tasks")
N = 20
MMLU = ["anatomy", "clinical_knowledge", "college_biology", "college_medicine", "medical_genetics",
        "professional_medicine"]


def fnv1a64(text):
    """FNV-1a 64 of the UTF-8 bytes, as hex: the contexts hold the benchmarks' text, which stays in ../shared."""
    h = 0xCBF29CE484222325
    for b in text.encode("utf-8"):
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def make_model(folder):
    os.makedirs(folder, exist_ok=True)
    vocab = len(json.load(open(TOKENIZER, encoding="utf-8"))["model"]["vocab"])
    torch.manual_seed(1234)
    cfg = transformers.LlamaConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                   intermediate_size=64, vocab_size=vocab, max_position_embeddings=4096,
                                   tie_word_embeddings=True, rms_norm_eps=1e-5, rope_theta=10000.0,
                                   bos_token_id=1, eos_token_id=2)
    model = transformers.LlamaForCausalLM(cfg).to(torch.float32)
    with torch.no_grad():  # a wider spread than the default init, so that the options' scores differ
        for p in model.parameters():
            if p.dim() == 2:
                p.normal_(0.0, 0.5 if p.shape[0] == vocab else 0.2)
    model.save_pretrained(folder, safe_serialization=True)
    shutil.copyfile(TOKENIZER, os.path.join(folder, "tokenizer.json"))
    with open(os.path.join(folder, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>",
                   "unk_token": "<unk>", "model_max_length": 4096}, f, indent=1)
        f.write("\n")
    for extra in ("generation_config.json",):
        p = os.path.join(folder, extra)
        if os.path.exists(p):
            os.remove(p)


# ---- the shared files, first N items in file order, in the field layout of each harness dataset ----

def to_medqa_hf():
    """GBaker/MedQA-USMLE-4-options-hf: {id, sent1 (question), sent2 "", ending0..3, label 0..3}."""
    out = []
    with open(os.path.join(SHARED, "medqa", "phrases_no_exclude_test.jsonl"), encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if len(out) == N:
                break
            d = json.loads(line)
            o = d["options"]
            out.append({"id": str(line_no), "sent1": d["question"], "sent2": "", "ending0": o["A"], "ending1": o["B"],
                        "ending2": o["C"], "ending3": o["D"], "label": "ABCD".index(d["answer_idx"])})
    return out


def to_medmcqa_hf():
    """openlifescienceai/medmcqa: the shared dev.json's fields, with cop 1..4 shifted to the dataset's 0..3."""
    out = []
    with open(os.path.join(SHARED, "medmcqa", "dev.json"), encoding="utf-8") as f:
        for line in f:
            if len(out) == N:
                break
            d = json.loads(line)
            out.append({"id": d["id"], "question": d["question"], "opa": d["opa"], "opb": d["opb"], "opc": d["opc"],
                        "opd": d["opd"], "cop": int(d["cop"]) - 1, "choice_type": d.get("choice_type") or "",
                        "exp": d.get("exp") or "", "subject_name": d.get("subject_name") or "",
                        "topic_name": d.get("topic_name") or ""})
    return out


def to_pubmedqa_bigbio():
    """bigbio/pubmed_qa pubmed_qa_labeled_fold0_source: {pubid, QUESTION, CONTEXTS, LABELS, MESHES, YEAR,
    final_decision, LONG_ANSWER}, the test PMIDs in test_ground_truth.json's order."""
    data = json.load(open(os.path.join(SHARED, "pubmedqa", "ori_pqal.json"), encoding="utf-8"))
    gt = json.load(open(os.path.join(SHARED, "pubmedqa", "test_ground_truth.json"), encoding="utf-8"))
    out = []
    for pmid, answer in list(gt.items())[:N]:
        e = data[pmid]
        out.append({"id": pmid, "pubid": int(pmid), "QUESTION": e["QUESTION"], "CONTEXTS": e["CONTEXTS"],
                    "LABELS": e["LABELS"], "MESHES": e.get("MESHES", []), "YEAR": str(e.get("YEAR", "")),
                    "final_decision": answer, "LONG_ANSWER": e.get("LONG_ANSWER", "")})
    return out


def to_mmlu_cais(subject):
    """cais/mmlu: {question, subject, choices [4], answer 0..3}."""
    out = []
    with open(os.path.join(SHARED, "mmlu_medical", subject + "_test.csv"), encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        start = 1  # the line a record starts on (pmc's MMLU ids are "subject:line")
        for row in reader:
            if len(out) == N:
                break
            out.append({"id": f"{subject}:{start}", "question": row[0], "subject": subject,
                        "choices": row[1:5], "answer": "ABCD".index(row[5].strip())})
            start = reader.line_num + 1
    return out


def task_configs():
    """(task name, YAML path, docs, stock metrics)."""
    yield "medqa_4options", os.path.join(TASKS_DIR, "medqa", "medqa.yaml"), to_medqa_hf()
    yield "medmcqa", os.path.join(TASKS_DIR, "medmcqa", "medmcqa.yaml"), to_medmcqa_hf()
    yield "pubmedqa", os.path.join(TASKS_DIR, "pubmedqa", "pubmedqa.yaml"), to_pubmedqa_bigbio()
    for s in MMLU:
        yield "mmlu_" + s, os.path.join(TASKS_DIR, "mmlu", "default", f"mmlu_{s}.yaml"), to_mmlu_cais(s)


def build_task(yaml_path, docs, tmp):
    cfg = load_yaml_config(yaml_path)
    stock = [m["metric"] for m in cfg.get("metric_list", [])]
    metrics = list(cfg.get("metric_list", []))
    if "acc_norm" not in stock:
        metrics.append({"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True})
    data = os.path.join(tmp, cfg["task"] + ".jsonl")
    with open(data, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    cfg.update(dataset_path="json", dataset_name=None, dataset_kwargs={"data_files": {"test": data}},
               test_split="test", metric_list=metrics)
    for k in ("training_split", "validation_split", "fewshot_split", "fewshot_config", "tag", "group"):
        cfg.pop(k, None)
    return ConfigurableTask(config=cfg), stock


def same(a, b, path=""):
    """Equal structures, floats within 1e-6 relative; returns the first difference's path, or None."""
    if isinstance(a, float) or isinstance(b, float):
        ok = isinstance(a, (int, float)) and isinstance(b, (int, float)) and math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
        return None if ok else path
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return path + " (keys)"
        for k in a:
            d = same(a[k], b[k], f"{path}.{k}")
            if d:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return path + " (length)"
        for i, (x, y) in enumerate(zip(a, b)):
            d = same(x, y, f"{path}[{i}]")
            if d:
                return d
        return None
    return None if a == b else path


def check():
    with tempfile.TemporaryDirectory() as tmp:
        generate(tmp)
        bad = 0
        for name in sorted(os.listdir(tmp)):
            if name == "model":
                continue
            with open(os.path.join(tmp, name), encoding="utf-8") as f:
                new = [json.loads(line) for line in f if line.strip()] if name.endswith(".jsonl") else json.load(f)
            with open(os.path.join(OUT, name), encoding="utf-8") as f:
                old = [json.loads(line) for line in f if line.strip()] if name.endswith(".jsonl") else json.load(f)
            if name == "summary.json":  # versions of the tools may differ
                for k in ("transformers_version", "torch_version", "lm_eval_version"):
                    new.pop(k, None), old.pop(k, None)
            d = same(new, old, name)
            if d:
                print("differs:", d)
                bad += 1
        for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors"):
            with open(os.path.join(tmp, "model", name), "rb") as f1, open(os.path.join(OUT, "model", name), "rb") as f2:
                if f1.read() != f2.read():
                    print("differs: model/" + name)
                    bad += 1
        print("check:", "ok" if bad == 0 else f"{bad} files differ")
        return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="regenerate in a temp dir and compare with the committed files")
    args = ap.parse_args()
    if not os.path.isdir(SHARED):
        sys.exit(f"{SHARED}: not found (the shared benchmarks are needed to make the golden files)")
    if args.check:
        sys.exit(check())
    generate(OUT)


def generate(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    model_dir = os.path.join(out_dir, "model")
    make_model(model_dir)
    lm = HFLM(pretrained=model_dir, dtype="float32", batch_size=1, device="cpu")
    summary = {"lm_eval_version": lm_eval.__version__ if hasattr(lm_eval, "__version__") else "0.4.13",
               "transformers_version": transformers.__version__, "torch_version": torch.__version__,
               "n_items": N, "num_fewshot": 0, "add_bos_token": lm.add_bos_token, "tasks": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name, yaml_path, docs in task_configs():
            task, stock = build_task(yaml_path, docs, tmp)
            task.set_config(key="num_fewshot", value=0)
            res = evaluator.evaluate(lm=lm, task_dict={name: task}, limit=N, log_samples=True)
            r = res["results"][name]
            samples = sorted(res["samples"][name], key=lambda s: s["doc_id"])
            assert len(samples) == N, (name, len(samples))
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
                    rec = {"doc_id": s["doc_id"], "id": doc["id"], "context_fnv1a64": fnv1a64(ctx),
                           "context_bytes": len(ctx.encode("utf-8")), "choices": choices,
                           "continuations": conts, "gold": int(gold),
                           "loglikelihoods": [float(r_[0][0]) for r_ in s["resps"]],
                           "is_greedy": [bool(r_[0][1]) for r_ in s["resps"]],
                           "context_tokens": enc[0][0], "continuation_tokens": [e[1] for e in enc],
                           "acc": float(s["acc"]), "acc_norm": float(s["acc_norm"])}
                    f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            summary["tasks"][name] = {
                "acc": r["acc,none"], "acc_stderr": r["acc_stderr,none"], "acc_norm": r["acc_norm,none"],
                "acc_norm_stderr": r["acc_norm_stderr,none"], "stock_metrics": stock,
                "version": res["versions"].get(name), "n-shot": res["n-shot"].get(name),
                "alias": r.get("alias", name)}
    with open(os.path.join(out_dir, "summary.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")
    for name in os.listdir(model_dir):
        os.chmod(os.path.join(model_dir, name), 0o644)
    print("wrote", out_dir)


if __name__ == "__main__":
    main()

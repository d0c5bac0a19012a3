#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Generates tests/golden/io/ (files written by Python's safetensors, huggingface_hub and transformers, which
# tests/io reads) and checks, by hand, that Python reads what pmc writes.
#
#   python3 tools/make_io_golden.py                  # regenerate tests/golden/io/ (deterministic)
#   python3 tools/make_io_golden.py --check-pmc DIR  # read the files tests/io left in DIR (build/io/tests/tmp/io)
#   python3 tools/make_io_golden.py --check-tensorboard DIR  # TensorBoard's loader on pmc's event files in DIR
"""Golden files for pmc's checkpoint I/O tests, and the reverse check (Python reading pmc's files)."""

import argparse
import json
import pathlib
import sys

import torch
from safetensors import safe_open
from safetensors.torch import save_file

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "golden" / "io"


def golden_tensors():
    # Values are simple formulas that tests/io/safetensors_test.cpp recomputes; all exact in every dtype.
    return {
        "f32": (torch.arange(12, dtype=torch.float32).reshape(3, 4) * 0.5 - 1.0),
        "f64": torch.arange(6, dtype=torch.float64).reshape(2, 3) * 0.25 + 1e-9,
        "bf16": ((torch.arange(8, dtype=torch.float32) - 4.0) * 0.5).to(torch.bfloat16),
        "f16": (torch.arange(6, dtype=torch.float32).reshape(2, 3) * 0.125).to(torch.float16),
        "i32": torch.arange(5, dtype=torch.int32) - 2,
        "i64": torch.arange(4, dtype=torch.int64) * 10_000_000_000,
        "scalar": torch.tensor(3.5, dtype=torch.float32),
        "empty": torch.zeros(0, 3, dtype=torch.float32),
        # bf16 values that need rounding from float32: 1/3 is stored as bf16(1/3) = 0.333984375.
        "bf16_third": torch.full((2, 2), 1.0 / 3.0, dtype=torch.float32).to(torch.bfloat16),
    }


def make():
    OUT.mkdir(parents=True, exist_ok=True)
    save_file(golden_tensors(), str(OUT / "python_written.safetensors"),
              metadata={"format": "pt", "source": "tools/make_io_golden.py"})

    # A sharded checkpoint as huggingface_hub writes it (index + 2 shards).
    from huggingface_hub import save_torch_state_dict
    sharded = OUT / "hf_sharded"
    sharded.mkdir(exist_ok=True)
    for f in sharded.iterdir():
        f.unlink()
    state = {
        "model.embed_tokens.weight": torch.arange(32, dtype=torch.float32).reshape(8, 4),
        "model.norm.weight": torch.ones(4, dtype=torch.float32),
        "lm_head.weight": -torch.arange(32, dtype=torch.float32).reshape(8, 4),
    }
    save_torch_state_dict(state, str(sharded), max_shard_size=150)

    # config.json as transformers (5.x: rope_parameters, no rope_theta) writes it for a tiny GQA LLaMA.
    from transformers import LlamaConfig
    cfg = LlamaConfig(hidden_size=64, intermediate_size=172, num_hidden_layers=5, num_attention_heads=8,
                      num_key_value_heads=4, vocab_size=512, max_position_embeddings=512, rms_norm_eps=1e-5,
                      tie_word_embeddings=True)
    d = json.loads(cfg.to_json_string(use_diff=True))  # what save_pretrained writes
    d.pop("transformers_version", None)  # keep the file stable across transformers releases
    (OUT / "hf_llama_config.json").write_text(json.dumps(d, indent=2, sort_keys=True) + "\n")
    make_tensorboard()
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {OUT} ({total} bytes)")


def check_pmc(d: pathlib.Path):
    """Reads what tests/io wrote with pmc: every dtype via safetensors, and (if present) the converted
    stories260K folder via transformers, generating greedily from BOS."""
    f = d / "roundtrip_all_dtypes" / "all.safetensors"
    with safe_open(str(f), framework="pt") as st:
        print(f, "metadata", st.metadata())
        for k in sorted(st.keys()):
            t = st.get_tensor(k)
            print(f"  {k}: {t.dtype} {tuple(t.shape)} {t.flatten()[:6].tolist()}")
    sharded = d / "sharded_write_read"
    if sharded.exists():
        index = json.loads((sharded / "model.safetensors.index.json").read_text())
        n = 0
        for name, shard in index["weight_map"].items():
            with safe_open(str(sharded / shard), framework="pt") as st:
                st.get_tensor(name)
                n += 1
        print(f"{sharded}: read {n} tensors from {len(set(index['weight_map'].values()))} shards")
    hf = d / "stories260K_hf"
    if hf.exists():
        from transformers import LlamaForCausalLM
        model = LlamaForCausalLM.from_pretrained(str(hf))
        model.eval()
        ids = torch.tensor([[1]])
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=40, do_sample=False)
        print("stories260K via transformers, greedy ids:", out[0].tolist())
        ref = json.loads((ROOT.parent / "shared/data/models/stories260K/stories260K_reference.json").read_text())
        want = ref["greedy_ids_200_steps"]
        got = out[0].tolist()
        m = min(len(got), len(want))
        print("matches the llama2.c reference for", sum(a == b for a, b in zip(got[:m], want[:m])), "of", m, "ids")


def make_tensorboard():
    """An event file written by TensorBoard's own writer (fixed wall times): 4 scalars of 2 tags."""
    import tempfile
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter
    with tempfile.TemporaryDirectory() as tmp:
        w = EventFileWriter(tmp)
        for i, (tag, step, value) in enumerate([("train/loss", 1, 2.5), ("train/lr", 1, 3e-4), ("train/loss", 2, 2.25),
                                                ("eval/loss", 10, 1.75)]):
            s = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])
            w.add_event(event_pb2.Event(wall_time=1.7e9 + i, step=step, summary=s))
        w.close()
        # the writer's own first event (file_version) carries the current time: rewrite it with a fixed one
        (f,) = pathlib.Path(tmp).glob("events.out.tfevents.*")
        from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
        records = list(RawEventFileLoader(str(f)).Load())
    first = event_pb2.Event.FromString(records[0])
    first.wall_time = 1.7e9 - 1
    records[0] = first.SerializeToString()
    from tensorboard.summary.writer.record_writer import RecordWriter
    with open(OUT / "tensorboard.tfevents", "wb") as out:
        rw = RecordWriter(out)
        for r in records:
            rw.write(r)
        rw.flush()


def check_tensorboard(path: pathlib.Path):
    """Reads an event file pmc wrote with TensorBoard's own loader and prints its scalars."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(path))
    acc.Reload()
    for tag in acc.Tags()["scalars"]:
        ev = acc.Scalars(tag)
        print(f"{tag}: {len(ev)} points, steps {ev[0].step}..{ev[-1].step}, last {ev[-1].value:.6g}")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--check-pmc", type=pathlib.Path, help="folder with files written by tests/io")
    ap.add_argument("--check-tensorboard", type=pathlib.Path, help="a folder of event files pmc wrote")
    a = ap.parse_args()
    if a.check_tensorboard:
        check_tensorboard(a.check_tensorboard)
    elif a.check_pmc:
        check_pmc(a.check_pmc)
    else:
        make()


if __name__ == "__main__":
    sys.exit(main())

# SPDX-License-Identifier: MIT
"""Check that a LLaMA model folder reloads in Hugging Face transformers with the golden logits.

Loads DIR (config.json + *.safetensors, e.g. written by pmc) with
``AutoModelForCausalLM.from_pretrained(DIR)`` (LlamaForCausalLM, MistralForCausalLM or Qwen2ForCausalLM, as config.json says), runs the ``input_ids`` of a golden
file (tests/golden/hf/<case>/golden.safetensors, made by
tools/make_golden_hf.py) through it in float64 with eager attention, and
compares with the golden ``logits`` (and ``loss`` when ``targets`` exist).
Generates nothing; prints

  max_abs   = max |logits - golden|
  max_rel   = max_abs / max |golden|

and exits 0 if max_rel <= --tol (default 1e-4), 1 otherwise, 2 on a load error
(missing / unexpected / mismatched weights, shape mismatch with the golden).

Usage:
  python3 tools/check_hf_roundtrip.py DIR [--golden tests/golden/hf/gqa/golden.safetensors] [--tol 1e-4]

Example (a folder pmc re-saved from tests/golden/hf/odd):
  python3 tools/check_hf_roundtrip.py /tmp/pmc_odd --golden tests/golden/hf/odd/golden.safetensors
"""

import argparse
import os
import sys

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", help="model folder (config.json + model.safetensors)")
    ap.add_argument("--golden", default=os.path.join(root, "tests", "golden", "hf", "gqa", "golden.safetensors"))
    ap.add_argument("--tol", type=float, default=1e-4, help="max allowed relative difference (default 1e-4)")
    args = ap.parse_args()

    torch.set_num_threads(1)
    golden = load_file(args.golden)
    try:
        model, info = AutoModelForCausalLM.from_pretrained(
            args.dir, dtype=torch.float32, attn_implementation="eager", output_loading_info=True)
    except Exception as e:  # noqa: BLE001
        print(f"FAIL: could not load {args.dir}: {type(e).__name__}: {e}")
        return 2
    problems = {k: v for k, v in info.items() if v}
    if problems:
        print(f"FAIL: loading {args.dir}: {problems}")
        return 2
    model = model.double().eval()

    ids = golden["input_ids"].long()
    ref = golden["logits"].double()
    if ref.shape[-1] != model.config.vocab_size:
        print(f"FAIL: vocab {model.config.vocab_size} != golden {ref.shape[-1]} (wrong --golden?)")
        return 2
    with torch.no_grad():
        logits = model(input_ids=ids, use_cache=False).logits.double()
    max_abs = (logits - ref).abs().max().item()
    max_rel = max_abs / ref.abs().max().item()
    print(f"model:   {args.dir}")
    print(f"golden:  {args.golden}  logits {tuple(ref.shape)}")
    print(f"max_abs = {max_abs:.3e}")
    print(f"max_rel = {max_rel:.3e}  (tol {args.tol:g})")
    if "targets" in golden and "loss" in golden:
        loss = F.cross_entropy(logits.reshape(-1, ref.shape[-1]), golden["targets"].long().reshape(-1),
                               ignore_index=-100)
        print(f"loss    = {loss.item():.10f}  golden {golden['loss'].item():.10f}")
    ok = max_rel <= args.tol
    print("OK" if ok else "FAIL: logits differ")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

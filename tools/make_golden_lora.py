# SPDX-License-Identifier: MIT
"""Generate the LoRA golden files under tests/golden/lora/<case>/ (PEFT parity).

For each case a tiny random ``transformers.LlamaForCausalLM`` (hidden 32,
2 layers, 4 heads, 2 kv heads, intermediate 64, vocab 64, fixed seed) is saved
with ``save_pretrained(case_dir, safe_serialization=True)``, wrapped with
``peft.get_peft_model(model, LoraConfig(...))``, every lora_A / lora_B weight is
set to random normal values (std 0.1 / 0.05; PEFT's default B = 0 would make
the adapter a no-op), and that INITIAL adapter is saved with
``peft_model.save_pretrained(case_dir / "adapter")``.  The adapter is then
trained for S AdamW steps (base frozen).  ``golden.safetensors`` holds

  input_ids       int32   (S, B, T)  the batch of every step
  targets         int32   (S, B, T)  shifted targets, last = -100, plus a few extra -100
  logits          float32 (B*T, V)   PEFT model logits of input_ids[0], initial adapter
  base_logits     float32 (B*T, V)   same with the adapter disabled
  loss            float64 (S,)       float32 loss before update s
  lr              float64 (S,)       learning rate of update s
  grad_norm       float64 (S,)       global L2 norm of the adapter gradients before clipping
  grad0.<key>     float32            step-0 gradient of each adapter tensor (before clipping)
  final.<key>     float32            adapter tensors after the S updates
  merged.<name>   float32            targeted base projection weights after merge_and_unload
                                     of the INITIAL adapter: W + scaling * B @ A

<key> is the tensor's key in adapter/adapter_model.safetensors, e.g.
``base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight``; <name> is
the HF name, e.g. ``model.layers.0.self_attn.q_proj.weight``.  S = 5, B = 4,
T = 16.  See tests/golden/lora/README.md.

Usage:
  python3 tools/make_golden_lora.py [--out tests/golden/lora] [--check]
      --check   regenerate into a temporary folder and compare bytewise with --out
  python3 tools/make_golden_lora.py --verify-adapter ADAPTER_DIR --base BASE_DIR --logits FILE
      load BASE_DIR + ADAPTER_DIR with transformers + PEFT, run FILE's input_ids (int32, (B, T)),
      compare with FILE's logits (float32, (B*T, V)); exit 1 if max_rel > 1e-5
      (exit 2 if the adapter's tensors do not load exactly).
"""

import argparse
import copy
import filecmp
import json
import math
import os
import shutil
import sys
import tempfile

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import transformers  # noqa: E402
import peft  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM  # noqa: E402
from peft import LoraConfig, PeftModel, get_peft_model  # noqa: E402
from peft.utils import get_peft_model_state_dict  # noqa: E402

SEED = 2024
STEPS, B, T = 5, 4, 16
N_EXTRA_MASKED = 4  # extra -100 positions per step, besides the last column

PEAK_LR, MIN_LR, WARMUP, TOTAL = 1e-2, 1e-3, 1, 5
BETAS, EPS = (0.9, 0.95), 1e-8
WEIGHT_DECAY = 0.1  # on every adapter tensor (all 2-D)
CLIP = 1.0
INIT_STD = 0.05  # base weights normal(0, 0.05), norms 1 + normal(0, 0.1)
LORA_A_STD, LORA_B_STD = 0.1, 0.05
VERIFY_TOL = 1e-5

ALL7 = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
CASES = {
    "all_targets": dict(seed=SEED, tied=False, r=4, alpha=8, targets=ALL7, rslora=False),
    "qv_rslora": dict(seed=SEED + 1, tied=True, r=8, alpha=16, targets=["q_proj", "v_proj"], rslora=True),
}


def lr_at(s):
    """Learning rate of update s (s = 0 .. TOTAL-1): linear warmup, then cosine to MIN_LR."""
    if s < WARMUP:
        return PEAK_LR * (s + 1) / WARMUP
    p = (s - WARMUP) / (TOTAL - WARMUP - 1)
    p = min(max(p, 0.0), 1.0)
    return MIN_LR + 0.5 * (PEAK_LR - MIN_LR) * (1.0 + math.cos(math.pi * p))


def masked_ce(logits, targets):
    V = logits.shape[-1]
    return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1).long(), ignore_index=-100)


def adapter_key(param_name):
    """peft parameter name -> key in adapter_model.safetensors (drops the adapter name 'default')."""
    assert ".default." in param_name, param_name
    return param_name.replace(".default.", ".")


def adapter_params(peft_model):
    return [(n, p) for n, p in peft_model.named_parameters() if p.requires_grad]


def make_config(tied):
    return LlamaConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        intermediate_size=64, vocab_size=64, tie_word_embeddings=tied,
        max_position_embeddings=64, rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        rms_norm_eps=1e-5, attention_bias=False, mlp_bias=False, hidden_act="silu",
        bos_token_id=None, eos_token_id=None, pad_token_id=None,
    )


def make_data(g, V):
    # "noisy bigram" token streams, as tools/make_golden_train.py
    perm = torch.randperm(V, generator=g)
    input_ids = torch.empty((STEPS, B, T), dtype=torch.int64)
    input_ids[..., 0] = torch.randint(0, V, (STEPS, B), generator=g)
    noise = torch.randint(0, V, (STEPS, B, T), generator=g)
    keep = torch.rand((STEPS, B, T), generator=g) < 0.75
    for t in range(1, T):
        input_ids[..., t] = torch.where(keep[..., t], perm[input_ids[..., t - 1]], noise[..., t])
    targets = torch.full((STEPS, B, T), -100, dtype=torch.int64)
    targets[..., :-1] = input_ids[..., 1:]
    for s in range(STEPS):
        for f in torch.randperm(B * (T - 1), generator=g)[:N_EXTRA_MASKED].tolist():
            targets[s, f // (T - 1), f % (T - 1)] = -100
    return input_ids, targets


def normalize_adapter_dir(adapter_dir):
    """Make what peft wrote byte-reproducible: drop the model card (README.md), sort
    target_modules (peft dumps a Python set, whose order depends on PYTHONHASHSEED) and
    keep base_model_name_or_path null (what peft writes for a model built from a config; a
    path there would be resolved against the current directory or looked up on the Hub)."""
    card = os.path.join(adapter_dir, "README.md")
    if os.path.exists(card):
        os.remove(card)
    path = os.path.join(adapter_dir, "adapter_config.json")
    with open(path) as f:
        cfg = json.load(f)
    cfg["base_model_name_or_path"] = None
    if isinstance(cfg.get("target_modules"), list):
        cfg["target_modules"] = sorted(cfg["target_modules"])
    with open(path, "w") as f:
        f.write(json.dumps(cfg, indent=2, sort_keys=True))


def manual_replay(peft_model_init, input_ids, targets):
    """The adapter training written out by hand (clipping + AdamW), for a self-check."""
    model = copy.deepcopy(peft_model_init)
    params = dict(adapter_params(model))
    m = {n: torch.zeros_like(p) for n, p in params.items()}
    v = {n: torch.zeros_like(p) for n, p in params.items()}
    b1, b2 = BETAS
    for s in range(STEPS):
        for p in params.values():
            p.grad = None
        masked_ce(model(input_ids=input_ids[s], use_cache=False).logits, targets[s]).backward()
        norm = torch.sqrt(sum((p.grad.double() ** 2).sum() for p in params.values()))
        coef = min(1.0, CLIP / (norm.item() + 1e-6))
        lr, t = lr_at(s), s + 1
        with torch.no_grad():
            for n, p in params.items():
                gr = p.grad * coef
                p.mul_(1.0 - lr * WEIGHT_DECAY)
                m[n] = b1 * m[n] + (1 - b1) * gr
                v[n] = b2 * v[n] + (1 - b2) * gr * gr
                denom = v[n].sqrt() / math.sqrt(1 - b2 ** t) + EPS
                p.sub_(lr / (1 - b1 ** t) * m[n] / denom)
    return {adapter_key(n): p.detach().clone() for n, p in params.items()}


def build_case(out_dir, name, c):
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(c["seed"])
    cfg = make_config(c["tied"])
    model = LlamaForCausalLM(cfg)
    g = torch.Generator().manual_seed(c["seed"])
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n.endswith("norm.weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(INIT_STD * torch.randn(p.shape, generator=g))
    model.set_attn_implementation("eager")
    model.train()  # attention_dropout is 0: train mode is deterministic
    input_ids, targets = make_data(g, cfg.vocab_size)

    case_dir = os.path.join(out_dir, name)
    if os.path.isdir(case_dir):
        shutil.rmtree(case_dir)
    os.makedirs(case_dir)
    model.save_pretrained(case_dir, safe_serialization=True)
    base_state = {n: t.detach().clone() for n, t in model.state_dict().items()}

    lcfg = LoraConfig(r=c["r"], lora_alpha=c["alpha"], lora_dropout=0.0, target_modules=list(c["targets"]),
                      bias="none", task_type="CAUSAL_LM", use_rslora=c["rslora"])
    pm = get_peft_model(model, lcfg)
    pm.train()
    params = adapter_params(pm)
    assert params and all(("lora_A" in n or "lora_B" in n) for n, _ in params), [n for n, _ in params]
    n_targets = cfg.num_hidden_layers * len(c["targets"])
    assert len(params) == 2 * n_targets, len(params)
    with torch.no_grad():
        for n, p in sorted(params):
            std = LORA_A_STD if ".lora_A." in n else LORA_B_STD
            p.copy_(std * torch.randn(p.shape, generator=g))

    scaling = c["alpha"] / (math.sqrt(c["r"]) if c["rslora"] else c["r"])
    for mn, mod in pm.named_modules():
        if hasattr(mod, "scaling") and isinstance(mod.scaling, dict) and "default" in mod.scaling:
            assert abs(mod.scaling["default"] - scaling) < 1e-12, (mn, mod.scaling, scaling)

    adapter_dir = os.path.join(case_dir, "adapter")
    pm.save_pretrained(adapter_dir)
    normalize_adapter_dir(adapter_dir)
    saved = load_file(os.path.join(adapter_dir, "adapter_model.safetensors"))
    keys = sorted(adapter_key(n) for n, _ in params)
    assert sorted(saved) == keys, (sorted(saved), keys)
    for n, p in params:
        assert torch.equal(saved[adapter_key(n)], p.detach()), n

    pm_init = copy.deepcopy(pm)  # initial adapter, for the merge and the replay

    # forward with and without the adapter
    with torch.no_grad():
        logits0 = pm(input_ids=input_ids[0], use_cache=False).logits.reshape(B * T, -1).clone()
        with pm.disable_adapter():
            base_logits0 = pm(input_ids=input_ids[0], use_cache=False).logits.reshape(B * T, -1).clone()
        ref = LlamaForCausalLM(cfg)
        ref.load_state_dict(base_state)
        ref.set_attn_implementation("eager")
        ref_logits = ref(input_ids=input_ids[0], use_cache=False).logits.reshape(B * T, -1)
    assert torch.equal(ref_logits, base_logits0), "disable_adapter() != plain base model"
    rel = ((logits0 - base_logits0).abs().max() / base_logits0.abs().max()).item()
    print(f"[{name}] adapter changes the logits by {rel:.3e} relative")
    assert rel > 1e-2, rel

    # merge the INITIAL adapter
    merged_model = copy.deepcopy(pm_init).merge_and_unload()
    merged_sd = merged_model.state_dict()
    merged = {}
    for mn, mod in pm_init.named_modules():
        if hasattr(mod, "lora_A") and "default" in getattr(mod, "lora_A", {}):
            hf = mn.removeprefix("base_model.model.") + ".weight"
            W = base_state[hf].double()
            A = mod.lora_A["default"].weight.detach().double()
            Bm = mod.lora_B["default"].weight.detach().double()
            expect = W + scaling * Bm @ A
            got = merged_sd[hf]
            err = ((got.double() - expect).abs().max() / expect.abs().max()).item()
            assert err < 1e-6, (hf, err)
            merged[hf] = got.detach().clone().contiguous()
    assert len(merged) == n_targets, sorted(merged)
    with torch.no_grad():
        merged_model.set_attn_implementation("eager")
        ml = merged_model(input_ids=input_ids[0], use_cache=False).logits.reshape(B * T, -1)
    rel = ((ml - logits0).abs().max() / logits0.abs().max()).item()
    print(f"[{name}] merged model vs PEFT logits: max rel diff {rel:.2e}")
    assert rel < 1e-5, rel

    # train the adapter
    opt = torch.optim.AdamW([p for _, p in params], lr=PEAK_LR, betas=BETAS, eps=EPS,
                            weight_decay=WEIGHT_DECAY, amsgrad=False, foreach=False, fused=False)
    losses, lrs, norms, grad0 = [], [], [], {}
    for s in range(STEPS):
        lr = lr_at(s)
        for group in opt.param_groups:
            group["lr"] = lr
        opt.zero_grad(set_to_none=True)
        logits = pm(input_ids=input_ids[s], use_cache=False).logits
        loss = masked_ce(logits, targets[s])
        loss.backward()
        for n, p in pm.named_parameters():
            assert (p.grad is not None) == p.requires_grad, n
        if s == 0:
            assert torch.equal(logits.detach().reshape(B * T, -1), logits0)
            grad0 = {f"grad0.{adapter_key(n)}": p.grad.detach().clone().contiguous() for n, p in params}
        norm = torch.nn.utils.clip_grad_norm_([p for _, p in params], CLIP)
        opt.step()
        losses.append(loss.item())
        lrs.append(lr)
        norms.append(norm.item())
        print(f"[{name}] step {s} lr={lr:.6e} loss={loss.item():.6f} grad_norm={norm.item():.4f}"
              f"{'  (clipped)' if norm.item() > CLIP else ''}")

    final = {adapter_key(n): p.detach().clone().contiguous() for n, p in params}
    replay = manual_replay(pm_init, input_ids, targets)
    worst = max(((replay[k] - final[k]).abs().max() / final[k].abs().max()).item() for k in final)
    print(f"[{name}] manual AdamW replay vs torch.optim.AdamW: max rel diff {worst:.2e}")
    assert worst < 1e-4, worst
    # the base stayed frozen
    for n, t in pm.get_base_model().state_dict().items():
        if "lora_" not in n:
            hf = n.replace(".base_layer.", ".")
            assert torch.equal(t, base_state[hf]), n

    tensors = {
        "input_ids": input_ids.to(torch.int32),
        "targets": targets.to(torch.int32),
        "logits": logits0.contiguous(),
        "base_logits": base_logits0.contiguous(),
        "loss": torch.tensor(losses, dtype=torch.float64),
        "lr": torch.tensor(lrs, dtype=torch.float64),
        "grad_norm": torch.tensor(norms, dtype=torch.float64),
    }
    tensors.update(grad0)
    tensors.update({f"final.{k}": v for k, v in final.items()})
    tensors.update({f"merged.{k}": v for k, v in merged.items()})
    save_file(tensors, os.path.join(case_dir, "golden.safetensors"),
              metadata={"generator": f"tools/make_golden_lora.py torch={torch.__version__} "
                                     f"transformers={transformers.__version__} peft={peft.__version__}"})


def verify_adapter(adapter_dir, base_dir, logits_file):
    from transformers import AutoModelForCausalLM
    data = load_file(logits_file)
    ids = data["input_ids"].long()
    want = data["logits"].double()
    base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32, attn_implementation="eager")
    model = PeftModel.from_pretrained(base, adapter_dir)
    model.eval()
    # every tensor in the file must have been loaded, and every adapter tensor must come from the file
    file_sd = load_file(os.path.join(adapter_dir, "adapter_model.safetensors"))
    model_sd = get_peft_model_state_dict(model, save_embedding_layers=False)
    if sorted(file_sd) != sorted(model_sd):
        print("adapter keys differ:\n  only in file:", sorted(set(file_sd) - set(model_sd)),
              "\n  only in model:", sorted(set(model_sd) - set(file_sd)))
        sys.exit(2)
    for k, v in file_sd.items():
        if v.shape != model_sd[k].shape or not torch.equal(v.to(model_sd[k].dtype), model_sd[k]):
            print(f"adapter tensor {k} did not load as stored: file {tuple(v.shape)} {v.dtype}, "
                  f"model {tuple(model_sd[k].shape)} {model_sd[k].dtype}")
            sys.exit(2)
    with torch.no_grad():
        got = model(input_ids=ids, use_cache=False).logits.reshape(ids.numel(), -1).double()
    if got.shape != want.shape:
        print(f"logits shape mismatch: PEFT {tuple(got.shape)}, file {tuple(want.shape)}")
        sys.exit(1)
    max_abs = (got - want).abs().max().item()
    max_rel = max_abs / got.abs().max().item()
    print(f"adapter tensors: {len(file_sd)}; max_abs={max_abs:.3e} max_rel={max_rel:.3e} (tol {VERIFY_TOL:g})")
    if not max_rel <= VERIFY_TOL:
        print("FAIL")
        sys.exit(1)
    print("OK")


def compare_dirs(a, b):
    bad = []
    for root, _, files in os.walk(a):
        for f in files:
            pa = os.path.join(root, f)
            pb = os.path.join(b, os.path.relpath(pa, a))
            if not os.path.exists(pb) or not filecmp.cmp(pa, pb, shallow=False):
                bad.append(os.path.relpath(pa, a))
    for root, _, files in os.walk(b):
        for f in files:
            rel = os.path.relpath(os.path.join(root, f), b)
            if not os.path.exists(os.path.join(a, rel)):
                bad.append(rel + " (only in --out)")
    return sorted(bad)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--out", default=os.path.join(root, "tests", "golden", "lora"))
    ap.add_argument("--check", action="store_true", help="regenerate in a temp dir and compare with --out")
    ap.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    ap.add_argument("--verify-adapter", metavar="ADAPTER_DIR")
    ap.add_argument("--base", metavar="BASE_DIR")
    ap.add_argument("--logits", metavar="FILE")
    args = ap.parse_args()

    if args.verify_adapter:
        if not args.base or not args.logits:
            ap.error("--verify-adapter needs --base and --logits")
        torch.set_num_threads(1)
        torch.use_deterministic_algorithms(True)
        verify_adapter(args.verify_adapter, args.base, args.logits)
        return

    target = tempfile.mkdtemp() if args.check else args.out
    os.makedirs(target, exist_ok=True)
    for name in args.cases:
        build_case(target, name, CASES[name])
    if args.check:
        bad = []
        for name in args.cases:
            bad += [f"{name}/{f}" for f in compare_dirs(os.path.join(target, name), os.path.join(args.out, name))]
        shutil.rmtree(target)
        if bad:
            print("DIFFERENT:", *bad)
            sys.exit(1)
        print("identical to", args.out)


if __name__ == "__main__":
    main()

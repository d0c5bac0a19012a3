# SPDX-License-Identifier: MIT
"""Generate the training golden files under tests/golden/train/adamw_tiny/.

A tiny random ``transformers.LlamaForCausalLM`` (hidden 32, 2 layers, 4 heads,
2 kv heads, intermediate 64, vocab 64, untied, fixed seed) is saved with
``save_pretrained(dir, safe_serialization=True)`` (the INITIAL float32
weights), then trained for 20 steps in float32 on fixed random batches with
torch.optim.AdamW, a hand-written warmup + cosine learning-rate schedule and
global-norm gradient clipping at 1.0.  ``golden.safetensors`` holds

  input_ids     int32   (S, B, T)  the batch of every step
  targets       int32   (S, B, T)  targets[..., t] = input_ids[..., t+1], last = -100,
                                   plus a few extra positions masked to -100
  loss          float64 (S,)       float32 loss before update s (mean over non-ignored targets)
  lr            float64 (S,)       learning rate used by update s
  grad_norm     float64 (S,)       global L2 norm of all gradients before clipping
  grad0.<name>  float32 (param)    full-batch gradient of step 0 (before clipping)
  final.<name>  float32 (param)    weights after the S updates

with S = 20, B = 4, T = 16.  See tests/golden/README.md for the exact formulas.

Usage: python3 tools/make_golden_train.py [--out tests/golden/train] [--check]
  --check   regenerate into a temporary folder and compare bytewise with --out.
"""

import argparse
import filecmp
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
from safetensors.torch import save_file  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM  # noqa: E402

SEED = 2024
STEPS, B, T = 20, 4, 16
N_EXTRA_MASKED = 4  # extra -100 positions per step, besides the last column

PEAK_LR, MIN_LR, WARMUP, TOTAL = 3e-3, 3e-4, 4, 20
BETAS, EPS = (0.9, 0.95), 1e-8
WEIGHT_DECAY = 0.1
CLIP = 1.0
INIT_STD = 0.05  # weights normal(0, 0.05), norms 1 + normal(0, 0.1)


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


def manual_replay(cfg, init_state, input_ids, targets):
    model = LlamaForCausalLM(cfg)
    model.load_state_dict(init_state)
    model.set_attn_implementation("eager")
    params = dict(model.named_parameters())
    wd = {n: (WEIGHT_DECAY if p.dim() == 2 and n != "model.embed_tokens.weight" else 0.0) for n, p in params.items()}
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
                p.mul_(1.0 - lr * wd[n])
                m[n] = b1 * m[n] + (1 - b1) * gr
                v[n] = b2 * v[n] + (1 - b2) * gr * gr
                denom = v[n].sqrt() / math.sqrt(1 - b2 ** t) + EPS
                p.sub_(lr / (1 - b1 ** t) * m[n] / denom)
    return {n: p.detach().clone() for n, p in params.items()}


def build(out_dir):
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(SEED)
    cfg = LlamaConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        intermediate_size=64, vocab_size=64, tie_word_embeddings=False,
        max_position_embeddings=64, rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        rms_norm_eps=1e-5, attention_bias=False, mlp_bias=False, hidden_act="silu",
        bos_token_id=None, eos_token_id=None, pad_token_id=None,
    )
    model = LlamaForCausalLM(cfg)
    g = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n.endswith("norm.weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(INIT_STD * torch.randn(p.shape, generator=g))
    model.set_attn_implementation("eager")
    model.train()  # attention_dropout is 0: train mode is deterministic

    V = cfg.vocab_size
    # "noisy bigram" token streams: next = PERM[cur] with probability 3/4, else uniform
    # random; learnable, so the loss visibly decreases over the 20 steps
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

    case_dir = os.path.join(out_dir, "adamw_tiny")
    if os.path.isdir(case_dir):
        shutil.rmtree(case_dir)
    os.makedirs(case_dir)
    model.save_pretrained(case_dir, safe_serialization=True)

    names = [n for n, _ in model.named_parameters()]
    decay = [p for n, p in model.named_parameters() if p.dim() == 2 and n != "model.embed_tokens.weight"]
    no_decay = [p for n, p in model.named_parameters() if not (p.dim() == 2 and n != "model.embed_tokens.weight")]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": WEIGHT_DECAY}, {"params": no_decay, "weight_decay": 0.0}],
        lr=PEAK_LR, betas=BETAS, eps=EPS, amsgrad=False, foreach=False, fused=False,
    )

    init_state = {n: t.detach().clone() for n, t in model.state_dict().items()}
    losses, lrs, norms, grad0 = [], [], [], {}
    for s in range(STEPS):
        lr = lr_at(s)
        for group in opt.param_groups:
            group["lr"] = lr
        opt.zero_grad(set_to_none=True)
        logits = model(input_ids=input_ids[s], use_cache=False).logits
        loss = masked_ce(logits, targets[s])
        loss.backward()
        if s == 0:
            grad0 = {f"grad0.{n}": p.grad.detach().clone() for n, p in model.named_parameters()}
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        opt.step()
        losses.append(loss.item())
        lrs.append(lr)
        norms.append(norm.item())
        print(f"step {s:2d} lr={lr:.6e} loss={loss.item():.6f} grad_norm={norm.item():.4f}"
              f"{'  (clipped)' if norm.item() > CLIP else ''}")

    # Self-check: replay the run with the clipping and AdamW update written out by hand
    # (the formulas documented in tests/golden/README.md) and compare.
    final = {n: p.detach().clone() for n, p in model.named_parameters()}
    replay = manual_replay(cfg, init_state, input_ids, targets)
    worst = max(((replay[n] - final[n]).abs().max() / final[n].abs().max()).item() for n in final)
    print(f"manual AdamW replay vs torch.optim.AdamW: max rel diff {worst:.2e}")
    assert worst < 1e-4, worst

    tensors = {
        "input_ids": input_ids.to(torch.int32),
        "targets": targets.to(torch.int32),
        "loss": torch.tensor(losses, dtype=torch.float64),
        "lr": torch.tensor(lrs, dtype=torch.float64),
        "grad_norm": torch.tensor(norms, dtype=torch.float64),
    }
    tensors.update({k: v.contiguous() for k, v in grad0.items()})
    tensors.update({f"final.{n}": p.detach().clone().contiguous() for n, p in model.named_parameters()})
    assert len(names) == len(grad0)
    save_file(tensors, os.path.join(case_dir, "golden.safetensors"),
              metadata={"generator": f"tools/make_golden_train.py torch={torch.__version__} "
                                     f"transformers={transformers.__version__}"})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--out", default=os.path.join(root, "tests", "golden", "train"))
    ap.add_argument("--check", action="store_true", help="regenerate in a temp dir and compare with --out")
    args = ap.parse_args()
    target = tempfile.mkdtemp() if args.check else args.out
    os.makedirs(target, exist_ok=True)
    build(target)
    if args.check:
        d = os.path.join(target, "adamw_tiny")
        bad = [f for f in sorted(os.listdir(d))
               if not filecmp.cmp(os.path.join(d, f), os.path.join(args.out, "adamw_tiny", f), shallow=False)]
        shutil.rmtree(target)
        if bad:
            print("DIFFERENT:", *bad)
            sys.exit(1)
        print("identical to", args.out)


if __name__ == "__main__":
    main()

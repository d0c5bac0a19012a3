#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Writes tests/golden/optim/optim_golden.json: torch.optim.AdamW / SGD and clip_grad_norm_ runs that
# tests/optim/ replays in C++. Run from the project root: python3 tools/make_golden_optim.py
"""Each case: a few small float64 parameters (two parameter groups with different weight decay and lr
scale), 10 steps with a changing learning rate and a fresh random gradient per step (stored), and the
expected parameters after every step. AdamW cases optionally clip gradients (clip_grad_norm_) before the
step and store the pre-clip norm. Every case is run twice: in float64 (`expected`) and in float32 from the
same float32-rounded inputs (`expected_f32`, final step only), so the C++ side checks both precisions.

JSON floats are written with repr(), which round-trips float64 exactly."""
import json
import math
import os
import sys

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden", "optim", "optim_golden.json")
STEPS = 10
SHAPES = [("model.layers.0.mlp.up_proj.weight", [4, 3]),
          ("model.layers.0.input_layernorm.weight", [5]),
          ("model.embed_tokens.weight", [2, 2, 3])]
GROUP_OF = [0, 1, 0]  # parameter -> group index


def flat(t):
    return [float(x) for x in t.detach().reshape(-1).tolist()]


def lr_at(step, peak):
    # an arbitrary changing schedule (warmup then decay), so the C++ side must honour the per-step lr
    return peak * (step + 1) / 3 if step < 3 else peak * (0.5 + 0.5 * math.cos(math.pi * (step - 3) / 7))


def make_inputs(seed):
    g = torch.Generator().manual_seed(seed)
    init = [torch.randn(s, generator=g, dtype=torch.float64) for _, s in SHAPES]
    grads = [[torch.randn(s, generator=g, dtype=torch.float64) * (0.5 + i) for i, (_, s) in enumerate(SHAPES)]
             for _ in range(STEPS)]
    # make a few steps' gradients large, so clipping (max_norm 1) alternates between active and inactive
    for k in (1, 4, 5):
        grads[k] = [x * 0.05 for x in grads[k]]
    return init, grads


def run(kind, opts, groups, peak, clip, dtype, init, grads):
    params = [torch.nn.Parameter(x.clone().to(dtype)) for x in init]
    torch_groups = []
    for gi, grp in enumerate(groups):
        members = [p for p, gidx in zip(params, GROUP_OF) if gidx == gi]
        torch_groups.append({"params": members, "weight_decay": grp["weight_decay"], "lr": peak})
    if kind == "adamw":
        opt = torch.optim.AdamW(torch_groups, lr=peak, betas=(opts["beta1"], opts["beta2"]), eps=opts["eps"],
                                foreach=False)
    else:
        opt = torch.optim.SGD(torch_groups, lr=peak, momentum=opts["momentum"], dampening=opts["dampening"],
                              nesterov=opts["nesterov"], foreach=False)
    expected, norms, lrs = [], [], []
    for step in range(STEPS):
        lr = lr_at(step, peak)
        lrs.append(lr)
        for gi, grp in enumerate(groups):
            opt.param_groups[gi]["lr"] = lr * grp["lr_scale"]
        for p, g in zip(params, grads[step]):
            p.grad = g.clone().to(dtype)
        if clip is not None:
            norms.append(float(torch.nn.utils.clip_grad_norm_(params, clip, foreach=False)))
        opt.step()
        expected.append([flat(p) for p in params])
    return expected, norms, lrs


def case(name, kind, opts, groups, peak, clip, seed):
    init, grads = make_inputs(seed)
    expected, norms, lrs = run(kind, opts, groups, peak, clip, torch.float64, init, grads)
    init32 = [x.to(torch.float32).to(torch.float64) for x in init]
    grads32 = [[x.to(torch.float32).to(torch.float64) for x in gs] for gs in grads]
    expected32, norms32, _ = run(kind, opts, groups, peak, clip, torch.float32, init32, grads32)
    c = {"name": name, "kind": kind, "options": opts, "groups": groups, "max_norm": clip, "lr": lrs,
         "params": [{"name": n, "shape": s, "group": gi, "init": flat(x)} for (n, s), gi, x in
                    zip(SHAPES, GROUP_OF, init)],
         "grads": [[flat(x) for x in gs] for gs in grads],
         "expected": expected, "expected_f32_final": expected32[-1]}
    if clip is not None:
        c["norms"] = norms
        c["norms_f32"] = norms32
    return c


def main():
    torch.set_num_threads(1)
    two_groups = [{"lr_scale": 1.0, "weight_decay": 0.1}, {"lr_scale": 0.5, "weight_decay": 0.0}]
    # torch's param groups have no lr scale: run() sets each group's lr to lr * lr_scale every step.
    cases = [
        case("adamw_default", "adamw", {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8}, two_groups, 1e-2, None, 1),
        case("adamw_betas_clip", "adamw", {"beta1": 0.8, "beta2": 0.95, "eps": 1e-6}, two_groups, 3e-2, 1.0, 2),
        case("sgd_momentum", "sgd", {"momentum": 0.9, "dampening": 0.0, "nesterov": False, "weight_decay": 0.01},
             [{"lr_scale": 1.0, "weight_decay": 0.01}, {"lr_scale": 2.0, "weight_decay": 0.0}], 5e-2, None, 3),
        case("sgd_nesterov", "sgd", {"momentum": 0.9, "dampening": 0.0, "nesterov": True, "weight_decay": 0.01},
             [{"lr_scale": 1.0, "weight_decay": 0.01}, {"lr_scale": 1.0, "weight_decay": 0.01}], 5e-2, 0.5, 4),
        case("sgd_dampening_plain", "sgd", {"momentum": 0.5, "dampening": 0.25, "nesterov": False,
                                            "weight_decay": 0.0},
             [{"lr_scale": 1.0, "weight_decay": 0.0}, {"lr_scale": 1.0, "weight_decay": 0.0}], 1e-1, None, 5),
    ]
    doc = {"generator": "tools/make_golden_optim.py", "torch": torch.__version__, "steps": STEPS, "cases": cases}
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {os.path.relpath(OUT)}: {os.path.getsize(OUT)} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Times one fp32 training step (forward, backward, clip, AdamW) of the `small_20m` LLaMA on the CPU in
PyTorch (transformers' LlamaForCausalLM, eager attention) and in pmc (build/release/bench/train_bench), in the
same run, with the same config, batch and thread count, and prints tokens/s for each and the ratio.

    python3 tools/bench_train_cpu.py [--threads 2] [--steps 10] [--pmc build/release/bench/train_bench] [--gemm]
                                     [--peak] [--eigen] [--bf16]

--peak also measures the CPU's FMA peak (bench/layers_bench's PeakFma) and puts both steps against it: the
step's model FLOPs per token (every GEMM of forward and backward, attention over the full T x T square as both
implementations compute it) times tokens/s, as a share of the peak, and the share that 1.5x PyTorch would need.
--eigen also times pmc with Eigen's GEMM (PMC_CPU_GEMM=eigen) where pmc's own GEMM (AVX-512 or AVX2) is compiled in.
--bf16 times bf16 mixed precision instead: pmc's bf16 step against its fp32 step and PyTorch's CPU autocast.
"""
import argparse
import json
import subprocess
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM

# pmc::llama::small_20m (include/pmc/models/llama/config.hpp)
CONFIG = dict(hidden_size=384, num_hidden_layers=8, num_attention_heads=6, num_key_value_heads=6,
              intermediate_size=1024, vocab_size=8000, max_position_embeddings=512, rms_norm_eps=1e-5,
              rope_theta=1e4, tie_word_embeddings=False, attention_bias=False, mlp_bias=False)
B, T = 8, 256


def torch_tokens_per_s(threads: int, steps: int, bf16: bool = False) -> float:
    """tokens/s of the PyTorch step; bf16: the forward (and so its backward) under torch.autocast("cpu",
    dtype=torch.bfloat16), fp32 weights and AdamW, the loss in fp32: PyTorch's CPU mixed precision."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(**CONFIG, attn_implementation="eager")).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.0)
    ids = torch.randint(0, CONFIG["vocab_size"], (B, T))
    targets = torch.randint(0, CONFIG["vocab_size"], (B, T))

    def step():
        opt.zero_grad(set_to_none=False)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(input_ids=ids).logits
        loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, CONFIG["vocab_size"]), targets.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return B * T * steps / (time.perf_counter() - t0)


def run_json(argv: list[str], threads: int, eigen: bool) -> dict:
    """A pmc benchmark's JSON output; eigen=True runs float products on Eigen's GEMM (PMC_CPU_GEMM=eigen)."""
    env = {"OMP_NUM_THREADS": str(threads)}
    if eigen:
        env["PMC_CPU_GEMM"] = "eigen"
    return json.loads(subprocess.run(argv + ["--benchmark_format=json"], check=True, capture_output=True, text=True,
                                     env=env).stdout)


def pmc_tokens_per_s(binary: str, threads: int, eigen: bool = False, bf16: bool = False) -> tuple[float, str]:
    """tokens/s of pmc's step (fp32, or bf16 mixed precision), and the GEMM it ran on (the benchmark's `cpu_gemm`
    or `cpu_bf16_gemm` context)."""
    out = run_json([binary, f"--benchmark_filter=small_20m/{'bf16' if bf16 else 'fp32'}/[0-9]"], threads, eigen)
    return out["benchmarks"][0]["tokens_per_s"], out["context"].get("cpu_bf16_gemm" if bf16 else "cpu_gemm", "Eigen")


def gemm_gflops(binary_dir: str, threads: int, with_eigen: bool) -> None:
    """The GEMM under both steps, like for like: a linear layer forward (x·Wᵀ) at 512 × 4096 × 4096 in torch
    (MKL here) and in pmc (bench/layers_bench: its default GEMM, and Eigen's with --eigen), GFLOP/s."""
    torch.set_num_threads(threads)
    m, k, n = 512, 4096, 4096
    x, w = torch.randn(m, k), torch.randn(n, k)
    for _ in range(3):
        x @ w.t()
    reps = 10
    t0 = time.perf_counter()
    for _ in range(reps):
        x @ w.t()
    torch_rate = 2 * m * k * n * reps / (time.perf_counter() - t0) / 1e9
    blas = "MKL" if "Math Kernel Library" in torch.__config__.show() else "its BLAS"
    argv = [f"{binary_dir}/layers_bench", "--benchmark_filter=LinearForward/tokens:512/out:4096/threads:0",
            "--benchmark_min_time=1"]
    for eigen in ([False, True] if with_eigen else [False]):
        out = run_json(argv, threads, eigen)
        pmc_rate = out["benchmarks"][0]["FLOP/s"] / 1e9
        print(f"linear forward 512 x 4096 x 4096, {threads} threads: pmc ({out['context'].get('cpu_gemm', 'Eigen')}) "
              f"{pmc_rate:.0f} GFLOP/s, torch ({blas}) {torch_rate:.0f} GFLOP/s, ratio {pmc_rate / torch_rate:.2f}x")


def step_flops_per_token() -> float:
    """FLOPs per token of one training step: 6 per weight of every GEMM (forward, grad input, grad weight:
    q, k, v, o, gate, up, down and the output head) and 3 x 4·T·D per layer for attention (QKᵀ and PV forward,
    four products backward) over the full T x T square. Norms, RoPE, softmax and AdamW are left out (well under 1%)."""
    d, f, v, layers = CONFIG["hidden_size"], CONFIG["intermediate_size"], CONFIG["vocab_size"], CONFIG["num_hidden_layers"]
    gemm_weights = layers * (4 * d * d + 3 * d * f) + d * v
    return 6.0 * gemm_weights + 3 * layers * 4.0 * T * d


def peak_gflops(binary_dir: str, threads: int, gemm: str) -> tuple[float, int]:
    """The CPU's FMA peak in GFLOP/s at the widest vector width it has (layers_bench skips 512 bits on a CPU
    without AVX-512), or at 256 bits where pmc's step ran its AVX2 GEMM (a build with -mno-avx512f), and that width."""
    out = subprocess.run([f"{binary_dir}/layers_bench", f"--benchmark_filter=PeakFma/bits:(256|512)/threads:{threads}/",
                          "--benchmark_format=json"], check=True, capture_output=True, text=True,
                         env={"OMP_NUM_THREADS": str(threads)}).stdout
    ran = [b for b in json.loads(out)["benchmarks"] if not b.get("error_occurred")]
    if gemm == "own AVX2":
        ran = [b for b in ran if "bits:256/" in b["name"]]
    best = max(ran, key=lambda b: int(b["name"].split("bits:")[1].split("/")[0]))
    return best["FLOP/s"] / 1e9, int(best["name"].split("bits:")[1].split("/")[0])


def bf16_comparison(binary: str, threads: int, steps: int) -> None:
    """pmc fp32, pmc bf16, torch fp32, torch bf16 (autocast), twice in that order; tokens/s of each run and the
    ratios of the better run of each."""
    runs: dict[str, list[float]] = {"pmc fp32": [], "pmc bf16": [], "torch fp32": [], "torch bf16 autocast": []}
    gemm = ""
    for _ in range(2):
        runs["pmc fp32"].append(pmc_tokens_per_s(binary, threads)[0])
        rate, gemm = pmc_tokens_per_s(binary, threads, bf16=True)
        runs["pmc bf16"].append(rate)
        runs["torch fp32"].append(torch_tokens_per_s(threads, steps))
        runs["torch bf16 autocast"].append(torch_tokens_per_s(threads, steps, bf16=True))
    print(f"small_20m training step, batch {B} x {T}, {threads} threads (torch {torch.__version__}; pmc bf16 products "
          f"on {gemm})")
    for name, r in runs.items():
        print(f"  {name:20s} " + ", ".join(f"{v:7.0f}" for v in r) + " tokens/s")
    best = {k: max(v) for k, v in runs.items()}
    print(f"  pmc bf16 / pmc fp32             {best['pmc bf16'] / best['pmc fp32']:.2f}x")
    print(f"  pmc bf16 / torch bf16 autocast  {best['pmc bf16'] / best['torch bf16 autocast']:.2f}x")
    print(f"  torch bf16 autocast / torch fp32 {best['torch bf16 autocast'] / best['torch fp32']:.2f}x")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--pmc", default="build/release/bench/train_bench")
    p.add_argument("--gemm", action="store_true", help="also compare one GEMM (pmc's vs torch's BLAS)")
    p.add_argument("--peak", action="store_true", help="also put both steps against the CPU's FMA peak")
    p.add_argument("--eigen", action="store_true",
                   help="also time pmc with Eigen's GEMM (PMC_CPU_GEMM=eigen), where its own GEMM is the default")
    p.add_argument("--bf16", action="store_true",
                   help="bf16 mixed precision instead: pmc's bf16 step (and its fp32 step) against PyTorch's autocast, "
                        "the two alternating twice")
    a = p.parse_args()
    if a.bf16:
        return bf16_comparison(a.pmc, a.threads, a.steps)
    if a.gemm:
        gemm_gflops(a.pmc.rsplit("/", 1)[0], a.threads, a.eigen)
    pmc, gemm = pmc_tokens_per_s(a.pmc, a.threads)
    pmc_eigen = pmc_tokens_per_s(a.pmc, a.threads, eigen=True)[0] if a.eigen and gemm != "Eigen" else None
    pt = torch_tokens_per_s(a.threads, a.steps)
    print(f"small_20m fp32 training step, batch {B} x {T}, {a.threads} threads "
          f"(torch {torch.__version__}, {torch.get_num_threads()} threads)")
    print(f"  {'pmc (' + gemm + ')':20s} {pmc:8.0f} tokens/s")
    if pmc_eigen is not None:
        print(f"  {'pmc (Eigen)':20s} {pmc_eigen:8.0f} tokens/s")
    print(f"  {'pytorch':20s} {pt:8.0f} tokens/s")
    print(f"  {'ratio':20s} {pmc / pt:8.2f}x")
    if pmc_eigen is not None:
        print(f"  ratio with Eigen's GEMM {pmc_eigen / pt:.2f}x; pmc's GEMM over Eigen's in the step {pmc / pmc_eigen:.2f}x")
    if a.peak:
        peak, bits = peak_gflops(a.pmc.rsplit("/", 1)[0], a.threads, gemm)
        flops = step_flops_per_token()
        print(f"FMA peak ({bits}-bit, {a.threads} threads) {peak:.1f} GFLOP/s; {flops / 1e6:.1f} MFLOP per token per step")
        for name, rate in (("pmc", pmc), ("pytorch", pt)):
            print(f"  {name:8s} {rate * flops / 1e9:6.1f} GFLOP/s = {100 * rate * flops / 1e9 / peak:5.1f}% of peak")
        print(f"  1.5x pytorch would need {100 * 1.5 * pt * flops / 1e9 / peak:5.1f}% of peak")


if __name__ == "__main__":
    main()

// SPDX-License-Identifier: MIT
// cuBLASLt GEMM throughput at LLaMA-7B linear-layer shapes (bf16 in, fp32 accumulate), for the forward
// (x · Wᵀ), the input gradient (dY · W) and the weight gradient (dYᵀ · X). Reports TFLOP/s and the
// fraction of --peak_tflops (default: H100 SXM dense bf16).
//   ./bench/cuda_gemm_bench --benchmark_filter=Qkv --peak_tflops=312   # an A100
#include "bench_util.hpp"

namespace {

using pmc::bf16;
using pmc::Cuda;
using pmc::Tensor;

enum Pass : int { kForward = 0, kGradInput = 1, kGradWeight = 2 };

/// Args: tokens M, out features N, in features K, pass. Forward y(M,N) = x(M,K) · W(N,K)ᵀ.
void BM_Gemm_Bf16(benchmark::State& state) {
  if (!pmc::bench::have_device(state)) return;
  const std::int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  const auto pass = static_cast<Pass>(state.range(3));
  Tensor<bf16, Cuda> x({m, k}), w({n, k}), y({m, n});
  auto once = [&] {
    if (pass == kForward) pmc::ops::Matmul<Cuda>::forward(x, w, y, false, true);          // y = x Wᵀ
    else if (pass == kGradInput) pmc::ops::Matmul<Cuda>::forward(y, w, x, false, false);  // dx = dy W
    else pmc::ops::Matmul<Cuda>::forward(y, x, w, true, false);                           // dW = dyᵀ x
  };
  once();  // builds the plan (heuristic) and the workspace outside the timing
  pmc::cuda::synchronize();
  for (auto _ : state) state.SetIterationTime(pmc::bench::time_on_gpu(once));
  const double flops = 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  state.counters["TFLOP/s"] = benchmark::Counter(flops * 1e-12, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["peak_frac"] = benchmark::Counter(flops * 1e-12 / pmc::bench::peak_tflops(),
                                                   benchmark::Counter::kIsIterationInvariantRate);
}

// LLaMA-7B: D = 4096, F = 11008, V = 32000; 4096 tokens (e.g. 2 sequences of 2048).
void llama_7b_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"M", "N", "K", "pass"});
  const std::int64_t tokens = 4096;
  for (int pass : {kForward, kGradInput, kGradWeight}) {
    b->Args({tokens, 3 * 4096, 4096, pass});  // fused q, k, v projection
    b->Args({tokens, 4096, 4096, pass});      // attention output projection
    b->Args({tokens, 2 * 11008, 4096, pass}); // fused gate and up projections
    b->Args({tokens, 4096, 11008, pass});     // down projection
    b->Args({tokens, 32000, 4096, pass});     // LM head
  }
}
BENCHMARK(BM_Gemm_Bf16)->Apply(llama_7b_shapes)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace

PMC_CUDA_BENCHMARK_MAIN();

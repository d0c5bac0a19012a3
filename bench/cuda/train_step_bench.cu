// SPDX-License-Identifier: MIT
// A whole training step of a ~1.1B LLaMA (llama_1b: TinyLlama's shape, grouped-query attention) on the GPU,
// through the same Model and autograd as on the CPU: bf16 forward and backward, the bf16 gradients added into
// fp32 master gradients, global-norm clipping, AdamW on fp32 masters, and the masters rounded back into the
// bf16 model (PMC-LLaMA's recipe). Reports tokens/s, TFLOP/s and MFU (6·N·P + 12·N·T·D·L model FLOPs).
//   build/cuda/bench/cuda_train_step_bench [--peak_tflops=989]
#include "bench_util.hpp"

#include <random>
#include <vector>

#include <pmc/optim/adamw.hpp>
#include <pmc/optim/grad_accumulation.hpp>
#include <pmc/optim/grad_clip.hpp>
#include <pmc/optim/precision.hpp>

namespace {

using pmc::bf16;
using pmc::Cuda;
constexpr pmc::llama::Config C = pmc::llama::llama_1b;

/// Args: batch B, sequence T, recompute (0/1).
void BM_TrainStep_Llama1b_Bf16Mixed(benchmark::State& state) {
  if (!pmc::bench::have_device(state)) return;
  const std::int64_t B = state.range(0), T = state.range(1);
  pmc::llama::Model<C, bf16, Cuda> model;
  model.init_random(1);
  model.set_recompute(state.range(2) != 0);
  std::vector<pmc::optim::Param<bf16, Cuda>> params;
  for (const auto& p : model.named_parameters())
    params.push_back({p.name, p.var.value(), p.var.state()->grad_buffer(), 0});
  pmc::optim::MasterWeights<pmc::optim::Bf16Mixed, Cuda> masters(params);
  pmc::optim::AdamW<float, Cuda> adamw({.beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8},
                                       pmc::optim::no_decay_for_norms_and_embeddings(masters.params(), 0.0));
  std::mt19937 rng(2);
  pmc::Tensor<std::int32_t> tokens({B, T}), targets({B, T});
  for (auto& t : tokens.span()) t = static_cast<std::int32_t>(rng() % C.vocab_size);
  for (auto& t : targets.span()) t = static_cast<std::int32_t>(rng() % C.vocab_size);
  const auto tokens_d = pmc::cuda::to_device(tokens), targets_d = pmc::cuda::to_device(targets);
  auto step = [&] {
    pmc::optim::GradAccumulator<float, Cuda> acc(masters.params());
    acc.begin(B * T);
    model.zero_grad();
    pmc::autograd::backward(model.loss(tokens_d, targets_d));
    acc.add(params, B * T);
    acc.finish();
    pmc::optim::clip_grad_norm(masters.params(), 1.0);
    adamw.step(masters.params(), 2e-5);
    masters.write_back();
  };
  step();  // warm-up: GEMM plans, the allocator's cache, optimizer state
  pmc::cuda::synchronize();
  for (auto _ : state) state.SetIterationTime(pmc::bench::time_on_gpu(step));
  const double n = static_cast<double>(B * T);
  const double matmul_params = static_cast<double>(C.parameters()) - static_cast<double>(C.vocab_size) * C.dim;
  const double flops = 6.0 * n * matmul_params + 12.0 * n * static_cast<double>(T) * C.dim * C.n_layers;
  state.counters["tokens/s"] = benchmark::Counter(n, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["TFLOP/s"] = benchmark::Counter(flops * 1e-12, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["MFU"] = benchmark::Counter(flops * 1e-12 / pmc::bench::peak_tflops(),
                                             benchmark::Counter::kIsIterationInvariantRate);
  state.counters["peak_GiB"] =
      static_cast<double>(pmc::cuda::allocator_stats().peak_in_use) / static_cast<double>(1 << 30);
}
BENCHMARK(BM_TrainStep_Llama1b_Bf16Mixed)
    ->ArgNames({"B", "T", "recompute"})
    ->Args({4, 1024, 0})
    ->Args({8, 1024, 1})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

PMC_CUDA_BENCHMARK_MAIN();

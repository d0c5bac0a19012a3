// SPDX-License-Identifier: MIT
// A LoRA training step (forward, backward through the frozen base, clipping, AdamW on the adapters) of a
// 7B-shaped LLaMA on the CPU, bf16 mixed precision, with its base in bf16, int8 or NF4: seconds per step and the
// measured peak of memory (pmc's allocator: weights, adapters, optimizer state and every activation) against
// `pmc plan`'s figure for the same settings (llama::plan_memory), in the same run.
//   build/release/bench/lora_bench --benchmark_filter=llama_7b/bf16     # ~14 GB; ~1 min a step on 2 cores
//   build/release/bench/lora_bench --benchmark_filter=small_20m         # seconds
// Weights are bench::fill_weights' cheap pattern (speed and memory do not depend on their values).
#include <benchmark/benchmark.h>

#include <sys/resource.h>

#include <cstdint>
#include <filesystem>
#include <random>

#include <pmc/pmc.hpp>

#include "fill_weights.hpp"

namespace {

using namespace pmc;

double max_rss_bytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) * 1024.0;
}

/// args: sequence length, LoRA rank (0: full training, the reference), base (0: bf16, 1: int8, 2: nf4),
/// recompute (0/1).
template <const llama::Config& C>
void BM_LoraStep(benchmark::State& state) {
  const std::int64_t T = state.range(0), B = 1;
  const auto quant = std::array{llama::BaseQuant::none, llama::BaseQuant::int8, llama::BaseQuant::nf4}
      [static_cast<std::size_t>(state.range(2))];
  const bool recompute = state.range(3) != 0;
  llama::LoraConfig lora;
  lora.rank = static_cast<int>(state.range(1));
  lora.alpha = 2.0 * lora.rank;
  lora.targets = llama::parse_lora_targets("all");
  llama::Model<llama::dynamic, bf16> model(C, true);
  bench::fill_weights(model, 0.02f);
  const bool full = lora.rank == 0;
  if (!full) {
    model.add_lora(lora, 1);
    model.quantize_base(quant);
  }
  const auto dir = std::filesystem::temp_directory_path() / "pmc_lora_bench";
  std::filesystem::create_directories(dir);
  data::write_token_file(dir / "t.tokens", {std::vector<std::int32_t>(static_cast<std::size_t>(T + 2), 1)}, C.vocab_size);
  const auto tf = data::TokenFile::open(dir / "t.tokens");
  train::TrainOptions o;
  o.seq_len = T;
  o.batch = B;
  o.steps = 1 << 20;
  o.lr = 1e-4;
  o.out_dir = dir / "run";
  o.progress = false;
  o.recompute = recompute;
  std::filesystem::remove_all(o.out_dir);
  train::Trainer trainer(model, tf, nullptr, o);
  std::mt19937 rng(3);
  std::uniform_int_distribution<std::int32_t> tok(0, C.vocab_size - 1);
  data::Batch b{Tensor<std::int32_t>({B, T}), Tensor<std::int32_t>({B, T}), B * T};
  for (auto& t : b.tokens.span()) t = tok(rng);
  for (auto& t : b.targets.span()) t = tok(rng);
  // what stays between steps (weights, adapters, masters, gradients, AdamW state) is allocated by the first step
  Allocator<Cpu>::reset_peak_bytes();
  trainer.train_step_on({b});
  std::int64_t peak = Allocator<Cpu>::peak_bytes();
  for (auto _ : state) {
    Allocator<Cpu>::reset_peak_bytes();
    benchmark::DoNotOptimize(trainer.train_step_on({b}).loss);
    peak = std::max(peak, Allocator<Cpu>::peak_bytes());
  }
  llama::PlanOptions po;
  po.dtype = llama::PlanDtype::bf16;
  po.batch = B;
  po.seq = T;
  po.recompute = recompute;
  if (!full) po.lora = lora;
  po.base_quant = full ? llama::BaseQuant::none : quant;
  const auto plan = llama::plan_memory(C, po);
  state.counters["tokens_per_s"] = benchmark::Counter(static_cast<double>(B * T), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["peak_GB"] = static_cast<double>(peak) / 1e9;
  state.counters["plan_GB"] = static_cast<double>(plan.total_bytes()) / 1e9;
  state.counters["peak_over_plan"] = static_cast<double>(peak) / static_cast<double>(plan.total_bytes());
  state.counters["max_rss_GB"] = max_rss_bytes() / 1e9;
  state.counters["trainable"] = static_cast<double>(plan.trainable);
}

constexpr const llama::Config& k7b = llama::llama_7b;
constexpr const llama::Config& k20m = llama::small_20m;

// {seq, rank, base (0 bf16, 1 int8, 2 nf4), recompute}
BENCHMARK(BM_LoraStep<k7b>)->Name("BM_LoraStep/llama_7b/bf16")->Args({256, 16, 0, 1})
    ->Unit(benchmark::kSecond)->UseRealTime()->Iterations(1);
BENCHMARK(BM_LoraStep<k7b>)->Name("BM_LoraStep/llama_7b/nf4")->Args({256, 16, 2, 1})
    ->Unit(benchmark::kSecond)->UseRealTime()->Iterations(1);
BENCHMARK(BM_LoraStep<k20m>)->Name("BM_LoraStep/small_20m")->Args({256, 0, 0, 0})->Args({256, 16, 0, 0})
    ->Args({256, 16, 1, 0})->Args({256, 16, 2, 0})->Args({256, 0, 0, 1})->Args({256, 16, 0, 1})->Args({256, 16, 2, 1})
    ->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

}  // namespace

BENCHMARK_MAIN();

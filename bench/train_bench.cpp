// SPDX-License-Identifier: MIT
// One training step (forward, backward, clipping, AdamW) of a LLaMA on the CPU in fp32 (and in bf16 mixed
// precision): tokens/s. The same
// step in PyTorch, same config, threads and batch, is timed by tools/bench_train_cpu.py, which runs both.
// Each config runs twice: as a static config (Model<C>: sizes known to the compiler) and as a run-time one
// (Model<dynamic>, as the pmc program runs every checkpoint), to show what the static sizes gain.
//   build/release/bench/train_bench --benchmark_filter=small_20m
#include <benchmark/benchmark.h>

#include <filesystem>
#include <random>

#include <pmc/pmc.hpp>

namespace {

template <pmc::llama::Config C, bool kRunTimeConfig, class T_ = float>
void BM_TrainStep(benchmark::State& state) {
  const std::int64_t B = state.range(0), T = state.range(1);
  pmc::llama::Model<kRunTimeConfig ? pmc::llama::dynamic : C, T_> model(C, true);
  model.init_random(1);
  // the trainer needs a token file; batches here are random tokens made directly
  const auto dir = std::filesystem::temp_directory_path() / "pmc_train_bench";
  std::filesystem::create_directories(dir);
  pmc::data::write_token_file(dir / "t.tokens", {std::vector<std::int32_t>(static_cast<std::size_t>(T + 2), 1)},
                              C.vocab_size);
  const auto tf = pmc::data::TokenFile::open(dir / "t.tokens");
  pmc::train::TrainOptions o;
  o.seq_len = T;
  o.batch = B;
  o.steps = 1 << 20;
  o.lr = 1e-4;
  o.out_dir = dir / "run";
  o.progress = false;
  pmc::train::Trainer trainer(model, tf, nullptr, o);
  std::mt19937 rng(3);
  std::uniform_int_distribution<std::int32_t> tok(0, C.vocab_size - 1);
  pmc::data::Batch b{pmc::Tensor<std::int32_t>({B, T}), pmc::Tensor<std::int32_t>({B, T}), B * T};
  for (auto& t : b.tokens.span()) t = tok(rng);
  for (auto& t : b.targets.span()) t = tok(rng);
  trainer.train_step_on({b});  // warm-up: allocates gradients and optimizer state
  for (auto _ : state) benchmark::DoNotOptimize(trainer.train_step_on({b}).loss);
  state.counters["tokens_per_s"] =
      benchmark::Counter(static_cast<double>(B * T), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["params"] = static_cast<double>(C.parameters());
}

BENCHMARK(BM_TrainStep<pmc::llama::small_20m, false>)->Name("BM_TrainStep/small_20m/fp32")->Args({8, 256})
    ->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(5.0);
BENCHMARK(BM_TrainStep<pmc::llama::small_20m, true>)->Name("BM_TrainStep/small_20m/fp32/run_time_config")
    ->Args({8, 256})->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(5.0);
BENCHMARK(BM_TrainStep<pmc::llama::demo, false>)->Name("BM_TrainStep/demo/fp32")->Args({16, 128})
    ->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);
// bf16 mixed precision (the Trainer's optim::Bf16Mixed): bf16 products on the GEMM that cpu_bf16_gemm names
// (PMC_CPU_GEMM=avx512 or avx2 widens bf16 onto the float kernels, eigen stages it to float, to compare in one build).
BENCHMARK(BM_TrainStep<pmc::llama::small_20m, false, pmc::bf16>)->Name("BM_TrainStep/small_20m/bf16")
    ->Args({8, 256})->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(5.0);
BENCHMARK(BM_TrainStep<pmc::llama::demo, false, pmc::bf16>)->Name("BM_TrainStep/demo/bf16")->Args({16, 128})
    ->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_TrainStep<pmc::llama::demo, true>)->Name("BM_TrainStep/demo/fp32/run_time_config")->Args({16, 128})
    ->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

/// Records in the output which GEMM float products ran on (`PMC_CPU_GEMM=eigen` selects Eigen's).
[[maybe_unused]] const bool gemm_context =
    (benchmark::AddCustomContext("cpu_gemm", pmc::backends::cpu::float_gemm_name()),
     benchmark::AddCustomContext("cpu_bf16_gemm", pmc::backends::cpu::bf16_gemm_name()), true);

}  // namespace

BENCHMARK_MAIN();

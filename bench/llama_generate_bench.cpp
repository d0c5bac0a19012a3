// SPDX-License-Identifier: MIT
// Generation on the CPU with random weights: tokens/s and peak memory for llama_7b in bf16 (does it fit in
// this machine's 24 GiB, and how close is `pmc plan --inference`?) and for small configs in float32.
//   build/release/bench/llama_generate_bench --benchmark_filter=7b
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdint>
#include <vector>

#include <pmc/models/llama/generate.hpp>
#include <pmc/models/llama/memory_plan.hpp>
#include <pmc/pmc.hpp>

#include "fill_weights.hpp"

namespace {

double peak_rss_bytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) * 1024.0;  // Linux reports KiB
}

using pmc::bench::fill_weights;

/// kRunTimeConfig: the same model as Model<dynamic> (as the pmc program runs it) instead of Model<C>.
template <pmc::llama::Config C, class T, bool kRunTimeConfig = false>
void BM_Generate(benchmark::State& state) {
  const int prompt_len = static_cast<int>(state.range(0));
  const int new_tokens = static_cast<int>(state.range(1));
  pmc::llama::Model<kRunTimeConfig ? pmc::llama::dynamic : C, T> model(C, false);
  fill_weights(model, 0.02f);
  std::vector<std::int32_t> prompt(static_cast<std::size_t>(prompt_len));
  for (int i = 0; i < prompt_len; ++i) prompt[static_cast<std::size_t>(i)] = 1 + (i * 7919) % (C.vocab_size - 1);
  pmc::llama::GenerateOptions go;
  go.max_new_tokens = new_tokens;
  go.stop_tokens = {};
  double seconds = 0;
  std::int64_t generated = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    auto out = pmc::llama::generate(model, std::span<const std::int32_t>(prompt), go);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    generated += static_cast<std::int64_t>(out.size());
    benchmark::DoNotOptimize(out.data());
  }
  pmc::llama::PlanOptions po;
  po.dtype = std::is_same_v<T, pmc::bf16> ? pmc::llama::PlanDtype::bf16 : pmc::llama::PlanDtype::fp32;
  po.batch = 1;
  po.seq = prompt_len + new_tokens;
  po.training = false;
  const auto plan = pmc::llama::plan_memory(C, po);
  state.counters["tokens_per_s"] = static_cast<double>(generated) / seconds;
  state.counters["peak_rss_GiB"] = peak_rss_bytes() / (1ull << 30);
  state.counters["plan_GiB"] = static_cast<double>(plan.total_bytes()) / (1ull << 30);
}

BENCHMARK(BM_Generate<pmc::llama::small_20m, float>)->Name("BM_Generate/small_20m/f32")->Args({16, 32})
    ->Iterations(1)->Unit(benchmark::kSecond);
// decoding a tiny model is where per-token overhead shows: static sizes against run-time ones
BENCHMARK(BM_Generate<pmc::llama::demo, float>)->Name("BM_Generate/demo/f32")->Args({16, 200})
    ->Repetitions(5)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Generate<pmc::llama::demo, float, true>)->Name("BM_Generate/demo/f32/run_time_config")->Args({16, 200})
    ->Repetitions(5)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Generate<pmc::llama::llama_7b, pmc::bf16>)->Name("BM_Generate/llama_7b/bf16")->Args({8, 4})
    ->Iterations(1)->Unit(benchmark::kSecond);

}  // namespace

BENCHMARK_MAIN();

// SPDX-License-Identifier: MIT
// One decoding step with a KV cache after a prompt of 250 to 2,000 tokens (a model of small_20m's shape with its
// context extended to 2,048), beside attention alone over the same keys in every layer: how much of the step's
// growth with the context is attention's own (docs/performance.md, "KV cache"). CPU time of one thread:
//   OMP_NUM_THREADS=1 build/release/bench/kv_cache_bench
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <vector>

#include <pmc/pmc.hpp>

namespace {

/// small_20m (dim 384, 8 layers, 6 heads of 64) with room for 2,000 tokens of context.
constexpr pmc::llama::Config kModel = [] {
  auto c = pmc::llama::small_20m;
  c.max_seq_len = 2048;
  return c;
}();

pmc::Tensor<std::int32_t> random_tokens(std::int64_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::int32_t> id(0, kModel.vocab_size - 1);
  pmc::Tensor<std::int32_t> t({1, n});
  for (auto& x : t.span()) x = id(rng);
  return t;
}

/// The forward of one new token at position `context`, after a prompt of `context` tokens in the cache.
void BM_DecodeStep(benchmark::State& state) {
  const std::int64_t context = state.range(0);
  pmc::llama::Model<kModel, float> model(false);
  model.init_random(1);
  pmc::autograd::NoGrad no_grad;
  pmc::llama::KvCache<float, pmc::Cpu> cache(kModel.n_layers, 1, context + 1, kModel.n_kv_heads, kModel.head_dim());
  model.forward(random_tokens(context, 2), 0, &cache);
  const auto next = random_tokens(1, 3);
  for (auto _ : state) {  // each iteration rewrites position `context` of the cache
    benchmark::DoNotOptimize(model.forward(next, context, &cache).value().data());
  }
}

/// Attention alone as the same step runs it: one query against context + 1 keys in each layer, each layer with
/// keys and values of its own (at 2,000 positions the 8 layers' 49 MB do not stay in the cache, as in the model).
void BM_DecodeAttention(benchmark::State& state) {
  const std::int64_t context = state.range(0);
  constexpr int kHeadDim = kModel.head_dim();
  std::mt19937 rng(4);
  std::normal_distribution<float> dist;
  auto random = [&](pmc::Shape s) {
    pmc::Tensor<float> t(s);
    for (auto& x : t.span()) x = dist(rng);
    return pmc::autograd::Var<float>(t, false);
  };
  const auto q = random({1, 1, kModel.n_heads, kHeadDim});
  std::vector<pmc::autograd::Var<float>> k, v;
  for (int l = 0; l < kModel.n_layers; ++l) {
    k.push_back(random({1, context + 1, kModel.n_kv_heads, kHeadDim}));
    v.push_back(random({1, context + 1, kModel.n_kv_heads, kHeadDim}));
  }
  pmc::autograd::NoGrad no_grad;
  for (auto _ : state) {
    for (std::size_t l = 0; l < k.size(); ++l)
      benchmark::DoNotOptimize(pmc::autograd::attention(q, k[l], v[l], context).value().data());
  }
}

BENCHMARK(BM_DecodeStep)->ArgName("context")->Arg(250)->Arg(500)->Arg(1000)->Arg(2000)
    ->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_DecodeAttention)->ArgName("context")->Arg(250)->Arg(500)->Arg(1000)->Arg(2000)
    ->Unit(benchmark::kMillisecond)->MinTime(1.0);

}  // namespace

BENCHMARK_MAIN();

// SPDX-License-Identifier: MIT
// Decoding on the CPU with weight-only quantized projections (issue 21): tokens/s of a llama_1b-shaped model
// (random weights) with weights fp32, bf16, q8_0 and q4_0, and each as a fraction of the DRAM bound: the bytes of
// weights one token reads (the seven projections of every block as stored, the head, the norms, one embedding
// row) divided by a stream-read bandwidth measured in the same run with the same thread count (a sum over a 1 GiB
// buffer, best of 3). q8_0 / q4_0 keep the embeddings and norms in the model's type: fp32, or bf16 (the "/bf16"
// rows), and the head in q8_0.
//   OMP_NUM_THREADS=2 build/release/bench/decode_quant_bench
//   OMP_NUM_THREADS=2 build/release/bench/decode_quant_bench --benchmark_filter=small_20m
// BM_Product/<format>/<kernel>: decoding's product alone (one row against a 4096 x 11008, 11008 x 4096 or 2048 x
// 32000 weight) in GB/s of weight bytes, beside the read bandwidth: bf16 on each bgemv kernel and on the path it
// replaced, q8_0 / q4_0 with float or int8 activations, row-major or laid out by Quantize<Cpu>::for_matmul (rows16).
// BM_PromptProduct: 128 rows against a 4096 x 11008 weight, in GMAC/s, q8_0 / q4_0 in both layouts and fp32's GEMM.
//   OMP_NUM_THREADS=2 build/release/bench/decode_quant_bench --benchmark_filter=Product
// BM_WeightPages/<kind>: the bf16 product over 1 GiB of weights in a file mapping, on 4 KiB pages and in a pmc
// tensor (huge pages), in one process; interleave them, the host's bandwidth moves:
//   OMP_NUM_THREADS=2 build/release/bench/decode_quant_bench --benchmark_filter=WeightPages \
//     --benchmark_repetitions=4 --benchmark_enable_random_interleaving=true
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include <pmc/models/llama/generate.hpp>
#include <pmc/pmc.hpp>

#include "fill_weights.hpp"

namespace {

using pmc::llama::BaseQuant;

/// Stream-read bandwidth in bytes/s: a sum over a 1 GiB buffer (first touched by the same threads, static
/// schedule), best of 3 passes. Measured once per process.
double read_bandwidth() {
  static const double bw = [] {
    const std::int64_t n = (std::int64_t{1} << 30) / 8;
    std::unique_ptr<std::uint64_t[]> buf(new std::uint64_t[static_cast<std::size_t>(n)]);
    std::uint64_t* p = buf.get();
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < n; ++i) p[i] = static_cast<std::uint64_t>(i);
    double best = 0;
    for (int pass = 0; pass < 3; ++pass) {
      std::uint64_t s = 0;
      const auto t0 = std::chrono::steady_clock::now();
      constexpr std::int64_t chunk = 8192;  // 64 KiB a work item, summed by 8 independent lanes (vectorized)
#pragma omp parallel for schedule(static) reduction(+ : s)
      for (std::int64_t c = 0; c < n / chunk; ++c) {
        std::uint64_t lane[8] = {};
        const std::uint64_t* q = p + c * chunk;
        for (std::int64_t i = 0; i < chunk; i += 8)
          for (int l = 0; l < 8; ++l) lane[l] += q[i + l];
        for (int l = 0; l < 8; ++l) s += lane[l];
      }
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      benchmark::DoNotOptimize(s);
      best = std::max(best, static_cast<double>(n * 8) / secs);
    }
    return best;
  }();
  return bw;
}

using pmc::bench::fill_weights;

/// Bytes of weights one decoded token reads: projections as stored, the head, the norms and one embedding row.
template <class Model>
double weight_bytes_per_token(const Model& m) {
  const auto& c = m.config();
  const double elt = sizeof(typename Model::value_type);
  double b = 0;
  for (const auto& blk : m.blocks())
    for (auto p : pmc::llama::kAllProjections) {
      const auto& q = blk.quantized[static_cast<std::size_t>(p)];
      b += q ? static_cast<double>(q->bytes()) : static_cast<double>(blk.weight(p).shape().numel()) * elt;
    }
  if (const auto& h = m.quantized_head()) b += static_cast<double>(h->bytes());  // the head: in q8_0 blocks,
  else b += static_cast<double>(c.vocab_size) * c.dim * elt;                     // or in T (tied or not: read once)
  b += static_cast<double>(c.dim) * elt;                              // one embedding row
  b += static_cast<double>(2 * c.n_layers + 1) * c.dim * elt;         // norms
  return b;
}

/// range(0): the BaseQuant (0 none, 3 q8_0, 4 q4_0); T the model's type. Times decoding only: from the first new
/// token to the last (the prompt of 4 tokens runs before).
template <pmc::llama::Config C, class T>
void BM_Decode(benchmark::State& state) {
  const auto format = static_cast<BaseQuant>(state.range(0));
  const int new_tokens = static_cast<int>(state.range(1));
  pmc::llama::Model<pmc::llama::dynamic, T> model(C, false);
  fill_weights(model, 0.02f);
  if (format != BaseQuant::none) {
    model.freeze_base();
    model.quantize_base(format);
  }
  std::vector<std::int32_t> prompt{1, 7, 42, 99};
  pmc::llama::GenerateOptions go;
  go.max_new_tokens = new_tokens;
  go.stop_tokens = {};
  using clock = std::chrono::steady_clock;
  clock::time_point first{}, last{};
  go.on_token = [&](std::int32_t) { (first == clock::time_point{} ? first : last) = clock::now(); };
  double seconds = 0;
  std::int64_t decoded = 0;
  for (auto _ : state) {
    first = last = clock::time_point{};
    auto out = pmc::llama::generate(model, std::span<const std::int32_t>(prompt), go);
    seconds += std::chrono::duration<double>(last - first).count();
    decoded += static_cast<std::int64_t>(out.size()) - 1;
    benchmark::DoNotOptimize(out.data());
  }
  const double tps = static_cast<double>(decoded) / seconds;
  const double bytes = weight_bytes_per_token(model);
  const double bw = read_bandwidth();
  state.counters["tokens_per_s"] = tps;
  state.counters["weights_MB_per_token"] = bytes / 1e6;
  state.counters["read_GBps"] = bw / 1e9;
  state.counters["dram_bound_tokens_per_s"] = bw / bytes;
  state.counters["fraction_of_bound"] = tps * bytes / bw;
#ifdef _OPENMP
  state.counters["threads"] = omp_get_max_threads();
#endif
}

constexpr auto kNone = static_cast<std::int64_t>(BaseQuant::none);
constexpr auto kQ8 = static_cast<std::int64_t>(BaseQuant::q8_0);
constexpr auto kQ4 = static_cast<std::int64_t>(BaseQuant::q4_0);

#define PMC_DECODE_BENCH(CFG, NAME, TOKENS)                                                                       \
  BENCHMARK(BM_Decode<pmc::llama::CFG, float>)->Name("BM_Decode/" NAME "/fp32")->Args({kNone, TOKENS})          \
      ->Iterations(1)->Unit(benchmark::kSecond);                                                                 \
  BENCHMARK(BM_Decode<pmc::llama::CFG, pmc::bf16>)->Name("BM_Decode/" NAME "/bf16")->Args({kNone, TOKENS})      \
      ->Iterations(1)->Unit(benchmark::kSecond);                                                                 \
  BENCHMARK(BM_Decode<pmc::llama::CFG, float>)->Name("BM_Decode/" NAME "/q8_0")->Args({kQ8, TOKENS})            \
      ->Iterations(1)->Unit(benchmark::kSecond);                                                                 \
  BENCHMARK(BM_Decode<pmc::llama::CFG, float>)->Name("BM_Decode/" NAME "/q4_0")->Args({kQ4, TOKENS})            \
      ->Iterations(1)->Unit(benchmark::kSecond);                                                                 \
  BENCHMARK(BM_Decode<pmc::llama::CFG, pmc::bf16>)->Name("BM_Decode/" NAME "/q8_0/bf16")->Args({kQ8, TOKENS})   \
      ->Iterations(1)->Unit(benchmark::kSecond);                                                                 \
  BENCHMARK(BM_Decode<pmc::llama::CFG, pmc::bf16>)->Name("BM_Decode/" NAME "/q4_0/bf16")->Args({kQ4, TOKENS})   \
      ->Iterations(1)->Unit(benchmark::kSecond);

// ---- The decoding product alone: one row against a (N, K) weight, as a fraction of the read bandwidth --------------

/// range(0), range(1): K, N; M the rows of x. `product(x, y)` computes y = x · Wᵀ on weights it holds;
/// `weight_bytes` the bytes it reads.
template <class T, class Product>
void run_product(benchmark::State& state, double weight_bytes, Product&& product, std::int64_t M = 1) {
  const std::int64_t K = state.range(0), N = state.range(1);
  pmc::Tensor<T, pmc::Cpu> x({M, K}), y({M, N});
  for (std::int64_t i = 0; i < M * K; ++i) x.data()[i] = static_cast<T>(0.01f * static_cast<float>(i % 97) - 0.48f);
  for (auto _ : state) {
    product(x, y);
    benchmark::DoNotOptimize(y.data());
  }
  const double bw = read_bandwidth();
  state.counters["weights_GBps"] =
      benchmark::Counter(weight_bytes * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["read_GBps"] = bw / 1e9;
  state.counters["GMACps"] = benchmark::Counter(static_cast<double>(M * N * K) * static_cast<double>(state.iterations()) / 1e9,
                                                benchmark::Counter::kIsRate);
#ifdef _OPENMP
  state.counters["threads"] = omp_get_max_threads();
#endif
}

/// bf16 weights on bgemv kernel `k` (or, for k < 0, the path it replaced: each weight row widened to float, then
/// Eigen's dot product, matmul.hpp's gemm_lowp).
void BM_ProductBf16(benchmark::State& state, int kernel) {
  namespace cpu = pmc::backends::cpu;
  const std::int64_t K = state.range(0), N = state.range(1);
  pmc::Tensor<pmc::bf16, pmc::Cpu> w({N, K});
  for (std::int64_t i = 0; i < w.numel(); ++i) w.data()[i] = pmc::bf16(0.001f * static_cast<float>(i % 1013) - 0.5f);
  const cpu::MatDesc<const pmc::bf16> b{w.data(), K, N, 1, K, 0};
  run_product<pmc::bf16>(state, static_cast<double>(w.numel()) * 2, [&](const auto& x, const auto& y) {
    const cpu::MatDesc<const pmc::bf16> a{x.data(), 1, K, K, 1, 0};
    const cpu::MatDesc<pmc::bf16> c{y.data(), 1, N, N, 1, 0};
    if (kernel < 0) cpu::gemm_lowp<pmc::bf16>(a.normalized(), b, c.normalized(), 1.f, 0.f);
    else cpu::bgemv::gemv(static_cast<cpu::bgemv::Kernel>(kernel), a.normalized(), b, c.normalized(), 1.f, 0.f);
  });
}

/// q8_0 / q4_0 weights through Quantize<Cpu>::matmul, activations float or int8-quantized, the blocks row-major
/// (GGUF's) or as Quantize<Cpu>::for_matmul lays them out (rows16 where the AVX512-VNNI kernel runs).
void BM_ProductQuant(benchmark::State& state, pmc::ops::QuantFormat f, bool int8, bool laid_out, std::int64_t M) {
  const std::int64_t K = state.range(0), N = state.range(1);
  pmc::Tensor<float, pmc::Cpu> w({N, K});
  for (std::int64_t i = 0; i < w.numel(); ++i) w.data()[i] = 0.001f * static_cast<float>(i % 1013) - 0.5f;
  auto q = pmc::ops::Quantize<pmc::Cpu>::quantize(w, f);
  if (laid_out) q = pmc::ops::Quantize<pmc::Cpu>::for_matmul(q);
  state.SetLabel(q.layout == pmc::ops::QuantLayout::rows16 ? "rows16" : "row-major blocks");
  w = pmc::Tensor<float, pmc::Cpu>();
  const bool saved = pmc::backends::cpu::qmm::int8_activations();
  pmc::backends::cpu::qmm::set_int8_activations(int8);
  run_product<float>(state, static_cast<double>(q.bytes()),
                     [&](const auto& x, const auto& y) { pmc::ops::Quantize<pmc::Cpu>::matmul(x, q, y); }, M);
  pmc::backends::cpu::qmm::set_int8_activations(saved);
}

[[maybe_unused]] const bool product_benchmarks = [] {
  namespace cpu = pmc::backends::cpu;
  auto shapes = [](benchmark::internal::Benchmark* b) {
    b->ArgNames({"k", "n"})->Args({4096, 11008})->Args({11008, 4096})->Args({2048, 32000})->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  };
  for (auto k : {cpu::bgemv::Kernel::avx512bf16, cpu::bgemv::Kernel::avx512, cpu::bgemv::Kernel::avx2})
    if (cpu::bgemv::compiled(k))
      shapes(benchmark::RegisterBenchmark((std::string("BM_Product/bf16/") + cpu::bgemv::kernel_name(k)).c_str(),
                                          BM_ProductBf16, static_cast<int>(k)));
  shapes(benchmark::RegisterBenchmark("BM_Product/bf16/widened_eigen_dot", BM_ProductBf16, -1));
  for (auto f : {pmc::ops::QuantFormat::q8_0, pmc::ops::QuantFormat::q4_0}) {
    for (bool int8 : {false, true})
      shapes(benchmark::RegisterBenchmark(
          (std::string("BM_Product/") + pmc::ops::quant_format_name(f) + (int8 ? "/int8_x" : "/float_x")).c_str(),
          BM_ProductQuant, f, int8, false, 1));
    shapes(benchmark::RegisterBenchmark((std::string("BM_Product/") + pmc::ops::quant_format_name(f) + "/int8_x/for_matmul").c_str(),
                                        BM_ProductQuant, f, true, true, 1));
    // a prompt's product (128 rows of x), row-major blocks against the for_matmul layout
    for (bool laid_out : {false, true})
      benchmark::RegisterBenchmark((std::string("BM_PromptProduct/") + pmc::ops::quant_format_name(f) +
                                    (laid_out ? "/int8_x/for_matmul" : "/int8_x")).c_str(),
                                   BM_ProductQuant, f, true, laid_out, 128)
          ->ArgNames({"k", "n"})->Args({4096, 11008})->Unit(benchmark::kMillisecond)->UseRealTime();
  }
  // the same prompt product in fp32 on the dequantized weight (the GEMM, sgemm.hpp): the reference
  benchmark::RegisterBenchmark("BM_PromptProduct/fp32_gemm", [](benchmark::State& state) {
    const std::int64_t K = state.range(0), N = state.range(1);
    pmc::Tensor<float, pmc::Cpu> w({N, K});
    for (std::int64_t i = 0; i < w.numel(); ++i) w.data()[i] = 0.001f * static_cast<float>(i % 1013) - 0.5f;
    run_product<float>(state, static_cast<double>(w.numel()) * 4, [&](const auto& x, const auto& y) {
      pmc::ops::Matmul<pmc::Cpu>::forward(x, w, y, false, true);
    }, 128);
  })->ArgNames({"k", "n"})->Args({4096, 11008})->Unit(benchmark::kMillisecond)->UseRealTime();
  return true;
}();

/// Where a decoding product's weights lie (BM_WeightPages/<kind>): a private mapping of a file (how a checkpoint
/// stored in T is borrowed), anonymous memory on 4 KiB pages (MADV_NOHUGEPAGE), and a pmc tensor (the allocator
/// asks for transparent huge pages from 8 MiB).
enum class Pages { file_mapped, small, allocator };

/// 1 GiB of bf16 weights (262144 rows of K = 2048) held each way, made once per process.
struct WeightCopies {
  static constexpr std::int64_t K = 2048, N = 262144;
  static constexpr std::size_t bytes = static_cast<std::size_t>(K * N) * 2;
  pmc::Tensor<pmc::bf16, pmc::Cpu> tensor{{N, K}};
  void* mapped = nullptr;
  void* small = nullptr;
  WeightCopies() {
    for (std::int64_t i = 0; i < K * N; ++i) tensor.data()[i] = pmc::bf16(0.001f * static_cast<float>(i % 1013) - 0.5f);
    const auto path = std::filesystem::temp_directory_path() / "pmc_weight_pages.bin";
    {
      std::ofstream f(path, std::ios::binary);
      f.write(reinterpret_cast<const char*>(tensor.data()), static_cast<std::streamsize>(bytes));
    }
    const int fd = ::open(path.c_str(), O_RDONLY);
    mapped = fd < 0 ? MAP_FAILED : ::mmap(nullptr, bytes, PROT_READ, MAP_PRIVATE, fd, 0);
    if (fd >= 0) ::close(fd);
    std::filesystem::remove(path);
    if (mapped == MAP_FAILED) throw std::runtime_error("BM_WeightPages: cannot map " + path.string());
    small = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (small == MAP_FAILED) throw std::runtime_error("BM_WeightPages: out of memory");
    ::madvise(small, bytes, MADV_NOHUGEPAGE);
    std::memcpy(small, tensor.data(), bytes);
  }
  const pmc::bf16* weights(Pages p) const {
    return p == Pages::file_mapped ? static_cast<const pmc::bf16*>(mapped)
           : p == Pages::small     ? static_cast<const pmc::bf16*>(small)
                                   : tensor.data();
  }
};

/// range(0): the Pages kind. One row of x against the 1 GiB weight on the widest bgemv kernel, in GB/s of weights.
void BM_WeightPages(benchmark::State& state) {
  namespace cpu = pmc::backends::cpu;
  static const WeightCopies copies;
  constexpr std::int64_t K = WeightCopies::K, N = WeightCopies::N;
  const cpu::MatDesc<const pmc::bf16> b{copies.weights(static_cast<Pages>(state.range(0))), K, N, 1, K, 0};
  pmc::Tensor<pmc::bf16, pmc::Cpu> x({1, K}), y({1, N});
  x.fill(pmc::bf16(0.5f));
  for (auto _ : state) {
    cpu::bgemv::gemv(cpu::bgemv::kernel(), cpu::MatDesc<const pmc::bf16>{x.data(), 1, K, K, 1, 0}, b,
                     cpu::MatDesc<pmc::bf16>{y.data(), 1, N, N, 1, 0}, 1.f, 0.f);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["weights_GBps"] =
      benchmark::Counter(static_cast<double>(WeightCopies::bytes) * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
}
BENCHMARK(BM_WeightPages)->Name("BM_WeightPages/file_mapped")->Arg(0)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_WeightPages)->Name("BM_WeightPages/4KiB_pages")->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_WeightPages)->Name("BM_WeightPages/pmc_tensor")->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

PMC_DECODE_BENCH(small_20m, "small_20m", 64)
PMC_DECODE_BENCH(llama_1b, "llama_1b", 12)

}  // namespace

BENCHMARK_MAIN();

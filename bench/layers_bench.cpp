// SPDX-License-Identifier: MIT
// CPU layer benchmarks at LLaMA-7B shapes (matmul, RMSNorm, RoPE, attention, SwiGLU, cross-entropy) and the
// FMA peak of this CPU, measured in the same binary so that matmul's fraction of peak is honest.
#include <benchmark/benchmark.h>

#include <immintrin.h>
#include <omp.h>

#include <cstdint>
#include <cstdlib>
#include <random>

#include <Eigen/Core>

#include <pmc/pmc.hpp>

namespace {

using pmc::bf16;
using pmc::Tensor;

constexpr std::int64_t kDim = 4096, kFfn = 11008, kVocab = 32000;  // llama_7b

template <class T>
Tensor<T> random(const pmc::Shape& s, unsigned seed, float lo = -1, float hi = 1) {
  Tensor<T> t(s);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  for (std::int64_t i = 0; i < t.numel(); ++i) t.data()[i] = static_cast<T>(u(rng));
  return t;
}

void flops(benchmark::State& st, double per_iter) {
  st.counters["FLOP/s"] =
      benchmark::Counter(per_iter * static_cast<double>(st.iterations()), benchmark::Counter::kIsRate);
}
void bytes(benchmark::State& st, double per_iter) {
  st.counters["B/s"] = benchmark::Counter(per_iter * static_cast<double>(st.iterations()), benchmark::Counter::kIsRate);
}

/// Wall-clock rates by default. PMC_BENCH_CPU_TIME=1 rates by the benchmark thread's CPU time instead:
/// with OMP_NUM_THREADS=1 that is a per-core figure that other processes sharing the cores do not distort.
benchmark::internal::Benchmark* timed(benchmark::internal::Benchmark* b) {
  static const bool cpu_time = std::getenv("PMC_BENCH_CPU_TIME") != nullptr;
  return cpu_time ? b : b->UseRealTime();
}

#define PMC_BENCH(fn) [[maybe_unused]] static auto* const reg_##fn = timed(benchmark::RegisterBenchmark(#fn, fn))

/// The GEMM's threads for one benchmark, Eigen's and pmc's own (OpenMP); 0 keeps the OpenMP default.
struct GemmThreads {
  int saved = omp_get_max_threads();
  explicit GemmThreads(int n) {
    Eigen::setNbThreads(n);
    if (n > 0) omp_set_num_threads(n);
  }
  ~GemmThreads() {
    Eigen::setNbThreads(0);
    omp_set_num_threads(saved);
  }
};

/// Records in the output which GEMM float products ran on (`PMC_CPU_GEMM=eigen` selects Eigen's).
[[maybe_unused]] const bool gemm_context =
    (benchmark::AddCustomContext("cpu_gemm", pmc::backends::cpu::float_gemm_name()),
     benchmark::AddCustomContext("cpu_bf16_gemm", pmc::backends::cpu::bf16_gemm_name()), true);

// ---- FMA peak ---------------------------------------------------------------------------------------
// Independent accumulators hide the FMA latency (4 cycles) on both FMA ports: 2 × 4 = 8 chains is the
// minimum, 12 / 16 leave slack. Each FMA is 2 FLOP per lane.

template <int Acc>
__attribute__((target("avx2,fma"))) float fma_chains_avx2(std::int64_t iters) {
  __m256 acc[Acc];
  for (int j = 0; j < Acc; ++j) acc[j] = _mm256_set1_ps(1.f + 0.01f * static_cast<float>(j));
  const __m256 m = _mm256_set1_ps(0.9999999f), a = _mm256_set1_ps(1e-7f);
  for (std::int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (int j = 0; j < Acc; ++j) acc[j] = _mm256_fmadd_ps(acc[j], m, a);
  }
  __m256 s = acc[0];
  for (int j = 1; j < Acc; ++j) s = _mm256_add_ps(s, acc[j]);
  alignas(32) float out[8];
  _mm256_store_ps(out, s);
  return out[0] + out[7];
}

template <int Acc>
__attribute__((target("avx512f"))) float fma_chains_avx512(std::int64_t iters) {
  __m512 acc[Acc];
  for (int j = 0; j < Acc; ++j) acc[j] = _mm512_set1_ps(1.f + 0.01f * static_cast<float>(j));
  const __m512 m = _mm512_set1_ps(0.9999999f), a = _mm512_set1_ps(1e-7f);
  for (std::int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (int j = 0; j < Acc; ++j) acc[j] = _mm512_fmadd_ps(acc[j], m, a);
  }
  __m512 s = acc[0];
  for (int j = 1; j < Acc; ++j) s = _mm512_add_ps(s, acc[j]);
  alignas(64) float out[16];
  _mm512_store_ps(out, s);
  return out[0] + out[15];
}

/// Args: vector width in bits (256: AVX2, 512: AVX-512), threads.
void BM_PeakFma(benchmark::State& st) {
  const int width = static_cast<int>(st.range(0)), threads = static_cast<int>(st.range(1));
  if (width == 512 && !__builtin_cpu_supports("avx512f")) return st.SkipWithError("no AVX-512 on this CPU");
  if (!__builtin_cpu_supports("fma")) return st.SkipWithError("no FMA on this CPU");
  constexpr std::int64_t iters = 1 << 22;
  constexpr int acc = 12;
  for (auto _ : st) {
    float sink = 0;
#pragma omp parallel num_threads(threads) reduction(+ : sink)
    sink += width == 512 ? fma_chains_avx512<acc>(iters) : fma_chains_avx2<acc>(iters);
    benchmark::DoNotOptimize(sink);
  }
  flops(st, 2.0 * (width / 32) * acc * static_cast<double>(iters) * threads);
}
PMC_BENCH(BM_PeakFma)
    ->ArgNames({"bits", "threads"})
    ->Args({256, 1})
    ->Args({512, 1})
    ->Args({256, 2})
    ->Args({512, 2})
    ->Unit(benchmark::kMillisecond);

// ---- matmul -------------------------------------------------------------------------------------------
// A linear layer y = x · Wᵀ with W: (out, in) = (N_out, 4096) and x: (tokens, 4096).

/// Args: tokens, out features, GEMM threads (0: the OpenMP default).
void BM_Matmul_LinearForward(benchmark::State& st) {
  const std::int64_t n = st.range(0), out = st.range(1);
  GemmThreads threads(static_cast<int>(st.range(2)));
  const auto x = random<float>({n, kDim}, 1), w = random<float>({out, kDim}, 2);
  Tensor<float> y({n, out});
  for (auto _ : st) {
    pmc::ops::Matmul<pmc::Cpu>::forward(x, w, y, false, true);
    benchmark::DoNotOptimize(y.data());
  }
  flops(st, 2.0 * n * kDim * out);
}
PMC_BENCH(BM_Matmul_LinearForward)
    ->ArgNames({"tokens", "out", "threads"})
    ->Args({512, kDim, 0})
    ->Args({512, kFfn, 0})
    ->Args({128, kDim, 0})
    ->Args({128, kFfn, 0})
    ->Args({512, kDim, 1})
    ->Unit(benchmark::kMillisecond);

/// dx = dy · W and dW += dyᵀ · x: twice the forward's FLOP.
void BM_Matmul_LinearBackward(benchmark::State& st) {
  const std::int64_t n = st.range(0), out = st.range(1);
  GemmThreads threads(static_cast<int>(st.range(2)));
  const auto x = random<float>({n, kDim}, 1), w = random<float>({out, kDim}, 2), dy = random<float>({n, out}, 3);
  Tensor<float> dx({n, kDim}), dw({out, kDim});
  for (auto _ : st) {
    pmc::ops::Matmul<pmc::Cpu>::backward(x, w, dy, dx, dw, false, true);
    benchmark::DoNotOptimize(dw.data());
  }
  flops(st, 4.0 * n * kDim * out);
}
PMC_BENCH(BM_Matmul_LinearBackward)
    ->ArgNames({"tokens", "out", "threads"})
    ->Args({512, kDim, 0})
    ->Args({512, kFfn, 0})
    ->Args({128, kDim, 0})
    ->Unit(benchmark::kMillisecond);

/// bf16 weights, computed in float: tokens = 1 is decoding (the weight is read once per token, so bytes/s
/// is the figure of merit), 128 a prompt.
void BM_Matmul_LinearBf16(benchmark::State& st) {
  const std::int64_t n = st.range(0), out = st.range(1);
  const auto x = random<bf16>({n, kDim}, 1), w = random<bf16>({out, kDim}, 2);
  Tensor<bf16> y({n, out});
  for (auto _ : st) {
    pmc::ops::Matmul<pmc::Cpu>::forward(x, w, y, false, true);
    benchmark::DoNotOptimize(y.data());
  }
  flops(st, 2.0 * n * kDim * out);
  bytes(st, 2.0 * out * kDim);
}
PMC_BENCH(BM_Matmul_LinearBf16)
    ->ArgNames({"tokens", "out"})
    ->Args({1, kFfn})
    ->Args({128, kFfn})
    ->Unit(benchmark::kMillisecond);

// ---- the float GEMMs side by side -----------------------------------------------------------------------
// C (M, N) = A (M, K) · Bᵀ with B (N, K), a linear layer's forward, on Eigen's GEMM and on each of pmc's own
// kernels compiled in (sgemm.hpp), whatever PMC_CPU_GEMM says: their ratios in one run. Shapes: the small_20m
// training step's projections and output head (M = 8 × 256 tokens), and a 7B projection at 512 tokens.

using pmc::backends::cpu::MatDesc;

/// Registers BM_Gemm/<name> at the shapes named above; `gemm(a, b, c)` computes C = A · op(B).
template <class Gemm>
void register_gemm(const char* name, Gemm gemm) {
  timed(benchmark::RegisterBenchmark(name, [gemm](benchmark::State& st) {
    const std::int64_t m = st.range(0), k = st.range(1), n = st.range(2);
    const auto a = random<float>({m, k}, 1), b = random<float>({n, k}, 2);
    Tensor<float> c({m, n});
    const MatDesc<const float> ad{a.data(), m, k, k, 1, 0}, bd{b.data(), k, n, 1, k, 0};
    const MatDesc<float> cd{c.data(), m, n, n, 1, 0};
    for (auto _ : st) {
      gemm(ad, bd, cd);
      benchmark::DoNotOptimize(c.data());
    }
    flops(st, 2.0 * m * n * k);
  }))
      ->ArgNames({"m", "k", "n"})
      ->Args({2048, 384, 384})
      ->Args({2048, 384, 1024})
      ->Args({2048, 1024, 384})
      ->Args({2048, 384, 8000})
      ->Args({512, kDim, kDim})
      ->Unit(benchmark::kMillisecond);
}

[[maybe_unused]] const bool gemm_benchmarks = [] {
  namespace cpu = pmc::backends::cpu;
  using A = const MatDesc<const float>&;
  using C = const MatDesc<float>&;
  register_gemm("BM_Gemm/eigen", [](A a, A b, C c) { cpu::gemm_eigen<float>(a, b, c, 1.f, 0.f); });
#ifdef PMC_HAVE_OWN_SGEMM
  register_gemm("BM_Gemm/own_avx2", [](A a, A b, C c) { cpu::sgemm::gemm<cpu::sgemm::Avx2>(a, b, c, 1.f, 0.f); });
#endif
#if defined(__AVX512F__)
  register_gemm("BM_Gemm/own_avx512", [](A a, A b, C c) { cpu::sgemm::gemm<cpu::sgemm::Avx512>(a, b, c, 1.f, 0.f); });
#endif
  return true;
}();

// ---- the bf16 GEMMs side by side ------------------------------------------------------------------------
// C (M, N) = A (M, K) · Bᵀ with B (N, K) in bf16 (a linear layer's forward), on pmc's AVX512-BF16 kernel
// (bgemm.hpp) where compiled in, on AMX tiles where the CPU has them (amx.hpp: BM_GemmBf16/own_amx and BM_PeakAmx
// are registered only there), widened to float as packed onto pmc's float kernels (sgemm.hpp's gemm<K, bf16>: the
// path of CPUs without AVX512-BF16), on the path they replace (bf16 staged to float and multiplied by Eigen's GEMM,
// gemm_lowp), and the same product in float on pmc's float kernels, whatever PMC_CPU_GEMM says. Shapes: a small
// LLaMA's training step, M = 2048 tokens, N, K in {384, 1024, 4096}; decoding and short prompts, M = 1 to 256
// against a 4096 × 4096 weight; a 1.1B model's projections on a 154-token prompt (kPrefill1b).
// BM_PeakDpbf16 measures vdpbf16ps's peak (64 flops per zmm instruction) in the same binary.

#if defined(PMC_HAVE_OWN_SGEMM)
#if defined(PMC_HAVE_OWN_BGEMM)
template <int Acc>
float dpbf16_chains(std::int64_t iters) {
  __m512 acc[Acc];
  for (int j = 0; j < Acc; ++j) acc[j] = _mm512_set1_ps(1.f + 0.01f * static_cast<float>(j));
  const __m512bh a = (__m512bh)_mm512_set1_epi16(0x3f80), b = (__m512bh)_mm512_set1_epi16(0x3400);  // 1, 2^-23
  for (std::int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (int j = 0; j < Acc; ++j) acc[j] = _mm512_dpbf16_ps(acc[j], a, b);
  }
  __m512 s = acc[0];
  for (int j = 1; j < Acc; ++j) s = _mm512_add_ps(s, acc[j]);
  alignas(64) float out[16];
  _mm512_store_ps(out, s);
  return out[0] + out[15];
}

/// Args: threads.
void BM_PeakDpbf16(benchmark::State& st) {
  const int threads = static_cast<int>(st.range(0));
  constexpr std::int64_t iters = 1 << 22;
  constexpr int acc = 16;
  for (auto _ : st) {
    float sink = 0;
#pragma omp parallel num_threads(threads) reduction(+ : sink)
    sink += dpbf16_chains<acc>(iters);
    benchmark::DoNotOptimize(sink);
  }
  flops(st, 64.0 * acc * static_cast<double>(iters) * threads);
}
PMC_BENCH(BM_PeakDpbf16)->ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond);
#endif

/// A 1.1B LLaMA's projections (K, N) on a 154-token prompt: q and o, k and v, gate and up, down.
constexpr std::int64_t kPrefill1b[][2] = {{2048, 2048}, {2048, 256}, {2048, 5632}, {5632, 2048}};

/// Registers BM_GemmBf16/<name>; `gemm(a, b, c)` computes C = A · op(B) on T operands.
template <class T, class Gemm>
void register_gemm_bf16(const char* name, Gemm gemm) {
  auto* bm = timed(benchmark::RegisterBenchmark(name, [gemm](benchmark::State& st) {
    const std::int64_t m = st.range(0), k = st.range(1), n = st.range(2);
    const auto a = random<T>({m, k}, 1), b = random<T>({n, k}, 2);
    Tensor<T> c({m, n});
    const MatDesc<const T> ad{a.data(), m, k, k, 1, 0}, bd{b.data(), k, n, 1, k, 0};
    const MatDesc<T> cd{c.data(), m, n, n, 1, 0};
    for (auto _ : st) {
      gemm(ad, bd, cd);
      benchmark::DoNotOptimize(c.data());
    }
    flops(st, 2.0 * m * n * k);
  }));
  bm->ArgNames({"m", "k", "n"})->Unit(benchmark::kMillisecond);
  for (const std::int64_t k : {384, 1024, 4096})
    for (const std::int64_t n : {384, 1024, 4096}) bm->Args({2048, k, n});
  for (const std::int64_t m : {1, 16, 64, 256}) bm->Args({m, 4096, 4096});  // decoding, short prompts
  for (const auto& [k, n] : kPrefill1b) bm->Args({154, k, n});
}

[[maybe_unused]] const bool gemm_bf16_benchmarks = [] {
  namespace cpu = pmc::backends::cpu;
#if defined(PMC_HAVE_OWN_BGEMM)
  register_gemm_bf16<bf16>("BM_GemmBf16/own_avx512bf16",
                           [](const MatDesc<const bf16>& a, const MatDesc<const bf16>& b, const MatDesc<bf16>& c) {
                             cpu::bgemm::gemm<bf16>(a, b, c, 1.f, 0.f);
                           });
#endif
  register_gemm_bf16<bf16>("BM_GemmBf16/staged",
                           [](const MatDesc<const bf16>& a, const MatDesc<const bf16>& b, const MatDesc<bf16>& c) {
                             cpu::gemm_lowp<bf16>(a, b, c, 1.f, 0.f);
                           });
  register_gemm_bf16<bf16>("BM_GemmBf16/widened_avx2",
                           [](const MatDesc<const bf16>& a, const MatDesc<const bf16>& b, const MatDesc<bf16>& c) {
                             cpu::sgemm::gemm<cpu::sgemm::Avx2, bf16>(a, b, c, 1.f, 0.f);
                           });
  register_gemm_bf16<float>("BM_GemmBf16/f32_own_avx2",
                            [](const MatDesc<const float>& a, const MatDesc<const float>& b, const MatDesc<float>& c) {
                              cpu::sgemm::gemm<cpu::sgemm::Avx2>(a, b, c, 1.f, 0.f);
                            });
#if defined(__AVX512F__)
  register_gemm_bf16<bf16>("BM_GemmBf16/widened_avx512",
                           [](const MatDesc<const bf16>& a, const MatDesc<const bf16>& b, const MatDesc<bf16>& c) {
                             cpu::sgemm::gemm<cpu::sgemm::Avx512, bf16>(a, b, c, 1.f, 0.f);
                           });
  register_gemm_bf16<float>("BM_GemmBf16/f32_own_avx512",
                            [](const MatDesc<const float>& a, const MatDesc<const float>& b, const MatDesc<float>& c) {
                              cpu::sgemm::gemm<cpu::sgemm::Avx512>(a, b, c, 1.f, 0.f);
                            });
#endif
#ifdef PMC_HAVE_AMX_BGEMM
  if (cpu::amx::available())  // registered only where the CPU runs AMX tiles
    register_gemm_bf16<bf16>("BM_GemmBf16/own_amx",
                             [](const MatDesc<const bf16>& a, const MatDesc<const bf16>& b, const MatDesc<bf16>& c) {
                               cpu::amx::gemm<bf16>(a, b, c, 1.f, 0.f);
                             });
#endif
  return true;
}();

#ifdef PMC_HAVE_AMX_BGEMM
/// tdpbf16ps's peak on the micro-kernel's three accumulator tiles (16 · 16 · 32 · 2 = 16384 flops an instruction):
/// registered where the CPU runs AMX tiles. Args: threads.
void BM_PeakAmx(benchmark::State& st) {
  namespace amx = pmc::backends::cpu::amx;
  const int threads = static_cast<int>(st.range(0));
  constexpr std::int64_t iters = 1 << 18;
  for (auto _ : st) {
#pragma omp parallel num_threads(threads)
    {
      alignas(64) std::uint16_t zeros[16][32] = {};
      const amx::Kernel<amx::Hardware>::Thread tiles;
      amx::Hardware::load<3>(zeros, 64);
      amx::Hardware::load<4>(zeros, 64);
      amx::Hardware::load<5>(zeros, 64);
      amx::Hardware::load<6>(zeros, 64);
      for (std::int64_t i = 0; i < iters; ++i) {
        amx::Hardware::dot<0, 3, 4>();
        amx::Hardware::dot<1, 3, 5>();
        amx::Hardware::dot<2, 3, 6>();
      }
    }
  }
  flops(st, 16384.0 * 3 * static_cast<double>(iters) * threads);
}
[[maybe_unused]] const bool amx_peak_benchmark = [] {
  if (pmc::backends::cpu::amx::available())
    PMC_BENCH(BM_PeakAmx)->ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond);
  return true;
}();
#endif
#endif

// ---- RMSNorm, RoPE, SwiGLU, cross-entropy -----------------------------------------------------------------

void BM_RmsNorm_Forward(benchmark::State& st) {
  const std::int64_t n = st.range(0);
  const auto x = random<float>({n, kDim}, 1), w = random<float>({kDim}, 2);
  Tensor<float> y({n, kDim}), rstd({n});
  for (auto _ : st) pmc::ops::RmsNorm<pmc::Cpu>::forward(x, w, 1e-5f, y, rstd);
  flops(st, 4.0 * n * kDim);  // square-add, then two multiplies per element
  bytes(st, 2.0 * 4 * n * kDim);
}
PMC_BENCH(BM_RmsNorm_Forward)->ArgName("tokens")->Arg(512)->Unit(benchmark::kMicrosecond);

void BM_RmsNorm_Backward(benchmark::State& st) {
  const std::int64_t n = st.range(0);
  const auto x = random<float>({n, kDim}, 1), w = random<float>({kDim}, 2), dy = random<float>({n, kDim}, 3);
  Tensor<float> y({n, kDim}), rstd({n}), dx({n, kDim}), dw({kDim});
  pmc::ops::RmsNorm<pmc::Cpu>::forward(x, w, 1e-5f, y, rstd);
  for (auto _ : st) pmc::ops::RmsNorm<pmc::Cpu>::backward(x, w, rstd, dy, dx, dw);
  flops(st, 10.0 * n * kDim);
  bytes(st, 4.0 * 4 * n * kDim);
}
PMC_BENCH(BM_RmsNorm_Backward)->ArgName("tokens")->Arg(512)->Unit(benchmark::kMicrosecond);

void BM_Rope_Forward(benchmark::State& st) {
  const std::int64_t t = st.range(0);
  auto x = random<float>({1, t, 32, 128}, 1);
  for (auto _ : st) pmc::ops::Rope<pmc::Cpu>::forward(x, 0, 1e4f, pmc::ops::RopeLayout::rotate_half, x);
  flops(st, 6.0 * t * 32 * 64);
  bytes(st, 2.0 * 4 * t * kDim);
}
PMC_BENCH(BM_Rope_Forward)->ArgName("tokens")->Arg(512)->Unit(benchmark::kMicrosecond);

void BM_SwiGlu_Forward(benchmark::State& st) {
  const std::int64_t n = st.range(0);
  const auto a = random<float>({n, kFfn}, 1, -4, 4), b = random<float>({n, kFfn}, 2);
  Tensor<float> h({n, kFfn});
  for (auto _ : st) pmc::ops::SwiGlu<pmc::Cpu>::forward(a, b, h);
  flops(st, 5.0 * n * kFfn);  // exp counted as one
  bytes(st, 3.0 * 4 * n * kFfn);
}
PMC_BENCH(BM_SwiGlu_Forward)->ArgName("tokens")->Arg(512)->Unit(benchmark::kMillisecond);

void BM_SwiGlu_Backward(benchmark::State& st) {
  const std::int64_t n = st.range(0);
  const auto a = random<float>({n, kFfn}, 1, -4, 4), b = random<float>({n, kFfn}, 2), dh = random<float>({n, kFfn}, 3);
  Tensor<float> da({n, kFfn}), db({n, kFfn});
  for (auto _ : st) pmc::ops::SwiGlu<pmc::Cpu>::backward(a, b, dh, da, db);
  flops(st, 11.0 * n * kFfn);
  bytes(st, 7.0 * 4 * n * kFfn);
}
PMC_BENCH(BM_SwiGlu_Backward)->ArgName("tokens")->Arg(512)->Unit(benchmark::kMillisecond);

void BM_CrossEntropy_Forward(benchmark::State& st) {
  const std::int64_t n = st.range(0);
  const auto z = random<float>({n, kVocab}, 1, -5, 5);
  Tensor<std::int32_t> y({n});
  for (std::int64_t i = 0; i < n; ++i) y[i] = static_cast<std::int32_t>((i * 7919) % kVocab);
  Tensor<float> lse({n});
  for (auto _ : st) benchmark::DoNotOptimize(pmc::ops::CrossEntropy<pmc::Cpu>::forward(z, y, lse).loss);
  flops(st, 4.0 * n * kVocab);
  bytes(st, 4.0 * n * kVocab);
}
PMC_BENCH(BM_CrossEntropy_Forward)->ArgName("tokens")->Arg(512)->Unit(benchmark::kMillisecond);

void BM_CrossEntropy_Backward(benchmark::State& st) {
  const std::int64_t n = st.range(0);
  const auto z = random<float>({n, kVocab}, 1, -5, 5);
  Tensor<std::int32_t> y({n});
  for (std::int64_t i = 0; i < n; ++i) y[i] = static_cast<std::int32_t>((i * 7919) % kVocab);
  Tensor<float> lse({n}), dz({n, kVocab});
  const auto r = pmc::ops::CrossEntropy<pmc::Cpu>::forward(z, y, lse);
  for (auto _ : st) pmc::ops::CrossEntropy<pmc::Cpu>::backward(z, y, lse, 1.0, r.count, dz);
  flops(st, 4.0 * n * kVocab);
  bytes(st, 3.0 * 4 * n * kVocab);
}
PMC_BENCH(BM_CrossEntropy_Backward)->ArgName("tokens")->Arg(512)->Unit(benchmark::kMillisecond);

// ---- attention ----------------------------------------------------------------------------------------
// FLOP counted over the full (T, S) score block per head, as a masked implementation executes it; pmc computes
// only the causal lower triangle (a block of 64 queries at a time), which shows as a higher rate.

/// Args: T, H, Dh (B = 1, Hkv = H, S = T).
void BM_Attention_Forward(benchmark::State& st) {
  const std::int64_t t = st.range(0), h = st.range(1), dh = st.range(2);
  const auto q = random<float>({1, t, h, dh}, 1), k = random<float>({1, t, h, dh}, 2),
             v = random<float>({1, t, h, dh}, 3);
  Tensor<float> out({1, t, h, dh}), probs({1, h, t, t});
  for (auto _ : st) pmc::ops::Attention<pmc::Cpu>::forward(q, k, v, 0, out, probs);
  flops(st, 4.0 * h * t * t * dh);
}
PMC_BENCH(BM_Attention_Forward)
    ->ArgNames({"T", "H", "Dh"})
    ->Args({512, 32, 128})
    ->Args({128, 8, 64})
    ->Args({2048, 8, 64})
    ->Unit(benchmark::kMillisecond);

void BM_Attention_Backward(benchmark::State& st) {
  const std::int64_t t = st.range(0), h = st.range(1), dh = st.range(2);
  const auto q = random<float>({1, t, h, dh}, 1), k = random<float>({1, t, h, dh}, 2),
             v = random<float>({1, t, h, dh}, 3);
  const auto dout = random<float>({1, t, h, dh}, 4);
  Tensor<float> out({1, t, h, dh}), probs({1, h, t, t}), dq({1, t, h, dh}), dk({1, t, h, dh}), dv({1, t, h, dh});
  pmc::ops::Attention<pmc::Cpu>::forward(q, k, v, 0, out, probs);
  for (auto _ : st) pmc::ops::Attention<pmc::Cpu>::backward(q, k, v, probs, dout, dq, dk, dv);
  flops(st, 8.0 * h * t * t * dh);
}
PMC_BENCH(BM_Attention_Backward)
    ->ArgNames({"T", "H", "Dh"})
    ->Args({512, 32, 128})
    ->Args({128, 8, 64})
    ->Args({2048, 8, 64})
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();

// SPDX-License-Identifier: MIT
// Shared by the CUDA benchmarks: the device check, cudaEvent timing, the --peak_tflops flag.
#pragma once

#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include <pmc/cuda.hpp>

namespace pmc::bench {

/// Dense bf16 tensor-core peak of an H100 SXM (989.4 TFLOP/s without sparsity); --peak_tflops=<x> overrides it.
inline double& peak_tflops() {
  static double p = 989.0;
  return p;
}

/// Removes --peak_tflops=<x> from argv (before benchmark::Initialize sees it).
inline void parse_peak_flag(int& argc, char** argv) {
  int out = 1;
  for (int i = 1; i < argc; ++i) {
    constexpr const char* flag = "--peak_tflops=";
    if (std::strncmp(argv[i], flag, std::strlen(flag)) == 0) peak_tflops() = std::atof(argv[i] + std::strlen(flag));
    else argv[out++] = argv[i];
  }
  argc = out;
}

/// False (and the benchmark marked skipped with a reason) when there is no GPU.
inline bool have_device(benchmark::State& state) {
  if (cuda::cuda_device_count() > 0) return true;
  state.SkipWithError("no CUDA device (or driver) on this machine");
  return false;
}

/// Times f() on the current stream with CUDA events; seconds.
template <class F>
double time_on_gpu(F&& f) {
  cudaEvent_t start, stop;
  PMC_CUDA_CHECK(cudaEventCreate(&start));
  PMC_CUDA_CHECK(cudaEventCreate(&stop));
  PMC_CUDA_CHECK(cudaEventRecord(start, cuda::current_stream()));
  f();
  PMC_CUDA_CHECK(cudaEventRecord(stop, cuda::current_stream()));
  PMC_CUDA_CHECK(cudaEventSynchronize(stop));
  float ms = 0;
  PMC_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return static_cast<double>(ms) * 1e-3;
}

}  // namespace pmc::bench

/// main(): the --peak_tflops flag, then Google Benchmark.
#define PMC_CUDA_BENCHMARK_MAIN()                                   \
  int main(int argc, char** argv) {                                 \
    ::pmc::bench::parse_peak_flag(argc, argv);                      \
    ::benchmark::Initialize(&argc, argv);                           \
    if (::benchmark::ReportUnrecognizedArguments(argc, argv)) return 1; \
    ::benchmark::RunSpecifiedBenchmarks();                          \
    ::benchmark::Shutdown();                                        \
    return 0;                                                       \
  }

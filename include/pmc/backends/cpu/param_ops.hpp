// SPDX-License-Identifier: MIT
// ParamOps<Cpu>: the flat-buffer helpers of the optimizers (norms, scaling, accumulation, conversion), and the
// chunked OpenMP loop the CPU optimizer kernels share.
#pragma once

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <vector>

#include <Eigen/Core>

#include <pmc/core/device.hpp>
#include <pmc/core/dtype.hpp>
#include <pmc/optim/kernels.hpp>

namespace pmc::optim {

namespace cpu_detail {

/// Elements per chunk: the optimizer updates are memory-bound, so each thread streams whole chunks and
/// every statement of a kernel re-reads a chunk from L1/L2 rather than memory (4 double arrays × 4096 =
/// 128 KiB). A fixed chunk size also fixes the reduction order of sum_squares for any thread count.
inline constexpr std::int64_t kChunk = 4096;

/// Calls f(begin, count) for the chunks of [0, n), in parallel when there is more than one.
template <class F>
void for_each_chunk(std::int64_t n, F&& f) {
  const std::int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (chunks > 1)
  for (std::int64_t c = 0; c < chunks; ++c) {
    const std::int64_t b = c * kChunk;
    f(b, std::min(kChunk, n - b));
  }
}

template <class T>
using ArrayMap = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using ConstArrayMap = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;

}  // namespace cpu_detail

template <>
struct ParamOps<Cpu> {
  template <class T>
  static double sum_squares(const T* x, std::int64_t n) {
    using namespace cpu_detail;
    const std::int64_t chunks = (n + kChunk - 1) / kChunk;
    std::vector<double> partial(static_cast<std::size_t>(chunks), 0.0);
    for_each_chunk(n, [&](std::int64_t b, std::int64_t k) {
      double s = 0;
      if constexpr (std::floating_point<T>) {
        s = ConstArrayMap<T>(x + b, k).template cast<double>().square().sum();
      } else {
        for (std::int64_t i = 0; i < k; ++i) {
          const double v = static_cast<float>(x[b + i]);
          s += v * v;
        }
      }
      partial[static_cast<std::size_t>(b / kChunk)] = s;
    });
    double total = 0;  // summed in chunk order: the same result for any number of threads
    for (double s : partial) total += s;
    return total;
  }

  template <class T>
  static void scale(T* x, std::int64_t n, T factor) {
    cpu_detail::for_each_chunk(n, [&](std::int64_t b, std::int64_t k) {
      for (std::int64_t i = b; i < b + k; ++i) x[i] = static_cast<T>(static_cast<compute_t<T>>(x[i]) * factor);
    });
  }

  template <class T>
  static bool all_finite(const T* x, std::int64_t n) {
    using namespace cpu_detail;
    const std::int64_t chunks = (n + kChunk - 1) / kChunk;
    std::vector<char> ok(static_cast<std::size_t>(chunks), 1);
    for_each_chunk(n, [&](std::int64_t b, std::int64_t k) {
      bool f = true;
      if constexpr (std::floating_point<T>) {
        f = ConstArrayMap<T>(x + b, k).allFinite();
      } else {
        for (std::int64_t i = 0; i < k; ++i) f = f && std::isfinite(static_cast<float>(x[b + i]));
      }
      ok[static_cast<std::size_t>(b / kChunk)] = f;
    });
    return std::all_of(ok.begin(), ok.end(), [](char c) { return c != 0; });
  }

  template <class G, class T>
  static void axpy(const G* x, T* y, std::int64_t n, T alpha) {
    cpu_detail::for_each_chunk(n, [&](std::int64_t b, std::int64_t k) {
      for (std::int64_t i = b; i < b + k; ++i) y[i] += alpha * static_cast<T>(static_cast<compute_t<G>>(x[i]));
    });
  }

  template <class S, class T>
  static void convert(const S* src, T* dst, std::int64_t n) {
    cpu_detail::for_each_chunk(n, [&](std::int64_t b, std::int64_t k) {
      // through compute_t<S>: bf16/f16 → float is exact, and T's constructor from float rounds to nearest even
      for (std::int64_t i = b; i < b + k; ++i) dst[i] = static_cast<T>(static_cast<compute_t<S>>(src[i]));
    });
  }

  template <class T>
  static void fill(T* x, std::int64_t n, T value) {
    cpu_detail::for_each_chunk(n, [&](std::int64_t b, std::int64_t k) { std::fill_n(x + b, k, value); });
  }
};

}  // namespace pmc::optim

// SPDX-License-Identifier: MIT
// ParamOps<Cpu>: the flat-buffer helpers of the optimizers (norms, scaling, accumulation, conversion), and the
// chunked OpenMP loop the CPU optimizer kernels share.
#pragma once

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include <Eigen/Core>

#include <pmc/core/device.hpp>
#include <pmc/core/dtype.hpp>
#include <pmc/ops/optimizer.hpp>

namespace pmc::ops {

namespace cpu_detail {

/// Elements per chunk: the unit of OpenMP work (large enough to amortize scheduling, small enough to balance
/// the threads on small tensors). A fixed chunk size also fixes the reduction order of sum_squares and
/// all_finite for any thread count, so results do not depend on OMP_NUM_THREADS.
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
      partial[static_cast<std::size_t>(b / kChunk)] = sum_squares_chunk(x + b, k);
    });
    double total = 0;  // summed in chunk order: the same result for any number of threads
    for (double s : partial) total += s;
    return total;
  }

  /// Σ x² of one chunk in double, in 8 interleaved lanes: independent accumulators the compiler keeps in
  /// vector registers (one double accumulator is a serial chain it may not reorder without -ffast-math), and a
  /// fixed summation order for any T (also bf16/f16, which Eigen arrays do not take).
  template <class T>
  static double sum_squares_chunk(const T* x, std::int64_t k) {
    constexpr int kLanes = 8;
    double acc[kLanes] = {};
    const std::int64_t body = k - k % kLanes;
    for (std::int64_t i = 0; i < body; i += kLanes)
      for (int l = 0; l < kLanes; ++l) {
        const double v = static_cast<compute_t<T>>(x[i + l]);
        acc[l] += v * v;
      }
    double tail = 0;  // a separate scalar: indexing acc by a run-time lane would keep acc in memory
    for (std::int64_t i = body; i < k; ++i) {
      const double v = static_cast<compute_t<T>>(x[i]);
      tail += v * v;
    }
    return (((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))) + tail;
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
    if constexpr (std::is_same_v<S, T>) {  // a copy, bit for bit, each thread its own range of chunks
      cpu_detail::for_each_chunk(
          n, [&](std::int64_t b, std::int64_t k) { std::memcpy(dst + b, src + b, static_cast<std::size_t>(k) * sizeof(T)); });
    } else {
      cpu_detail::for_each_chunk(n, [&](std::int64_t b, std::int64_t k) {
        // through compute_t<S>: bf16/f16 → float is exact, and T's constructor from float rounds to nearest even
        for (std::int64_t i = b; i < b + k; ++i) dst[i] = static_cast<T>(static_cast<compute_t<S>>(src[i]));
      });
    }
  }

  template <class T>
  static void fill(T* x, std::int64_t n, T value) {
    cpu_detail::for_each_chunk(n, [&](std::int64_t b, std::int64_t k) { std::fill_n(x + b, k, value); });
  }
};

}  // namespace pmc::ops

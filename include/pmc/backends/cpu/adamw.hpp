// SPDX-License-Identifier: MIT
// AdamWKernel<Cpu>: the fused AdamW update over a flat buffer, chunked over OpenMP threads, Eigen-vectorized.
#pragma once

#include <concepts>
#include <cstdint>

#include <pmc/backends/cpu/param_ops.hpp>
#include <pmc/core/device.hpp>
#include <pmc/optim/kernels.hpp>

namespace pmc::optim {

template <>
struct AdamWKernel<Cpu> {
  /// See optim/kernels.hpp for the formula. The four statements run over one chunk at a time, so p, g, m
  /// and v are read from memory once and written once per step (the update is memory-bound: 4 reads, 3
  /// writes per element), and the operation order is torch's.
  template <std::floating_point T>
  static void step(T* p, const T* g, T* m, T* v, std::int64_t n, const AdamWCoefficients& c) {
    using namespace cpu_detail;
    const T decay = static_cast<T>(c.decay), omb1 = static_cast<T>(c.one_minus_beta1);
    const T b2 = static_cast<T>(c.beta2), omb2 = static_cast<T>(c.one_minus_beta2);
    const T neg_step = static_cast<T>(-c.step_size), bc2s = static_cast<T>(c.bc2_sqrt);
    const T eps = static_cast<T>(c.eps);
    const bool decays = c.decay != 1.0;
    for_each_chunk(n, [&](std::int64_t b, std::int64_t k) {
      ArrayMap<T> P(p + b, k), M(m + b, k), V(v + b, k);
      ConstArrayMap<T> G(g + b, k);
      if (decays) P *= decay;
      M += omb1 * (G - M);
      V = V * b2 + (omb2 * G) * G;
      P += (neg_step * M) / ((V.sqrt() / bc2s) + eps);
    });
  }
};

}  // namespace pmc::optim

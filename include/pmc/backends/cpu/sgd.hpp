// SPDX-License-Identifier: MIT
// SgdKernel<Cpu>: the SGD (momentum, Nesterov, L2 weight decay) update over a flat buffer, chunked over OpenMP.
#pragma once

#include <concepts>
#include <cstdint>

#include <pmc/backends/cpu/param_ops.hpp>
#include <pmc/core/device.hpp>
#include <pmc/ops/optimizer.hpp>

namespace pmc::ops {

template <>
struct SgdKernel<Cpu> {
  /// See ops/optimizer.hpp for the formula; one pass over each chunk, in torch's operation order.
  template <std::floating_point T>
  static void step(T* p, const T* g, T* buf, std::int64_t n, const SgdCoefficients& c) {
    const T lr = static_cast<T>(c.lr), mu = static_cast<T>(c.momentum);
    const T damp = static_cast<T>(1.0 - c.dampening), wd = static_cast<T>(c.weight_decay);
    const bool has_wd = c.weight_decay != 0, has_mu = c.momentum != 0;
    cpu_detail::for_each_chunk(n, [&](std::int64_t b, std::int64_t k) {
      for (std::int64_t i = b; i < b + k; ++i) {
        T d = has_wd ? g[i] + wd * p[i] : g[i];
        if (has_mu) {
          buf[i] = c.first_step ? d : buf[i] * mu + damp * d;
          d = c.nesterov ? d + mu * buf[i] : buf[i];
        }
        p[i] = p[i] + (-lr) * d;
      }
    });
  }
};

}  // namespace pmc::ops

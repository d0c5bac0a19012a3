// SPDX-License-Identifier: MIT
// Rope<Cpu>: rotary embedding in both pair layouts, any RoPE scaling; angles from a per-call (T, Dh/2) cos/sin table.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include <pmc/backends/cpu/eigen.hpp>
#include <pmc/core/tensor.hpp>
#include <pmc/ops/rope.hpp>

namespace pmc::ops {

template <>
struct Rope<Cpu> {
  template <class T>
  static void forward(const Tensor<T, Cpu>& x, std::int64_t pos0, const RopeParams& rope, RopeLayout layout,
                      const Tensor<T, Cpu>& y) {
    check_rope_args(x, y, pos0);
    check_head_layout(x, y, "rope");
    rotate(x, y, pos0, rope, layout, +1, false);
  }

  template <class T>
  static void backward(const Tensor<T, Cpu>& dy, std::int64_t pos0, const RopeParams& rope, RopeLayout layout,
                       const Tensor<T, Cpu>& dx) {
    if (!dx.defined()) return;
    check_rope_backward_args(dy, dx, pos0);
    check_head_layout(dy, dx, "rope backward");
    rotate(dy, dx, pos0, rope, layout, -1, true);
  }

 private:
  /// The CPU's layout need: the head dimension is contiguous (the other strides are free).
  template <class T>
  static void check_head_layout(const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& y, const char* op) {
    PMC_CHECK(x.size(3) <= 1 || (x.strides()[3] == 1 && y.strides()[3] == 1), op,
              ": the head dimension must be contiguous (strides ", x.strides().str(), " and ", y.strides().str(), ")");
  }

  /// dst (=|+=) R(sign·θ) src for every head vector; src and dst may be the same memory when !accumulate.
  template <class T>
  static void rotate(const Tensor<T, Cpu>& src, const Tensor<T, Cpu>& dst, std::int64_t pos0, const RopeParams& rope,
                     RopeLayout layout, int sign, bool accumulate) {
    using C = compute_t<T>;
    const std::int64_t nb = src.size(0), nt = src.size(1), nh = src.size(2), dh = src.size(3), half = dh / 2;
    // Angles in double: p · θ_i reaches ~10⁵ rad at long contexts, where float would lose the phase.
    std::vector<C> cs(static_cast<std::size_t>(nt * half)), sn(cs.size());
    const double m = rope_amplitude(rope);
    for (std::int64_t i = 0; i < half; ++i) {
      const double inv_freq = rope_inv_freq(rope, i, dh, pos0 + nt);  // the call ends at position pos0 + T - 1
      for (std::int64_t t = 0; t < nt; ++t) {
        const double a = static_cast<double>(pos0 + t) * inv_freq;
        cs[static_cast<std::size_t>(t * half + i)] = static_cast<C>(m * std::cos(a));
        sn[static_cast<std::size_t>(t * half + i)] = static_cast<C>(m * sign * std::sin(a));
      }
    }
    const std::int64_t ia = layout == RopeLayout::interleaved ? 2 : 1;     // element of pair i: a = ia·i
    const std::int64_t ob = layout == RopeLayout::interleaved ? 1 : half;  // b = a + ob
    const auto& ss = src.strides();
    const auto& ds = dst.strides();
    backends::cpu::parallel_for(nb * nt, nh * dh, [&](std::int64_t bt) {
      const std::int64_t b = bt / nt, t = bt % nt;
      const C* c = cs.data() + t * half;
      const C* s = sn.data() + t * half;
      for (std::int64_t h = 0; h < nh; ++h) {
        const T* x = src.data() + b * ss[0] + t * ss[1] + h * ss[2];
        T* y = dst.data() + b * ds[0] + t * ds[1] + h * ds[2];
        for (std::int64_t i = 0; i < half; ++i) {
          const std::int64_t ka = ia * i, kb = ka + ob;
          const C xa = static_cast<C>(x[ka]), xb = static_cast<C>(x[kb]);
          C ya = xa * c[i] - xb * s[i];
          C yb = xa * s[i] + xb * c[i];
          if (accumulate) {
            ya += static_cast<C>(y[ka]);
            yb += static_cast<C>(y[kb]);
          }
          y[ka] = static_cast<T>(ya);
          y[kb] = static_cast<T>(yb);
        }
      }
    });
  }
};

}  // namespace pmc::ops

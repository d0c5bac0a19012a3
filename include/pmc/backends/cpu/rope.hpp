// SPDX-License-Identifier: MIT
// Rope<Cpu>: rotary embedding in both pair layouts, any RoPE scaling; angles from a per-call (T, Dh/2) cos/sin table,
// or, given per-token positions (packed windows, ops::Segments), from each token's own position.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include <pmc/backends/cpu/eigen.hpp>
#include <pmc/core/tensor.hpp>
#include <pmc/ops/rope.hpp>
#include <pmc/ops/segments.hpp>

namespace pmc::ops {

template <>
struct Rope<Cpu> {
  /// segments (packed windows, pos0 = 0): the token at (b, t) has position segments->position[b·T + t]; the
  /// frequencies still take the call's length pos0 + T (dynamic scaling), as one example alone in a window would.
  template <class T>
  static void forward(const Tensor<T, Cpu>& x, std::int64_t pos0, const RopeParams& rope, RopeLayout layout,
                      const Tensor<T, Cpu>& y, const Segments* segments = nullptr) {
    check_rope_args(x, y, pos0);
    check_head_layout(x, y, "rope");
    if (segments) check_segments(x, pos0, *segments, "rope");
    rotate(x, y, pos0, rope, layout, +1, false, segments);
  }

  template <class T>
  static void backward(const Tensor<T, Cpu>& dy, std::int64_t pos0, const RopeParams& rope, RopeLayout layout,
                       const Tensor<T, Cpu>& dx, const Segments* segments = nullptr) {
    if (!dx.defined()) return;
    check_rope_backward_args(dy, dx, pos0);
    check_head_layout(dy, dx, "rope backward");
    if (segments) check_segments(dy, pos0, *segments, "rope backward");
    rotate(dy, dx, pos0, rope, layout, -1, true, segments);
  }

 private:
  template <class T>
  static void check_segments(const Tensor<T, Cpu>& x, std::int64_t pos0, const Segments& s, const char* op) {
    PMC_CHECK(pos0 == 0, op, ": packed segments need pos0 = 0 (no KV cache), got ", pos0);
    s.check(x.size(0), x.size(1), op);
  }

  /// The CPU's layout need: the head dimension is contiguous (the other strides are free).
  template <class T>
  static void check_head_layout(const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& y, const char* op) {
    PMC_CHECK(x.size(3) <= 1 || (x.strides()[3] == 1 && y.strides()[3] == 1), op,
              ": the head dimension must be contiguous (strides ", x.strides().str(), " and ", y.strides().str(), ")");
  }

  /// dst (=|+=) R(sign·θ) src for every head vector; src and dst may be the same memory when !accumulate.
  template <class T>
  static void rotate(const Tensor<T, Cpu>& src, const Tensor<T, Cpu>& dst, std::int64_t pos0, const RopeParams& rope,
                     RopeLayout layout, int sign, bool accumulate, const Segments* segments = nullptr) {
    using C = compute_t<T>;
    const std::int64_t nb = src.size(0), nt = src.size(1), nh = src.size(2), dh = src.size(3), half = dh / 2;
    // Angles in double: p · θ_i reaches ~10⁵ rad at long contexts, where float would lose the phase.
    // One row of the table per position: pos0 + t, or with segments each token's own (B·T rows).
    const std::int64_t rows = segments ? nb * nt : nt;
    std::vector<C> cs(static_cast<std::size_t>(rows * half)), sn(cs.size());
    const double m = rope_amplitude(rope);
    for (std::int64_t i = 0; i < half; ++i) {
      const double inv_freq = rope_inv_freq(rope, i, dh, pos0 + nt);  // the call ends at position pos0 + T - 1
      for (std::int64_t r = 0; r < rows; ++r) {
        const double p = segments ? segments->position[static_cast<std::size_t>(r)] : static_cast<double>(pos0 + r);
        const double a = p * inv_freq;
        cs[static_cast<std::size_t>(r * half + i)] = static_cast<C>(m * std::cos(a));
        sn[static_cast<std::size_t>(r * half + i)] = static_cast<C>(m * sign * std::sin(a));
      }
    }
    const std::int64_t ia = layout == RopeLayout::interleaved ? 2 : 1;     // element of pair i: a = ia·i
    const std::int64_t ob = layout == RopeLayout::interleaved ? 1 : half;  // b = a + ob
    const auto& ss = src.strides();
    const auto& ds = dst.strides();
    backends::cpu::parallel_for(nb * nt, nh * dh, [&](std::int64_t bt) {
      const std::int64_t b = bt / nt, t = bt % nt;
      const std::int64_t row = segments ? bt : t;
      const C* c = cs.data() + row * half;
      const C* s = sn.data() + row * half;
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

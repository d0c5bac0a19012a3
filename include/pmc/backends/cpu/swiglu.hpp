// SPDX-License-Identifier: MIT
// SwiGlu<Cpu>: SiLU and the SwiGLU gate, row-parallel, in compute_t<T>.
#pragma once

#include <cmath>
#include <cstdint>

#include <pmc/backends/cpu/eigen.hpp>
#include <pmc/core/tensor.hpp>
#include <pmc/ops/swiglu.hpp>

namespace pmc::ops {

template <>
struct SwiGlu<Cpu> {
  template <class T>
  static void silu_forward(const Tensor<T, Cpu>& a, const Tensor<T, Cpu>& y) {
    using C = compute_t<T>;
    check_same_shape(a.shape(), y.shape(), "silu: a and y");
    const auto ar = backends::cpu::as_rows(a, "silu a"), yr = backends::cpu::as_rows(y, "silu y");
    each_row(ar, 8, [&](std::int64_t i) {
      const T* ai = ar.row(i);
      T* yi = yr.row(i);
      for (std::int64_t j = 0; j < ar.d; ++j) {
        const C x = static_cast<C>(ai[j]);
        yi[j] = static_cast<T>(x * sigmoid(x));
      }
    });
  }

  template <class T>
  static void silu_backward(const Tensor<T, Cpu>& a, const Tensor<T, Cpu>& dy, const Tensor<T, Cpu>& da) {
    using C = compute_t<T>;
    if (!da.defined()) return;
    check_same_shape(a.shape(), dy.shape(), "silu backward: a and dy");
    check_same_shape(a.shape(), da.shape(), "silu backward: a and da");
    const auto ar = backends::cpu::as_rows(a, "silu a"), gr = backends::cpu::as_rows(dy, "silu dy"),
               dr = backends::cpu::as_rows(da, "silu da");
    each_row(ar, 12, [&](std::int64_t i) {
      const T* ai = ar.row(i);
      const T* gi = gr.row(i);
      T* di = dr.row(i);
      for (std::int64_t j = 0; j < ar.d; ++j) {
        const C x = static_cast<C>(ai[j]), s = sigmoid(x);
        di[j] = static_cast<T>(static_cast<C>(di[j]) + static_cast<C>(gi[j]) * s * (C(1) + x * (C(1) - s)));
      }
    });
  }

  template <class T>
  static void forward(const Tensor<T, Cpu>& a, const Tensor<T, Cpu>& b, const Tensor<T, Cpu>& h) {
    using C = compute_t<T>;
    check_same_shape(a.shape(), b.shape(), "swiglu: a and b");
    check_same_shape(a.shape(), h.shape(), "swiglu: a and h");
    const auto ar = backends::cpu::as_rows(a, "swiglu a"), br = backends::cpu::as_rows(b, "swiglu b"),
               hr = backends::cpu::as_rows(h, "swiglu h");
    each_row(ar, 10, [&](std::int64_t i) {
      const T* ai = ar.row(i);
      const T* bi = br.row(i);
      T* hi = hr.row(i);
      for (std::int64_t j = 0; j < ar.d; ++j) {
        const C x = static_cast<C>(ai[j]);
        hi[j] = static_cast<T>(x * sigmoid(x) * static_cast<C>(bi[j]));
      }
    });
  }

  template <class T>
  static void backward(const Tensor<T, Cpu>& a, const Tensor<T, Cpu>& b, const Tensor<T, Cpu>& dh,
                       const Tensor<T, Cpu>& da, const Tensor<T, Cpu>& db) {
    using C = compute_t<T>;
    check_same_shape(a.shape(), b.shape(), "swiglu backward: a and b");
    check_same_shape(a.shape(), dh.shape(), "swiglu backward: a and dh");
    if (da.defined()) check_same_shape(a.shape(), da.shape(), "swiglu backward: a and da");
    if (db.defined()) check_same_shape(a.shape(), db.shape(), "swiglu backward: a and db");
    const auto ar = backends::cpu::as_rows(a, "swiglu a"), br = backends::cpu::as_rows(b, "swiglu b"),
               gr = backends::cpu::as_rows(dh, "swiglu dh");
    backends::cpu::Rows<T> dar, dbr;
    if (da.defined()) dar = backends::cpu::as_rows(da, "swiglu da");
    if (db.defined()) dbr = backends::cpu::as_rows(db, "swiglu db");
    const bool want_a = da.defined(), want_b = db.defined();
    each_row(ar, 16, [&](std::int64_t i) {
      const T* ai = ar.row(i);
      const T* bi = br.row(i);
      const T* gi = gr.row(i);
      for (std::int64_t j = 0; j < ar.d; ++j) {
        const C x = static_cast<C>(ai[j]), s = sigmoid(x), g = static_cast<C>(gi[j]);
        if (want_a) {
          T& d = dar.row(i)[j];
          d = static_cast<T>(static_cast<C>(d) + g * static_cast<C>(bi[j]) * s * (C(1) + x * (C(1) - s)));
        }
        if (want_b) {
          T& d = dbr.row(i)[j];
          d = static_cast<T>(static_cast<C>(d) + g * x * s);
        }
      }
    });
  }

 private:
  /// σ(x) without overflow: exp of a non-positive argument only.
  template <class C>
  static C sigmoid(C x) {
    if (x >= C(0)) return C(1) / (C(1) + std::exp(-x));
    const C e = std::exp(x);
    return e / (C(1) + e);
  }
  template <class T, class F>
  static void each_row(const backends::cpu::Rows<T>& r, std::int64_t cost, F&& f) {
    backends::cpu::parallel_for(r.n, r.d * cost, f);
  }
};

}  // namespace pmc::ops

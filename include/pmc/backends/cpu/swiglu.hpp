// SPDX-License-Identifier: MIT
// SwiGlu<Cpu>: SiLU and the SwiGLU gate, row-parallel, on Eigen arrays in compute_t<T> (vectorized exp).
#pragma once

#include <cstdint>
#include <type_traits>
#include <vector>

#include <pmc/backends/cpu/eigen.hpp>
#include <pmc/core/tensor.hpp>
#include <pmc/ops/swiglu.hpp>

namespace pmc::ops {

template <>
struct SwiGlu<Cpu> {
  template <class T>
  static void silu_forward(const Tensor<T, Cpu>& a, const Tensor<T, Cpu>& y) {
    check_silu_args(a, y);
    const auto ar = rows(a, "silu a"), yr = rows(y, "silu y");
    each_row(ar, 8, [&](std::int64_t i, auto&& arr) {
      const auto x = arr(ar, i, 0);
      store(yr, i, x * sigmoid(x));
    });
  }

  template <class T>
  static void silu_backward(const Tensor<T, Cpu>& a, const Tensor<T, Cpu>& dy, const Tensor<T, Cpu>& da) {
    check_silu_backward_args(a, dy, da);
    if (!da.defined()) return;
    const auto ar = rows(a, "silu a"), gr = rows(dy, "silu dy"), dr = rows(da, "silu da");
    each_row(ar, 12, [&](std::int64_t i, auto&& arr) {
      const auto x = arr(ar, i, 0);
      const auto s = sigmoid(x).eval();
      add(dr, i, arr(gr, i, 1) * s * (1 + x * (1 - s)));
    });
  }

  template <class T>
  static void forward(const Tensor<T, Cpu>& a, const Tensor<T, Cpu>& b, const Tensor<T, Cpu>& h) {
    check_swiglu_args(a, b, h);
    const auto ar = rows(a, "swiglu a"), br = rows(b, "swiglu b"), hr = rows(h, "swiglu h");
    each_row(ar, 10, [&](std::int64_t i, auto&& arr) {
      const auto x = arr(ar, i, 0);
      store(hr, i, x * sigmoid(x) * arr(br, i, 1));
    });
  }

  template <class T>
  static void backward(const Tensor<T, Cpu>& a, const Tensor<T, Cpu>& b, const Tensor<T, Cpu>& dh,
                       const Tensor<T, Cpu>& da, const Tensor<T, Cpu>& db) {
    check_swiglu_backward_args(a, b, dh, da, db);
    if (!da.defined() && !db.defined()) return;
    const auto ar = rows(a, "swiglu a"), br = rows(b, "swiglu b"), gr = rows(dh, "swiglu dh");
    backends::cpu::Rows<T> dar, dbr;
    if (da.defined()) dar = rows(da, "swiglu da");
    if (db.defined()) dbr = rows(db, "swiglu db");
    each_row(ar, 16, [&](std::int64_t i, auto&& arr) {
      const auto x = arr(ar, i, 0);
      const auto g = arr(gr, i, 1);
      const auto s = sigmoid(x).eval();
      if (dar.data) add(dar, i, g * arr(br, i, 2) * s * (1 + x * (1 - s)));
      if (dbr.data) add(dbr, i, g * x * s);
    });
  }

 private:
  template <class T>
  static backends::cpu::Rows<T> rows(const Tensor<T, Cpu>& t, const char* what) {
    return backends::cpu::as_rows(t, what);
  }

  /// σ(x) = 1 / (1 + e^−x): Eigen's exp clamps its argument, so large |x| gives 0 or 1, never NaN.
  template <class A>
  static auto sigmoid(const A& x) {
    return (1 + (-x).exp()).inverse();
  }

  /// Calls f(i, arr) for every row, where arr(rows, i, slot) is row i as a compute-type Eigen array (the
  /// row itself for float/double, else converted into per-thread scratch `slot`).
  template <class T, class F>
  static void each_row(const backends::cpu::Rows<T>& r, std::int64_t cost, F&& f) {
    using C = compute_t<T>;
    backends::cpu::parallel_for(r.n, r.d * cost, [&](std::int64_t i) {
      auto arr = [](const backends::cpu::Rows<T>& rr, std::int64_t k, int slot) {
        static_cast<void>(slot);
        const C* p;
        if constexpr (std::is_same_v<T, C>) {
          p = rr.row(k);
        } else {
          auto& buf = slot == 0   ? backends::cpu::scratch<C, 0>()
                      : slot == 1 ? backends::cpu::scratch<C, 1>()
                                  : backends::cpu::scratch<C, 2>();
          p = backends::cpu::load_row(rr.row(k), rr.d, buf);
        }
        return backends::cpu::ConstVecMap<C>(p, rr.d).array();
      };
      f(i, arr);
    });
  }

  /// Row i = v (an Eigen array expression in compute_t<T>), evaluated straight into float/double rows.
  template <class T, class E>
  static void store(const backends::cpu::Rows<T>& r, std::int64_t i, const E& v) {
    using C = compute_t<T>;
    if constexpr (std::is_same_v<T, C>) {
      backends::cpu::VecMap<C>(r.row(i), r.d).array() = v;
    } else {
      const Eigen::Array<C, Eigen::Dynamic, 1> e = v;
      T* p = r.row(i);
      for (std::int64_t j = 0; j < r.d; ++j) p[j] = static_cast<T>(e[j]);
    }
  }
  /// Row i += v.
  template <class T, class E>
  static void add(const backends::cpu::Rows<T>& r, std::int64_t i, const E& v) {
    using C = compute_t<T>;
    if constexpr (std::is_same_v<T, C>) {
      backends::cpu::VecMap<C>(r.row(i), r.d).array() += v;
    } else {
      const Eigen::Array<C, Eigen::Dynamic, 1> e = v;
      T* p = r.row(i);
      for (std::int64_t j = 0; j < r.d; ++j) p[j] = static_cast<T>(static_cast<C>(p[j]) + e[j]);
    }
  }
};

}  // namespace pmc::ops

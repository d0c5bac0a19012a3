// SPDX-License-Identifier: MIT
// RmsNorm<Cpu>: one row per OpenMP iteration; rstd and the reductions in compute_t<T>.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include <pmc/backends/cpu/eigen.hpp>
#include <pmc/core/tensor.hpp>
#include <pmc/ops/rms_norm.hpp>

namespace pmc::ops {

template <>
struct RmsNorm<Cpu> {
  template <class T>
  static void forward(const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& w, float eps, const Tensor<T, Cpu>& y,
                      const Tensor<compute_t<T>, Cpu>& rstd) {
    using C = compute_t<T>;
    using namespace backends::cpu;
    check_rms_norm_args(x, w, y, rstd);
    const auto xr = as_rows(x, "rms_norm x");
    const auto yr = as_rows(y, "rms_norm y");
    const bool save = rstd.defined();
    AlignedVector<C> wbuf;
    const C* wp = load_row(w.data(), xr.d, wbuf);
    const std::int64_t d = xr.d;
    parallel_for(xr.n, d, [&](std::int64_t i) {
      auto& xb = scratch<C, 0>();
      const C* xi = load_row(xr.row(i), d, xb);
      const C ms = ConstVecMap<C>(xi, d).squaredNorm() / static_cast<C>(d);
      const C r = C(1) / std::sqrt(ms + static_cast<C>(eps));
      if (save) rstd.data()[i] = r;
      T* yi = yr.row(i);
      for (std::int64_t j = 0; j < d; ++j) yi[j] = static_cast<T>(xi[j] * r * wp[j]);
    });
  }

  template <class T>
  static void backward(const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& w, const Tensor<compute_t<T>, Cpu>& rstd,
                       const Tensor<T, Cpu>& dy, const Tensor<T, Cpu>& dx, const Tensor<T, Cpu>& dw) {
    using C = compute_t<T>;
    using namespace backends::cpu;
    check_rms_norm_backward_args(x, w, rstd, dy, dx, dw);
    const auto xr = as_rows(x, "rms_norm backward x");
    const auto gr = as_rows(dy, "rms_norm backward dy");
    const std::int64_t n = xr.n, d = xr.d;
    AlignedVector<C> wbuf;
    const C* wp = load_row(w.data(), d, wbuf);
    if (dx.defined()) {
      const auto dxr = as_rows(dx, "rms_norm backward dx");
      parallel_for(n, 3 * d, [&](std::int64_t i) {
        auto& xb = scratch<C, 0>();
        auto& gb = scratch<C, 1>();
        const C* xi = load_row(xr.row(i), d, xb);
        const C* gi = load_row(gr.row(i), d, gb);
        const C r = rstd.data()[i];
        const C gx = ConstVecMap<C>(gi, d).cwiseProduct(ConstVecMap<C>(wp, d)).dot(ConstVecMap<C>(xi, d));  // Σ g·x
        const C k = r * r * r * gx / static_cast<C>(d);
        T* o = dxr.row(i);
        for (std::int64_t j = 0; j < d; ++j)
          o[j] = static_cast<T>(static_cast<C>(o[j]) + r * gi[j] * wp[j] - xi[j] * k);
      });
    }
    if (dw.defined()) {
      // Column blocks per thread: each thread sums its columns over all rows, so no partial buffers race.
      constexpr std::int64_t block = 64;
      const std::int64_t nblocks = (d + block - 1) / block;
      parallel_for(nblocks, n * block, [&](std::int64_t b) {
        const std::int64_t j0 = b * block, j1 = std::min(d, j0 + block);
        C acc[block] = {};
        for (std::int64_t i = 0; i < n; ++i) {
          const T* xi = xr.row(i);
          const T* gi = gr.row(i);
          const C r = rstd.data()[i];
          for (std::int64_t j = j0; j < j1; ++j) acc[j - j0] += static_cast<C>(gi[j]) * static_cast<C>(xi[j]) * r;
        }
        for (std::int64_t j = j0; j < j1; ++j)
          dw.data()[j] = static_cast<T>(static_cast<C>(dw.data()[j]) + acc[j - j0]);
      });
    }
  }
};

}  // namespace pmc::ops

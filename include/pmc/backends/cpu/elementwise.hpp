// SPDX-License-Identifier: MIT
// Elementwise<Cpu>: add, mul, scale, accumulate, sum, mean over contiguous tensors (OpenMP over chunks).
#pragma once

#include <cstdint>

#include <pmc/backends/cpu/eigen.hpp>
#include <pmc/core/tensor.hpp>
#include <pmc/ops/elementwise.hpp>

namespace pmc::ops {

template <>
struct Elementwise<Cpu> {
  template <class T>
  static void add(const Tensor<T, Cpu>& a, const Tensor<T, Cpu>& b, const Tensor<T, Cpu>& out) {
    check_elementwise_args("add", a, b, out);
    map2(a, b, out, [](auto x, auto y) { return x + y; });
  }

  template <class T>
  static void mul(const Tensor<T, Cpu>& a, const Tensor<T, Cpu>& b, const Tensor<T, Cpu>& out) {
    check_elementwise_args("mul", a, b, out);
    map2(a, b, out, [](auto x, auto y) { return x * y; });
  }

  template <class T>
  static void scale(const Tensor<T, Cpu>& a, float s, const Tensor<T, Cpu>& out) {
    check_elementwise_args("scale", a, out);
    const auto cs = static_cast<compute_t<T>>(s);
    map2(a, a, out, [cs](auto x, auto) { return cs * x; });
  }

  template <class T>
  static void accumulate(const Tensor<T, Cpu>& dst, const Tensor<T, Cpu>& src, float alpha = 1) {
    check_elementwise_args("accumulate", dst, src);
    const auto ca = static_cast<compute_t<T>>(alpha);
    map2(dst, src, dst, [ca](auto d, auto s) { return d + ca * s; });
  }

  /// Σ a, accumulated in double whatever T is (a float sum of millions of terms would lose digits).
  template <class T>
  static compute_t<T> sum(const Tensor<T, Cpu>& a) {
    check_elementwise_args("sum", a);
    const T* p = a.data();
    const std::int64_t n = a.numel();
    // Summed in chunks, then the chunks in order: the same bits for any thread count.
    constexpr std::int64_t chunk = 1 << 14;
    std::vector<double> partial(static_cast<std::size_t>((n + chunk - 1) / chunk), 0.0);
    backends::cpu::parallel_for(static_cast<std::int64_t>(partial.size()), chunk, [&](std::int64_t c) {
      double acc = 0;
      for (std::int64_t i = c * chunk; i < std::min(n, (c + 1) * chunk); ++i)
        acc += static_cast<double>(static_cast<compute_t<T>>(p[i]));
      partial[static_cast<std::size_t>(c)] = acc;
    });
    double acc = 0;
    for (double s : partial) acc += s;
    return static_cast<compute_t<T>>(acc);
  }

  /// Σ a / numel; 0 for an empty tensor.
  template <class T>
  static compute_t<T> mean(const Tensor<T, Cpu>& a) {
    const std::int64_t n = a.numel();
    return n == 0 ? compute_t<T>(0) : static_cast<compute_t<T>>(static_cast<double>(sum(a)) / static_cast<double>(n));
  }

  /// da += dout ⊙ b, db += dout ⊙ a; each only if defined().
  template <class T>
  static void mul_backward(const Tensor<T, Cpu>& a, const Tensor<T, Cpu>& b, const Tensor<T, Cpu>& dout,
                           const Tensor<T, Cpu>& da, const Tensor<T, Cpu>& db) {
    check_elementwise_args("mul backward", a, b, dout);
    if (da.defined()) {
      check_elementwise_args("mul backward", a, da);
      map3(da, dout, b, [](auto g, auto x, auto y) { return g + x * y; });
    }
    if (db.defined()) {
      check_elementwise_args("mul backward", b, db);
      map3(db, dout, a, [](auto g, auto x, auto y) { return g + x * y; });
    }
  }

 private:
  /// out[i] = f(a[i], b[i]) in compute_t<T>; out may alias a or b.
  template <class T, class F>
  static void map2(const Tensor<T, Cpu>& a, const Tensor<T, Cpu>& b, const Tensor<T, Cpu>& out, F f) {
    using C = compute_t<T>;
    const T* pa = a.data();
    const T* pb = b.data();
    T* po = out.data();
    const std::int64_t n = a.numel();
#pragma omp parallel for schedule(static) if (n >= (1 << 16))
    for (std::int64_t i = 0; i < n; ++i) po[i] = static_cast<T>(f(static_cast<C>(pa[i]), static_cast<C>(pb[i])));
  }
  /// acc[i] = f(acc[i], x[i], y[i]) in compute_t<T>.
  template <class T, class F>
  static void map3(const Tensor<T, Cpu>& acc, const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& y, F f) {
    using C = compute_t<T>;
    T* pa = acc.data();
    const T* px = x.data();
    const T* py = y.data();
    const std::int64_t n = acc.numel();
#pragma omp parallel for schedule(static) if (n >= (1 << 16))
    for (std::int64_t i = 0; i < n; ++i)
      pa[i] = static_cast<T>(f(static_cast<C>(pa[i]), static_cast<C>(px[i]), static_cast<C>(py[i])));
  }
};

}  // namespace pmc::ops

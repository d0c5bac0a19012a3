// SPDX-License-Identifier: MIT
// Comparing tensors in tests: max-abs and max-relative differences, NMSE, dot products, random tensors.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include <pmc/core/tensor.hpp>

namespace pmc::test {

/// The elements of t (any strides, any element type) as doubles, row-major.
template <class T>
std::vector<double> to_doubles(const Tensor<T>& t) {
  std::vector<double> out;
  out.reserve(static_cast<std::size_t>(t.numel()));
  const auto c = t.contiguous();
  for (std::int64_t i = 0; i < c.numel(); ++i) out.push_back(static_cast<double>(static_cast<compute_t<T>>(c[i])));
  return out;
}

/// A tensor of uniform(-1, 1) values.
template <class T, class Rng>
Tensor<T> random_tensor(const Shape& shape, Rng& rng, double lo = -1.0, double hi = 1.0) {
  std::uniform_real_distribution<double> dist(lo, hi);
  Tensor<T> t(shape);
  for (auto& x : t.span()) x = static_cast<T>(static_cast<compute_t<T>>(dist(rng)));
  return t;
}

/// max |a − b|; shapes must agree.
template <class A, class B>
double max_abs_diff(const Tensor<A>& a, const Tensor<B>& b) {
  check_same_shape(a.shape(), b.shape(), "max_abs_diff");
  const auto x = to_doubles(a), y = to_doubles(b);
  double m = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(x[i]) != std::isnan(y[i])) return INFINITY;
    m = std::max(m, std::abs(x[i] - y[i]));
  }
  return m;
}

/// max |a − b| / max(max |b|, floor): one number per comparison, insensitive to the tensor's scale.
template <class A, class B>
double max_rel_diff(const Tensor<A>& a, const Tensor<B>& b, double floor = 1e-12) {
  check_same_shape(a.shape(), b.shape(), "max_rel_diff");
  const auto y = to_doubles(b);
  double scale = 0;
  for (double v : y) scale = std::max(scale, std::abs(v));
  return max_abs_diff(a, b) / std::max(scale, floor);
}

/// Σ (a − b)² / Σ b²: normalized mean squared error.
template <class A, class B>
double nmse(const Tensor<A>& a, const Tensor<B>& b) {
  check_same_shape(a.shape(), b.shape(), "nmse");
  const auto x = to_doubles(a), y = to_doubles(b);
  double num = 0, den = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    num += (x[i] - y[i]) * (x[i] - y[i]);
    den += y[i] * y[i];
  }
  return den > 0 ? num / den : num;
}

/// Σ a ⊙ b.
template <class A, class B>
double dot(const Tensor<A>& a, const Tensor<B>& b) {
  check_same_shape(a.shape(), b.shape(), "dot");
  const auto x = to_doubles(a), y = to_doubles(b);
  double s = 0;
  for (std::size_t i = 0; i < x.size(); ++i) s += x[i] * y[i];
  return s;
}

/// (b, t) token ids, uniform over [0, vocab) from mt19937_64(seed).
inline Tensor<std::int32_t> random_tokens(std::int64_t b, std::int64_t t, std::uint64_t seed, int vocab) {
  std::mt19937_64 rng(seed);
  Tensor<std::int32_t> x(Shape{b, t});
  for (auto& v : x.span()) v = static_cast<std::int32_t>(rng() % static_cast<std::uint64_t>(vocab));
  return x;
}

}  // namespace pmc::test

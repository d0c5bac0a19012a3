// SPDX-License-Identifier: MIT
// AdamWKernel<Cpu>: the fused AdamW update over a flat buffer: one pass, OpenMP over chunks, SSE2/AVX vectors.
#pragma once

#include <cmath>
#include <concepts>
#include <cstdint>
#include <type_traits>

#if defined(__SSE2__) || defined(__AVX__)
#include <immintrin.h>
#endif

#include <pmc/backends/cpu/param_ops.hpp>
#include <pmc/core/device.hpp>
#include <pmc/ops/optimizer.hpp>

namespace pmc::ops {

namespace cpu_detail {

/// The few vector operations the AdamW update needs, on x86 (AVX when compiled for it, else SSE2).
/// Why not Eigen arrays or a plain loop: GCC vectorizes std::sqrt only under -fno-math-errno (its errno
/// branch blocks the vectorizer), and Eigen 3.4's float sqrt under its default EIGEN_FAST_MATH is rsqrt plus
/// one Newton step, not correctly rounded. The sqrt instructions used here are IEEE-exact, and each operation
/// is a separate rounding (no FMA), in torch's order.
template <class T>
struct Simd {
  static constexpr int width = 0;  // no vector path: the scalar loop does everything
};
#if defined(__AVX__)
template <>
struct Simd<float> {
  static constexpr int width = 8;
  using V = __m256;
  static V set1(float x) { return _mm256_set1_ps(x); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V div(V a, V b) { return _mm256_div_ps(a, b); }
  static V sqrt(V a) { return _mm256_sqrt_ps(a); }
};
template <>
struct Simd<double> {
  static constexpr int width = 4;
  using V = __m256d;
  static V set1(double x) { return _mm256_set1_pd(x); }
  static V load(const double* p) { return _mm256_loadu_pd(p); }
  static void store(double* p, V v) { _mm256_storeu_pd(p, v); }
  static V add(V a, V b) { return _mm256_add_pd(a, b); }
  static V sub(V a, V b) { return _mm256_sub_pd(a, b); }
  static V mul(V a, V b) { return _mm256_mul_pd(a, b); }
  static V div(V a, V b) { return _mm256_div_pd(a, b); }
  static V sqrt(V a) { return _mm256_sqrt_pd(a); }
};
#elif defined(__SSE2__)
template <>
struct Simd<float> {
  static constexpr int width = 4;
  using V = __m128;
  static V set1(float x) { return _mm_set1_ps(x); }
  static V load(const float* p) { return _mm_loadu_ps(p); }
  static void store(float* p, V v) { _mm_storeu_ps(p, v); }
  static V add(V a, V b) { return _mm_add_ps(a, b); }
  static V sub(V a, V b) { return _mm_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm_mul_ps(a, b); }
  static V div(V a, V b) { return _mm_div_ps(a, b); }
  static V sqrt(V a) { return _mm_sqrt_ps(a); }
};
template <>
struct Simd<double> {
  static constexpr int width = 2;
  using V = __m128d;
  static V set1(double x) { return _mm_set1_pd(x); }
  static V load(const double* p) { return _mm_loadu_pd(p); }
  static void store(double* p, V v) { _mm_storeu_pd(p, v); }
  static V add(V a, V b) { return _mm_add_pd(a, b); }
  static V sub(V a, V b) { return _mm_sub_pd(a, b); }
  static V mul(V a, V b) { return _mm_mul_pd(a, b); }
  static V div(V a, V b) { return _mm_div_pd(a, b); }
  static V sqrt(V a) { return _mm_sqrt_pd(a); }
};
#endif

}  // namespace cpu_detail

template <>
struct AdamWKernel<Cpu> {
  /// See ops/optimizer.hpp for the formula. One pass: p, g, m, v are read once and p, m, v written once per
  /// element (the update is memory-bound: 16 bytes read, 12 written per float element).
  template <std::floating_point T>
  static void step(T* p, const T* g, T* m, T* v, std::int64_t n, const AdamWCoefficients& c) {
    const T decay = static_cast<T>(c.decay), omb1 = static_cast<T>(c.one_minus_beta1);
    const T b2 = static_cast<T>(c.beta2), omb2 = static_cast<T>(c.one_minus_beta2);
    const T neg_step = static_cast<T>(-c.step_size), bc2s = static_cast<T>(c.bc2_sqrt);
    const T eps = static_cast<T>(c.eps);
    cpu_detail::for_each_chunk(n, [&](std::int64_t b, std::int64_t k) {
      std::int64_t i = b;
      const std::int64_t end = b + k;
      using S = cpu_detail::Simd<T>;
      if constexpr (S::width > 0) {
        const auto vdecay = S::set1(decay), vomb1 = S::set1(omb1), vb2 = S::set1(b2), vomb2 = S::set1(omb2);
        const auto vneg = S::set1(neg_step), vbc = S::set1(bc2s), veps = S::set1(eps);
        for (; i + S::width <= end; i += S::width) {
          const auto gi = S::load(g + i), mi = S::load(m + i);
          const auto pp = S::mul(S::load(p + i), vdecay);
          const auto mm = S::add(mi, S::mul(vomb1, S::sub(gi, mi)));
          const auto vv = S::add(S::mul(S::load(v + i), vb2), S::mul(S::mul(vomb2, gi), gi));
          S::store(m + i, mm);
          S::store(v + i, vv);
          S::store(p + i, S::add(pp, S::div(S::mul(vneg, mm), S::add(S::div(S::sqrt(vv), vbc), veps))));
        }
      }
      for (; i < end; ++i) {
        const T pp = p[i] * decay;
        const T mm = m[i] + omb1 * (g[i] - m[i]);
        const T vv = v[i] * b2 + (omb2 * g[i]) * g[i];
        m[i] = mm;
        v[i] = vv;
        p[i] = pp + (neg_step * mm) / (std::sqrt(vv) / bc2s + eps);
      }
    });
  }
};

}  // namespace pmc::ops

// SPDX-License-Identifier: MIT
// Small helpers the CPU kernels share: horizontal sums in a fixed order (the same bits whatever calls them), and
// the dispatch of a run-time row count to a kernel templated on it.
#pragma once

#include <type_traits>

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

namespace pmc::backends::cpu::simd {

#if defined(__AVX512F__)
/// The 16 lanes summed by a fixed tree (lane i + 8, then i + 4, i + 2, i + 1): once per output, so a store is cheap
/// enough.
inline float hsum512(__m512 v) {
  alignas(64) float t[16];
  _mm512_store_ps(t, v);
  for (int w = 8; w >= 1; w /= 2)
    for (int i = 0; i < w; ++i) t[i] += t[i + w];
  return t[0];
}
#endif

#if defined(__AVX2__) && defined(__FMA__)
/// The 8 lanes summed: halves, then pairs, then the last two.
inline float hsum256(__m256 v) {
  const __m128 q = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 e = _mm_add_ps(q, _mm_movehl_ps(q, q));
  return _mm_cvtss_f32(_mm_add_ss(e, _mm_movehdup_ps(e)));
}
#endif

/// f(std::integral_constant<int, R>{}) for R = r, 1 ≤ r ≤ 4 (larger r as 4): a kernel taking R rows of x at a time.
template <class F>
decltype(auto) with_rows(int r, F&& f) {
  switch (r) {
    case 1: return f(std::integral_constant<int, 1>{});
    case 2: return f(std::integral_constant<int, 2>{});
    case 3: return f(std::integral_constant<int, 3>{});
    default: return f(std::integral_constant<int, 4>{});
  }
}

}  // namespace pmc::backends::cpu::simd

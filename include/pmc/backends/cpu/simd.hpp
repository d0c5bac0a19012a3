// SPDX-License-Identifier: MIT
// Small SIMD helpers the CPU kernels share: horizontal sums in a fixed order (the same bits whatever calls them).
#pragma once

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

}  // namespace pmc::backends::cpu::simd

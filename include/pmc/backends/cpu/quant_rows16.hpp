// SPDX-License-Identifier: MIT
// q8_0 / q4_0 weights in the 16-row interleaved layout (ops::QuantLayout::rows16, defined in pmc/ops/quantize.hpp)
// and the AVX512-VNNI kernel that multiplies int8-quantized activations by them:
//
//   y (M, N) = x (M, K) · dequant(W)ᵀ,  W (N, K) with N % 16 == 0, K % 32 == 0
//
// The layout holds the same bytes as llama.cpp's row-major blocks, regrouped so that one zmm load brings 4
// consecutive codes of 16 rows (one 32-bit lane a row): for each group of 16 rows, for each block b of 32 columns,
// the 16 rows' fp16 scales (32 bytes), then the codes (q4_0: 4 x 64 bytes, lane r of part i holding row r's bytes
// 4i..4i+3, low nibbles columns 4i..4i+3 and high nibbles 16+4i..16+4i+3; q8_0: 8 x 64 bytes, lane r of part t
// holding row r's codes 4t..4t+3 plus 128, as unsigned bytes). A product is then, per block, vpdpbusd of the
// weights against x's 4 codes broadcast to every lane: 16 outputs at once with no horizontal sum, and one
// conversion and one FMA per block for 16 rows (the row-major kernel spends them per block and row). As llama.cpp
// repacks Q4_0 for its AVX2 / AVX-512 kernels (ggml-cpu's repack.cpp); pmc's lanes are its own.
//
// Per output (n, m), with x's blocks quantized as quant_matmul.hpp's Int8Rows (codes c, scale d_x, codes' sum s_x):
//   for b ascending: acc = fma(float(Σ_j q_j c_j), d_w · d_x, acc)   (q4_0: Σ nib_j c_j − 8 s_x; q8_0: Σ (q_j + 128)
//   c_j − 128 s_x; integer sums exact), so the bits depend on K alone, not on the thread count or on M's split.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include <pmc/backends/cpu/simd.hpp>
#include <pmc/ops/quantize.hpp>

namespace pmc::backends::cpu::qmm::rows16 {

using i64 = std::int64_t;

inline constexpr i64 kRows = ops::quant::kInterleavedRows;  ///< rows of W a group holds (16)
inline constexpr int kXRows = 4;                             ///< rows of x a pass takes against one group

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
#define PMC_HAVE_QMM_ROWS16 1

/// Rows r0 .. r0 + R − 1 of x against one group of 16 rows of W (nblocks blocks): y[r][0..15] (16 outputs each).
/// xc: x's codes (nblocks · 32 a row), xd: scales, xs: codes' sums, each the row's first.
template <ops::QuantFormat F, int R>
void group_x_rows(const std::uint8_t* group, i64 nblocks, const std::int8_t* const* xc, const float* const* xd,
                  const std::int32_t* const* xs, float* const* y) {
  constexpr bool q4 = F == ops::QuantFormat::q4_0;
  constexpr i64 chunk = kRows * ops::quant::ggml_block_bytes(F);
  constexpr int offset = q4 ? 8 : 128;
  __m512 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
  const __m512i low = _mm512_set1_epi8(0x0f);
  for (i64 b = 0; b < nblocks; ++b) {
    const std::uint8_t* p = group + b * chunk;
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    const std::uint8_t* codes = p + 2 * kRows;
    __m512i s0[R], s1[R];  // two chains a row (x's columns 0..15 and 16..31), so the dot products overlap
    for (int r = 0; r < R; ++r) {
      s0[r] = _mm512_set1_epi32(-offset * xs[r][b]);
      s1[r] = _mm512_setzero_si512();
    }
    // step i (0..3): the weights' codes of columns 4i..4i+3 (w0) and 16+4i..16+4i+3 (w1) for the 16 rows
    for (int i = 0; i < 4; ++i) {
      __m512i w0, w1;
      if constexpr (q4) {
        const __m512i v = _mm512_loadu_si512(codes + 64 * i);
        w0 = _mm512_and_si512(v, low);
        w1 = _mm512_and_si512(_mm512_srli_epi16(v, 4), low);
      } else {
        w0 = _mm512_loadu_si512(codes + 64 * i);
        w1 = _mm512_loadu_si512(codes + 64 * (i + 4));
      }
      for (int r = 0; r < R; ++r) {
        std::int32_t c0, c1;
        std::memcpy(&c0, xc[r] + b * 32 + 4 * i, 4);
        std::memcpy(&c1, xc[r] + b * 32 + 16 + 4 * i, 4);
        s0[r] = _mm512_dpbusd_epi32(s0[r], w0, _mm512_set1_epi32(c0));
        s1[r] = _mm512_dpbusd_epi32(s1[r], w1, _mm512_set1_epi32(c1));
      }
    }
    for (int r = 0; r < R; ++r)
      acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0[r], s1[r])),
                               _mm512_mul_ps(dw, _mm512_set1_ps(xd[r][b])), acc[r]);
  }
  for (int r = 0; r < R; ++r) _mm512_storeu_ps(y[r], acc[r]);
}

template <ops::QuantFormat F>
void group_rows(int r, const std::uint8_t* group, i64 nblocks, const std::int8_t* const* xc, const float* const* xd,
                const std::int32_t* const* xs, float* const* y) {
  static_assert(kXRows == 4, "simd::with_rows dispatches 1 to 4 rows");
  simd::with_rows(r, [&](auto R) { group_x_rows<F, decltype(R)::value>(group, nblocks, xc, xd, xs, y); });
}
#endif

}  // namespace pmc::backends::cpu::qmm::rows16

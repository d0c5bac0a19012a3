// SPDX-License-Identifier: MIT
// q8_0 / q4_0 weights in the 16-row interleaved layout (ops::QuantLayout::rows16, defined in pmc/ops/quantize.hpp)
// and the kernels that multiply int8-quantized activations by them (AVX512-VNNI, and AVX2):
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

#if defined(__AVX2__)
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

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define PMC_HAVE_QMM_ROWS16_AVX2 1

/// How many blocks' chunks ahead group_x_rows_avx2 prefetches its group.
inline constexpr i64 kPrefetchChunks = 4;

/// The AVX2 kernel: 8 rows a ymm, so a group is two halves (lanes 0..7 and 8..15 of each 64-byte part, the same cache
/// lines). Per block and row of W the same integer sums as group_x_rows, with AVX2's byte products (vpmaddubsw, then
/// vpmaddwd by ones; no VNNI, so that an AVX2 CPU runs it as measured): q4_0 Σ nib_j c_j − 8 s_x (a pair of products
/// at most 2 · 15 · 127, no saturation; those pair sums added in 16 bits over the block, then vpmaddwd once); q8_0
/// Σ q_j c_j from the stored q + 128 flipped back to signed, as |q| times c with q's sign (at most 2 · 128 · 127 a
/// pair). Then the same conversion and FMA per block, so the bits are
/// group_x_rows's. R ≤ 2 rows of x (16 ymm registers).
template <ops::QuantFormat F, int R>
void group_x_rows_avx2(const std::uint8_t* group, i64 nblocks, const std::int8_t* const* xc, const float* const* xd,
                       const std::int32_t* const* xs, float* const* y) {
  static_assert(R >= 1 && R <= 2);
  constexpr bool q4 = F == ops::QuantFormat::q4_0;
  constexpr i64 chunk = kRows * ops::quant::ggml_block_bytes(F);
  __m256 acc[2][R];
  for (int h = 0; h < 2; ++h)
    for (int r = 0; r < R; ++r) acc[h][r] = _mm256_setzero_ps();
  const __m256i low = _mm256_set1_epi8(0x0f), flip = _mm256_set1_epi8(static_cast<char>(0x80));
  const __m256i ones = _mm256_set1_epi16(1);
  auto dot_q8 = [&](__m256i w, __m256i c) {  // 8 lanes of Σ of 4 products w · c (w, c signed; q4_0 sums p16 below)
    return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(c, w)), ones);
  };
  for (i64 b = 0; b < nblocks; ++b) {
    const std::uint8_t* p = group + b * chunk;
    const std::uint8_t* codes = p + 2 * kRows;
    // The chunk kPrefetchChunks ahead asked for now (a hint: past the end it reads nothing). On a Zen 1, one thread
    // streaming q8_0 from DRAM: 6.5-8.0 → 9.5-9.7 G codes/s; q4_0 10.9-11.3 → 12.7-13.5.
    for (i64 o = 0; o < chunk; o += 64)
      _mm_prefetch(reinterpret_cast<const char*>(p + kPrefetchChunks * chunk + o), _MM_HINT_T0);
    for (int h = 0; h < 2; ++h) {
      const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * h)));
      __m256i s0[R], s1[R];
      for (int r = 0; r < R; ++r) {
        s0[r] = q4 ? _mm256_set1_epi32(-8 * xs[r][b]) : _mm256_setzero_si256();
        s1[r] = _mm256_setzero_si256();
      }
      // q4_0: the 16-bit pair sums of vpmaddubsw (each at most 2 · 15 · 128 in magnitude) added in 16 bits over the
      // block's 8 steps (at most 30720, no wrap), then widened once: the same integers in fewer instructions
      __m256i p16[R];
      for (int r = 0; r < R; ++r) p16[r] = _mm256_setzero_si256();
      for (int i = 0; i < 4; ++i) {
        __m256i w0, w1;
        if constexpr (q4) {
          const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + 64 * i + 32 * h));
          w0 = _mm256_and_si256(v, low);
          w1 = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
        } else {
          w0 = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + 64 * i + 32 * h)), flip);
          w1 = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + 64 * (i + 4) + 32 * h)),
                                flip);
        }
        for (int r = 0; r < R; ++r) {
          std::int32_t c0, c1;
          std::memcpy(&c0, xc[r] + b * 32 + 4 * i, 4);
          std::memcpy(&c1, xc[r] + b * 32 + 16 + 4 * i, 4);
          if constexpr (q4) {
            p16[r] = _mm256_add_epi16(p16[r], _mm256_add_epi16(_mm256_maddubs_epi16(w0, _mm256_set1_epi32(c0)),
                                                               _mm256_maddubs_epi16(w1, _mm256_set1_epi32(c1))));
          } else {
            s0[r] = _mm256_add_epi32(s0[r], dot_q8(w0, _mm256_set1_epi32(c0)));
            s1[r] = _mm256_add_epi32(s1[r], dot_q8(w1, _mm256_set1_epi32(c1)));
          }
        }
      }
      if constexpr (q4)
        for (int r = 0; r < R; ++r) s1[r] = _mm256_madd_epi16(p16[r], ones);
      for (int r = 0; r < R; ++r)
        acc[h][r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(s0[r], s1[r])),
                                    _mm256_mul_ps(dw, _mm256_set1_ps(xd[r][b])), acc[h][r]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int h = 0; h < 2; ++h) _mm256_storeu_ps(y[r] + 8 * h, acc[h][r]);
}

/// r (1 to kXRows) rows of x against one group, two at a time.
template <ops::QuantFormat F>
void group_rows_avx2(int r, const std::uint8_t* group, i64 nblocks, const std::int8_t* const* xc,
                     const float* const* xd, const std::int32_t* const* xs, float* const* y) {
  for (int r0 = 0; r0 < r; r0 += 2) {
    if (r - r0 >= 2) group_x_rows_avx2<F, 2>(group, nblocks, xc + r0, xd + r0, xs + r0, y + r0);
    else group_x_rows_avx2<F, 1>(group, nblocks, xc + r0, xd + r0, xs + r0, y + r0);
  }
}
#endif

}  // namespace pmc::backends::cpu::qmm::rows16

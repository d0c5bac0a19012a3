// SPDX-License-Identifier: MIT
// Quantize<Cpu>::matmul's kernels (see pmc/ops/quantize.hpp): y (M, N) = x (M, K) · dequant(W)ᵀ for a small M
// (decoding: M = 1; scoring and short prompts: a few rows), straight from the quantized blocks, never materializing
// dequant(W). Memory-bound at M = 1: a token reads every weight byte once, so q4_0 reads ~0.56 bytes an element
// where fp32 reads 4.
//
//   q8_0, q4_0: for each output row n, for each 32-element block: the codes widened to float (two zmm, four ymm,
//     or a scalar loop), s_r = Σ_j q_j · x_r[j] lane-wise, acc_r += d · s_r lane-wise (two accumulators a row on
//     the SIMD kernels, even and odd blocks, so that the FMA latency does not serialize the blocks; d converted by
//     F16C where compiled in); the lanes summed at the end of the row. Rows of x go 4 at a time, so each weight block is decoded once per 4 rows of x.
//   int8, nf4 (blocks of 64 over the flat index, which may straddle rows): the row of W decoded into a per-thread
//     float buffer with dequantize's exact formulas, then a dot product with each row of x.
//
//   q8_0, q4_0 with int8 activations (the default, as llama.cpp always does; PMC_QUANT_ACTIVATIONS=float or
//     set_int8_activations(false) keeps x in float, the kernels above): each row of x is first quantized to blocks
//     of 32 (d_x = max|x| / 127, codes round(x / d_x), their sum s_x); then per block the integer dot product
//     Σ_j q_j · c_j (q4_0: Σ nib_j · c_j − 8 · s_x) in 32-bit lanes (AVX512-VNNI vpdpbusd, else AVX2 vpmaddubsw +
//     vpmaddwd; signed q8_0 codes through the sign trick), converted to float and added lane-wise times d_w · d_x.
//     With AVX512-VNNI (the avx512 kernel) two blocks share a zmm: x's codes are laid out once per call in the lane
//     order of the weights' unpacked blocks (Int8Pairs), q4_0's −8 · s_x is the dot product's starting value, and
//     the two scales d_w · d_x are spread to their lanes: 1.5x the ymm kernel on q4_0, 1.3x on q8_0
//     (bench/decode_quant_bench BM_Product). About 2-3x the float kernels on q4_0 decoding (CPU-bound there), at
//     the price of x's rounding: y moves by ~0.5% of its norm.
//   q8_0, q4_0 in the rows16 layout (Quantize<Cpu>::for_matmul) with int8 activations on the AVX-512 kernel (or its
//     AVX2 form, 8 rows a ymm): quant_rows16.hpp, 16 outputs a pass with no horizontal sums (3x the two-blocks-a-zmm kernel on q4_0, 1.2-1.5x
//     on q8_0, in BM_Product). The other kernels read a rows16 matrix a group of 16 rows at a time, put back in
//     row-major order in a per-thread buffer, with the same results as on the row-major blocks.
//
// Every output element is computed by one thread, in an order fixed by K and the kernel alone: OpenMP's static
// schedule over the output rows N, so results do not depend on the thread count. The instruction set is the
// widest compiled in (-march=native: AVX-512, else AVX2 + FMA, else the scalar loops); PMC_CPU_GEMM=avx2 picks the
// AVX2 kernel on an AVX-512 build and PMC_CPU_GEMM=eigen the scalar one (as for sgemm.hpp's choice()). The kernels
// differ from each other (and from dequantize-then-Matmul) only by float rounding.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

#include <pmc/backends/cpu/quant_rows16.hpp>
#include <pmc/backends/cpu/sgemm.hpp>
#include <pmc/backends/cpu/simd.hpp>
#include <pmc/core/dtype.hpp>
#include <pmc/ops/quantize.hpp>

namespace pmc::backends::cpu::qmm {

using i64 = std::int64_t;

enum class Isa { scalar, avx2, avx512 };

inline const char* isa_name(Isa k) { return k == Isa::avx512 ? "AVX-512" : k == Isa::avx2 ? "AVX2" : "scalar"; }

/// Whether the kernel for `k` is compiled in.
constexpr bool compiled(Isa k) {
  switch (k) {
    case Isa::scalar: return true;
    case Isa::avx2:
#if defined(__AVX2__) && defined(__FMA__)
      return true;
#else
      return false;
#endif
    case Isa::avx512:
#if defined(__AVX512F__)
      return true;
#else
      return false;
#endif
  }
  return false;
}

/// Whether q8_0 / q4_0 products quantize the activations to int8 (see the top of this file). On unless the
/// environment says PMC_QUANT_ACTIVATIONS=float at the first call (any other value than "float" or "int8" is a
/// pmc::Error naming it); set_int8_activations changes it (per process).
inline bool& int8_activations_setting() {
  static bool on = [] {
    const char* e = std::getenv("PMC_QUANT_ACTIVATIONS");
    if (e == nullptr || *e == '\0' || std::string_view(e) == "int8") return true;
    PMC_CHECK(std::string_view(e) == "float", "PMC_QUANT_ACTIVATIONS='", e,
              "': expected 'int8' (the default: x quantized to int8 blocks, as llama.cpp) or 'float'");
    return false;
  }();
  return on;
}
inline bool int8_activations() { return int8_activations_setting(); }
inline void set_int8_activations(bool on) { int8_activations_setting() = on; }

/// The kernel Quantize<Cpu>::matmul runs: the widest compiled in, or what PMC_CPU_GEMM asks for.
inline Isa chosen() {
#if defined(PMC_HAVE_OWN_SGEMM)
  switch (sgemm::choice()) {
    case sgemm::Choice::eigen: return Isa::scalar;
    case sgemm::Choice::avx2: return Isa::avx2;
    default: break;
  }
#endif
  if (compiled(Isa::avx512)) return Isa::avx512;
  if (compiled(Isa::avx2)) return Isa::avx2;
  return Isa::scalar;
}

/// Whether Quantize<Cpu>::for_matmul regroups q8_0 / q4_0 weights to the rows16 layout: when one of its kernels
/// (AVX512-VNNI, AVX2) is compiled in and chosen (the other kernels read rows16 too, a group at a time put back in
/// row order).
inline bool rows16_pays() {
#if defined(PMC_HAVE_QMM_ROWS16)
  if (chosen() == Isa::avx512) return true;
#endif
#if defined(PMC_HAVE_QMM_ROWS16_AVX2)
  if (chosen() == Isa::avx2) return true;
#endif
  return false;
}

namespace detail {

constexpr int kRowsAtOnce = 4;

/// A block's fp16 scale as float: the F16C instruction where compiled in (exact either way: every fp16 is a float).
inline float block_scale_fast(const std::uint8_t* blk) {
#if defined(__F16C__)
  std::uint16_t h;
  std::memcpy(&h, blk, 2);
  return _cvtsh_ss(h);
#else
  return ops::quant::ggml_block_scale(blk);
#endif
}

// ---- q8_0 / q4_0: R rows of x against one row of W (K / 32 blocks) -----------------------------------------------

/// Scalar: per block s = Σ_j w_j x_j (j ascending), acc += d · s.
template <ops::QuantFormat F, int R>
void row_scalar(const std::uint8_t* wrow, i64 nblocks, const float* const* x, float* out) {
  constexpr i64 bb = ops::quant::ggml_block_bytes(F);
  float acc[R] = {};
  for (i64 b = 0; b < nblocks; ++b) {
    const std::uint8_t* blk = wrow + b * bb;
    const float d = ops::quant::ggml_block_scale(blk);
    float w[32];
    for (int j = 0; j < 32; ++j) {
      if constexpr (F == ops::QuantFormat::q8_0) w[j] = static_cast<float>(static_cast<std::int8_t>(blk[2 + j]));
      else w[j] = static_cast<float>(static_cast<int>(j < 16 ? (blk[2 + j] & 0x0f) : (blk[2 + j - 16] >> 4)) - 8);
    }
    for (int r = 0; r < R; ++r) {
      const float* xr = x[r] + b * 32;
      float s = 0;
      for (int j = 0; j < 32; ++j) s += w[j] * xr[j];
      acc[r] += d * s;
    }
  }
  for (int r = 0; r < R; ++r) out[r] = acc[r];
}

#if defined(__AVX512F__)
using simd::hsum512;

/// Two accumulators a row (even and odd blocks) so that consecutive blocks' FMAs do not wait on each other.
template <ops::QuantFormat F, int R>
void row_avx512(const std::uint8_t* wrow, i64 nblocks, const float* const* x, float* out) {
  constexpr i64 bb = ops::quant::ggml_block_bytes(F);
  __m512 acc[2][R];
  for (int r = 0; r < R; ++r) acc[0][r] = acc[1][r] = _mm512_setzero_ps();
  for (i64 b = 0; b < nblocks; ++b) {
    const std::uint8_t* blk = wrow + b * bb;
    const __m512 d = _mm512_set1_ps(block_scale_fast(blk));
    __m512 w0, w1;
    if constexpr (F == ops::QuantFormat::q8_0) {
      w0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2))));
      w1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 18))));
    } else {
      const __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2)));
      const __m512i eight = _mm512_set1_epi32(8);
      w0 = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_and_si512(v, _mm512_set1_epi32(0x0f)), eight));
      w1 = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_srli_epi32(v, 4), eight));
    }
    auto& a = acc[b & 1];
    for (int r = 0; r < R; ++r) {
      const float* xr = x[r] + b * 32;
      const __m512 s = _mm512_fmadd_ps(w1, _mm512_loadu_ps(xr + 16), _mm512_mul_ps(w0, _mm512_loadu_ps(xr)));
      a[r] = _mm512_fmadd_ps(d, s, a[r]);
    }
  }
  for (int r = 0; r < R; ++r) out[r] = hsum512(_mm512_add_ps(acc[0][r], acc[1][r]));
}
#endif

#if defined(__AVX2__) && defined(__FMA__)
using simd::hsum256;

template <ops::QuantFormat F, int R>
void row_avx2(const std::uint8_t* wrow, i64 nblocks, const float* const* x, float* out) {
  constexpr i64 bb = ops::quant::ggml_block_bytes(F);
  __m256 acc[2][R];
  for (int r = 0; r < R; ++r) acc[0][r] = acc[1][r] = _mm256_setzero_ps();
  for (i64 b = 0; b < nblocks; ++b) {
    const std::uint8_t* blk = wrow + b * bb;
    const __m256 d = _mm256_set1_ps(block_scale_fast(blk));
    __m256 w[4];
    if constexpr (F == ops::QuantFormat::q8_0) {
      for (int g = 0; g < 4; ++g)
        w[g] = _mm256_cvtepi32_ps(
            _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk + 2 + 8 * g))));
    } else {
      const __m256i eight = _mm256_set1_epi32(8), low = _mm256_set1_epi32(0x0f);
      const __m256i v0 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk + 2)));
      const __m256i v1 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk + 10)));
      w[0] = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_and_si256(v0, low), eight));
      w[1] = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_and_si256(v1, low), eight));
      w[2] = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(v0, 4), eight));
      w[3] = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(v1, 4), eight));
    }
    auto& a = acc[b & 1];
    for (int r = 0; r < R; ++r) {
      const float* xr = x[r] + b * 32;
      __m256 s = _mm256_mul_ps(w[0], _mm256_loadu_ps(xr));
      s = _mm256_fmadd_ps(w[1], _mm256_loadu_ps(xr + 8), s);
      s = _mm256_fmadd_ps(w[2], _mm256_loadu_ps(xr + 16), s);
      s = _mm256_fmadd_ps(w[3], _mm256_loadu_ps(xr + 24), s);
      a[r] = _mm256_fmadd_ps(d, s, a[r]);
    }
  }
  for (int r = 0; r < R; ++r) out[r] = hsum256(_mm256_add_ps(acc[0][r], acc[1][r]));
}
#endif

template <ops::QuantFormat F, int R>
void ggml_row(Isa isa, const std::uint8_t* wrow, i64 nblocks, const float* const* x, float* out) {
#if defined(__AVX512F__)
  if (isa == Isa::avx512) return row_avx512<F, R>(wrow, nblocks, x, out);
#endif
#if defined(__AVX2__) && defined(__FMA__)
  if (isa == Isa::avx2) return row_avx2<F, R>(wrow, nblocks, x, out);
#endif
  (void)isa;
  row_scalar<F, R>(wrow, nblocks, x, out);
}

template <ops::QuantFormat F>
void ggml_rows(Isa isa, int r, const std::uint8_t* wrow, i64 nblocks, const float* const* x, float* out) {
  simd::with_rows(r, [&](auto R) { ggml_row<F, decltype(R)::value>(isa, wrow, nblocks, x, out); });
}

// ---- q8_0 / q4_0 against int8-quantized activations -------------------------------------------------------------

/// Rows of x quantized to blocks of 32: codes (rows · K), and per block the scale d_x and the codes' sum.
struct Int8Rows {
  std::vector<std::int8_t> codes;
  std::vector<float> scale;
  std::vector<std::int32_t> sum;
};

/// d = max|x| / 127 per block, c = round-to-nearest-even(x / d) (0 where the block is all zero).
inline void quantize_rows_int8(const float* x, i64 M, i64 K, Int8Rows& out) {
  const i64 nb = K / 32;
  out.codes.resize(static_cast<std::size_t>(M * K));
  out.scale.resize(static_cast<std::size_t>(M * nb));
  out.sum.resize(static_cast<std::size_t>(M * nb));
  for (i64 b = 0; b < M * nb; ++b) {
    const float* xb = x + b * 32;
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::abs(xb[j]));
    const float d = amax / 127.f, id = d > 0 ? 1.f / d : 0.f;
    std::int32_t s = 0;
    for (int j = 0; j < 32; ++j) {
      const auto c = static_cast<std::int32_t>(std::nearbyint(xb[j] * id));
      out.codes[static_cast<std::size_t>(b * 32 + j)] = static_cast<std::int8_t>(c);
      s += c;
    }
    out.scale[static_cast<std::size_t>(b)] = d;
    out.sum[static_cast<std::size_t>(b)] = s;
  }
}

/// Scalar: per block the exact integer sum, then acc += (d_w · d_x) · sum.
template <ops::QuantFormat F, int R>
void row_int8_scalar(const std::uint8_t* wrow, i64 nblocks, const Int8Rows& xq, const i64* xrow, float* out) {
  constexpr i64 bb = ops::quant::ggml_block_bytes(F);
  float acc[R] = {};
  for (i64 b = 0; b < nblocks; ++b) {
    const std::uint8_t* blk = wrow + b * bb;
    const float dw = ops::quant::ggml_block_scale(blk);
    std::int32_t w[32];  // decoded first: one loop with the decode inlined as a conditional gave wrong q8_0 sums
                         // built with g++ 12 -O3 -march=znver3 and right ones with -O1 (tests/ops/quantize_test.cpp
                         // caught it; not reduced further, so a compiler bug is suspected, not shown)
    for (int j = 0; j < 32; ++j) {
      if constexpr (F == ops::QuantFormat::q8_0) w[j] = static_cast<std::int8_t>(blk[2 + j]);
      else w[j] = static_cast<std::int32_t>(j < 16 ? (blk[2 + j] & 0x0f) : (blk[2 + j - 16] >> 4)) - 8;
    }
    for (int r = 0; r < R; ++r) {
      const i64 xb = xrow[r] * nblocks + b;
      const std::int8_t* c = xq.codes.data() + xb * 32;
      std::int32_t s = 0;
      for (int j = 0; j < 32; ++j) s += w[j] * static_cast<std::int32_t>(c[j]);
      acc[r] += dw * xq.scale[static_cast<std::size_t>(xb)] * static_cast<float>(s);
    }
  }
  for (int r = 0; r < R; ++r) out[r] = acc[r];
}

#if defined(__AVX2__) && defined(__FMA__)
/// 8 lanes of 32-bit sums of 4 products u[i] · s[i] (u unsigned bytes, s signed bytes).
inline __m256i dot_u8s8(__m256i u, __m256i s) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
#else
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));  // no overflow: |u · s| ≤ 127 · 127
#endif
}

template <ops::QuantFormat F, int R>
void row_int8_avx2(const std::uint8_t* wrow, i64 nblocks, const Int8Rows& xq, const i64* xrow, float* out) {
  constexpr i64 bb = ops::quant::ggml_block_bytes(F);
  __m256 acc[2][R];
  for (int r = 0; r < R; ++r) acc[0][r] = acc[1][r] = _mm256_setzero_ps();
  for (i64 b = 0; b < nblocks; ++b) {
    const std::uint8_t* blk = wrow + b * bb;
    const float dw = block_scale_fast(blk);
    __m256i w;  // q8_0: the signed codes; q4_0: the nibbles 0..15, elements 0..15 then 16..31
    if constexpr (F == ops::QuantFormat::q8_0) {
      w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2));
    } else {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2));
      w = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(0x0f));
    }
    auto& a = acc[b & 1];
    for (int r = 0; r < R; ++r) {
      const i64 xb = xrow[r] * nblocks + b;
      const __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq.codes.data() + xb * 32));
      __m256i dot;
      if constexpr (F == ops::QuantFormat::q8_0) {
        dot = dot_u8s8(_mm256_sign_epi8(w, w), _mm256_sign_epi8(c, w));  // |w| · (c with w's sign)
      } else {
        dot = _mm256_sub_epi32(dot_u8s8(w, c), _mm256_setr_epi32(8 * xq.sum[static_cast<std::size_t>(xb)], 0, 0, 0, 0, 0, 0, 0));
      }
      a[r] = _mm256_fmadd_ps(_mm256_set1_ps(dw * xq.scale[static_cast<std::size_t>(xb)]), _mm256_cvtepi32_ps(dot), a[r]);
    }
  }
  for (int r = 0; r < R; ++r) out[r] = hsum256(_mm256_add_ps(acc[0][r], acc[1][r]));
}
#endif

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
#define PMC_HAVE_QMM_INT8_AVX512 1
/// Rows of x prepared for row_int8_avx512: per pair of blocks (b, b+1) one zmm of the codes in the weights' lane
/// order, the two scales d_x and (q4_0) the two sums −s_x, which the kernel spreads to the lanes their block's
/// products land in (q4_0: the dot product starts there, Σ (nib − 8) c = Σ nib c − 8 Σ c with each of a block's 8
/// lanes taking one −s_x). Lanes, q8_0: block b in bytes 0..31, b+1 in 32..63 (int32 lanes 0..7 and 8..15); q4_0:
/// 128-bit lanes (b 0..15, b+1 0..15, b 16..31, b+1 16..31), the order in which two blocks' nibbles unpack (int32
/// lanes 0..3 and 8..11 for b, 4..7 and 12..15 for b+1). Compact, so that a row of 11008 stays in L1 beside W's
/// stream. An odd last block is read from Int8Rows.
struct Int8Pairs {
  std::vector<std::int8_t> codes;  // 64 bytes per pair
  std::vector<float> scale;        // d_x(b), d_x(b+1) per pair
  std::vector<std::int32_t> nsum;  // −s_x(b), −s_x(b+1) per pair
};

template <ops::QuantFormat F>
void prepare_pairs(const Int8Rows& xq, i64 M, i64 nblocks, Int8Pairs& out) {
  const i64 np = nblocks / 2;
  out.codes.resize(static_cast<std::size_t>(64 * M * np));
  out.scale.resize(static_cast<std::size_t>(2 * M * np));
  out.nsum.resize(static_cast<std::size_t>(2 * M * np));
  for (i64 m = 0; m < M; ++m)
    for (i64 p = 0; p < np; ++p) {
      const i64 b = m * nblocks + 2 * p;
      const std::size_t o = static_cast<std::size_t>(m * np + p);
      __m512i c = _mm512_loadu_si512(xq.codes.data() + b * 32);
      // (b lo, b hi, b1 lo, b1 hi) → (b lo, b1 lo, b hi, b1 hi)
      if constexpr (F == ops::QuantFormat::q4_0) c = _mm512_shuffle_i64x2(c, c, _MM_SHUFFLE(3, 1, 2, 0));
      _mm512_storeu_si512(out.codes.data() + 64 * o, c);
      for (int i = 0; i < 2; ++i) {
        out.scale[2 * o + i] = xq.scale[static_cast<std::size_t>(b + i)];
        out.nsum[2 * o + i] = -xq.sum[static_cast<std::size_t>(b + i)];
      }
    }
}

/// Two blocks per zmm: the weights' codes of blocks (b, b+1) against x's (Int8Pairs), vpdpbusd from the prepared
/// start, converted to float and added times (d_w · d_x) lane-wise (two accumulators a row, alternate pairs); an
/// odd last block as row_int8_avx2 does. The 16 lanes are summed by a fixed tree at the end of the row.
template <ops::QuantFormat F, int R>
void row_int8_avx512(const std::uint8_t* wrow, i64 nblocks, const Int8Rows& xq, const Int8Pairs& xp, const i64* xrow,
                     float* out) {
  constexpr i64 bb = ops::quant::ggml_block_bytes(F);
  const i64 np = nblocks / 2;
  // the lanes each block's fp16 d_w goes to: q4_0 (b ×4, b1 ×4) twice, q8_0 b ×8 then b1 ×8
  const __m512i spread = F == ops::QuantFormat::q4_0
                             ? _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1)
                             : _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
  __m512 acc[2][R];
  for (int r = 0; r < R; ++r) acc[0][r] = acc[1][r] = _mm512_setzero_ps();
  const std::int8_t* xc[R];
  const float* xd[R];
  const std::int32_t* xs[R];
  for (int r = 0; r < R; ++r) {
    const std::size_t o = static_cast<std::size_t>(xrow[r] * np);
    xc[r] = xp.codes.data() + 64 * o;
    xd[r] = xp.scale.data() + 2 * o;
    xs[r] = xp.nsum.data() + 2 * o;
  }
  for (i64 p = 0; p < np; ++p) {
    const std::uint8_t* b0 = wrow + 2 * p * bb;
    const std::uint8_t* b1 = b0 + bb;
    std::uint16_t h0, h1;
    std::memcpy(&h0, b0, 2);
    std::memcpy(&h1, b1, 2);
    const __m128 dw = _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(h0 | (std::uint32_t{h1} << 16))));
    __m512i w;
    if constexpr (F == ops::QuantFormat::q8_0) {
      w = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b0 + 2))),
                             _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b1 + 2)), 1);
    } else {
      const __m256i v = _mm256_inserti128_si256(
          _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b0 + 2))),
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(b1 + 2)), 1);
      w = _mm512_and_si512(_mm512_inserti64x4(_mm512_castsi256_si512(v), _mm256_srli_epi16(v, 4), 1),
                           _mm512_set1_epi8(0x0f));
    }
    auto& a = acc[p & 1];
    if constexpr (F == ops::QuantFormat::q8_0) {
      const __m512i wabs = _mm512_abs_epi8(w);
      const __mmask64 neg = _mm512_movepi8_mask(w);
      for (int r = 0; r < R; ++r) {
        const __m512i c = _mm512_loadu_si512(xc[r] + 64 * p);
        const __m512i cs = _mm512_mask_sub_epi8(c, neg, _mm512_setzero_si512(), c);  // c with w's sign
        const __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wabs, cs);
        const __m128 d = _mm_mul_ps(dw, _mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(xd[r] + 2 * p))));
        a[r] = _mm512_fmadd_ps(_mm512_permutexvar_ps(spread, _mm512_castps128_ps512(d)), _mm512_cvtepi32_ps(dot), a[r]);
      }
    } else {
      for (int r = 0; r < R; ++r) {
        const __m512i start = _mm512_permutexvar_epi32(
            spread, _mm512_castsi128_si512(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(xs[r] + 2 * p))));
        const __m512i dot = _mm512_dpbusd_epi32(start, w, _mm512_loadu_si512(xc[r] + 64 * p));
        const __m128 d = _mm_mul_ps(dw, _mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(xd[r] + 2 * p))));
        a[r] = _mm512_fmadd_ps(_mm512_permutexvar_ps(spread, _mm512_castps128_ps512(d)), _mm512_cvtepi32_ps(dot), a[r]);
      }
    }
  }
  float tail[R] = {};
  if (nblocks % 2 != 0) {  // an odd last block: its exact integer sum, times d_w · d_x
    const i64 b = nblocks - 1;
    const std::uint8_t* blk = wrow + b * bb;
    std::int32_t wv[32];
    for (int j = 0; j < 32; ++j) {
      if constexpr (F == ops::QuantFormat::q8_0) wv[j] = static_cast<std::int8_t>(blk[2 + j]);
      else wv[j] = static_cast<std::int32_t>(j < 16 ? (blk[2 + j] & 0x0f) : (blk[2 + j - 16] >> 4)) - 8;
    }
    const float dwt = block_scale_fast(blk);
    for (int r = 0; r < R; ++r) {
      const i64 xb = xrow[r] * nblocks + b;
      const std::int8_t* c = xq.codes.data() + xb * 32;
      std::int32_t sum = 0;
      for (int j = 0; j < 32; ++j) sum += wv[j] * static_cast<std::int32_t>(c[j]);
      tail[r] = dwt * xq.scale[static_cast<std::size_t>(xb)] * static_cast<float>(sum);
    }
  }
  for (int r = 0; r < R; ++r) out[r] = hsum512(_mm512_add_ps(acc[0][r], acc[1][r])) + tail[r];
}
#endif

template <ops::QuantFormat F, int R>
void int8_row(Isa isa, const std::uint8_t* wrow, i64 nblocks, const Int8Rows& xq, const i64* xrow, float* out) {
#if defined(__AVX2__) && defined(__FMA__)
  if (isa != Isa::scalar) return row_int8_avx2<F, R>(wrow, nblocks, xq, xrow, out);
#endif
  (void)isa;
  row_int8_scalar<F, R>(wrow, nblocks, xq, xrow, out);
}

#if defined(PMC_HAVE_QMM_INT8_AVX512)
template <ops::QuantFormat F>
void int8_pairs_rows(int r, const std::uint8_t* wrow, i64 nblocks, const Int8Rows& xq, const Int8Pairs& xp,
                     const i64* xrow, float* out) {
  simd::with_rows(r, [&](auto R) { row_int8_avx512<F, decltype(R)::value>(wrow, nblocks, xq, xp, xrow, out); });
}
#endif

template <ops::QuantFormat F>
void int8_rows(Isa isa, int r, const std::uint8_t* wrow, i64 nblocks, const Int8Rows& xq, const i64* xrow, float* out) {
  simd::with_rows(r, [&](auto R) { int8_row<F, decltype(R)::value>(isa, wrow, nblocks, xq, xrow, out); });
}

// ---- int8 / nf4: a decoded row of W against a row of x ------------------------------------------------------------

/// Σ a_k b_k over n floats, in an order fixed by n and the kernel.
inline float dot(Isa isa, const float* a, const float* b, i64 n) {
#if defined(__AVX512F__)
  if (isa == Isa::avx512) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    i64 k = 0;
    for (; k + 32 <= n; k += 32) {
      s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + k), _mm512_loadu_ps(b + k), s0);
      s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + k + 16), _mm512_loadu_ps(b + k + 16), s1);
    }
    for (; k < n; k += 16) {
      const __mmask16 m = n - k >= 16 ? __mmask16(0xffff) : static_cast<__mmask16>((1u << (n - k)) - 1);
      s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + k), _mm512_maskz_loadu_ps(m, b + k), s0);
    }
    return hsum512(_mm512_add_ps(s0, s1));
  }
#endif
#if defined(__AVX2__) && defined(__FMA__)
  if (isa == Isa::avx2) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    i64 k = 0;
    for (; k + 16 <= n; k += 16) {
      s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(b + k), s0);
      s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k + 8), _mm256_loadu_ps(b + k + 8), s1);
    }
    float s = hsum256(_mm256_add_ps(s0, s1));
    for (; k < n; ++k) s += a[k] * b[k];
    return s;
  }
#endif
  (void)isa;
  float s[8] = {};
  i64 k = 0;
  for (; k + 8 <= n; k += 8)
    for (int l = 0; l < 8; ++l) s[l] += a[k + l] * b[k + l];
  float t = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
  for (; k < n; ++k) t += a[k] * b[k];
  return t;
}

/// Elements [e0, e0 + n) of the flat index of an int8 / nf4 matrix, decoded as Quantize<Cpu>::dequantize does.
inline void decode_span(const ops::QuantizedMatrix<Cpu>& q, i64 e0, i64 n, float* out) {
  constexpr i64 B = ops::quant::kBlock;
  const std::uint8_t* c = q.codes.data();
  if (q.format == ops::QuantFormat::int8) {
    const float* am = q.absmax.data();
    for (i64 i = 0; i < n; ++i) out[i] = ops::quant::int8_value(c[e0 + i], am[(e0 + i) / B]);
    return;
  }
  const std::uint8_t* ac = q.absmax_codes.data();
  const float* a2 = q.absmax2.data();
  i64 i = 0;
  while (i < n) {
    const i64 e = e0 + i, b = e / B, end = std::min(n, (b + 1) * B - e0);
    const float a = ops::quant::nf4_absmax(ac[b], a2[b / ops::quant::kGroup], q.offset);
    for (; i < end; ++i) {
      const std::uint8_t byte = c[(e0 + i) / 2];
      out[i] = ops::quant::kNf4[(e0 + i) % 2 == 0 ? byte >> 4 : byte & 0x0f] * a;
    }
  }
}

}  // namespace detail

/// y (M, N) = x (M, K) · dequant(q)ᵀ on kernel `isa` (compiled in), x and y float (M · K and M · N, row-major).
inline void matmul_f32(Isa isa, const float* x, i64 M, const ops::QuantizedMatrix<Cpu>& q, float* y) {
  PMC_CHECK(compiled(isa), "quantized matmul: the ", isa_name(isa), " kernel is not compiled in");
  const i64 N = q.rows, K = q.cols;
  const bool worth = N > 1 && N * K * std::max<i64>(M, 1) >= (i64{1} << 16);
  if (ops::is_ggml_format(q.format)) {
    const i64 nblocks = K / ops::quant::kGgmlBlock, bb = ops::quant::ggml_block_bytes(q.format);
    const std::uint8_t* w = q.codes.data();
    const bool q8 = q.format == ops::QuantFormat::q8_0;
    const bool rows16 = q.layout == ops::QuantLayout::rows16;
    // every output row n of W against the rows of x, kRowsAtOnce at a time: rows(r, wrow, row indices, out), wrow
    // row n's blocks in row-major order (rows16: its group's put back in that order first, per thread)
    auto each_output = [&](auto&& rows) {
      auto output = [&](i64 n, const std::uint8_t* wrow) {
        for (i64 m0 = 0; m0 < M; m0 += detail::kRowsAtOnce) {
          const int r = static_cast<int>(std::min<i64>(detail::kRowsAtOnce, M - m0));
          i64 xrows[detail::kRowsAtOnce];
          float out[detail::kRowsAtOnce];
          for (int i = 0; i < r; ++i) xrows[i] = m0 + i;
          rows(r, wrow, xrows, out);
          for (int i = 0; i < r; ++i) y[(m0 + i) * N + n] = out[i];
        }
      };
      if (!rows16) {
#pragma omp parallel for schedule(static) if (worth)
        for (i64 n = 0; n < N; ++n) output(n, w + n * nblocks * bb);
        return;
      }
      constexpr i64 R = ops::quant::kInterleavedRows;
#pragma omp parallel if (worth)
      {
        std::vector<std::uint8_t> group(static_cast<std::size_t>(R * nblocks * bb));
#pragma omp for schedule(static)
        for (i64 g = 0; g < N / R; ++g) {
          ops::quant::rows16_ungroup(q.format, w + g * R * nblocks * bb, nblocks, group.data());
          for (i64 r = 0; r < R; ++r) output(g * R + r, group.data() + r * nblocks * bb);
        }
      }
    };
    if (int8_activations()) {
      detail::Int8Rows xq;
      detail::quantize_rows_int8(x, M, K, xq);
      // rows16 on its own kernel for isa (AVX512-VNNI or AVX2), where compiled in: 16 outputs a pass, rows of x
      // rows16::kXRows at a time; guided: runs of groups shrinking towards the end, so that neither core waits long
      // for the other (bgemv.hpp)
      using GroupRows = void (*)(int, const std::uint8_t*, i64, const std::int8_t* const*, const float* const*,
                                 const std::int32_t* const*, float* const*);
      GroupRows group_rows = nullptr;
#if defined(PMC_HAVE_QMM_ROWS16)
      if (isa == Isa::avx512)
        group_rows = q8 ? rows16::group_rows<ops::QuantFormat::q8_0> : rows16::group_rows<ops::QuantFormat::q4_0>;
#endif
#if defined(PMC_HAVE_QMM_ROWS16_AVX2)
      if (isa == Isa::avx2)
        group_rows = q8 ? rows16::group_rows_avx2<ops::QuantFormat::q8_0> : rows16::group_rows_avx2<ops::QuantFormat::q4_0>;
#endif
      if (rows16 && group_rows != nullptr) {
        constexpr i64 R = ops::quant::kInterleavedRows;
        const i64 chunk = R * bb;
#pragma omp parallel for schedule(guided) if (worth)
        for (i64 g = 0; g < N / R; ++g) {
          for (i64 m0 = 0; m0 < M; m0 += rows16::kXRows) {
            const int r = static_cast<int>(std::min<i64>(rows16::kXRows, M - m0));
            const std::int8_t* xc[rows16::kXRows];
            const float* xd[rows16::kXRows];
            const std::int32_t* xs[rows16::kXRows];
            float* yr[rows16::kXRows];
            for (int i = 0; i < r; ++i) {
              xc[i] = xq.codes.data() + (m0 + i) * K;
              xd[i] = xq.scale.data() + (m0 + i) * nblocks;
              xs[i] = xq.sum.data() + (m0 + i) * nblocks;
              yr[i] = y + (m0 + i) * N + g * R;
            }
            group_rows(r, w + g * nblocks * chunk, nblocks, xc, xd, xs, yr);
          }
        }
        return;
      }
#if defined(PMC_HAVE_QMM_INT8_AVX512)
      if (isa == Isa::avx512) {
        detail::Int8Pairs xp;
        if (q8) detail::prepare_pairs<ops::QuantFormat::q8_0>(xq, M, nblocks, xp);
        else detail::prepare_pairs<ops::QuantFormat::q4_0>(xq, M, nblocks, xp);
        each_output([&](int r, const std::uint8_t* wrow, const i64* xrows, float* out) {
          if (q8) detail::int8_pairs_rows<ops::QuantFormat::q8_0>(r, wrow, nblocks, xq, xp, xrows, out);
          else detail::int8_pairs_rows<ops::QuantFormat::q4_0>(r, wrow, nblocks, xq, xp, xrows, out);
        });
        return;
      }
#endif
      each_output([&](int r, const std::uint8_t* wrow, const i64* xrows, float* out) {
        if (q8) detail::int8_rows<ops::QuantFormat::q8_0>(isa, r, wrow, nblocks, xq, xrows, out);
        else detail::int8_rows<ops::QuantFormat::q4_0>(isa, r, wrow, nblocks, xq, xrows, out);
      });
      return;
    }
    each_output([&](int r, const std::uint8_t* wrow, const i64* xrows, float* out) {
      const float* xs[detail::kRowsAtOnce];
      for (int i = 0; i < r; ++i) xs[i] = x + xrows[i] * K;
      if (q8) detail::ggml_rows<ops::QuantFormat::q8_0>(isa, r, wrow, nblocks, xs, out);
      else detail::ggml_rows<ops::QuantFormat::q4_0>(isa, r, wrow, nblocks, xs, out);
    });
    return;
  }
#pragma omp parallel if (worth)
  {
    std::vector<float> wrow(static_cast<std::size_t>(K));
#pragma omp for schedule(static)
    for (i64 n = 0; n < N; ++n) {
      detail::decode_span(q, n * K, K, wrow.data());
      for (i64 m = 0; m < M; ++m) y[m * N + n] = detail::dot(isa, wrow.data(), x + m * K, K);
    }
  }
}

}  // namespace pmc::backends::cpu::qmm

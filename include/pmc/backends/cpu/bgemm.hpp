// SPDX-License-Identifier: MIT
// pmc's own bf16 GEMM for x86 CPUs with AVX512-BF16 (Zen 4 and later, Intel Cooper Lake / Sapphire Rapids and
// later), used by Matmul<Cpu> for bf16 tensors in place of staging them to float (matmul.hpp, gemm_lowp) where it
// is compiled in (-march=native on such a CPU, or -mavx512bf16).
//
//   C (M, N), row-major  =  alpha · op(A) (M, K) · op(B) (K, N)  +  beta · C      (bf16 A and B; C bf16 or float)
//
// The blocking, threading and work items are sgemm.hpp's (read it first): a row block of op(A) packed once for
// every depth block and shared, each work item (a column block and a slice of the rows) running through every depth
// block and packing its own (KC, NC) block of op(B) for each, an 8 × 48 micro-tile in 24 zmm fp32 accumulators
// (4 × 48 for a last panel of at most 4 rows). What differs is the inner product: vdpbf16ps (_mm512_dpbf16_ps) multiplies 16 pairs of bf16 by 16 pairs and adds both
// products to 16 fp32 lanes, so the packed panels hold k in pairs:
//
//   A panel (MR rows):    for each k pair p: a(i, 2p), a(i, 2p+1) for i < MR, one 32-bit pair per row, broadcast;
//   B panel (NR columns): for each k pair p: b(2p, j), b(2p+1, j) for j < NR, 16 columns (32 bf16) per zmm;
//
// an odd depth block is padded with a zero. One vdpbf16ps per accumulator per k pair: 64 flops per instruction.
// The products of two bf16 are exact in fp32; each instruction adds them to the accumulator with fp32 rounding
// (round to nearest even, denormal inputs and results flushed to zero, whatever MXCSR says). So an element of C
// is a sum of exact products in a fixed order with at most 2 fp32 roundings per k pair:
//
//   |C - alpha·op(A)·op(B) - beta·C0| ≤ ~K · 2^-24 · |alpha| · Σ_k |a(i,k)| |b(k,j)|  (+ a bf16 C's final rounding,
//   ≤ 2^-8 of its value, + the flushes, ≤ K · 2^-126)
//
// the same bound as a float GEMM's of the bf16-rounded inputs. A bf16 C is rounded once, at the end: a depth
// beyond one block (K > KC) accumulates in a float buffer for the row block (ic) and is rounded when the last
// block is added, C = bf16(alpha · Σ + beta · C) rounding to nearest even as pmc::bf16 does (NaN kept quiet,
// denormals kept), the formula of the staged path. Each C tile is written by one work item with a fixed order
// over k, so results are bit-reproducible at any thread count.
//
// Chosen with PMC_CPU_GEMM (sgemm.hpp's choice()): unset, "native" or "avx512bf16" run bf16 products here (and
// float products on sgemm's widest kernel); "avx512" and "avx2" widen bf16 onto sgemm's float kernels (as a build
// without AVX512-BF16 does) and "eigen" stages it to float, so the paths can be compared in one build;
// "avx512bf16" on a build without AVX512-BF16 is a pmc::Error.
#pragma once

#include <pmc/backends/cpu/sgemm.hpp>

#if defined(PMC_HAVE_OWN_SGEMM) && defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512BF16__)

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include <pmc/core/dtype.hpp>

#define PMC_HAVE_OWN_BGEMM 1

namespace pmc::backends::cpu::bgemm {

using i64 = std::int64_t;
using sgemm::detail::thread_buffer;

/// 8 × 48 tile (24 zmm accumulators, 3 of B, the broadcasts of A folded into the instruction). KC in bf16
/// elements (a multiple of 2): an A panel of 8 × 768 bf16 is 12 KiB (L1), a B block of 768 × 384 bf16 576 KiB
/// (L2), the bytes of sgemm's Avx512 at twice the depth.
constexpr int kMR = 8, kVectors = 3, kNR = kVectors * 16;
constexpr i64 kKC = 768, kNC = 384, kMC = 4096 / kMR * kMR;
using sgemm::kPackedAWords;
/// A bf16 C's partial sums (K > KC) use a float buffer of at most this many floats: it bounds the row block.
using sgemm::kPartialFloats;
constexpr const char* name = "own AVX512-BF16";
static_assert(kNC % kNR == 0 && kKC % 2 == 0);

/// Whether Matmul<Cpu> runs a bf16 product here (or on amx.hpp's tiles, PMC_CPU_GEMM=amx): choice() allows it (not
/// PMC_CPU_GEMM=eigen, avx2 or avx512) and there is something to sum (k ≥ 1). Small products too: the staged path
/// converts op(B) whole anyway.
inline bool suits(i64 m, i64 n, i64 k) {
  const auto c = sgemm::choice();
  return (c == sgemm::Choice::native || c == sgemm::Choice::amx) && m >= 1 && n >= 1 && k >= 1;
}

namespace detail {

inline std::uint32_t pair(std::uint16_t lo, std::uint16_t hi) {
  return static_cast<std::uint32_t>(lo) | (static_cast<std::uint32_t>(hi) << 16);
}

/// 16 floats of bf16 bits.
inline __m512 load_bf16(const bf16* p) {
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/// 16 floats rounded to bf16 as pmc::bf16 does: to nearest, ties to even; NaN quiet; no flush of denormals.
inline __m256i round_bf16(__m512 x) {
  const __m512i u = _mm512_castps_si512(x);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff)));
  const __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
  r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(u, _mm512_set1_epi32(0x00400000)));
  return _mm512_cvtepi32_epi16(_mm512_srli_epi32(r, 16));
}

/// Where the micro-kernel's sums go. Float: c = alpha · acc + beta · c, sgemm's (alpha on each depth block,
/// beta on the first). Partial: p = acc (first block) or p + acc, in the float buffer. Final: a bf16 c =
/// bf16(alpha · (p + acc) + beta · c), or alpha · acc + beta · c when there is no partial (one depth block).
enum class Out { f32, partial, final };

/// Stores the sums of a tile's first R rows (acc[i][v]: row i, columns 16v to 16v + 15) per `O` to the tile's
/// mr × nr part (mr ≤ R; FullWidth: nr = NR). Shared by the micro-kernels (this one's and amx.hpp's).
template <Out O, bool FullWidth, int R, class TC>
[[gnu::always_inline]] inline void store_tile(const __m512 (&acc)[R][kVectors], TC* c, i64 ldc, float* part, i64 ldp,
                                              bool has_part, float alpha, float beta, int mr, int nr) {
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  if constexpr (FullWidth) {
#pragma GCC unroll 8
    for (int i = 0; i < R && i < mr; ++i)
#pragma GCC unroll 3
      for (int v = 0; v < kVectors; ++v) {
        __m512 s = acc[i][v];
        if constexpr (O == Out::f32) {
          float* q = reinterpret_cast<float*>(c) + i * ldc + v * 16;
          s = _mm512_mul_ps(va, s);
          if (beta != 0.f) s = _mm512_fmadd_ps(vb, _mm512_loadu_ps(q), s);
          _mm512_storeu_ps(q, s);
        } else {
          float* q = part + i * ldp + v * 16;
          if (has_part) s = _mm512_add_ps(_mm512_loadu_ps(q), s);
          if constexpr (O == Out::partial) {
            _mm512_storeu_ps(q, s);
          } else {
            bf16* o = reinterpret_cast<bf16*>(c) + i * ldc + v * 16;
            s = _mm512_mul_ps(va, s);
            if (beta != 0.f) s = _mm512_fmadd_ps(vb, load_bf16(o), s);
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(o), round_bf16(s));
          }
        }
      }
  } else {
    alignas(64) float t[R][kNR];
    for (int i = 0; i < R; ++i)
      for (int v = 0; v < kVectors; ++v) _mm512_store_ps(&t[i][v * 16], acc[i][v]);
    for (int i = 0; i < mr; ++i)
      for (int j = 0; j < nr; ++j) {
        float s = t[i][j];
        if constexpr (O == Out::f32) {
          float& o = reinterpret_cast<float*>(c)[i * ldc + j];
          o = beta != 0.f ? std::fma(beta, o, alpha * s) : alpha * s;
        } else {
          float& q = part[i * ldp + j];
          if (has_part) s = q + s;
          if constexpr (O == Out::partial) {
            q = s;
          } else {
            bf16& o = reinterpret_cast<bf16*>(c)[i * ldc + j];
            o = bf16(beta != 0.f ? std::fma(beta, static_cast<float>(o), alpha * s) : alpha * s);
          }
        }
      }
  }
}

/// Accumulates the first R rows (R = MR, or 4 for a last panel of at most 4 rows) of the tile of packed A (kp k
/// pairs) by packed B, then stores them per `O` to the tile's mr × nr part (mr ≤ R; FullWidth: nr = NR).
template <Out O, bool FullWidth, int R, class TC>
inline void micro_kernel(i64 kp, const std::uint32_t* __restrict a, const std::uint16_t* __restrict b, TC* c, i64 ldc,
                         float* part, i64 ldp, bool has_part, float alpha, float beta, int mr, int nr) {
  static_assert(R <= kMR);
  __m512 acc[R][kVectors];
#pragma GCC unroll 8
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 3
    for (int v = 0; v < kVectors; ++v) acc[i][v] = _mm512_setzero_ps();
  for (i64 p = 0; p < kp; ++p) {
    __m512bh bv[kVectors];
#pragma GCC unroll 3
    for (int v = 0; v < kVectors; ++v) bv[v] = (__m512bh)_mm512_load_si512(b + v * 32);
#pragma GCC unroll 8
    for (int i = 0; i < R; ++i) {
      const __m512bh ai = (__m512bh)_mm512_set1_epi32(static_cast<int>(a[i]));
#pragma GCC unroll 3
      for (int v = 0; v < kVectors; ++v) acc[i][v] = _mm512_dpbf16_ps(acc[i][v], ai, bv[v]);
    }
    a += kMR;
    b += 2 * kNR;
  }
  store_tile<O, FullWidth, R>(acc, c, ldc, part, ldp, has_part, alpha, beta, mr, nr);
}

/// Rows [i0, i0 + m) × columns [k0, k0 + kc) of op(A) as MR-row panels of kp = ⌈kc/2⌉ k pairs
/// (panel[p·MR + i] = a(i, 2p) | a(i, 2p+1) << 16), the last panel's missing rows and an odd kc's last pair zero.
inline void pack_a(const MatDesc<const bf16>& a, i64 i0, i64 m, i64 k0, i64 kc, std::uint32_t* out) {
  const i64 kp = (kc + 1) / 2, kfull = kc / 2;
  for (i64 ip = 0; ip < m; ip += kMR) {
    const int mr = static_cast<int>(std::min<i64>(kMR, m - ip));
    std::uint32_t* o = out + ip * kp;
    if (mr < kMR || kp != kfull) std::fill_n(o, kp * kMR, 0u);
    const bf16* base = a.data + (i0 + ip) * a.rs + k0 * a.cs;
    i64 p = 0;
    if (a.cs == 1 && a.rs % 2 == 0 && mr == kMR) {
      // Rows contiguous: a row's pairs are 32-bit words; 8 rows × 8 pairs transposed at a time (sgemm's
      // transpose_8x8 on the words as floats: MR = 8, so its stores stay inside the panel).
      const float* src = reinterpret_cast<const float*>(base);
      for (; p + 8 <= kfull; p += 8)
        sgemm::detail::transpose_8x8(src + p, a.rs / 2, kMR, reinterpret_cast<float*>(o + p * kMR), kMR);
    } else if (a.rs == 1 && mr == kMR) {
      // Columns contiguous (dyᵀ in dyᵀ·x): rows 2p and 2p+1 of the stored matrix, 8 values each, interleaved.
      for (; p < kfull; ++p) {
        const __m128i r0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(base + 2 * p * a.cs));
        const __m128i r1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(base + (2 * p + 1) * a.cs));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(o + p * kMR), _mm_unpacklo_epi16(r0, r1));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(o + p * kMR + 4), _mm_unpackhi_epi16(r0, r1));
      }
    }
    for (int i = 0; i < mr; ++i) {
      const bf16* row = base + i * a.rs;
      for (i64 q = p; q < kfull; ++q) o[q * kMR + i] = pair(row[2 * q * a.cs].bits, row[(2 * q + 1) * a.cs].bits);
      if (kp != kfull) o[kfull * kMR + i] = pair(row[2 * kfull * a.cs].bits, 0);
    }
  }
}

/// Rows [k0, k0 + kc) × columns [j0, j0 + n) of op(B) as NR-column panels of kp = ⌈kc/2⌉ k pairs
/// (panel[(p·NR + j)·2 + t] = b(2p + t, j)), the last panel's missing columns and an odd kc's last row zero. Panels
/// lie kp_stride ≥ kp pairs apart, the pairs from kp on zero (amx.hpp's tiles take 16 pairs at a time).
inline void pack_b(const MatDesc<const bf16>& b, i64 k0, i64 kc, i64 j0, i64 n, std::uint16_t* out, i64 kp_stride) {
  const i64 kp = (kc + 1) / 2, kfull = kc / 2;
  // Interleaves 16 values of row 2p (low half) and 16 of row 2p+1 (high half): word t = row (t & 1), column t / 2.
  alignas(64) static constexpr std::uint16_t kInterleave[32] = {0, 16, 1, 17, 2,  18, 3,  19, 4,  20, 5,
                                                                21, 6, 22, 7, 23, 8, 24, 9,  25, 10, 26,
                                                                11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
  const __m512i interleave = _mm512_load_si512(kInterleave);
  for (i64 jp = 0; jp < n; jp += kNR) {
    const int nr = static_cast<int>(std::min<i64>(kNR, n - jp));
    std::uint16_t* o = out + jp * 2 * kp_stride;
    std::fill(o + kp * kNR * 2, o + kp_stride * kNR * 2, std::uint16_t{0});
    if (b.cs == 1) {  // rows contiguous (W in dy·W, x in dyᵀ·x): two rows' 16 columns interleaved per zmm
      const bf16* base = b.data + k0 * b.rs + j0 + jp;
      for (int v = 0; v < kVectors; ++v) {
        const int cols = std::clamp(nr - 16 * v, 0, 16);
        const __mmask16 mask = static_cast<__mmask16>((1u << cols) - 1u);
        for (i64 p = 0; p < kp; ++p) {
          const bf16* r0 = base + 2 * p * b.rs + 16 * v;
          const __m256i lo = _mm256_maskz_loadu_epi16(mask, r0);
          const __m256i hi = 2 * p + 1 < kc ? _mm256_maskz_loadu_epi16(mask, r0 + b.rs) : _mm256_setzero_si256();
          const __m512i both = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
          _mm512_store_si512(o + (p * kNR + 16 * v) * 2, _mm512_permutexvar_epi16(interleave, both));
        }
      }
      continue;
    }
    if (nr < kNR || kp != kfull) std::fill_n(o, kp * kNR * 2, std::uint16_t{0});
    const bf16* base = b.data + k0 * b.rs + (j0 + jp) * b.cs;
    if (b.rs == 1 && b.cs % 2 == 0) {
      // Columns contiguous (Wᵀ in x·Wᵀ): a column's pairs are 32-bit words; 8 columns × 8 pairs transposed at
      // a time, the words as floats (NR is a multiple of 8, so the transposes' stores stay inside the panel).
      float* of = reinterpret_cast<float*>(o);
      for (int j = 0; j < nr; j += 8) {
        const int cols = std::min(8, nr - j);
        const float* src = reinterpret_cast<const float*>(base + j * b.cs);
        i64 p = 0;
        for (; p + 8 <= kfull; p += 8) sgemm::detail::transpose_8x8(src + p, b.cs / 2, cols, of + p * kNR + j, kNR);
        for (int jj = j; jj < j + cols; ++jj) {
          const bf16* col = base + jj * b.cs;
          for (i64 q = p; q < kfull; ++q) {
            o[(q * kNR + jj) * 2] = col[2 * q].bits;
            o[(q * kNR + jj) * 2 + 1] = col[2 * q + 1].bits;
          }
        }
      }
    } else {  // any strides
      for (int j = 0; j < nr; ++j) {
        const bf16* col = base + j * b.cs;
        for (i64 q = 0; q < kfull; ++q) {
          o[(q * kNR + j) * 2] = col[2 * q * b.rs].bits;
          o[(q * kNR + j) * 2 + 1] = col[(2 * q + 1) * b.rs].bits;
        }
      }
    }
    if (kp != kfull)
      for (int j = 0; j < nr; ++j) o[(kfull * kNR + j) * 2] = base[j * b.cs + 2 * kfull * b.rs].bits;
  }
}

/// An aligned per-thread buffer of T (sgemm's thread_buffer, in its slots 2-4).
template <int Slot, class T>
T* buffer(i64 count) {
  return reinterpret_cast<T*>(thread_buffer<Slot>((count * static_cast<i64>(sizeof(T)) + 3) / 4));
}

}  // namespace detail

/// The micro-kernel of gemm(): how A is packed, how many k pairs a packed depth block of kc holds, what each thread
/// sets up (Thread: constructed when the thread starts on its work items, destroyed when it is done), and the tile
/// product tile<O>() of an MR-row panel of A by an NR-column panel of B. This one is vdpbf16ps's; amx.hpp has the
/// AMX tiles'.
struct Dpbf16 {
  static constexpr int kMR = bgemm::kMR;
  static constexpr const char* name = bgemm::name;
  static constexpr i64 pairs(i64 kc) { return (kc + 1) / 2; }
  static void pack_a(const MatDesc<const bf16>& a, i64 i0, i64 m, i64 k0, i64 kc, std::uint32_t* out) {
    detail::pack_a(a, i0, m, k0, kc, out);
  }
  struct Thread {};
  template <detail::Out O, class TC>
  static void tile(i64 kp, const std::uint32_t* a, const std::uint16_t* b, TC* c, i64 ldc, float* part, i64 ldp,
                   bool has_part, float alpha, float beta, int mr, int nr) {
    using detail::micro_kernel;
    if (nr == kNR && mr > 4)
      micro_kernel<O, true, kMR>(kp, a, b, c, ldc, part, ldp, has_part, alpha, beta, mr, nr);
    else if (nr == kNR)
      micro_kernel<O, true, 4>(kp, a, b, c, ldc, part, ldp, has_part, alpha, beta, mr, nr);
    else
      micro_kernel<O, false, kMR>(kp, a, b, c, ldc, part, ldp, has_part, alpha, beta, mr, nr);
  }
};

/// C = alpha · op(A) · op(B) + beta · C, bf16 A and B, C bf16 or float. C must be row-major (c.cs = 1).
/// `partial_floats` bounds a bf16 C's float buffer (tests make it small to reach many row blocks). K: the
/// micro-kernel (Dpbf16, or amx.hpp's).
template <class TC, class K = Dpbf16>
void gemm(const MatDesc<const bf16>& a, const MatDesc<const bf16>& b, const MatDesc<TC>& c, float alpha, float beta,
          i64 partial_floats = kPartialFloats) {
  static_assert(std::is_same_v<TC, float> || std::is_same_v<TC, bf16>);
  using namespace detail;
  const i64 m = c.rows, n = c.cols, k = a.cols;
  const i64 ldc = c.rs;
  if (m == 0 || n == 0) return;
  if (k == 0) {  // an empty sum: C = beta · C
    for (i64 i = 0; i < m; ++i)
      for (i64 j = 0; j < n; ++j) {
        TC& o = c.data[i * ldc + j];
        o = TC(beta != 0.f ? beta * static_cast<float>(o) : 0.f);
      }
    return;
  }
  // A row block's packed A holds every depth block (block d at d · mc · kp_block words), as sgemm's. A bf16 C over
  // several depth blocks keeps its partial sums in a float buffer of (row block, n).
  const bool partial = std::is_same_v<TC, bf16> && k > kKC;
  constexpr int kMR = K::kMR;
  const i64 depth_blocks = (k + kKC - 1) / kKC, kp_block = K::pairs(std::min(kKC, k));
  const i64 kp_all = depth_blocks * kp_block;
  i64 mc_cap = std::clamp(kPackedAWords / kp_all / kMR * kMR, i64{kMR}, kMC);
  if (partial) mc_cap = std::min(mc_cap, std::clamp(partial_floats / n / kMR * kMR, i64{kMR}, kMC));
  const i64 mc_max = std::min(mc_cap, (m + kMR - 1) / kMR * kMR);
  std::uint32_t* const packed_a = buffer<2, std::uint32_t>(mc_max * kp_all);  // the caller's, shared by the team
  float* const part = partial ? buffer<3, float>(mc_max * n) : nullptr;       // likewise
  [[maybe_unused]] const bool worth_threads = m * n * k >= (i64{1} << 18);
#pragma omp parallel if (worth_threads)
  {
#ifdef _OPENMP
    const i64 threads = omp_get_num_threads();
#else
    const i64 threads = 1;
#endif
    const sgemm::detail::ColumnBlocks blocks(n, kNR, kNC, threads);
    const i64 column_blocks = blocks.count;
    std::uint16_t* const packed_b = buffer<4, std::uint16_t>(kNC * 2 * K::pairs(kKC));
    [[maybe_unused]] const typename K::Thread thread_state;
    for (i64 ic = 0; ic < m; ic += mc_cap) {
      const i64 mc = std::min(mc_cap, m - ic), a_panels = (mc + kMR - 1) / kMR;
      const i64 depth_stride = a_panels * kMR * kp_block;  // words of packed A a depth block
      const i64 row_slices = column_blocks >= 2 * threads ? 1 : std::min(threads, a_panels);
#pragma omp for schedule(static) collapse(2)
      for (i64 d = 0; d < depth_blocks; ++d)
        for (i64 p = 0; p < a_panels; ++p) {
          const i64 pc = d * kKC, kc = std::min(kKC, k - pc);
          K::pack_a(a, ic + p * kMR, std::min<i64>(kMR, mc - p * kMR), pc, kc,
                    packed_a + d * depth_stride + p * kMR * K::pairs(kc));
        }
      // (implicit barrier: A is packed)
#pragma omp for schedule(dynamic, 1) collapse(2)
      for (i64 jb = 0; jb < column_blocks; ++jb)
        for (i64 slice = 0; slice < row_slices; ++slice) {
          const auto [jc, nc, ir0, ir1] = sgemm::detail::WorkItem(blocks, jb, slice, row_slices, a_panels, kMR, mc);
          for (i64 d = 0; d < depth_blocks; ++d) {
            const i64 pc = d * kKC, kc = std::min(kKC, k - pc), kp = K::pairs(kc);
            const bool first = d == 0, last = d + 1 == depth_blocks;
            // Float C: beta on the first depth block, as sgemm. Bf16 C: the caller's beta, used by the last one.
            const float beta_pc = std::is_same_v<TC, float> && !first ? 1.f : beta;
            pack_b(b, pc, kc, jc, nc, packed_b, kp);
            for (i64 ir = ir0; ir < ir1; ir += kMR) {
              const int mr = static_cast<int>(std::min<i64>(kMR, mc - ir));
              const std::uint32_t* ap = packed_a + d * depth_stride + ir * kp;
              for (i64 jr = 0; jr < nc; jr += kNR) {
                const int nr = static_cast<int>(std::min<i64>(kNR, nc - jr));
                const std::uint16_t* bp = packed_b + jr * 2 * kp;
                TC* cp = c.data + (ic + ir) * ldc + jc + jr;
                float* pp = partial ? part + ir * n + jc + jr : nullptr;
                if constexpr (std::is_same_v<TC, float>)
                  K::template tile<Out::f32>(kp, ap, bp, cp, ldc, pp, n, !first, alpha, beta_pc, mr, nr);
                else if (!last)
                  K::template tile<Out::partial>(kp, ap, bp, cp, ldc, pp, n, !first, alpha, beta_pc, mr, nr);
                else
                  K::template tile<Out::final>(kp, ap, bp, cp, ldc, pp, n, !first, alpha, beta_pc, mr, nr);
              }
            }
          }
        }
      // (implicit barrier: packed A may be overwritten by the next row block)
    }
  }
}

}  // namespace pmc::backends::cpu::bgemm

#endif  // AVX512-BF16

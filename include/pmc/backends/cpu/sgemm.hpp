// SPDX-License-Identifier: MIT
// pmc's own fp32 GEMM for x86 CPUs with AVX-512 or AVX2 + FMA, used by Matmul<Cpu> in place of Eigen's where it is
// compiled in (-march=native on such a CPU) and the product is large enough to pay for packing.
//
//   C (M, N), row-major  =  alpha · op(A) (M, K) · op(B) (K, N)  +  beta · C      (beta = 0: C is not read)
//
// op(A) and op(B) may have any strides (row-major, column-major or neither); they are packed, so the
// transposes of a linear layer's forward (x·Wᵀ), grad input (dy·W) and grad weight (dyᵀ·x) all run the same
// micro-kernel. The blocking is BLIS's, with the roles of A and B exchanged because C is row-major here:
//
//   for ic < M step MC:         a row block of op(A), packed once for every depth block into MR-row panels
//                               (k-major), shared; MC bounded by kPackedAWords
//     for jc < N step NC:       a column block: a work item, taken by one thread
//       for pc < K step KC:     depth block; beta applies to the first one only
//         the work item packs its own (KC, NC) block of op(B) into NR-column panels (L2)
//         for ir step MR:       one packed A panel (MR × KC floats) stays in L1 ...
//           for jr step NR:     ... while the B panels stream from L2: micro-kernel, an MR × NR tile of C in
//                               MR · NR / width vector accumulators, one FMA per accumulator per k
//
// One template, two instruction sets (the `Kernel` parameter):
//   Avx512: 16 floats a vector, an 8 × 48 tile in 24 of the 32 zmm registers, KC = NC = 384;
//   Avx2:    8 floats a vector, a 6 × 16 tile in 12 of the 16 ymm registers (BLIS's Haswell kernel shape).
// `Native` is the widest one compiled in; PMC_CPU_GEMM=eigen selects Eigen's GEMM instead and PMC_CPU_GEMM=avx2
// the AVX2 kernel on an AVX-512 build (to compare them in one build); an unknown value is a pmc::Error. The same
// variable chooses the bf16 GEMM (bgemm.hpp): unset/native/avx512bf16 its AVX512-BF16 kernel where compiled in,
// eigen/avx2/avx512 the older path that stages bf16 to float (see Choice).
//
// Work items are (jc, slice of the ir range) pairs, so a product with one column block (N ≤ NC, the
// 384-wide projections of a small model) still splits across threads; the column blocks share whole NR tiles out
// evenly (ColumnBlocks). Each C tile is written by one work item
// with a fixed summation order, so results do not depend on the thread count or schedule: runs are
// bit-reproducible. Measured at a small LLaMA's training shapes on 2 cores: Avx512 1.2–1.8x Eigen 3.4's GEMM at
// 80–92% of the AVX-512 FMA peak, Avx2 about 1.35x Eigen's at over 90% of the AVX2 peak (docs/performance.md).
#pragma once

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string_view>
#include <type_traits>

#ifdef _OPENMP
#include <omp.h>
#endif

#include <pmc/backends/cpu/mat_desc.hpp>
#include <pmc/core/dtype.hpp>
#include <pmc/core/error.hpp>

#define PMC_HAVE_OWN_SGEMM 1

namespace pmc::backends::cpu::sgemm {

using i64 = std::int64_t;

/// AVX2 + FMA: 8 floats a vector; a 6 × 16 tile in 12 ymm accumulators, 2 for B and 1 broadcast of A (15 of 16).
/// A panel of 6 × 256 floats is 6 KiB (L1); a B block of 256 × 384 floats is 384 KiB (L2 of 512 KiB or more:
/// Zen 2 to 5, Intel server cores since Skylake-SP). Built with -mno-avx512f on a Zen 5, 2 threads: over 90% of
/// the AVX2 FMA peak at 2048 × 384 × 384, 1.35x Eigen's GEMM, and ahead of Eigen from 128 rows: kMinRows.
struct Avx2 {
  using Vec = __m256;
  static constexpr const char* name = "own AVX2";
  static constexpr int kWidth = 8, kMR = 6, kVectors = 2;
  static constexpr i64 kKC = 256, kNC = 24 * kVectors * kWidth, kMinRows = 128;
  static Vec zero() { return _mm256_setzero_ps(); }
  static Vec load(const float* p) { return _mm256_load_ps(p); }  // 32-byte aligned
  static Vec loadu(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, Vec v) { _mm256_store_ps(p, v); }
  static void storeu(float* p, Vec v) { _mm256_storeu_ps(p, v); }
  static Vec set1(float x) { return _mm256_set1_ps(x); }
  static Vec mul(Vec a, Vec b) { return _mm256_mul_ps(a, b); }
  static Vec fmadd(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
};

#if defined(__AVX512F__)
/// AVX-512: 16 floats a vector; an 8 × 48 tile in 24 zmm accumulators. A panel of 8 × 384 floats is 12 KiB (L1),
/// a B block of 384 × 384 floats 576 KiB (L2 of 1-2 MiB). At K = 384 on 2 Zen 5 cores Eigen's GEMM is ahead at
/// 128 rows, level at 192 and behind from 256; at a model's K (2048 and up) this kernel is ahead from 128 rows: a
/// 1.1B model's 154-token fp32 prompt ran at 75-84 tokens/s against 67-70 on Eigen's tiles (session 17): kMinRows.
struct Avx512 {
  using Vec = __m512;
  static constexpr const char* name = "own AVX-512";
  static constexpr int kWidth = 16, kMR = 8, kVectors = 3;
  static constexpr i64 kKC = 384, kNC = 8 * kVectors * kWidth, kMinRows = 128;
  static Vec zero() { return _mm512_setzero_ps(); }
  static Vec load(const float* p) { return _mm512_load_ps(p); }  // 64-byte aligned
  static Vec loadu(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, Vec v) { _mm512_store_ps(p, v); }
  static void storeu(float* p, Vec v) { _mm512_storeu_ps(p, v); }
  static Vec set1(float x) { return _mm512_set1_ps(x); }
  static Vec mul(Vec a, Vec b) { return _mm512_mul_ps(a, b); }
  static Vec fmadd(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
};
using Native = Avx512;
#else
using Native = Avx2;
#endif

/// Which GEMMs Matmul<Cpu> runs large float products and bf16 products on:
///   eigen:   Eigen's for float; bf16 staged to float (matmul.hpp's gemm_lowp, on Eigen's GEMM);
///   avx2:    the AVX2 kernel for float (also on an AVX-512 build, to compare the two); bf16 widened to float as it
///            is packed, on the same kernel (gemm<Avx2, bf16>);
///   avx512:  the AVX-512 kernel for float; bf16 widened onto it (the paths before bgemm.hpp, to compare);
///   native:  the widest float kernel compiled in; bf16 on bgemm.hpp's AVX512-BF16 kernel where compiled in,
///            widened onto the widest float kernel otherwise (AVX2-only and AVX-512 CPUs without bf16 instructions);
///   amx:     the widest float kernel; bf16 on amx.hpp's AMX-BF16 tile kernel (where the CPU and the kernel allow
///            AMX tiles: a pmc::Error at the first bf16 product otherwise). Opt-in: it has not yet run on AMX hardware.
enum class Choice { eigen, avx2, avx512, native, amx };

/// The Choice a PMC_CPU_GEMM value names: "eigen", "avx2", "avx512" (where compiled in), "avx512bf16" (where
/// compiled in: native), "amx" (where the AVX512-BF16 kernel is compiled in: its packing is shared), "native" or ""
/// (unset).
inline Choice parse_choice(std::string_view value) {
  if (value.empty() || value == "native") return Choice::native;
  if (value == "eigen") return Choice::eigen;
  if (value == "avx2") return Choice::avx2;
#if defined(__AVX512F__)
  if (value == "avx512") return Choice::avx512;
#else
  if (value == "avx512") fail("PMC_CPU_GEMM=avx512: this build has no AVX-512 kernel (it was compiled without -mavx512f)");
#endif
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512BF16__)
  if (value == "avx512bf16") return Choice::native;
  if (value == "amx") return Choice::amx;
#else
  if (value == "avx512bf16")
    fail("PMC_CPU_GEMM=avx512bf16: this build has no AVX512-BF16 kernel (it was compiled without -mavx512bf16)");
  if (value == "amx")
    fail("PMC_CPU_GEMM=amx: this build has no AVX512-BF16 kernel, whose packing the AMX kernel uses (it was "
         "compiled without -mavx512bf16)");
#endif
  fail("PMC_CPU_GEMM=", value, ": unknown GEMM; use eigen, avx2, avx512, avx512bf16, amx or native, or leave it unset");
}

/// The Choice of the environment's PMC_CPU_GEMM, read once.
inline Choice choice() {
  static const Choice c = [] {
    const char* v = std::getenv("PMC_CPU_GEMM");
    return parse_choice(v != nullptr ? v : "");
  }();
  return c;
}

/// The name of the kernel choice() selects ("own AVX-512", "own AVX2") or "Eigen".
inline const char* chosen_name() {
  switch (choice()) {
    case Choice::eigen: return "Eigen";
    case Choice::avx2: return Avx2::name;
    default: return Native::name;
  }
}

/// Whether Matmul<Cpu> should use the chosen kernel: not when PMC_CPU_GEMM=eigen, and not for products too small
/// to pay for packing op(B) (one pass over K × N per column block and row slice): short prompts, decoding's rows.
inline bool suits(i64 m, i64 n, i64 k) {
  const i64 min_rows = choice() == Choice::avx2 ? Avx2::kMinRows : Native::kMinRows;
  return choice() != Choice::eigen && m >= min_rows && n >= 16 && k >= 16;
}

/// Rows from which a bf16 product runs widened on the chosen float kernel rather than staged to float on Eigen's
/// GEMM (which widens all of op(B) too, and packs it again). On a Zen 1 (AVX2, 2 threads), bf16 x · Wᵀ with W
/// 4096 × 4096: staged / widened 16.5-17.0 / 9.7 ms at 5 rows, 17.7 / 9.2 at 6, 22.4 / 15.0 at 16, but 9.2 / 9.6 at
/// 4 (where the matrix-vector kernel, bgemv.hpp, takes 8.3).
inline constexpr i64 kMinRowsWidened = 5;

/// Whether Matmul<Cpu> runs a bf16 product widened on the chosen float kernel (gemm<K, bf16>): PMC_CPU_GEMM=avx2 or
/// avx512, or native on a build without the AVX512-BF16 kernel (bgemm.hpp), and at least kMinRowsWidened rows.
inline bool suits_widened(i64 m, i64 n, i64 k) {
  const Choice c = choice();
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512BF16__)
  const bool widened = c == Choice::avx2 || c == Choice::avx512;
#else
  const bool widened = c == Choice::avx2 || c == Choice::avx512 || c == Choice::native;
#endif
  return widened && m >= kMinRowsWidened && n >= 1 && k >= 1;
}

namespace detail {

/// A 64-byte aligned float buffer per thread and slot that grows and is reused across calls (like scratch() in
/// eigen.hpp, which is not aligned: the micro-kernel's loads of packed B need the vector's alignment). Slots: 0, 1
/// and 3 here (packed A, packed B, a bf16 C's sums), 2-4 bgemm.hpp (3 shared: the two never run at once on a
/// thread), 5 bgemv.hpp (its x widened to float).
template <int Slot>
float* thread_buffer(i64 floats) {
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  thread_local std::unique_ptr<float, Free> buf;
  thread_local i64 capacity = 0;
  if (floats > capacity) {
    const std::size_t bytes = (static_cast<std::size_t>(floats) * sizeof(float) + 63) / 64 * 64;
    buf.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
    if (!buf) throw std::bad_alloc();
    capacity = floats;
  }
  return buf.get();
}

/// tile = alpha · Σ_k a[k·MR + i] · b[k·NR + j] + beta · tile, for the tile's mr × nr part (Full: all of it).
template <class K, bool Full>
inline void micro_kernel(i64 kc, const float* __restrict a, const float* __restrict b, float* c, i64 ldc, float alpha,
                         float beta, int mr, int nr) {
  constexpr int MR = K::kMR, V = K::kVectors, W = K::kWidth, NR = V * W;
  typename K::Vec acc[MR][V];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) acc[i][v] = K::zero();
  for (i64 k = 0; k < kc; ++k) {
    typename K::Vec bv[V];
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) bv[v] = K::load(b + v * W);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const auto ai = K::set1(a[i]);
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) acc[i][v] = K::fmadd(ai, bv[v], acc[i][v]);
    }
    a += MR;
    b += NR;
  }
  const auto va = K::set1(alpha), vb = K::set1(beta);
  if constexpr (Full) {
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) {
        float* p = c + i * ldc + v * W;
        auto r = K::mul(va, acc[i][v]);
        if (beta != 0.f) r = K::fmadd(vb, K::loadu(p), r);
        K::storeu(p, r);
      }
  } else {
    alignas(64) float t[MR][NR];
    for (int i = 0; i < MR; ++i)
      for (int v = 0; v < V; ++v) K::store(&t[i][v * W], acc[i][v]);
    for (int i = 0; i < mr; ++i)
      for (int j = 0; j < nr; ++j) {
        float& o = c[i * ldc + j];
        o = beta != 0.f ? alpha * t[i][j] + beta * o : alpha * t[i][j];
      }
  }
}

/// The column blocks of op(B) that a product's work items take: whole NR-column tiles shared out evenly, block jb
/// covering columns [begin(jb), begin(jb + 1)), at most NC of them. There are ⌈n / NC⌉ blocks, rounded up to a
/// multiple of the threads when there are at least two a thread, so that the threads' shares differ by at most a
/// tile a block. (Blocks of NC columns and a short last one leave a thread idle: 2048 columns are 5⅓ blocks of 384,
/// 3 for one of 2 threads and 2⅓ for the other.) Tiles still start at multiples of NR: the bits do not change.
struct ColumnBlocks {
  i64 n, nr, tiles, count;
  ColumnBlocks(i64 n_, i64 nr_, i64 nc, i64 threads) : n(n_), nr(nr_), tiles((n_ + nr_ - 1) / nr_) {
    count = (n + nc - 1) / nc;
    if (count >= 2 * threads) count = std::min(tiles, (count + threads - 1) / threads * threads);
  }
  i64 begin(i64 jb) const { return std::min(n, jb * tiles / count * nr); }
};

/// A work item of a row block of mc rows (a_panels panels of MR): column block jb's columns [jc, jc + nc) and
/// slice `slice` of `slices` of the rows, [ir0, ir1), whole panels.
struct WorkItem {
  i64 jc, nc, ir0, ir1;
  WorkItem(const ColumnBlocks& blocks, i64 jb, i64 slice, i64 slices, i64 a_panels, i64 mr, i64 mc)
      : jc(blocks.begin(jb)),
        nc(blocks.begin(jb + 1) - jc),
        ir0(a_panels * slice / slices * mr),
        ir1(std::min(mc, a_panels * (slice + 1) / slices * mr)) {}
};

/// A partial panel (fewer than `width` rows or columns filled) is zeroed first: its padding then adds nothing.
inline void zero_partial_panel(float* panel, int filled, int width, i64 kc) {
  if (filled < width) std::fill_n(panel, kc * width, 0.f);
}

/// 8 floats from p: floats as they are, bf16 widened (exactly: a bf16 is the top half of its float).
inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
inline __m256 load8(const bf16* p) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

/// Transposes an 8 × 8 block: `rows` (≤ 8) vectors of 8 values at src + r·src_stride (the others taken as zero)
/// become 8 vectors of 8 floats at dst + c·dst_stride, dst[c·dst_stride + r] = src[r·src_stride + c] (bf16 widened).
/// Stores run in order of c, so with dst_stride < 8 each store's spill into the next one's place is overwritten by
/// that one; the last spills dst_stride .. 7 floats past dst + 7·dst_stride, which the caller must own and fill later.
template <class T>
inline void transpose_8x8(const T* src, i64 src_stride, int rows, float* dst, i64 dst_stride) {
  __m256 r[8];
  for (int i = 0; i < 8; ++i) r[i] = i < rows ? load8(src + i * src_stride) : _mm256_setzero_ps();
  __m256 t[8], u[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);  // r0[0] r1[0] r0[1] r1[1] | r0[4] r1[4] r0[5] r1[5]
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int h = 0; h < 2; ++h) {  // rows 0-3 (h = 0) and 4-7 (h = 1)
    const __m256 lo0 = t[4 * h], hi0 = t[4 * h + 1], lo1 = t[4 * h + 2], hi1 = t[4 * h + 3];
    u[4 * h + 0] = _mm256_shuffle_ps(lo0, lo1, _MM_SHUFFLE(1, 0, 1, 0));  // columns 0 and 4 of 4 rows
    u[4 * h + 1] = _mm256_shuffle_ps(lo0, lo1, _MM_SHUFFLE(3, 2, 3, 2));  // columns 1 and 5
    u[4 * h + 2] = _mm256_shuffle_ps(hi0, hi1, _MM_SHUFFLE(1, 0, 1, 0));  // columns 2 and 6
    u[4 * h + 3] = _mm256_shuffle_ps(hi0, hi1, _MM_SHUFFLE(3, 2, 3, 2));  // columns 3 and 7
  }
  for (int c = 0; c < 4; ++c) {
    _mm256_storeu_ps(dst + c * dst_stride, _mm256_permute2f128_ps(u[c], u[4 + c], 0x20));
  }
  for (int c = 0; c < 4; ++c) {
    _mm256_storeu_ps(dst + (4 + c) * dst_stride, _mm256_permute2f128_ps(u[c], u[4 + c], 0x31));
  }
}

/// Rows [i0, i0 + m) × columns [k0, k0 + kc) of op(A) as MR-row panels of floats, k-major (panel[k·MR + i]), the
/// last panel zero-padded. T: float, or bf16 widened to float (exactly).
template <int MR, class T>
void pack_a(const MatDesc<const T>& a, i64 i0, i64 m, i64 k0, i64 kc, float* out) {
  static_assert(MR <= 8);
  for (i64 ip = 0; ip < m; ip += MR) {
    const int mr = static_cast<int>(std::min<i64>(MR, m - ip));
    float* o = out + ip * kc;
    zero_partial_panel(o, mr, MR, kc);
    if (a.cs == 1) {  // rows contiguous: transposed 8 × 8 at a time, the last (partial) block element by element
      const T* src = a.data + (i0 + ip) * a.rs + k0;
      i64 k = 0;
      if (mr == MR) {  // the last store of a block spills 8 - MR floats, which must stay inside this panel
        for (; k + 8 < kc || (MR == 8 && k + 8 <= kc); k += 8) transpose_8x8(src + k, a.rs, MR, o + k * MR, MR);
      }
      for (int i = 0; i < mr; ++i)
        for (i64 kk = k; kk < kc; ++kk) o[kk * MR + i] = static_cast<float>(src[i * a.rs + kk]);
    } else {  // columns contiguous (rs = 1) or any strides
      for (i64 k = 0; k < kc; ++k) {
        const T* src = a.data + (k0 + k) * a.cs + (i0 + ip) * a.rs;
        for (int i = 0; i < mr; ++i) o[k * MR + i] = static_cast<float>(src[i * a.rs]);
      }
    }
  }
}

/// Rows [k0, k0 + kc) × columns [j0, j0 + n) of op(B) as NR-column panels of floats, k-major (panel[k·NR + j]),
/// the last panel zero-padded. T: float, or bf16 widened to float (exactly).
template <int NR, class T>
void pack_b(const MatDesc<const T>& b, i64 k0, i64 kc, i64 j0, i64 n, float* out) {
  static_assert(NR % 8 == 0);
  for (i64 jp = 0; jp < n; jp += NR) {
    const int nr = static_cast<int>(std::min<i64>(NR, n - jp));
    float* o = out + jp * kc;
    zero_partial_panel(o, nr, NR, kc);
    if (b.cs == 1) {  // rows contiguous
      for (i64 k = 0; k < kc; ++k) {
        const T* src = b.data + (k0 + k) * b.rs + j0 + jp;
        if constexpr (std::is_same_v<T, float>) {
          std::memcpy(o + k * NR, src, static_cast<std::size_t>(nr) * sizeof(float));
        } else {
          int j = 0;
          for (; j + 8 <= nr; j += 8) _mm256_store_ps(o + k * NR + j, load8(src + j));
          for (; j < nr; ++j) o[k * NR + j] = static_cast<float>(src[j]);
        }
      }
    } else if (b.rs == 1) {  // columns contiguous (a transposed weight): 8 columns × 8 rows transposed at a time
      const T* src = b.data + (j0 + jp) * b.cs + k0;
      for (int j = 0; j < nr; j += 8) {
        const int cols = std::min(8, nr - j);
        i64 k = 0;
        for (; k + 8 <= kc; k += 8) transpose_8x8(src + j * b.cs + k, b.cs, cols, o + k * NR + j, NR);
        for (int jj = j; jj < j + cols; ++jj)
          for (i64 kk = k; kk < kc; ++kk) o[kk * NR + jj] = static_cast<float>(src[jj * b.cs + kk]);
      }
    } else {  // any strides
      for (int j = 0; j < nr; ++j) {
        const T* src = b.data + (j0 + jp + j) * b.cs + k0 * b.rs;
        for (i64 k = 0; k < kc; ++k) o[k * NR + j] = static_cast<float>(src[k * b.rs]);
      }
    }
  }
}

/// 8 floats rounded to bf16 as pmc::bf16 does: to nearest, ties to even; NaN quiet; no flush of denormals.
inline __m128i round_bf16(__m256 x) {
  const __m256i u = _mm256_castps_si256(x);
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
  const __m256i rounded = _mm256_add_epi32(u, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff)));
  const __m256i quiet = _mm256_or_si256(u, _mm256_set1_epi32(0x00400000));
  const __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(x, x, _CMP_UNORD_Q));
  const __m256i r = _mm256_srli_epi32(_mm256_blendv_epi8(rounded, quiet, nan), 16);
  return _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
}

/// c = bf16(alpha · s + beta · c) for the rows × cols block of sums s (row stride lds) onto a bf16 c (row stride
/// ldc), rounded once, as bgemm.hpp and the staged path (matmul.hpp, gemm_lowp) do; c is not read when beta = 0.
inline void store_bf16(const float* s, i64 lds, bf16* c, i64 ldc, i64 rows, i64 cols, float alpha, float beta) {
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
  for (i64 i = 0; i < rows; ++i) {
    const float* si = s + i * lds;
    bf16* ci = c + i * ldc;
    i64 j = 0;
    for (; j + 8 <= cols; j += 8) {
      __m256 v = _mm256_mul_ps(va, _mm256_loadu_ps(si + j));
      if (beta != 0.f) v = _mm256_fmadd_ps(vb, load8(ci + j), v);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(ci + j), round_bf16(v));
    }
    for (; j < cols; ++j)
      ci[j] = bf16(beta != 0.f ? std::fma(beta, static_cast<float>(ci[j]), alpha * si[j]) : alpha * si[j]);
  }
}

}  // namespace detail

/// Packed A, every depth block of a row block, of at most this many 32-bit words (16 MiB): bounds the row block.
/// (bgemm.hpp packs bf16 pairs into words of the same budget.)
inline constexpr i64 kPackedAWords = i64{1} << 22;
/// A float buffer for a bf16 C's sums of at most this many floats (16 MiB): bounds the row block (here and in
/// bgemm.hpp).
inline constexpr i64 kPartialFloats = i64{1} << 22;

/// C = alpha · op(A) · op(B) + beta · C for one matrix on kernel K (Avx2 or Avx512). C must be row-major
/// (c.cs = 1); k ≥ 1. `packed_a_words` bounds packed A (tests make it small to reach many row blocks).
///
/// T = bf16: op(A) and op(B) are widened to float as they are packed (exact), so the products and their order are
/// those of the float GEMM of the same values: the bound of a float GEMM, on CPUs without AVX512-BF16. A bf16 C (TC)
/// gets the sums in a float buffer of (row block, N), at most `partial_floats` floats, and is rounded once per
/// element, c = bf16(alpha · Σ + beta · c), by the work item that computed it after its last depth block.
template <class K, class T = float, class TC = T>
void gemm(const MatDesc<const T>& a, const MatDesc<const T>& b, const MatDesc<TC>& c, float alpha, float beta,
          i64 packed_a_words = kPackedAWords, i64 partial_floats = kPartialFloats) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, bf16>);
  static_assert(std::is_same_v<TC, float> || std::is_same_v<TC, bf16>);
  using namespace detail;
  constexpr int kMR = K::kMR, kNR = K::kVectors * K::kWidth;
  constexpr i64 kKC = K::kKC, kNC = K::kNC, kMC = 4096 / kMR * kMR;  // at most MC rows of op(A) per row block
  constexpr bool to_bf16 = std::is_same_v<TC, bf16>;
  static_assert(kNC % kNR == 0);
  const i64 m = c.rows, n = c.cols, k = a.cols;
  // A row block's packed A holds every depth block (block d at d · mc · kc_block floats), packed at once, so that a
  // work item runs its columns through the whole depth without waiting on the other threads: two barriers a row
  // block, not two a depth block (a 154-token prompt's products: 2-5% faster; the same bits).
  const i64 depth_blocks = (k + kKC - 1) / kKC, kc_block = std::min(kKC, k);
  i64 mc_cap = std::clamp(packed_a_words / (depth_blocks * kc_block) / kMR * kMR, i64{kMR}, kMC);
  if (to_bf16) mc_cap = std::min(mc_cap, std::clamp(partial_floats / n / kMR * kMR, i64{kMR}, kMC));
  const i64 mc_max = std::min(mc_cap, (m + kMR - 1) / kMR * kMR);
  float* const packed_a = thread_buffer<0>(mc_max * depth_blocks * kc_block);  // the caller's, shared by the team
  // Where the micro-kernel writes: C itself, or a bf16 C's float sums (row block, N), shared by the team.
  float* const sums = to_bf16 ? thread_buffer<3>(mc_max * n) : nullptr;
  const i64 ldc = to_bf16 ? n : c.rs;
  [[maybe_unused]] const bool worth_threads = m * n * k >= (i64{1} << 18);
#pragma omp parallel if (worth_threads)
  {
#ifdef _OPENMP
    const i64 threads = omp_get_num_threads();
#else
    const i64 threads = 1;
#endif
    const ColumnBlocks blocks(n, kNR, kNC, threads);
    const i64 column_blocks = blocks.count;
    float* const packed_b = thread_buffer<1>(kNC * kKC);
    for (i64 ic = 0; ic < m; ic += mc_cap) {
      const i64 mc = std::min(mc_cap, m - ic), a_panels = (mc + kMR - 1) / kMR;
      const i64 depth_stride = a_panels * kMR * kc_block;  // floats of packed A a depth block
      // Too few column blocks to keep every thread busy: also split the rows, each slice packing its own B.
      const i64 row_slices = column_blocks >= 2 * threads ? 1 : std::min(threads, a_panels);
#pragma omp for schedule(static) collapse(2)
      for (i64 d = 0; d < depth_blocks; ++d)
        for (i64 p = 0; p < a_panels; ++p) {
          const i64 pc = d * kKC, kc = std::min(kKC, k - pc);
          pack_a<kMR>(a, ic + p * kMR, std::min<i64>(kMR, mc - p * kMR), pc, kc,
                      packed_a + d * depth_stride + p * kMR * kc);
        }
      // (implicit barrier: A is packed)
#pragma omp for schedule(dynamic, 1) collapse(2)
      for (i64 jb = 0; jb < column_blocks; ++jb)
        for (i64 slice = 0; slice < row_slices; ++slice) {
          const auto [jc, nc, ir0, ir1] = WorkItem(blocks, jb, slice, row_slices, a_panels, kMR, mc);
          for (i64 d = 0; d < depth_blocks; ++d) {
            const i64 pc = d * kKC, kc = std::min(kKC, k - pc);
            // A float C: alpha on each depth block, beta on the first. A bf16 C's sums: Σ alone (alpha and beta in
            // store_bf16).
            const float alpha_pc = to_bf16 ? 1.f : alpha, beta_pc = d > 0 ? 1.f : to_bf16 ? 0.f : beta;
            pack_b<kNR>(b, pc, kc, jc, nc, packed_b);
            for (i64 ir = ir0; ir < ir1; ir += kMR) {
              const int mr = static_cast<int>(std::min<i64>(kMR, mc - ir));
              const float* ap = packed_a + d * depth_stride + ir * kc;
              for (i64 jr = 0; jr < nc; jr += kNR) {
                const int nr = static_cast<int>(std::min<i64>(kNR, nc - jr));
                float* cp = to_bf16 ? sums + ir * ldc + jc + jr
                                    : reinterpret_cast<float*>(c.data) + (ic + ir) * ldc + jc + jr;
                if (mr == kMR && nr == kNR)
                  micro_kernel<K, true>(kc, ap, packed_b + jr * kc, cp, ldc, alpha_pc, beta_pc, mr, nr);
                else
                  micro_kernel<K, false>(kc, ap, packed_b + jr * kc, cp, ldc, alpha_pc, beta_pc, mr, nr);
              }
            }
          }
          if constexpr (to_bf16)
            store_bf16(sums + ir0 * ldc + jc, ldc, c.data + (ic + ir0) * c.rs + jc, c.rs, ir1 - ir0, nc, alpha, beta);
        }
      // (implicit barrier: packed A may be overwritten by the next row block)
    }
  }
}

/// C = alpha · op(A) · op(B) + beta · C on the kernel choice() selects (not Eigen: ask suits() first); T = bf16
/// widened to float as it is packed (gemm()).
template <class T>
void gemm_chosen(const MatDesc<const T>& a, const MatDesc<const T>& b, const MatDesc<T>& c, float alpha, float beta) {
  if (choice() == Choice::avx2)
    gemm<Avx2, T>(a, b, c, alpha, beta);
  else
    gemm<Native, T>(a, b, c, alpha, beta);
}

}  // namespace pmc::backends::cpu::sgemm

#endif  // AVX-512 or AVX2 + FMA

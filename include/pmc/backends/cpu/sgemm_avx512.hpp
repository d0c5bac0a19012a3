// SPDX-License-Identifier: MIT
// pmc's own fp32 GEMM for CPUs with AVX-512, used by Matmul<Cpu> in place of Eigen's where it is compiled in
// (-mavx512f, as -march=native gives on such a CPU) and the product is large enough to pay for packing.
//
//   C (M, N), row-major  =  alpha · op(A) (M, K) · op(B) (K, N)  +  beta · C      (beta = 0: C is not read)
//
// op(A) and op(B) may have any strides (row-major, column-major or neither); they are packed, so the
// transposes of a linear layer's forward (x·Wᵀ), grad input (dy·W) and grad weight (dyᵀ·x) all run the same
// micro-kernel. The blocking is BLIS's, with the roles of A and B exchanged because C is row-major here:
//
//   for ic < M step MC:         rows of op(A), packed once per (ic, pc) into MR-row panels (k-major), shared
//     for pc < K step KC:       depth block; beta applies to the first one only
//       for jc < N step NC:     each thread packs its own (KC, NC) block of op(B) into NR-column panels (L2)
//         for ir step MR:       one packed A panel (MR × KC floats, 12 KiB) stays in L1 ...
//           for jr step NR:     ... while the B panels stream from L2: micro-kernel, an MR × NR tile of C in
//                               MR · NR / 16 = 24 zmm accumulators, one FMA per accumulator per k
//
// Work items are (jc, slice of the ir range) pairs, so a product with one column block (N ≤ NC, the
// 384-wide projections of a small model) still splits across threads. Each C tile is written by one work item
// with a fixed summation order, so results do not depend on the thread count or schedule: runs are
// bit-reproducible. Measured at a small LLaMA's training shapes: 1.2–1.8x Eigen 3.4's GEMM, 80–92% of the
// AVX-512 FMA peak on 2 cores (docs/performance.md).
#pragma once

#if defined(__AVX512F__)

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string_view>

#ifdef _OPENMP
#include <omp.h>
#endif

#include <pmc/backends/cpu/mat_desc.hpp>

#define PMC_HAVE_SGEMM_AVX512 1

namespace pmc::backends::cpu::sgemm_avx512 {

using i64 = std::int64_t;

inline constexpr int kMR = 8;             // rows of a C tile (broadcast from packed A)
inline constexpr int kVectors = 3;        // zmm vectors across a C tile
inline constexpr int kNR = kVectors * 16;  // columns of a C tile (loaded from packed B)
inline constexpr i64 kKC = 384;            // depth of a packed block
inline constexpr i64 kNC = 8 * kNR;        // columns of op(B) per packed block: KC·NC·4 B = 576 KiB, in L2
inline constexpr i64 kMC = 4096;           // rows of op(A) per packed block (a multiple of kMR)
static_assert(kMC % kMR == 0 && kNC % kNR == 0);

/// Fewer rows of C than this go to Eigen: packing op(B) (one pass over K × N per column block and row slice) is
/// then not paid back. At K = 384 on 2 cores (Zen 5), Eigen is ahead at 128 rows, level at 192, behind from 256.
inline constexpr i64 kMinRows = 192;

/// Whether Matmul<Cpu> should use this GEMM: not when the environment says PMC_CPU_GEMM=eigen (to compare the
/// two in one build), and not for products too small to pay for packing (short prompts, decoding's single rows).
inline bool suits(i64 m, i64 n, i64 k) {
  static const bool eigen_forced = [] {
    const char* v = std::getenv("PMC_CPU_GEMM");
    return v != nullptr && std::string_view(v) == "eigen";
  }();
  return !eigen_forced && m >= kMinRows && n >= 16 && k >= 16;
}

namespace detail {

/// A 64-byte aligned float buffer per thread and slot that grows and is reused across calls (like scratch() in
/// eigen.hpp, which is not aligned: the micro-kernel's loads of packed B need 64 bytes).
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
template <bool Full>
inline void micro_kernel(i64 kc, const float* __restrict a, const float* __restrict b, float* c, i64 ldc, float alpha,
                         float beta, int mr, int nr) {
  __m512 acc[kMR][kVectors];
#pragma GCC unroll 8
  for (int i = 0; i < kMR; ++i)
#pragma GCC unroll 3
    for (int v = 0; v < kVectors; ++v) acc[i][v] = _mm512_setzero_ps();
  for (i64 k = 0; k < kc; ++k) {
    __m512 bv[kVectors];
#pragma GCC unroll 3
    for (int v = 0; v < kVectors; ++v) bv[v] = _mm512_load_ps(b + v * 16);
#pragma GCC unroll 8
    for (int i = 0; i < kMR; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i]);
#pragma GCC unroll 3
      for (int v = 0; v < kVectors; ++v) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
    }
    a += kMR;
    b += kNR;
  }
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  if constexpr (Full) {
#pragma GCC unroll 8
    for (int i = 0; i < kMR; ++i)
#pragma GCC unroll 3
      for (int v = 0; v < kVectors; ++v) {
        float* p = c + i * ldc + v * 16;
        __m512 r = _mm512_mul_ps(va, acc[i][v]);
        if (beta != 0.f) r = _mm512_fmadd_ps(vb, _mm512_loadu_ps(p), r);
        _mm512_storeu_ps(p, r);
      }
  } else {
    alignas(64) float t[kMR][kNR];
    for (int i = 0; i < kMR; ++i)
      for (int v = 0; v < kVectors; ++v) _mm512_store_ps(&t[i][v * 16], acc[i][v]);
    for (int i = 0; i < mr; ++i)
      for (int j = 0; j < nr; ++j) {
        float& o = c[i * ldc + j];
        o = beta != 0.f ? alpha * t[i][j] + beta * o : alpha * t[i][j];
      }
  }
}

/// A partial panel (fewer than `width` rows or columns filled) is zeroed first: its padding then adds nothing.
inline void zero_partial_panel(float* panel, int filled, int width, i64 kc) {
  if (filled < width) std::fill_n(panel, kc * width, 0.f);
}

/// Rows [i0, i0 + m) × columns [k0, k0 + kc) of op(A) as MR-row panels, k-major (panel[k·MR + i]), the last
/// panel zero-padded.
inline void pack_a(const MatDesc<const float>& a, i64 i0, i64 m, i64 k0, i64 kc, float* out) {
  for (i64 ip = 0; ip < m; ip += kMR) {
    const int mr = static_cast<int>(std::min<i64>(kMR, m - ip));
    float* o = out + ip * kc;
    zero_partial_panel(o, mr, kMR, kc);
    if (a.cs == 1) {  // rows contiguous
      for (int i = 0; i < mr; ++i) {
        const float* src = a.data + (i0 + ip + i) * a.rs + k0;
        for (i64 k = 0; k < kc; ++k) o[k * kMR + i] = src[k];
      }
    } else {  // columns contiguous (rs = 1) or any strides
      for (i64 k = 0; k < kc; ++k) {
        const float* src = a.data + (k0 + k) * a.cs + (i0 + ip) * a.rs;
        for (int i = 0; i < mr; ++i) o[k * kMR + i] = src[i * a.rs];
      }
    }
  }
}

/// Rows [k0, k0 + kc) × columns [j0, j0 + n) of op(B) as NR-column panels, k-major (panel[k·NR + j]), the
/// last panel zero-padded.
inline void pack_b(const MatDesc<const float>& b, i64 k0, i64 kc, i64 j0, i64 n, float* out) {
  for (i64 jp = 0; jp < n; jp += kNR) {
    const int nr = static_cast<int>(std::min<i64>(kNR, n - jp));
    float* o = out + jp * kc;
    zero_partial_panel(o, nr, kNR, kc);
    if (b.cs == 1) {  // rows contiguous
      for (i64 k = 0; k < kc; ++k) {
        std::memcpy(o + k * kNR, b.data + (k0 + k) * b.rs + j0 + jp, static_cast<std::size_t>(nr) * sizeof(float));
      }
    } else {  // columns contiguous (a transposed weight: rs = 1) or any strides
      for (int j = 0; j < nr; ++j) {
        const float* src = b.data + (j0 + jp + j) * b.cs + k0 * b.rs;
        for (i64 k = 0; k < kc; ++k) o[k * kNR + j] = src[k * b.rs];
      }
    }
  }
}

}  // namespace detail

/// C = alpha · op(A) · op(B) + beta · C for one matrix. C must be row-major (c.cs = 1); k ≥ 1.
inline void gemm(const MatDesc<const float>& a, const MatDesc<const float>& b, const MatDesc<float>& c, float alpha,
                 float beta) {
  using namespace detail;
  const i64 m = c.rows, n = c.cols, k = a.cols;
  const i64 ldc = c.rs;
  const i64 mc_max = std::min(kMC, (m + kMR - 1) / kMR * kMR);
  float* const packed_a = thread_buffer<0>(mc_max * std::min(kKC, k));  // the caller's, shared by the team
  const i64 column_blocks = (n + kNC - 1) / kNC;
  [[maybe_unused]] const bool worth_threads = m * n * k >= (i64{1} << 18);
#pragma omp parallel if (worth_threads)
  {
#ifdef _OPENMP
    const i64 threads = omp_get_num_threads();
#else
    const i64 threads = 1;
#endif
    float* const packed_b = thread_buffer<1>(kNC * kKC);
    for (i64 ic = 0; ic < m; ic += kMC) {
      const i64 mc = std::min(kMC, m - ic), a_panels = (mc + kMR - 1) / kMR;
      // Too few column blocks to keep every thread busy: also split the rows, each slice packing its own B.
      const i64 row_slices = column_blocks >= 2 * threads ? 1 : std::min(threads, a_panels);
      for (i64 pc = 0; pc < k; pc += kKC) {
        const i64 kc = std::min(kKC, k - pc);
        const float beta_pc = pc == 0 ? beta : 1.f;
#pragma omp for schedule(static)
        for (i64 p = 0; p < a_panels; ++p)
          pack_a(a, ic + p * kMR, std::min<i64>(kMR, mc - p * kMR), pc, kc, packed_a + p * kMR * kc);
        // (implicit barrier: A is packed)
#pragma omp for schedule(dynamic, 1) collapse(2)
        for (i64 jb = 0; jb < column_blocks; ++jb)
          for (i64 slice = 0; slice < row_slices; ++slice) {
            const i64 jc = jb * kNC, nc = std::min(kNC, n - jc);
            const i64 ir0 = a_panels * slice / row_slices * kMR;
            const i64 ir1 = std::min(mc, a_panels * (slice + 1) / row_slices * kMR);
            pack_b(b, pc, kc, jc, nc, packed_b);
            for (i64 ir = ir0; ir < ir1; ir += kMR) {
              const int mr = static_cast<int>(std::min<i64>(kMR, mc - ir));
              const float* ap = packed_a + ir * kc;
              for (i64 jr = 0; jr < nc; jr += kNR) {
                const int nr = static_cast<int>(std::min<i64>(kNR, nc - jr));
                float* cp = c.data + (ic + ir) * ldc + jc + jr;
                if (mr == kMR && nr == kNR)
                  micro_kernel<true>(kc, ap, packed_b + jr * kc, cp, ldc, alpha, beta_pc, mr, nr);
                else
                  micro_kernel<false>(kc, ap, packed_b + jr * kc, cp, ldc, alpha, beta_pc, mr, nr);
              }
            }
          }
        // (implicit barrier: packed A may be overwritten by the next depth block)
      }
    }
  }
}

}  // namespace pmc::backends::cpu::sgemm_avx512

#endif  // __AVX512F__

// SPDX-License-Identifier: MIT
// The matrix-vector product of decoding: a few rows of bf16 (or float) activations against a bf16 (float) weight
// W (N, K) held row-major (a linear layer's op(B) = Wᵀ, whose columns are W's contiguous rows). matmul.hpp's gemm
// sends bf16 and float products with M ≤ kMaxRows against such a weight here, where the GEMM would pack W first:
//
//   y (M, N) = alpha · x (M, K) · Wᵀ + beta · y        (x, W and y all bf16 or all float; M ≤ 4; y's rows rs apart)
//
// (The float loop, one row of W a work item and four accumulators, read 53-56 GB/s of weights on huge pages where
// Eigen's GEMV on tiles of 128 columns, which float decoding used before, read 45-48; see docs/performance.md.)
//
// Memory-bound: a token reads every byte of W once, so the kernel's work is to keep both cores streaming W. The N
// outputs (rows of W) go to the threads by OpenMP's guided schedule: contiguous runs of W's rows, long at first, then
// shorter, so that a thread that streams faster takes more of them and neither waits long for the other. Each row of
// W is read once, against every row of x (in L1): one row at a time, so that each thread's reads are one sequential
// stream (4 rows side by side read 33 GB/s over a 1.1B model's weights, one row at a time 48-50: the prefetchers
// follow one stream), with one fp32 accumulator per row of x (avx512bf16: two, for alternate steps of 32, added at
// the end). Every output element is one thread's sum in an order fixed by K and the kernel alone, so the bits do not
// depend on the thread count. Kernels (kernel(): the widest compiled in, or what PMC_CPU_GEMM names):
//   avx512bf16: vdpbf16ps over 32 k at a time (16 lanes, a pair of exact products each, added with fp32
//               rounding; denormals flushed, as bgemm.hpp), a zero-filled masked tail;
//   avx512:     bf16 widened to float by a 16-bit shift (exact), FMA over 16 k at a time, a masked tail;
//   avx2:       x widened to float once per call (even and odd k of each 16 apart); W read 16 bf16 a load and
//               widened in place (w << 16, w & 0xffff0000), FMA into two accumulators, prefetch; a scalar tail;
//   scalar:     float sums in 8 lanes, then a fixed tree.
//   float:      dots() of float rows: FMA into four accumulators (avx512, avx512bf16: 16 lanes; avx2: 8).
// The lanes are summed by a fixed tree; then y = bf16(alpha · s + beta · y), rounded to nearest even as pmc::bf16
// does (float y: y = alpha · s + beta · y). Each is a float sum of the exact products of the bf16 inputs, so
//   |y − alpha·x·Wᵀ − beta·y0| ≤ (K + 4) · 2^-24 · (|alpha| Σ_k |x||w| + |beta||y0|) + the final rounding (2^-8 |y|)
// (tests/ops/bf16_gemv_test.cpp checks every kernel compiled in against a double reference at that bound).
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

#include <pmc/backends/cpu/mat_desc.hpp>
#include <pmc/backends/cpu/simd.hpp>
#include <pmc/backends/cpu/sgemm.hpp>
#include <pmc/core/dtype.hpp>
#include <pmc/core/error.hpp>

namespace pmc::backends::cpu::bgemv {

using i64 = std::int64_t;

inline constexpr i64 kMaxRows = 4;  ///< rows of x a call takes (decoding: 1; a few prompt or beam rows)
enum class Kernel { scalar, avx2, avx512, avx512bf16 };

inline const char* kernel_name(Kernel k) {
  switch (k) {
    case Kernel::avx512bf16: return "AVX512-BF16";
    case Kernel::avx512: return "AVX-512";
    case Kernel::avx2: return "AVX2";
    default: return "scalar";
  }
}

/// Whether kernel k is compiled in.
constexpr bool compiled(Kernel k) {
  switch (k) {
    case Kernel::scalar: return true;
    case Kernel::avx2:
#if defined(__AVX2__) && defined(__FMA__)
      return true;
#else
      return false;
#endif
    case Kernel::avx512:
#if defined(__AVX512F__) && defined(__AVX512BW__)
      return true;
#else
      return false;
#endif
    case Kernel::avx512bf16:
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512BF16__)
      return true;
#else
      return false;
#endif
  }
  return false;
}

/// The kernel decoding runs: the widest compiled in, narrowed by PMC_CPU_GEMM (avx512: no bf16 instructions,
/// avx2, eigen: the scalar loop), as sgemm.hpp's choice() narrows the GEMMs.
inline Kernel kernel() {
  Kernel widest = compiled(Kernel::avx512bf16) ? Kernel::avx512bf16
                  : compiled(Kernel::avx512)   ? Kernel::avx512
                  : compiled(Kernel::avx2)     ? Kernel::avx2
                                               : Kernel::scalar;
#if defined(PMC_HAVE_OWN_SGEMM)
  switch (sgemm::choice()) {
    case sgemm::Choice::eigen: return Kernel::scalar;
    case sgemm::Choice::avx2: return compiled(Kernel::avx2) ? Kernel::avx2 : Kernel::scalar;
    case sgemm::Choice::avx512: return compiled(Kernel::avx512) ? Kernel::avx512 : widest;
    default: break;
  }
#endif
  return widest;
}

namespace detail {

inline float bf16_float(std::uint16_t bits) {
  const std::uint32_t u = static_cast<std::uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

#if defined(__AVX512F__)
using simd::hsum512;
#endif

inline float as_float(std::uint16_t bf16_bits) { return bf16_float(bf16_bits); }
inline float as_float(float f) { return f; }

#if defined(__AVX2__) && defined(__FMA__)
/// The 8 lanes of v added by a fixed tree.
inline float sum8(__m256 v) {
  alignas(32) float t[8];
  _mm256_store_ps(t, v);
  return ((t[0] + t[4]) + (t[2] + t[6])) + ((t[1] + t[5]) + (t[3] + t[7]));
}
#endif

/// The scalar kernel, bf16 bits or float: float sums in 8 lanes, then a fixed tree, then the tail.
template <int R, class E>
void dots_scalar(const E* const* x, const E* w, i64 K, float* s) {
  for (int r = 0; r < R; ++r) {
    float lane[8] = {};
    i64 k = 0;
    for (; k + 8 <= K; k += 8)
      for (int l = 0; l < 8; ++l) lane[l] += as_float(x[r][k + l]) * as_float(w[k + l]);
    float v = ((lane[0] + lane[4]) + (lane[2] + lane[6])) + ((lane[1] + lane[5]) + (lane[3] + lane[7]));
    for (; k < K; ++k) v += as_float(x[r][k]) * as_float(w[k]);
    s[r] = v;
  }
}

/// s[r] = Σ_k x_r[k] · w[k] for R rows of x and one row of W (pointers to K bf16 bits each).
template <Kernel Kk, int R>
void dots(const std::uint16_t* const* x, const std::uint16_t* w, i64 K, float* s) {
  if constexpr (Kk == Kernel::avx512bf16) {
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512BF16__)
    // two sets of accumulators, even and odd steps of 32, so that consecutive vdpbf16ps do not wait on each other
    __m512 acc[R], odd[R];
    for (int r = 0; r < R; ++r) acc[r] = odd[r] = _mm512_setzero_ps();
    auto step = [&](i64 k, __mmask32 m, __m512 (&into)[R]) {
      const __m512bh wv = (__m512bh)_mm512_maskz_loadu_epi16(m, w + k);
      for (int r = 0; r < R; ++r)
        into[r] = _mm512_dpbf16_ps(into[r], (__m512bh)_mm512_maskz_loadu_epi16(m, x[r] + k), wv);
    };
    i64 k = 0;
    for (; k + 64 <= K; k += 64) {
      step(k, ~__mmask32(0), acc);
      step(k + 32, ~__mmask32(0), odd);
    }
    for (; k + 32 <= K; k += 32) step(k, ~__mmask32(0), acc);
    if (k < K) step(k, static_cast<__mmask32>((std::uint64_t{1} << (K - k)) - 1), acc);
    for (int r = 0; r < R; ++r) s[r] = hsum512(_mm512_add_ps(acc[r], odd[r]));
#endif
  } else if constexpr (Kk == Kernel::avx512) {
#if defined(__AVX512F__) && defined(__AVX512BW__)
    __m512 acc[R];
    for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
    auto widen = [](const std::uint16_t* p, __mmask16 m) {
      return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p)), 16));
    };
    auto step = [&](i64 k, __mmask16 m) {
      const __m512 wv = widen(w + k, m);
      for (int r = 0; r < R; ++r) acc[r] = _mm512_fmadd_ps(widen(x[r] + k, m), wv, acc[r]);
    };
    i64 k = 0;
    for (; k + 16 <= K; k += 16) step(k, __mmask16(0xffff));
    if (k < K) step(k, static_cast<__mmask16>((1u << (K - k)) - 1));
    for (int r = 0; r < R; ++r) s[r] = hsum512(acc[r]);
#endif
  } else {
    // avx2 reads x already split into floats (dots_split below)
    static_assert(Kk != Kernel::avx2);
    dots_scalar<R>(x, w, K, s);
  }
}

/// The AVX2 kernel's x: each row's first split_floats(K) values of k (a multiple of 16) widened to float once per
/// call, the even k of each 16 first, then the odd, so that the kernel widens only W:
///   row (split_floats(K)) = [x[0], x[2], ..., x[14], x[1], x[3], ..., x[15], x[16], x[18], ...]
inline i64 split_floats(i64 K) { return K / 16 * 16; }

inline void split_row(const std::uint16_t* x, i64 K, float* out) {
  for (i64 k = 0; k < split_floats(K); k += 16)
    for (int l = 0; l < 8; ++l) {
      out[k + l] = bf16_float(x[k + 2 * l]);
      out[k + 8 + l] = bf16_float(x[k + 2 * l + 1]);
    }
}

/// s[r] = Σ_k x_r[k] · w[k], AVX2: W read 16 bf16 (one ymm) at a time; a 32-bit lane holds w[2l] in its low half
/// and w[2l+1] in its high half, so the odd elements as floats are the lane & 0xffff0000 and the even ones the lane
/// << 16 (both exact): one load and two integer ops for 16 values, against the split x (xs, split_row), in two
/// accumulators per row (even, odd), added at the end; then a scalar tail on the bf16 x. W is prefetched
/// kPrefetchBytes ahead. (On a Zen 1, 2 threads: the products of a 1.1B model read 13-19.5 GB/s of W against 9-12.7
/// when x and W were each widened 8 values a FMA; its bf16 decoding went from 0.54 to 0.81-0.86 of the DRAM bound;
/// docs/performance.md.)
inline constexpr i64 kPrefetchBytes = 1024;

template <int R>
void dots_split(const float* const* xs, const std::uint16_t* const* x, const std::uint16_t* w, i64 K, float* s) {
#if defined(__AVX2__) && defined(__FMA__)
  __m256 even[R], odd[R];
  for (int r = 0; r < R; ++r) even[r] = odd[r] = _mm256_setzero_ps();
  const __m256i high = _mm256_set1_epi32(static_cast<int>(0xffff0000u));
  const i64 Ks = split_floats(K);
  for (i64 k = 0; k < Ks; k += 16) {
    _mm_prefetch(reinterpret_cast<const char*>(w + k) + kPrefetchBytes, _MM_HINT_T0);
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + k));
    const __m256 we = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)), wo = _mm256_castsi256_ps(_mm256_and_si256(v, high));
    for (int r = 0; r < R; ++r) {
      even[r] = _mm256_fmadd_ps(_mm256_loadu_ps(xs[r] + k), we, even[r]);
      odd[r] = _mm256_fmadd_ps(_mm256_loadu_ps(xs[r] + k + 8), wo, odd[r]);
    }
  }
  for (int r = 0; r < R; ++r) {
    float v = sum8(_mm256_add_ps(even[r], odd[r]));
    for (i64 j = Ks; j < K; ++j) v += bf16_float(x[r][j]) * bf16_float(w[j]);
    s[r] = v;
  }
#else
  (void)xs, (void)x, (void)w, (void)K, (void)s;
#endif
}

/// s[r] = Σ_k x_r[k] · w[k] for R rows of float x and one float row of W: FMA into four accumulators over 64 k at a
/// time (avx512 and avx512bf16: 16 lanes each; avx2: 8 lanes, 32 k), then 16 (8) at a time into the first, a
/// masked (scalar) tail; the accumulators added as (0 + 1) + (2 + 3), the lanes by a fixed tree.
template <Kernel Kk, int R>
void dots(const float* const* x, const float* w, i64 K, float* s) {
  if constexpr (Kk == Kernel::avx512bf16 || Kk == Kernel::avx512) {
#if defined(__AVX512F__) && defined(__AVX512BW__)
    __m512 acc[4][R];
    for (int a = 0; a < 4; ++a)
      for (int r = 0; r < R; ++r) acc[a][r] = _mm512_setzero_ps();
    auto step = [&](i64 k, __mmask16 m, __m512(&into)[R]) {
      const __m512 wv = _mm512_maskz_loadu_ps(m, w + k);
      for (int r = 0; r < R; ++r) into[r] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x[r] + k), wv, into[r]);
    };
    i64 k = 0;
    for (; k + 64 <= K; k += 64)
      for (int a = 0; a < 4; ++a) step(k + 16 * a, __mmask16(0xffff), acc[a]);
    for (; k + 16 <= K; k += 16) step(k, __mmask16(0xffff), acc[0]);
    if (k < K) step(k, static_cast<__mmask16>((1u << (K - k)) - 1), acc[0]);
    for (int r = 0; r < R; ++r)
      s[r] = hsum512(_mm512_add_ps(_mm512_add_ps(acc[0][r], acc[1][r]), _mm512_add_ps(acc[2][r], acc[3][r])));
#endif
  } else if constexpr (Kk == Kernel::avx2) {
#if defined(__AVX2__) && defined(__FMA__)
    __m256 acc[4][R];
    for (int a = 0; a < 4; ++a)
      for (int r = 0; r < R; ++r) acc[a][r] = _mm256_setzero_ps();
    auto step = [&](i64 k, __m256(&into)[R]) {
      const __m256 wv = _mm256_loadu_ps(w + k);
      for (int r = 0; r < R; ++r) into[r] = _mm256_fmadd_ps(_mm256_loadu_ps(x[r] + k), wv, into[r]);
    };
    i64 k = 0;
    for (; k + 32 <= K; k += 32)
      for (int a = 0; a < 4; ++a) step(k + 8 * a, acc[a]);
    for (; k + 8 <= K; k += 8) step(k, acc[0]);
    for (int r = 0; r < R; ++r) {
      float v = sum8(_mm256_add_ps(_mm256_add_ps(acc[0][r], acc[1][r]), _mm256_add_ps(acc[2][r], acc[3][r])));
      for (i64 j = k; j < K; ++j) v += x[r][j] * w[j];
      s[r] = v;
    }
#endif
  } else {
    dots_scalar<R>(x, w, K, s);
  }
}

/// The element type dots() reads: bf16's bits, or float.
template <class T>
using Element = std::conditional_t<std::is_same_v<T, bf16>, std::uint16_t, float>;

template <Kernel Kk, class T>
void run(const MatDesc<const T>& x, const T* w, i64 ldw, const MatDesc<T>& y, float alpha, float beta) {
  using E = Element<T>;
  const i64 M = y.rows, N = y.cols, K = x.cols;
  const E* xr[kMaxRows];
  for (i64 r = 0; r < M; ++r) xr[r] = reinterpret_cast<const E*>(x.data + r * x.rs);
  // bf16 on avx2: x split into floats once, by the calling thread, read by the team
  constexpr bool split = Kk == Kernel::avx2 && std::is_same_v<T, bf16>;
  const float* xs[kMaxRows] = {};
#if defined(__AVX2__) && defined(__FMA__)
  if constexpr (split) {
    float* const buf = sgemm::detail::thread_buffer<5>(M * split_floats(K));
    for (i64 r = 0; r < M; ++r) {
      split_row(reinterpret_cast<const std::uint16_t*>(xr[r]), K, buf + r * split_floats(K));
      xs[r] = buf + r * split_floats(K);
    }
  }
#endif
  [[maybe_unused]] const bool worth = N > 1 && N * K >= (i64{1} << 16);
  // guided, not static: with a fixed half each, one core finishing first waited for the other (perf: 9.7% of a 1.1B
  // model's decoding in OpenMP's barrier, 5.9% guided; tokens/s the same within the host's noise when DRAM is the
  // limit, 0-3% more when it is not)
#pragma omp parallel for schedule(guided) if (worth)
  for (i64 n = 0; n < N; ++n) {
    const E* wr = reinterpret_cast<const E*>(w + n * ldw);
    float s[kMaxRows];
    simd::with_rows(static_cast<int>(M), [&](auto R) {
      if constexpr (split)
        dots_split<decltype(R)::value>(xs, xr, wr, K, s);
      else
        dots<Kk, decltype(R)::value>(xr, wr, K, s);
    });
    for (i64 r = 0; r < M; ++r) {
      T& out = y.data[r * y.rs + n];
      out = T(beta == 0.f ? alpha * s[r] : alpha * s[r] + beta * static_cast<float>(out));
    }
  }
}

}  // namespace detail

/// Whether gemv takes this product: bf16 or float, M ≤ kMaxRows rows of x with unit column stride, op(B) = Wᵀ with
/// W's rows contiguous (b col-major), y with unit column stride.
template <class T>
bool suits(const MatDesc<const T>& x, const MatDesc<const T>& b, const MatDesc<T>& y) {
  return y.rows >= 1 && y.rows <= kMaxRows && x.cs == 1 && b.col_major() && y.cs == 1 && x.cols >= 1;
}

/// y = alpha · x · b + beta · y, with b = Wᵀ (W's rows contiguous, b.cs apart), bf16 or float, on kernel k
/// (compiled in; for float avx512bf16 runs the avx512 loop).
template <class T>
void gemv(Kernel k, const MatDesc<const T>& x, const MatDesc<const T>& b, const MatDesc<T>& y, float alpha,
          float beta) {
  static_assert(std::is_same_v<T, bf16> || std::is_same_v<T, float>);
  PMC_CHECK(compiled(k), "gemv: the ", kernel_name(k), " kernel is not compiled in");
  PMC_CHECK(suits(x, b, y), "gemv: expected at most ", kMaxRows, " unit-stride rows against a transposed weight");
  switch (k) {
    case Kernel::avx512bf16: return detail::run<Kernel::avx512bf16>(x, b.data, b.cs, y, alpha, beta);
    case Kernel::avx512: return detail::run<Kernel::avx512>(x, b.data, b.cs, y, alpha, beta);
    case Kernel::avx2: return detail::run<Kernel::avx2>(x, b.data, b.cs, y, alpha, beta);
    default: return detail::run<Kernel::scalar>(x, b.data, b.cs, y, alpha, beta);
  }
}

}  // namespace pmc::backends::cpu::bgemv

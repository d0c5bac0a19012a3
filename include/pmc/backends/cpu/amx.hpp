// SPDX-License-Identifier: MIT
// pmc's bf16 GEMM on AMX tiles (Intel Sapphire Rapids and later: AMX-TILE and AMX-BF16), chosen with
// PMC_CPU_GEMM=amx. Opt-in, because it has not yet run on AMX hardware: the tests check its packing, tiling and
// epilogue on every AVX512-BF16 CPU through a C++ model of the tile instructions (Model below), and its instructions
// against the model where the CPU has AMX (scripts/gpu_check.sh runs them on the GPU machine's Xeon).
//
//   C (M, N), row-major  =  alpha · op(A) (M, K) · op(B) (K, N)  +  beta · C      (bf16 A and B; C bf16 or float)
//
// Everything but the micro-kernel is bgemm.hpp's: the blocking, threading, work items, the B panels of 48 columns
// holding k in pairs, the float partial sums of a bf16 C and the epilogue (alpha, beta, rounding). The micro-kernel
// here computes a 16 × 48 tile of C in three tile registers of 16 × 16 fp32, tmm0-2:
//
//   for each 16 k pairs (32 values of k):   tmm3 = 16 rows × 16 pairs of packed A       (tileloadd, 64-byte rows)
//                                           tmm4-6 = 16 pairs × 16 columns × 2 of B      (tileloadd, 192-byte rows:
//                                                    columns 0-15, 16-31, 32-47 of the B panel, as packed)
//                                           tmm0-2 += tmm3 · tmm4-6                      (tdpbf16ps)
//
// so A is packed as 16-row panels of 16-pair chunks, [chunk][row][pair] (Kernel::pack_a), and a depth block of kc
// holds ⌈kc/32⌉ · 16 pairs in both A and B, zero beyond kc (Kernel::pairs). tdpbf16ps adds each product of two bf16
// (exact in fp32) to the fp32 accumulator in order, the even one of a pair first, rounding to nearest even and
// flushing denormal inputs and results (whatever MXCSR says): the bound of bgemm.hpp's vdpbf16ps,
//
//   |C - alpha·op(A)·op(B) - beta·C0| ≤ ~K · 2^-24 · |alpha| · Σ_k |a(i,k)| |b(k,j)|  (+ a bf16 C's final rounding).
//
// The instructions are written as inline assembly (binutils knows them; no -mamx-* flag is needed to build), and run
// only where available() says the CPU has them and Linux grants this process the tile state (arch_prctl
// ARCH_REQ_XCOMP_PERM, Linux 5.16 and later); PMC_CPU_GEMM=amx elsewhere is a pmc::Error at the first bf16 product.
// Each thread loads the tile configuration when it starts on its work items and releases the tiles when done.
#pragma once

#include <pmc/backends/cpu/bgemm.hpp>

#if defined(PMC_HAVE_OWN_BGEMM) && defined(__x86_64__) && defined(__linux__)

#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include <pmc/core/error.hpp>

#define PMC_HAVE_AMX_BGEMM 1

namespace pmc::backends::cpu::amx {

using i64 = std::int64_t;
using bgemm::detail::Out;

/// A tile register as used here: 16 rows of 64 bytes (16 fp32, or 32 bf16 = 16 k pairs).
constexpr int kRows = 16, kRowBytes = 64, kPairs = 16;
/// Bytes from one k pair of a packed B panel (48 columns × 2 bf16) to the next: a B tile's row stride.
constexpr i64 kBStride = bgemm::kNR * 2 * static_cast<i64>(sizeof(std::uint16_t));
static_assert(bgemm::kNR == 3 * 16, "the micro-kernel holds a B panel in three tiles of 16 columns");

/// Whether this process may run AMX-BF16 instructions: the CPU has AMX-TILE and AMX-BF16 (CPUID.(7,0):EDX bits 24
/// and 22), the OS enables the tile state (XCR0 bits 17 and 18) and Linux grants it to this process
/// (arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)). Asked once.
inline bool available() {
  static const bool ok = [] {
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return false;  // OSXSAVE: xgetbv allowed
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    if (!(d & (1u << 22)) || !(d & (1u << 24))) return false;
    unsigned lo = 0, hi = 0;
    asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & (3u << 17)) != (3u << 17)) return false;
    constexpr long kReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kReqXcompPerm, kXfeatureXtiledata) == 0;
  }();
  return ok;
}

/// The 64-byte tile configuration (palette 1): rows and bytes a row of each of the 8 tile registers.
struct alignas(64) Config {
  std::uint8_t palette = 1, start_row = 0;
  std::array<std::uint8_t, 14> reserved{};
  std::array<std::uint16_t, 16> colsb{};
  std::array<std::uint8_t, 16> rows{};
};
static_assert(sizeof(Config) == 64);

/// Every tile the micro-kernel uses (tmm0-6) at 16 rows × 64 bytes.
inline Config kernel_config() {
  Config c;
  for (int t = 0; t < 7; ++t) {
    c.colsb[static_cast<std::size_t>(t)] = kRowBytes;
    c.rows[static_cast<std::size_t>(t)] = kRows;
  }
  return c;
}

/// The CPU's tile registers. Tile numbers are template arguments: they are part of the instruction.
struct Hardware {
  static void configure(const Config& c) { asm volatile("ldtilecfg %0" : : "m"(c) : "memory"); }
  static void release() { asm volatile("tilerelease" : : : "memory"); }
  template <int T>
  static void zero();
  template <int T>
  static void load(const void* p, i64 stride);
  template <int T>
  static void store(void* p, i64 stride);
  /// tmm C += tmm A · tmm B (tdpbf16ps).
  template <int C, int A, int B>
  static void dot();
};

#define PMC_AMX_TILE_OPS(T)                                                                                 \
  template <>                                                                                               \
  inline void Hardware::zero<T>() {                                                                         \
    asm volatile("tilezero %%tmm" #T : : : "memory");                                                       \
  }                                                                                                         \
  template <>                                                                                               \
  inline void Hardware::load<T>(const void* p, i64 stride) {                                                \
    asm volatile("tileloadd (%0,%1,1), %%tmm" #T : : "r"(p), "r"(stride) : "memory");                       \
  }                                                                                                         \
  template <>                                                                                               \
  inline void Hardware::store<T>(void* p, i64 stride) {                                                     \
    asm volatile("tilestored %%tmm" #T ", (%0,%1,1)" : : "r"(p), "r"(stride) : "memory");                   \
  }
PMC_AMX_TILE_OPS(0)
PMC_AMX_TILE_OPS(1)
PMC_AMX_TILE_OPS(2)
PMC_AMX_TILE_OPS(3)
PMC_AMX_TILE_OPS(4)
PMC_AMX_TILE_OPS(5)
PMC_AMX_TILE_OPS(6)
#undef PMC_AMX_TILE_OPS

#define PMC_AMX_DOT(C, A, B)                                                                                \
  template <>                                                                                               \
  inline void Hardware::dot<C, A, B>() {                                                                    \
    asm volatile("tdpbf16ps %%tmm" #B ", %%tmm" #A ", %%tmm" #C : : : "memory");                            \
  }
PMC_AMX_DOT(0, 3, 4)
PMC_AMX_DOT(1, 3, 5)
PMC_AMX_DOT(2, 3, 6)
#undef PMC_AMX_DOT

/// The same instructions in C++, on 8 tile registers of this thread: what the tests run the kernel on where the CPU
/// has no AMX. Only the configuration the kernel uses (every tile 16 × 64 bytes) is modelled; another is a
/// pmc::Error. tdpbf16ps as Intel's pseudo-code states it: for each row m, k pair p and column n, c(m,n) +=
/// a(m,2p)·b(p,2n), then += a(m,2p+1)·b(p,2n+1), each product exact, each sum rounded to nearest even in fp32,
/// denormal inputs and sums flushed to zero.
struct Model {
  using Tile = std::array<std::array<std::uint8_t, kRowBytes>, kRows>;
  static std::array<Tile, 8>& tiles() {
    thread_local std::array<Tile, 8> t{};
    return t;
  }
  static bool& configured() {
    thread_local bool c = false;
    return c;
  }
  static void configure(const Config& c) {
    const Config want = kernel_config();
    if (std::memcmp(&c, &want, sizeof(Config)) != 0) fail("amx::Model: only the kernel's tile configuration is modelled");
    configured() = true;
  }
  static void release() { configured() = false; }
  template <int T>
  static Tile& reg() {
    static_assert(T >= 0 && T < 8);
    if (!configured()) fail("amx::Model: a tile instruction before the tile configuration was loaded");
    return tiles()[T];
  }
  template <int T>
  static void zero() {
    for (auto& row : reg<T>()) row.fill(0);
  }
  template <int T>
  static void load(const void* p, i64 stride) {
    auto& t = reg<T>();
    for (int r = 0; r < kRows; ++r) std::memcpy(t[static_cast<std::size_t>(r)].data(), static_cast<const char*>(p) + r * stride, kRowBytes);
  }
  template <int T>
  static void store(void* p, i64 stride) {
    const auto& t = reg<T>();
    for (int r = 0; r < kRows; ++r) std::memcpy(static_cast<char*>(p) + r * stride, t[static_cast<std::size_t>(r)].data(), kRowBytes);
  }
  template <int C, int A, int B>
  static void dot() {
    auto& c = reg<C>();
    const auto& a = reg<A>();
    const auto& b = reg<B>();
    for (int m = 0; m < kRows; ++m) {
      float acc[16];
      std::memcpy(acc, c[static_cast<std::size_t>(m)].data(), kRowBytes);
      for (int p = 0; p < kPairs; ++p)
        for (int n = 0; n < 16; ++n)
          for (int t = 0; t < 2; ++t) {
            const float x = bf16_at(a[static_cast<std::size_t>(m)].data(), 2 * p + t);
            const float y = bf16_at(b[static_cast<std::size_t>(p)].data(), 2 * n + t);
            acc[n] = flush(acc[n] + x * y);
          }
      std::memcpy(c[static_cast<std::size_t>(m)].data(), acc, kRowBytes);
    }
  }

 private:
  static float flush(float x) { return std::fpclassify(x) == FP_SUBNORMAL ? std::copysign(0.f, x) : x; }
  static float bf16_at(const std::uint8_t* row, int i) {
    std::uint16_t h;
    std::memcpy(&h, row + 2 * i, 2);
    const std::uint32_t u = static_cast<std::uint32_t>(h) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return flush(f);
  }
};

/// bgemm::gemm's micro-kernel on AMX tiles (see bgemm::Dpbf16 for what each member is), on the CPU's tiles
/// (Hardware) or the model's.
template <class Tiles>
struct Kernel {
  static constexpr int kMR = kRows;
  static constexpr const char* name = "own AMX-BF16";
  /// k pairs a packed depth block of kc holds: whole tiles of 16 pairs.
  static constexpr i64 pairs(i64 kc) { return (kc + 2 * kPairs - 1) / (2 * kPairs) * kPairs; }

  /// Rows [i0, i0 + m) × columns [k0, k0 + kc) of op(A) as 16-row panels, each [chunk][row][32 values of k]: a chunk
  /// is one A tile (1 KiB). Missing rows and the values of k from kc on are zero.
  static void pack_a(const MatDesc<const bf16>& a, i64 i0, i64 m, i64 k0, i64 kc, std::uint32_t* out) {
    const i64 kp = pairs(kc), chunks = kp / kPairs;
    for (i64 ip = 0; ip < m; ip += kMR) {
      const int mr = static_cast<int>(std::min<i64>(kMR, m - ip));
      std::uint16_t* o = reinterpret_cast<std::uint16_t*>(out + ip * kp);
      if (mr < kMR || kc != 2 * kp) std::fill_n(o, kp * kMR * 2, std::uint16_t{0});
      for (int i = 0; i < mr; ++i) {
        const bf16* row = a.data + (i0 + ip + i) * a.rs + k0 * a.cs;
        for (i64 ch = 0; ch < chunks; ++ch) {
          const i64 values = std::min<i64>(2 * kPairs, kc - 2 * kPairs * ch);
          std::uint16_t* dst = o + (ch * kMR + i) * 2 * kPairs;
          const bf16* src = row + 2 * kPairs * ch * a.cs;
          if (a.cs == 1)
            std::memcpy(dst, src, static_cast<std::size_t>(values) * sizeof(bf16));
          else
            for (i64 q = 0; q < values; ++q) dst[q] = src[q * a.cs].bits;
        }
      }
    }
  }

  /// Loads the tile configuration on this thread; releases the tiles when the thread is done.
  struct Thread {
    Thread() { Tiles::configure(kernel_config()); }
    ~Thread() { Tiles::release(); }
    Thread(const Thread&) = delete;
    Thread& operator=(const Thread&) = delete;
  };

  template <Out O, class TC>
  static void tile(i64 kp, const std::uint32_t* a, const std::uint16_t* b, TC* c, i64 ldc, float* part, i64 ldp,
                   bool has_part, float alpha, float beta, int mr, int nr) {
    Tiles::template zero<0>();
    Tiles::template zero<1>();
    Tiles::template zero<2>();
    for (i64 p = 0; p < kp; p += kPairs) {
      Tiles::template load<3>(a + p * kMR, kRowBytes);  // chunk p / 16: 16 rows × 16 pairs
      const std::uint16_t* bp = b + p * 2 * bgemm::kNR;
      Tiles::template load<4>(bp, kBStride);
      Tiles::template load<5>(bp + 2 * 16, kBStride);
      Tiles::template load<6>(bp + 2 * 32, kBStride);
      Tiles::template dot<0, 3, 4>();
      Tiles::template dot<1, 3, 5>();
      Tiles::template dot<2, 3, 6>();
    }
    alignas(64) float t[kMR][bgemm::kNR];
    constexpr i64 ldt = bgemm::kNR * static_cast<i64>(sizeof(float));
    Tiles::template store<0>(&t[0][0], ldt);
    Tiles::template store<1>(&t[0][16], ldt);
    Tiles::template store<2>(&t[0][32], ldt);
    __m512 acc[kMR][bgemm::kVectors];
    for (int i = 0; i < kMR; ++i)
      for (int v = 0; v < bgemm::kVectors; ++v) acc[i][v] = _mm512_load_ps(&t[i][16 * v]);
    if (nr == bgemm::kNR)
      bgemm::detail::store_tile<O, true, kMR>(acc, c, ldc, part, ldp, has_part, alpha, beta, mr, nr);
    else
      bgemm::detail::store_tile<O, false, kMR>(acc, c, ldc, part, ldp, has_part, alpha, beta, mr, nr);
  }
};

/// C = alpha · op(A) · op(B) + beta · C on AMX tiles (bgemm::gemm with this micro-kernel). On the CPU's tiles: a
/// pmc::Error where available() is false.
template <class TC, class Tiles = Hardware>
void gemm(const MatDesc<const bf16>& a, const MatDesc<const bf16>& b, const MatDesc<TC>& c, float alpha, float beta,
          i64 partial_floats = bgemm::kPartialFloats) {
  if constexpr (std::is_same_v<Tiles, Hardware>) {
    if (!available())
      fail("PMC_CPU_GEMM=amx: this CPU or kernel does not allow AMX-BF16 tiles (CPUID AMX-TILE and AMX-BF16, the "
           "tile state in XCR0, Linux's arch_prctl permission); use avx512bf16 or leave PMC_CPU_GEMM unset");
  }
  bgemm::gemm<TC, Kernel<Tiles>>(a, b, c, alpha, beta, partial_floats);
}

}  // namespace pmc::backends::cpu::amx

#endif  // AVX512-BF16 on x86-64 Linux

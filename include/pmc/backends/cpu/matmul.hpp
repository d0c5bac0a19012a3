// SPDX-License-Identifier: MIT
// Matmul<Cpu>: batched strided GEMM on Eigen (float, double), or on pmc's own AVX-512 / AVX2 kernel for float where
// it is compiled in (sgemm.hpp); bf16 on pmc's own AVX512-BF16 kernel where it is compiled in (bgemm.hpp), or on AMX
// tiles with PMC_CPU_GEMM=amx (amx.hpp); other bf16 and f16 products staged to float in blocks.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

#include <pmc/backends/cpu/amx.hpp>
#include <pmc/backends/cpu/bgemm.hpp>
#include <pmc/backends/cpu/bgemv.hpp>
#include <pmc/backends/cpu/eigen.hpp>
#include <pmc/backends/cpu/mat_desc.hpp>
#include <pmc/backends/cpu/sgemm.hpp>
#include <pmc/core/tensor.hpp>
#include <pmc/ops/matmul.hpp>

namespace pmc::backends::cpu {

/// The logical op(X) of a 2-D or 3-D tensor: its last two dimensions, transposed when `trans`.
template <class T>
MatDesc<T> describe(const Tensor<T, Cpu>& x, bool trans) {
  const int r = x.rank();
  PMC_CHECK(r == 2 || r == 3, "matmul: operands must be 2-D or 3-D, got shape ", x.shape().str());
  MatDesc<T> d{x.data(),           x.size(r - 2),      x.size(r - 1),
               x.strides()[r - 2], x.strides()[r - 1], r == 3 ? x.strides()[0] : 0};
  return (trans ? d.t() : d).normalized();
}

template <class S, bool ARow, bool BRow>
void gemm_eigen_one(const MatDesc<const S>& a, const MatDesc<const S>& b, const MatDesc<S>& c, S alpha, S beta) {
  using AMap = std::conditional_t<ARow, ConstRowMap<S>, ConstColMap<S>>;
  using BMap = std::conditional_t<BRow, ConstRowMap<S>, ConstColMap<S>>;
  AMap am(a.data, a.rows, a.cols, Eigen::OuterStride<>(a.outer()));
  BMap bm(b.data, b.rows, b.cols, Eigen::OuterStride<>(b.outer()));
  RowMap<S> cm(c.data, c.rows, c.cols, Eigen::OuterStride<>(c.outer()));
  if (beta == S(0)) {
    cm.noalias() = alpha * am * bm;  // assignment, so stale NaNs in C do not survive beta = 0
  } else {
    if (beta != S(1)) cm *= beta;
    cm.noalias() += alpha * am * bm;
  }
}

/// One GEMM on Eigen, single-threaded; a and b must each have a unit stride, c a unit column stride.
template <class S>
void gemm_eigen_tile(const MatDesc<const S>& a, const MatDesc<const S>& b, const MatDesc<S>& c, S alpha, S beta) {
  if (a.row_major()) {
    if (b.row_major())
      gemm_eigen_one<S, true, true>(a, b, c, alpha, beta);
    else
      gemm_eigen_one<S, true, false>(a, b, c, alpha, beta);
  } else {
    if (b.row_major())
      gemm_eigen_one<S, false, true>(a, b, c, alpha, beta);
    else
      gemm_eigen_one<S, false, false>(a, b, c, alpha, beta);
  }
}

/// Tiles of C that gemm_eigen hands to the threads: 192 rows (a multiple of Eigen's 24- and 48-row kernels on
/// AVX2 and AVX-512) by 128 columns. Packing repeats per tile, under 1% of a tile's multiply-adds from 64 rows up.
inline constexpr std::int64_t kEigenTileRows = 192, kEigenTileCols = 128;

/// One GEMM on Eigen; a and b must each have a unit stride, c a unit column stride. Eigen's own threading is
/// off (EIGEN_DONT_PARALLELIZE, set by the pmc target): it cuts C's rows by the thread count, and its kernels sum
/// the rows at a cut's edge in another order, so the bits followed OMP_NUM_THREADS. Here C is cut into fixed
/// tiles instead, each multiplied whole by one thread: the same bits for any thread count.
template <class S>
void gemm_eigen(const MatDesc<const S>& a, const MatDesc<const S>& b, const MatDesc<S>& c, S alpha, S beta) {
  constexpr std::int64_t tr = kEigenTileRows, tc = kEigenTileCols;
  const std::int64_t row_tiles = (c.rows + tr - 1) / tr, col_tiles = (c.cols + tc - 1) / tc;
  parallel_for(row_tiles * col_tiles, tr * tc * a.cols, [&](std::int64_t t) {
    const std::int64_t i0 = t / col_tiles * tr, j0 = t % col_tiles * tc;
    const std::int64_t mt = std::min(tr, c.rows - i0), nt = std::min(tc, c.cols - j0);
    gemm_eigen_tile<S>({a.data + i0 * a.rs, mt, a.cols, a.rs, a.cs, 0}, {b.data + j0 * b.cs, b.rows, nt, b.rs, b.cs, 0},
                       {c.data + i0 * c.rs + j0 * c.cs, mt, nt, c.rs, c.cs, 0}, alpha, beta);
  });
}

/// Rows [r0, r1) of op(X) (all columns) as a row-major float block.
template <class T>
void stage_rows(const MatDesc<const T>& x, std::int64_t r0, std::int64_t r1, AlignedVector<float>& out) {
  const std::int64_t k = x.cols;
  out.resize(static_cast<std::size_t>((r1 - r0) * k));
  float* o = out.data();
  parallel_for(r1 - r0, k, [&](std::int64_t i) {
    const T* src = x.data + (r0 + i) * x.rs;
    float* dst = o + i * k;
    for (std::int64_t j = 0; j < k; ++j) dst[j] = static_cast<float>(src[j * x.cs]);
  });
}

/// Columns [c0, c1) of op(X) (all rows) as a float block, column-major when op(X)'s columns are
/// contiguous (a transposed weight) so that the conversion streams memory in order.
template <class T>
MatDesc<const float> stage_cols(const MatDesc<const T>& x, std::int64_t c0, std::int64_t c1,
                                AlignedVector<float>& out) {
  const std::int64_t k = x.rows, nb = c1 - c0;
  out.resize(static_cast<std::size_t>(k * nb));
  float* o = out.data();
  if (x.col_major()) {
    parallel_for(nb, k, [&](std::int64_t j) {
      const T* src = x.data + (c0 + j) * x.cs;
      float* dst = o + j * k;
      for (std::int64_t i = 0; i < k; ++i) dst[i] = static_cast<float>(src[i]);
    });
    return MatDesc<const float>{o, k, nb, 1, k, 0}.normalized();
  }
  parallel_for(k, nb, [&](std::int64_t i) {
    const T* src = x.data + i * x.rs + c0 * x.cs;
    float* dst = o + i * nb;
    for (std::int64_t j = 0; j < nb; ++j) dst[j] = static_cast<float>(src[j * x.cs]);
  });
  return MatDesc<const float>{o, k, nb, nb, 1, 0}.normalized();
}

/// One GEMM of 16-bit operands computed in float. Operands are converted a block at a time (about 16 MiB of
/// float each), so a (11008, 4096) bf16 weight is never expanded whole.
template <class T>
void gemm_lowp(const MatDesc<const T>& a, const MatDesc<const T>& b, const MatDesc<T>& c, float alpha, float beta) {
  const std::int64_t m = c.rows, n = c.cols, k = a.cols;
  auto write = [&](std::int64_t i, std::int64_t j, float acc) {
    T& dst = c.at(i, j);
    dst = static_cast<T>(beta == 0.f ? alpha * acc : alpha * acc + beta * static_cast<float>(dst));
  };
  AlignedVector<float> af;
  if (m <= 4 && b.col_major()) {
    // Decoding: a few tokens against a weight whose rows are op(B)'s columns. Dot products straight from
    // the weight rows read it once, where staging would write and reread it as float.
    stage_rows(a, 0, m, af);
    parallel_for(n, k * m, [&](std::int64_t j) {
      auto& col = scratch<float, 1>();
      col.resize(static_cast<std::size_t>(k));
      const T* src = b.data + j * b.cs;
      for (std::int64_t i = 0; i < k; ++i) col[static_cast<std::size_t>(i)] = static_cast<float>(src[i]);
      ConstVecMap<float> cv(col.data(), k);
      for (std::int64_t i = 0; i < m; ++i) write(i, j, ConstVecMap<float>(af.data() + i * k, k).dot(cv));
    });
    return;
  }
  // Rows of op(A) are staged a block at a time and shared; each thread then stages panels of op(B)'s columns
  // and multiplies them on its own. Parallel panels keep each Eigen GEMM single-threaded (no synchronization
  // inside a GEMM) and bound the float copies at 16 MiB for A plus a 4 MiB panel per thread.
  const std::int64_t kk = std::max<std::int64_t>(k, 1);
  const std::int64_t mstep = std::max<std::int64_t>(16, (std::int64_t{1} << 22) / kk);
  const std::int64_t nstep = std::clamp<std::int64_t>((std::int64_t{1} << 20) / kk, 16, 512);
  const std::int64_t panels = (n + nstep - 1) / nstep;
  for (std::int64_t m0 = 0; m0 < m; m0 += mstep) {
    const std::int64_t m1 = std::min(m, m0 + mstep), mb = m1 - m0;
    stage_rows(a, m0, m1, af);
    const MatDesc<const float> ad = MatDesc<const float>{af.data(), mb, k, k, 1, 0}.normalized();
#pragma omp parallel for schedule(dynamic) if (panels > 1 && mb * k * nstep >= (std::int64_t{1} << 15))
    for (std::int64_t p = 0; p < panels; ++p) {
      const std::int64_t n0 = p * nstep, n1 = std::min(n, n0 + nstep), nb = n1 - n0;
      auto& bf = scratch<float, 2>();
      auto& cf = scratch<float, 3>();
      const auto bd = stage_cols(b, n0, n1, bf);
      cf.resize(static_cast<std::size_t>(mb * nb));
      gemm_eigen<float>(ad, bd, MatDesc<float>{cf.data(), mb, nb, nb, 1, 0}.normalized(), 1.f, 0.f);
      for (std::int64_t i = 0; i < mb; ++i)
        for (std::int64_t j = 0; j < nb; ++j) write(m0 + i, n0 + j, cf[static_cast<std::size_t>(i * nb + j)]);
    }
  }
}

/// A contiguous copy of x (for operands with no unit stride), kept alive by `hold`.
template <class T>
MatDesc<const T> pack(const MatDesc<const T>& x, std::int64_t batch, std::vector<T>& hold) {
  const std::int64_t nb = x.bs == 0 ? 1 : batch, sz = x.rows * x.cols;
  hold.resize(static_cast<std::size_t>(nb * sz));
  for (std::int64_t b = 0; b < nb; ++b)
    for (std::int64_t i = 0; i < x.rows; ++i)
      for (std::int64_t j = 0; j < x.cols; ++j)
        hold[static_cast<std::size_t>(b * sz + i * x.cols + j)] = x.batch(b).at(i, j);
  return MatDesc<const T>{hold.data(), x.rows, x.cols, x.cols, 1, x.bs == 0 ? 0 : sz}.normalized();
}

/// c[b] = alpha · a[b] · b[b] + beta · c[b] for b < batch, where any of the three may be broadcast (bs = 0);
/// a broadcast c receives the sum over the batch.
template <class T>
void gemm(MatDesc<const T> a, MatDesc<const T> b, MatDesc<T> c, std::int64_t batch, float alpha, float beta) {
  using C = compute_t<T>;
  if (c.rows == 0 || c.cols == 0 || batch == 0) return;
  if (!c.row_major()) {
    // Write Cᵀ = op(B)ᵀ · op(A)ᵀ instead: C is then row-major.
    PMC_CHECK(c.col_major(), "matmul: the output (strides ", c.rs, ", ", c.cs,
              ") needs a unit stride in one of its last two dimensions");
    c = c.t();
    std::swap(a, b);
    a = a.t();
    b = b.t();
  }
  std::vector<T> hold_a, hold_b;
  if (!a.row_major() && !a.col_major()) a = pack(a, batch, hold_a);
  if (!b.row_major() && !b.col_major()) b = pack(b, batch, hold_b);
  // Fold the batch into one larger GEMM where the memory layout allows: stacked rows against a shared B
  // (a linear layer on (B, T, D)), or a batch summed into a shared C (its weight gradient).
  if (batch > 1 && b.bs == 0 && a.bs == a.rows * a.rs && c.bs == c.rows * c.rs && a.rows * a.rs != 0) {
    a.rows *= batch;
    c.rows *= batch;
    batch = 1;
  } else if (batch > 1 && c.bs == 0 && a.bs == a.cols * a.cs && b.bs == b.rows * b.rs && a.bs != 0 && b.bs != 0) {
    a.cols *= batch;
    b.rows *= batch;
    batch = 1;
  }
  for (std::int64_t i = 0; i < batch; ++i) {
    const float beta_i = (c.bs == 0 && i > 0) ? 1.f : beta;
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, bf16>) {
      // Decoding (a few rows against a transposed weight): the matrix-vector kernel reads the weight once, one
      // stream a thread, where a GEMM would pack it first (float under PMC_CPU_GEMM=eigen: Eigen's GEMV, not the
      // scalar loop).
      if ((std::is_same_v<T, bf16> || bgemv::kernel() != bgemv::Kernel::scalar) &&
          bgemv::suits(a.batch(i), b.batch(i), c.batch(i))) {
        bgemv::gemv(bgemv::kernel(), a.batch(i), b.batch(i), c.batch(i), alpha, beta_i);
        continue;
      }
    }
    if constexpr (std::is_same_v<T, C>) {
#ifdef PMC_HAVE_OWN_SGEMM
      if constexpr (std::is_same_v<T, float>) {
        if (sgemm::suits(c.rows, c.cols, a.cols)) {
          sgemm::gemm_chosen(a.batch(i), b.batch(i), c.batch(i), alpha, beta_i);
          continue;
        }
      }
#endif
      gemm_eigen<C>(a.batch(i), b.batch(i), c.batch(i), static_cast<C>(alpha), static_cast<C>(beta_i));
    } else {
#ifdef PMC_HAVE_OWN_BGEMM
      if constexpr (std::is_same_v<T, bf16>) {
        if (bgemm::suits(c.rows, c.cols, a.cols)) {
#ifdef PMC_HAVE_AMX_BGEMM
          if (sgemm::choice() == sgemm::Choice::amx) {
            amx::gemm<bf16>(a.batch(i), b.batch(i), c.batch(i), alpha, beta_i);
            continue;
          }
#endif
          bgemm::gemm<bf16>(a.batch(i), b.batch(i), c.batch(i), alpha, beta_i);
          continue;
        }
      }
#endif
#ifdef PMC_HAVE_OWN_SGEMM
      if constexpr (std::is_same_v<T, bf16>) {
        if (sgemm::suits_widened(c.rows, c.cols, a.cols)) {
          sgemm::gemm_chosen<bf16>(a.batch(i), b.batch(i), c.batch(i), alpha, beta_i);
          continue;
        }
      }
#endif
      gemm_lowp<T>(a.batch(i), b.batch(i), c.batch(i), alpha, beta_i);
    }
  }
}

/// The GEMM that large float products run on: "own AVX-512" or "own AVX2" (sgemm.hpp), or "Eigen" where neither
/// is compiled in or PMC_CPU_GEMM=eigen asks for Eigen's. Benchmarks record it.
inline const char* float_gemm_name() {
#ifdef PMC_HAVE_OWN_SGEMM
  return sgemm::chosen_name();
#else
  return "Eigen";
#endif
}

/// The GEMM that bf16 products run on: "own AVX512-BF16" (bgemm.hpp) where compiled in and chosen, "own AMX-BF16"
/// (amx.hpp, PMC_CPU_GEMM=amx), "own AVX2, bf16 widened" or "own AVX-512, bf16 widened" (sgemm.hpp's float
/// kernels, gemm<K, bf16>), or "staged to float" (gemm_lowp on Eigen's GEMM). Benchmarks record it.
inline const char* bf16_gemm_name() {
#ifdef PMC_HAVE_AMX_BGEMM
  if (sgemm::choice() == sgemm::Choice::amx) return amx::Kernel<amx::Hardware>::name;
#endif
#ifdef PMC_HAVE_OWN_BGEMM
  if (sgemm::choice() == sgemm::Choice::native) return bgemm::name;
#endif
#ifdef PMC_HAVE_OWN_SGEMM
  if (sgemm::suits_widened(sgemm::kMinRowsWidened, 1, 1))
    return sgemm::choice() == sgemm::Choice::avx2 || std::is_same_v<sgemm::Native, sgemm::Avx2>
               ? "own AVX2, bf16 widened"
               : "own AVX-512, bf16 widened";
#endif
  return "staged to float";
}

template <class T>
MatDesc<const T> as_const(const MatDesc<T>& d) {
  return {d.data, d.rows, d.cols, d.rs, d.cs, d.bs};
}

}  // namespace pmc::backends::cpu

namespace pmc::ops {

template <>
struct Matmul<Cpu> {
  template <class T>
  static void forward(const Tensor<T, Cpu>& a, const Tensor<T, Cpu>& b, const Tensor<T, Cpu>& c, bool trans_a,
                      bool trans_b, float alpha = 1, float beta = 0) {
    static_assert(Floating<T>, "Matmul: T must be float, double, bf16 or f16");
    const std::int64_t batch = check_matmul_args(a, b, c, trans_a, trans_b).batch;
    backends::cpu::gemm<T>(const_desc(a, trans_a), const_desc(b, trans_b), backends::cpu::describe(c, false), batch,
                           alpha, beta);
  }

  /// With C = op(A)·op(B): dA += dC·op(B)ᵀ laid out as A (transposed back when trans_a), dB likewise with
  /// op(A)ᵀ·dC; a 2-D operand shared by a batch gets the gradient summed over the batch.
  template <class T>
  static void backward(const Tensor<T, Cpu>& a, const Tensor<T, Cpu>& b, const Tensor<T, Cpu>& dc,
                       const Tensor<T, Cpu>& da, const Tensor<T, Cpu>& db, bool trans_a, bool trans_b) {
    static_assert(Floating<T>, "Matmul: T must be float, double, bf16 or f16");
    const std::int64_t batch = check_matmul_backward_args(a, b, dc, da, db, trans_a, trans_b).batch;
    using backends::cpu::describe;
    if (da.defined()) {
      backends::cpu::gemm<T>(const_desc(dc, false), const_desc(b, trans_b).t(), describe(da, trans_a), batch, 1.f, 1.f);
    }
    if (db.defined()) {
      backends::cpu::gemm<T>(const_desc(a, trans_a).t(), const_desc(dc, false), describe(db, trans_b), batch, 1.f, 1.f);
    }
  }

 private:
  template <class T>
  static backends::cpu::MatDesc<const T> const_desc(const Tensor<T, Cpu>& x, bool trans) {
    return backends::cpu::as_const(backends::cpu::describe(x, trans));
  }
};

}  // namespace pmc::ops

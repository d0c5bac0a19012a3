// SPDX-License-Identifier: MIT
// Shared plumbing of the CPU ops: Eigen maps over strided rows, row views of tensors, float staging of
// 16-bit rows, and an OpenMP parallel-for.
#pragma once

#include <cstdint>
#include <type_traits>
#include <vector>

#include <Eigen/Core>

#include <pmc/core/dtype.hpp>
#include <pmc/core/error.hpp>
#include <pmc/core/tensor.hpp>

namespace pmc::backends::cpu {

template <class S>
using RowMatrix = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class S>
using ColMatrix = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;

/// A row-major (rows, cols) block whose rows are `stride` elements apart.
template <class S>
using RowMap = Eigen::Map<RowMatrix<S>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <class S>
using ConstRowMap = Eigen::Map<const RowMatrix<S>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <class S>
using ColMap = Eigen::Map<ColMatrix<S>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <class S>
using ConstColMap = Eigen::Map<const ColMatrix<S>, Eigen::Unaligned, Eigen::OuterStride<>>;

template <class S>
using VecMap = Eigen::Map<Eigen::Matrix<S, Eigen::Dynamic, 1>>;
template <class S>
using ConstVecMap = Eigen::Map<const Eigen::Matrix<S, Eigen::Dynamic, 1>>;

/// Runs f(i) for i in [0, n) on the OpenMP team when the loop is worth a fork (n · cost above ~32k
/// element-operations); inside an enclosing parallel region it runs serially. Each f(i) must compute its own
/// result whatever thread runs it: a sum over items goes into per-item partials, added in item order after the
/// loop (never an OpenMP reduction, whose split and combination order follow the thread count and the schedule).
template <class F>
void parallel_for(std::int64_t n, std::int64_t cost_per_item, F&& f) {
  [[maybe_unused]] const bool worth = n > 1 && n * cost_per_item >= (std::int64_t{1} << 15);
#pragma omp parallel for schedule(static) if (worth)
  for (std::int64_t i = 0; i < n; ++i) f(i);
}

/// A tensor seen as N rows of D contiguous elements (last dimension stride 1), rows `stride` apart.
/// Leading dimensions must collapse into one (so (B, T, D) activations and row slices both qualify).
template <class T>
struct Rows {
  T* data = nullptr;
  std::int64_t n = 0;
  std::int64_t d = 0;
  std::int64_t stride = 0;
  T* row(std::int64_t i) const { return data + i * stride; }
};

template <class T>
Rows<T> as_rows(const Tensor<T, Cpu>& t, const char* what) {
  PMC_CHECK(t.defined(), what, ": tensor is undefined");
  PMC_CHECK(t.rank() >= 1, what, ": expected at least one dimension, got shape ", t.shape().str());
  const int r = t.rank();
  Rows<T> v;
  v.data = t.data();
  v.d = t.size(-1);
  v.n = v.d == 0 ? 0 : t.numel() / v.d;
  PMC_CHECK(t.size(-1) <= 1 || t.strides()[r - 1] == 1, what, ": the last dimension of shape ", t.shape().str(),
            " must be contiguous (strides ", t.strides().str(), ")");
  // Walk the leading dimensions innermost first; extents of 1 have arbitrary strides and are skipped.
  v.stride = v.d;
  std::int64_t expect = -1;
  for (int k = r - 2; k >= 0; --k) {
    if (t.size(k) == 1) continue;
    if (expect < 0)
      v.stride = t.strides()[k];
    else
      PMC_CHECK(t.strides()[k] == expect, what, ": the leading dimensions of shape ", t.shape().str(), " (strides ",
                t.strides().str(), ") do not collapse into rows; call contiguous() first");
    expect = t.strides()[k] * t.size(k);
  }
  return v;
}

template <class T>
void check_contiguous(const Tensor<T, Cpu>& t, const char* what) {
  PMC_CHECK(t.defined(), what, ": tensor is undefined");
  PMC_CHECK(t.is_contiguous(), what, ": tensor of shape ", t.shape().str(), " (strides ", t.strides().str(),
            ") must be contiguous");
}

/// A std::vector whose data is aligned for Eigen's vectors. Eigen computes the elements of a vectorized write
/// that precede the first aligned one one at a time, and a scalar exp() rounds differently from a vector exp():
/// in a buffer wherever the heap put it, results would depend on the heap's history (a fresh process, a resumed
/// run and another thread differed in their last bits).
template <class C>
using AlignedVector = std::vector<C, Eigen::aligned_allocator<C>>;

/// Row `src` (n elements) as compute_t<T>: the row itself for float/double, else converted into `buf`.
template <class T>
const compute_t<T>* load_row(const T* src, std::int64_t n, AlignedVector<compute_t<T>>& buf) {
  if constexpr (std::is_same_v<T, compute_t<T>>) {
    return src;
  } else {
    buf.resize(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) buf[static_cast<std::size_t>(i)] = static_cast<compute_t<T>>(src[i]);
    return buf.data();
  }
}

/// Converts n compute-type values to T (round to nearest even for the 16-bit types).
template <class T, class C>
void store_row(const C* src, std::int64_t n, T* dst) {
  for (std::int64_t i = 0; i < n; ++i) dst[i] = static_cast<T>(src[i]);
}

/// Per-thread scratch that survives calls, so hot loops do not allocate. Aligned, so that what is computed in it
/// does not depend on where it lies (AlignedVector).
template <class C, int Slot = 0>
AlignedVector<C>& scratch() {
  thread_local AlignedVector<C> buf;
  return buf;
}

}  // namespace pmc::backends::cpu

// SPDX-License-Identifier: MIT
// Cross-entropy over the vocabulary with an ignore index (label masking):
//   loss = (1/C) Σ_{n: y_n ≠ ignore} (logsumexp(z_n) − z_n[y_n]),   C = #{n : y_n ≠ ignore}  (loss = 0 if C = 0)
//   z: (N, V) logits   y: (N) int32 targets   lse: (N) float, saved by forward
//   backward: dz_n += dloss / C · (softmax(z_n) − onehot(y_n)) for counted rows; 0 for ignored rows
// A target outside [0, V) that is not the ignore index is a pmc::Error naming it.
#pragma once

#include <concepts>
#include <cstdint>

#include <pmc/core/device.hpp>
#include <pmc/core/dtype.hpp>
#include <pmc/core/tensor.hpp>
#include <pmc/ops/checks.hpp>

namespace pmc::ops {

inline constexpr std::int32_t kIgnoreIndex = -100;

/// What forward returns: the mean loss over the counted rows and their count C.
struct CrossEntropyResult {
  double loss;
  std::int64_t count;
};

/// Specialized per device:
///   template <class T> static CrossEntropyResult forward(const Tensor<T, D>& logits,
///                                                        const Tensor<std::int32_t, D>& targets,
///                                                        const Tensor<compute_t<T>, D>& lse,
///                                                        std::int32_t ignore = kIgnoreIndex);
///   template <class T> static void backward(const Tensor<T, D>& logits, const Tensor<std::int32_t, D>& targets,
///                                           const Tensor<compute_t<T>, D>& lse, double dloss, std::int64_t count,
///                                           const Tensor<T, D>& dlogits, std::int32_t ignore = kIgnoreIndex);
template <Device D>
struct CrossEntropy;

/// D specializes the contract (T = float stands for every T).
template <class D>
concept ImplementsCrossEntropy = Device<D> && requires(const Tensor<float, D>& z, const Tensor<std::int32_t, D>& y,
                                                       double dloss, std::int64_t count, std::int32_t ignore) {
  { CrossEntropy<D>::forward(z, y, z, ignore) } -> std::same_as<CrossEntropyResult>;
  CrossEntropy<D>::backward(z, y, z, dloss, count, z, ignore);
};

/// The extents of one call: n rows of v classes.
struct CrossEntropyDims {
  std::int64_t n, v;
};

/// The forward's checks: logits (N, V), targets contiguous with N values, lse a contiguous tensor of N values.
/// Layouts of logits are the backend's to check; the targets' range is checked with check_target. `op` is
/// "cross_entropy" or "cross_entropy backward".
template <class T, class C, Device D>
CrossEntropyDims check_cross_entropy_args(const Tensor<T, D>& logits, const Tensor<std::int32_t, D>& targets,
                                          const Tensor<C, D>& lse, const char* op = "cross_entropy") {
  detail::check_defined(logits, op, "logits");
  PMC_CHECK(logits.rank() == 2, op, ": logits must be (N, V), got ", logits.shape().str());
  const std::int64_t n = logits.size(0);
  detail::check_contiguous(targets, op, "targets");
  PMC_CHECK(targets.numel() == n, op, ": targets ", targets.shape().str(), " do not match the ", n,
            " rows of logits ", logits.shape().str());
  PMC_CHECK(lse.defined() && lse.is_contiguous() && lse.numel() == n, op, ": lse ", lse.shape().str(),
            " must be a contiguous tensor holding one value per row of logits ", logits.shape().str());
  return {n, logits.size(1)};
}

/// The backward's checks: as forward's, and dlogits (if defined) shaped as logits.
template <class T, class C, Device D>
CrossEntropyDims check_cross_entropy_backward_args(const Tensor<T, D>& logits, const Tensor<std::int32_t, D>& targets,
                                                   const Tensor<C, D>& lse, const Tensor<T, D>& dlogits) {
  const CrossEntropyDims d = check_cross_entropy_args(logits, targets, lse, "cross_entropy backward");
  if (dlogits.defined()) detail::check_shape_of(dlogits, "dlogits", logits, "logits", "cross_entropy backward");
  return d;
}

/// The error for a target outside [0, classes) that is not the ignore index; row < 0 where the backend does not
/// know it.
inline void check_target(std::int64_t target, std::int64_t row, std::int64_t classes, std::int32_t ignore,
                         const char* op) {
  if (target == ignore || (target >= 0 && target < classes)) return;
  if (row >= 0)
    fail(op, ": target ", target, " at row ", row, " is out of range for ", classes,
         " classes (and is not the ignore index ", ignore, ")");
  fail(op, ": target ", target, " is out of range for ", classes, " classes (and is not the ignore index ", ignore,
       ")");
}

}  // namespace pmc::ops

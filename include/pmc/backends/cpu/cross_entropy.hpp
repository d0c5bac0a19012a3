// SPDX-License-Identifier: MIT
// CrossEntropy<Cpu>: row-parallel log-sum-exp with max subtraction, ignore-index masking, mean over counted rows.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include <pmc/backends/cpu/eigen.hpp>
#include <pmc/core/tensor.hpp>
#include <pmc/ops/cross_entropy.hpp>

namespace pmc::ops {

template <>
struct CrossEntropy<Cpu> {
  struct Result {
    double loss;
    std::int64_t count;
  };

  template <class T>
  static Result forward(const Tensor<T, Cpu>& logits, const Tensor<std::int32_t, Cpu>& targets,
                        const Tensor<compute_t<T>, Cpu>& lse, std::int32_t ignore = kIgnoreIndex) {
    using C = compute_t<T>;
    using namespace backends::cpu;
    const auto z = as_rows(logits, "cross_entropy logits");
    const std::int64_t count = check(logits, z, targets, lse, ignore, "cross_entropy");
    const std::int32_t* y = targets.data();
    // The loss terms are summed in blocks of rows, then the blocks in order: the same bits for any thread count.
    constexpr std::int64_t block = 64;
    std::vector<double> partial(static_cast<std::size_t>((z.n + block - 1) / block), 0.0);
    parallel_for(static_cast<std::int64_t>(partial.size()), block * z.d, [&](std::int64_t b) {
      double sum = 0;
      for (std::int64_t i = b * block; i < std::min(z.n, (b + 1) * block); ++i) {
        const C* zi = load_row(z.row(i), z.d, scratch<C, 0>());
        ConstVecMap<C> row(zi, z.d);
        const C mx = row.maxCoeff();
        const C l = mx + std::log((row.array() - mx).exp().sum());
        lse.data()[i] = l;
        if (y[i] != ignore) sum += static_cast<double>(l) - static_cast<double>(zi[y[i]]);
      }
      partial[static_cast<std::size_t>(b)] = sum;
    });
    double total = 0;
    for (double s : partial) total += s;
    return {count == 0 ? 0.0 : total / static_cast<double>(count), count};
  }

  /// dlogits_n += dloss / count · (softmax(z_n) − onehot(y_n)) for counted rows.
  template <class T>
  static void backward(const Tensor<T, Cpu>& logits, const Tensor<std::int32_t, Cpu>& targets,
                       const Tensor<compute_t<T>, Cpu>& lse, double dloss, std::int64_t count,
                       const Tensor<T, Cpu>& dlogits, std::int32_t ignore = kIgnoreIndex) {
    using C = compute_t<T>;
    using namespace backends::cpu;
    if (!dlogits.defined()) return;
    const auto z = as_rows(logits, "cross_entropy backward logits");
    const std::int64_t counted = check(logits, z, targets, lse, ignore, "cross_entropy backward");
    PMC_CHECK(count == counted, "cross_entropy backward: count ", count, " differs from the ", counted,
              " targets that are not the ignore index ", ignore);
    check_same_shape(logits.shape(), dlogits.shape(), "cross_entropy backward: logits and dlogits");
    const auto dz = as_rows(dlogits, "cross_entropy backward dlogits");
    if (count == 0) return;
    const C w = static_cast<C>(dloss / static_cast<double>(count));
    const std::int32_t* y = targets.data();
    parallel_for(z.n, z.d * 8, [&](std::int64_t i) {
      if (y[i] == ignore) return;
      const C* zi = load_row(z.row(i), z.d, scratch<C, 0>());
      auto& e = scratch<C, 1>();
      e.resize(static_cast<std::size_t>(z.d));
      VecMap<C>(e.data(), z.d) = (ConstVecMap<C>(zi, z.d).array() - lse.data()[i]).exp();  // softmax, vectorized
      T* di = dz.row(i);
      for (std::int64_t j = 0; j < z.d; ++j)
        di[j] = static_cast<T>(static_cast<C>(di[j]) + w * e[static_cast<std::size_t>(j)]);
      di[y[i]] = static_cast<T>(static_cast<C>(di[y[i]]) - w);
    });
  }

 private:
  /// Validates shapes and targets; returns how many targets are not `ignore`.
  template <class T, class L>
  static std::int64_t check(const Tensor<T, Cpu>& logits, const backends::cpu::Rows<T>& z,
                            const Tensor<std::int32_t, Cpu>& targets, const Tensor<L, Cpu>& lse, std::int32_t ignore,
                            const char* what) {
    PMC_CHECK(logits.rank() == 2, what, ": logits must be (N, V), got ", logits.shape().str());
    backends::cpu::check_contiguous(targets, what);
    PMC_CHECK(targets.numel() == z.n, what, ": targets ", targets.shape().str(), " do not match the ", z.n,
              " rows of logits ", logits.shape().str());
    PMC_CHECK(lse.defined() && lse.is_contiguous() && lse.numel() == z.n, what, ": lse ", lse.shape().str(),
              " must hold one value per row of logits ", logits.shape().str());
    std::int64_t count = 0;
    const std::int32_t* y = targets.data();
    for (std::int64_t i = 0; i < z.n; ++i) {
      if (y[i] == ignore) continue;
      PMC_CHECK(y[i] >= 0 && y[i] < z.d, what, ": target ", y[i], " at row ", i, " is out of range for ", z.d,
                " classes (logits ", logits.shape().str(), ")");
      ++count;
    }
    return count;
  }
};

}  // namespace pmc::ops

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
  template <class T>
  static CrossEntropyResult forward(const Tensor<T, Cpu>& logits, const Tensor<std::int32_t, Cpu>& targets,
                                    const Tensor<compute_t<T>, Cpu>& lse, std::int32_t ignore = kIgnoreIndex) {
    using C = compute_t<T>;
    using namespace backends::cpu;
    check_cross_entropy_args(logits, targets, lse);
    const auto z = as_rows(logits, "cross_entropy logits");
    const std::int64_t count = count_targets(targets, z.d, ignore, "cross_entropy");
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
    check_cross_entropy_backward_args(logits, targets, lse, dlogits);
    const auto z = as_rows(logits, "cross_entropy backward logits");
    const std::int64_t counted = count_targets(targets, z.d, ignore, "cross_entropy backward");
    PMC_CHECK(count == counted, "cross_entropy backward: count ", count, " differs from the ", counted,
              " targets that are not the ignore index ", ignore);
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
  /// Checks the targets' range on the host; returns how many are not `ignore`.
  static std::int64_t count_targets(const Tensor<std::int32_t, Cpu>& targets, std::int64_t classes, std::int32_t ignore,
                                    const char* op) {
    std::int64_t count = 0;
    const std::int32_t* y = targets.data();
    for (std::int64_t i = 0; i < targets.numel(); ++i) {
      check_target(y[i], i, classes, ignore, op);
      if (y[i] != ignore) ++count;
    }
    return count;
  }
};

}  // namespace pmc::ops

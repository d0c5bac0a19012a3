// SPDX-License-Identifier: MIT
// Statistics for accuracy on benchmark items: the standard error lm-evaluation-harness reports, and paired tests
// between two models scored on the same items.
//
//   harness standard error of a mean of 0/1 scores x_1..x_n (sample standard deviation, ddof = 1, over sqrt(n)):
//     se = sqrt(Σ (x_i − x̄)² / (n − 1)) / sqrt(n) = sqrt(p (1 − p) / (n − 1)),   p = x̄
//   McNemar's exact test on paired outcomes: b = items only model A answers correctly, c = only model B.
//     Under H0 (same accuracy) b ~ Binomial(b + c, 1/2); two-sided p = min(1, 2 · P[X ≤ min(b, c)]).
//   Paired bootstrap: resample items with replacement (SplitMix64 from a seed), p = the two-sided share of
//   resamples whose accuracy difference has the opposite sign of the observed one (or is zero), doubled.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include <pmc/core/error.hpp>
#include <pmc/eval/subset.hpp>

namespace pmc::eval {

/// lm-evaluation-harness's standard error of the accuracy of n items, `correct` of them right (0 when n < 2).
inline double harness_stderr(std::int64_t correct, std::int64_t n) {
  if (n < 2) return 0.0;
  const double p = static_cast<double>(correct) / static_cast<double>(n);
  return std::sqrt(p * (1 - p) / static_cast<double>(n - 1));
}

/// The outcome of comparing two models on the same items.
struct PairedTest {
  std::int64_t n = 0;          // items both were scored on
  std::int64_t only_a = 0;     // b: A right, B wrong
  std::int64_t only_b = 0;     // c: A wrong, B right
  double accuracy_a = 0, accuracy_b = 0;
  double p_value = 1;          // McNemar's exact two-sided p
};

/// log C(n, k) through lgamma (exact enough for the tail sums below at any n a benchmark has).
inline double log_choose(std::int64_t n, std::int64_t k) {
  return std::lgamma(static_cast<double>(n) + 1) - std::lgamma(static_cast<double>(k) + 1) -
         std::lgamma(static_cast<double>(n - k) + 1);
}

/// McNemar's exact two-sided p-value for b discordant pairs one way and c the other.
inline double mcnemar_exact_p(std::int64_t b, std::int64_t c) {
  PMC_CHECK(b >= 0 && c >= 0, "mcnemar_exact_p: counts must be non-negative, got ", b, " and ", c);
  const std::int64_t n = b + c;
  if (n == 0) return 1.0;
  const std::int64_t k = std::min(b, c);
  // P[X ≤ k] for X ~ Binomial(n, 1/2), summed from the largest term down for accuracy
  double tail = 0;
  for (std::int64_t i = k; i >= 0; --i) tail += std::exp(log_choose(n, i) - static_cast<double>(n) * std::log(2.0));
  return std::min(1.0, 2 * tail);
}

/// McNemar's exact test on per-item correctness of two models (the same items, in the same order).
inline PairedTest paired_test(const std::vector<bool>& a, const std::vector<bool>& b) {
  PMC_CHECK(a.size() == b.size(), "paired_test: the two models were scored on ", a.size(), " and ", b.size(),
            " items; a paired test needs the same items");
  PairedTest t;
  t.n = static_cast<std::int64_t>(a.size());
  std::int64_t right_a = 0, right_b = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    right_a += a[i];
    right_b += b[i];
    t.only_a += a[i] && !b[i];
    t.only_b += !a[i] && b[i];
  }
  if (t.n > 0) {
    t.accuracy_a = static_cast<double>(right_a) / static_cast<double>(t.n);
    t.accuracy_b = static_cast<double>(right_b) / static_cast<double>(t.n);
  }
  t.p_value = mcnemar_exact_p(t.only_a, t.only_b);
  return t;
}

/// The paired bootstrap p-value of the accuracy difference A − B over `resamples` resamples of the items.
inline double paired_bootstrap_p(const std::vector<bool>& a, const std::vector<bool>& b, std::int64_t resamples = 10000,
                                 std::uint64_t seed = 0) {
  PMC_CHECK(a.size() == b.size() && !a.empty(), "paired_bootstrap_p: needs the same, non-empty items for both");
  PMC_CHECK(resamples > 0, "paired_bootstrap_p: resamples must be positive");
  const std::size_t n = a.size();
  std::int64_t observed = 0;
  for (std::size_t i = 0; i < n; ++i) observed += static_cast<int>(a[i]) - static_cast<int>(b[i]);
  if (observed == 0) return 1.0;
  SplitMix64 rng(seed);
  std::int64_t against = 0;
  for (std::int64_t r = 0; r < resamples; ++r) {
    std::int64_t d = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const auto j = static_cast<std::size_t>(rng.below(n));
      d += static_cast<int>(a[j]) - static_cast<int>(b[j]);
    }
    against += observed > 0 ? d <= 0 : d >= 0;
  }
  return std::min(1.0, 2.0 * static_cast<double>(against) / static_cast<double>(resamples));
}

}  // namespace pmc::eval

// SPDX-License-Identifier: MIT
// Learning-rate schedules (Constant, WarmupCosine, WarmupLinear) as functions of the 0-based optimizer step,
// and warmup_fraction (PMC-LLaMA warms up over 3% of the steps).
#pragma once

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <numbers>

#include <pmc/core/error.hpp>

namespace pmc::optim {

/// Anything with `double lr(std::int64_t step) const`, step counted from 0 (the lr of the first update).
template <class S>
concept LrSchedule = requires(const S& s, std::int64_t step) {
  { s.lr(step) } -> std::convertible_to<double>;
};

/// lr(s) = value.
struct Constant {
  double value = 0;
  double lr(std::int64_t) const { return value; }
};

namespace detail {
inline void check_schedule(double peak, double floor, std::int64_t warmup, std::int64_t total, const char* who) {
  PMC_CHECK(peak >= 0 && floor >= 0 && floor <= peak, who, ": need 0 <= floor <= peak, got floor ", floor,
            " and peak ", peak);
  PMC_CHECK(warmup >= 0 && total >= warmup, who, ": need 0 <= warmup_steps <= total_steps, got ", warmup, " and ",
            total);
}

/// Progress through the decay phase of update s: 0 at s = W, 1 at the last update s = total - 1, clamped.
/// The denominator is total - W - 1 (not total - W) so that the last update uses exactly `floor`; it is
/// at least 1 so that a single post-warmup update (total = W + 1) uses the peak.
inline double decay_progress(std::int64_t step, std::int64_t warmup, std::int64_t total) {
  const double p = static_cast<double>(step - warmup) /
                   static_cast<double>(std::max<std::int64_t>(1, total - warmup - 1));
  return std::min(std::max(p, 0.0), 1.0);
}
}  // namespace detail

/// Linear warmup to `peak`, then cosine decay to `floor`, for the updates s = 0 .. total-1 — the formula of
/// tests/golden/README.md (train/adamw_tiny), evaluated in the same order, so lr(s) equals its golden `lr`:
///   s < W:   lr = peak · (s + 1) / W                                  (the first update already learns)
///   s ≥ W:   p = clamp((s - W) / (total - W - 1), 0, 1),   lr = floor + ½ (peak - floor) (1 + cos(π p))
/// so update W uses the peak, the last update (s = total - 1) exactly the floor, and later ones (s ≥ total) the
/// floor too (also when total = W, where the formula's denominator would be negative).
///
///   optim::WarmupCosine sched{.peak = 2e-5, .floor = 0, .warmup_steps = optim::warmup_fraction(n), .total_steps = n};
///   opt.step(params, sched.lr(step));
struct WarmupCosine {
  double peak = 0;
  double floor = 0;
  std::int64_t warmup_steps = 0;
  std::int64_t total_steps = 0;

  double lr(std::int64_t step) const {
    detail::check_schedule(peak, floor, warmup_steps, total_steps, "WarmupCosine");
    PMC_CHECK(step >= 0, "WarmupCosine: negative step ", step);
    if (step < warmup_steps) return peak * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
    if (step >= total_steps) return floor;
    const double p = detail::decay_progress(step, warmup_steps, total_steps);
    return floor + 0.5 * (peak - floor) * (1.0 + std::cos(std::numbers::pi * p));
  }
};

/// Linear warmup to `peak`, then linear decay to `floor` over the same updates as WarmupCosine:
///   s < W:   lr = peak · (s + 1) / W
///   s ≥ W:   p = clamp((s - W) / (total - W - 1), 0, 1),   lr = floor + (peak - floor) · (1 - p)
/// (written from the floor so that the last update is exactly `floor`); s ≥ total: floor.
struct WarmupLinear {
  double peak = 0;
  double floor = 0;
  std::int64_t warmup_steps = 0;
  std::int64_t total_steps = 0;

  double lr(std::int64_t step) const {
    detail::check_schedule(peak, floor, warmup_steps, total_steps, "WarmupLinear");
    PMC_CHECK(step >= 0, "WarmupLinear: negative step ", step);
    if (step < warmup_steps) return peak * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
    if (step >= total_steps) return floor;
    return floor + (peak - floor) * (1.0 - detail::decay_progress(step, warmup_steps, total_steps));
  }
};

/// Warmup steps for a fraction of the run, as Hugging Face's Trainer computes `warmup_ratio` (PMC-LLaMA: 0.03):
/// ceil(total_steps · fraction) in double, rounding included (100 · 0.07 = 7.000000000000001 gives 8 there too).
inline std::int64_t warmup_fraction(std::int64_t total_steps, double fraction = 0.03) {
  PMC_CHECK(total_steps >= 0 && fraction >= 0 && fraction <= 1, "warmup_fraction: need total_steps >= 0 and ",
            "fraction in [0, 1], got ", total_steps, " and ", fraction);
  return static_cast<std::int64_t>(std::ceil(static_cast<double>(total_steps) * fraction));
}

}  // namespace pmc::optim

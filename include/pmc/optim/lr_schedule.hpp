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
}  // namespace detail

/// Linear warmup to `peak`, then cosine decay to `floor` at step total_steps (and `floor` after):
///   s < W:   lr = peak · (s + 1) / W
///   s ≥ W:   p = min(1, (s - W) / max(1, total - W)),   lr = floor + (peak - floor) · ½ (1 + cos(π p))
/// so the first update already has a non-zero lr and step W is exactly the peak.
///
///   optim::WarmupCosine sched{.peak = 2e-5, .floor = 0, .warmup_steps = optim::warmup_fraction(n), .total_steps = n};
struct WarmupCosine {
  double peak = 0;
  double floor = 0;
  std::int64_t warmup_steps = 0;
  std::int64_t total_steps = 0;

  double lr(std::int64_t step) const {
    detail::check_schedule(peak, floor, warmup_steps, total_steps, "WarmupCosine");
    PMC_CHECK(step >= 0, "WarmupCosine: negative step ", step);
    if (step < warmup_steps) return peak * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
    const double p = std::min(1.0, static_cast<double>(step - warmup_steps) /
                                       static_cast<double>(std::max<std::int64_t>(1, total_steps - warmup_steps)));
    return floor + (peak - floor) * 0.5 * (1 + std::cos(std::numbers::pi * p));
  }
};

/// Linear warmup to `peak`, then linear decay to `floor` at step total_steps (and `floor` after):
///   s < W:   lr = peak · (s + 1) / W
///   s ≥ W:   p = min(1, (s - W) / max(1, total - W)),   lr = peak + (floor - peak) · p
struct WarmupLinear {
  double peak = 0;
  double floor = 0;
  std::int64_t warmup_steps = 0;
  std::int64_t total_steps = 0;

  double lr(std::int64_t step) const {
    detail::check_schedule(peak, floor, warmup_steps, total_steps, "WarmupLinear");
    PMC_CHECK(step >= 0, "WarmupLinear: negative step ", step);
    if (step < warmup_steps) return peak * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
    const double p = std::min(1.0, static_cast<double>(step - warmup_steps) /
                                       static_cast<double>(std::max<std::int64_t>(1, total_steps - warmup_steps)));
    return peak + (floor - peak) * p;
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

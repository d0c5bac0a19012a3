// SPDX-License-Identifier: MIT
// Learning-rate schedules against their formulas, and warmup_fraction against Hugging Face's warmup_ratio.
#include <cmath>
#include <numbers>

#include <doctest/doctest.h>

#include <pmc/optim/lr_schedule.hpp>

using namespace pmc;
using namespace pmc::optim;

static_assert(LrSchedule<Constant> && LrSchedule<WarmupCosine> && LrSchedule<WarmupLinear>);

TEST_CASE("Constant") {
  Constant c{.value = 2e-5};
  CHECK(c.lr(0) == 2e-5);
  CHECK(c.lr(123456) == 2e-5);
}

TEST_CASE("WarmupCosine follows its formula") {
  const WarmupCosine s{.peak = 2e-5, .floor = 1e-6, .warmup_steps = 4, .total_steps = 14};
  // warmup: peak·(s+1)/W, so step 0 already learns and step W-1 reaches the peak
  CHECK(s.lr(0) == 2e-5 * 1 / 4.0);
  CHECK(s.lr(1) == 2e-5 * 2 / 4.0);
  CHECK(s.lr(3) == 2e-5);
  // decay: floor + (peak-floor)·½(1+cos(π (s-W)/(total-W)))
  CHECK(s.lr(4) == 2e-5);
  for (int step = 4; step <= 14; ++step) {
    const double p = (step - 4) / 10.0;
    CHECK(s.lr(step) == doctest::Approx(1e-6 + (2e-5 - 1e-6) * 0.5 * (1 + std::cos(std::numbers::pi * p))).epsilon(1e-15));
  }
  CHECK(s.lr(9) == doctest::Approx(1e-6 + (2e-5 - 1e-6) * 0.5).epsilon(1e-15));  // half way: the mean
  CHECK(s.lr(14) == 1e-6);
  CHECK(s.lr(1000) == 1e-6);  // past the end: the floor
  // monotone after the warmup
  for (int step = 4; step < 20; ++step) CHECK(s.lr(step + 1) <= s.lr(step));
}

TEST_CASE("WarmupCosine edge cases - no warmup, warmup = total, bad arguments") {
  const WarmupCosine no_warmup{.peak = 1.0, .floor = 0, .warmup_steps = 0, .total_steps = 10};
  CHECK(no_warmup.lr(0) == 1.0);
  CHECK(no_warmup.lr(10) == doctest::Approx(0.0));
  const WarmupCosine all_warmup{.peak = 1.0, .floor = 0, .warmup_steps = 5, .total_steps = 5};
  CHECK(all_warmup.lr(4) == 1.0);
  CHECK(all_warmup.lr(5) == 1.0);  // max(1, total - W) avoids 0/0; p = 0 at the first post-warmup step
  CHECK_THROWS_AS((WarmupCosine{.peak = 1, .floor = 2, .warmup_steps = 0, .total_steps = 1}.lr(0)), Error);
  CHECK_THROWS_AS((WarmupCosine{.peak = 1, .floor = 0, .warmup_steps = 5, .total_steps = 4}.lr(0)), Error);
  CHECK_THROWS_AS((WarmupCosine{.peak = 1, .floor = 0, .warmup_steps = 1, .total_steps = 4}.lr(-1)), Error);
}

TEST_CASE("WarmupLinear follows its formula") {
  const WarmupLinear s{.peak = 1e-3, .floor = 1e-4, .warmup_steps = 2, .total_steps = 12};
  CHECK(s.lr(0) == 0.5e-3);
  CHECK(s.lr(1) == 1e-3);
  CHECK(s.lr(2) == 1e-3);
  CHECK(s.lr(7) == doctest::Approx(1e-3 + (1e-4 - 1e-3) * 0.5).epsilon(1e-15));
  CHECK(s.lr(12) == doctest::Approx(1e-4).epsilon(1e-15));
  CHECK(s.lr(50) == doctest::Approx(1e-4).epsilon(1e-15));
}

TEST_CASE("warmup_fraction is Hugging Face's ceil(total · ratio)") {
  CHECK(warmup_fraction(1000) == 30);
  CHECK(warmup_fraction(1000, 0.03) == 30);
  CHECK(warmup_fraction(101) == 4);   // 3.03 → 4
  CHECK(warmup_fraction(100) == 3);
  CHECK(warmup_fraction(100, 0.07) == 8);  // 100 · 0.07 = 7.000000000000001 in double → 8, as math.ceil in Python
  CHECK(warmup_fraction(10) == 1);
  CHECK(warmup_fraction(0) == 0);
  CHECK(warmup_fraction(1000, 0.0) == 0);
  CHECK_THROWS_AS(warmup_fraction(10, 1.5), Error);
}

// SPDX-License-Identifier: MIT
// Learning-rate schedules against their formulas, and warmup_fraction against Hugging Face's warmup_ratio.
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <doctest/doctest.h>

#include <pmc/optim/lr_schedule.hpp>
#include <support/paths.hpp>

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace lr_schedule_test {

using namespace pmc;
using namespace pmc::optim;

static_assert(LrSchedule<Constant> && LrSchedule<WarmupCosine> && LrSchedule<WarmupLinear>);

TEST_CASE("Constant") {
  Constant c{.value = 2e-5};
  CHECK(c.lr(0) == 2e-5);
  CHECK(c.lr(123456) == 2e-5);
}

TEST_CASE("WarmupCosine follows its formula") {
  const WarmupCosine s{.peak = 2e-5, .floor = 1e-6, .warmup_steps = 4, .total_steps = 15};
  // warmup: peak·(s+1)/W, so step 0 already learns and step W-1 reaches the peak
  CHECK(s.lr(0) == 2e-5 * 1 / 4.0);
  CHECK(s.lr(1) == 2e-5 * 2 / 4.0);
  CHECK(s.lr(3) == 2e-5);
  // decay: floor + ½(peak-floor)(1+cos(π (s-W)/(total-W-1))): update W at the peak, the last (14) at the floor
  CHECK(s.lr(4) == 2e-5);
  for (int step = 4; step <= 14; ++step) {
    const double p = (step - 4) / 10.0;
    CHECK(s.lr(step) ==
          doctest::Approx(1e-6 + 0.5 * (2e-5 - 1e-6) * (1 + std::cos(std::numbers::pi * p))).epsilon(1e-15));
  }
  CHECK(s.lr(9) == doctest::Approx(1e-6 + (2e-5 - 1e-6) * 0.5).epsilon(1e-15));  // half way: the mean
  CHECK(s.lr(14) == 1e-6);
  CHECK(s.lr(1000) == 1e-6);  // past the end: the floor
  for (int step = 4; step < 20; ++step) CHECK(s.lr(step + 1) <= s.lr(step));  // monotone after the warmup
}

namespace {
/// The float64 array `name` of a safetensors file (8-byte little-endian header size, JSON header, data).
std::vector<double> read_f64(const std::filesystem::path& file, const std::string& name) {
  std::ifstream in(file, std::ios::binary);
  REQUIRE(in.good());
  std::uint64_t n = 0;
  in.read(reinterpret_cast<char*>(&n), 8);
  std::string header(n, '\0');
  in.read(header.data(), static_cast<std::streamsize>(n));
  const auto h = nlohmann::json::parse(header).at(name);
  REQUIRE(h.at("dtype") == "F64");
  const auto begin = h.at("data_offsets")[0].get<std::uint64_t>(), end = h.at("data_offsets")[1].get<std::uint64_t>();
  std::vector<double> out((end - begin) / 8);
  in.seekg(static_cast<std::streamoff>(8 + n + begin));
  in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(end - begin));
  return out;
}
}  // namespace

TEST_CASE("WarmupCosine reproduces the lr of the training golden (tests/golden/train/adamw_tiny) bit for bit") {
  const auto file = test::source_dir() / "tests/golden/train/adamw_tiny/golden.safetensors";
  if (!std::filesystem::exists(file)) PMC_SKIP("no " + file.string());
  const auto lr = read_f64(file, "lr");
  REQUIRE(lr.size() == 20);
  // tests/golden/README.md: peak 3e-3, floor 3e-4, warmup 4, total 20
  const WarmupCosine s{.peak = 3e-3, .floor = 3e-4, .warmup_steps = 4, .total_steps = 20};
  for (std::int64_t k = 0; k < 20; ++k) {
    CAPTURE(k);
    CHECK(s.lr(k) == lr[static_cast<std::size_t>(k)]);
  }
  CHECK(lr[4] == 3e-3);
  CHECK(lr[19] == 3e-4);
}

TEST_CASE("WarmupCosine edge cases - no warmup, warmup = total, bad arguments") {
  const WarmupCosine no_warmup{.peak = 1.0, .floor = 0, .warmup_steps = 0, .total_steps = 11};
  CHECK(no_warmup.lr(0) == 1.0);
  CHECK(no_warmup.lr(10) == 0.0);
  const WarmupCosine all_warmup{.peak = 1.0, .floor = 0, .warmup_steps = 5, .total_steps = 5};
  CHECK(all_warmup.lr(4) == 1.0);
  CHECK(all_warmup.lr(5) == 0.0);  // past the end: the floor
  const WarmupCosine one_after{.peak = 1.0, .floor = 0, .warmup_steps = 5, .total_steps = 6};
  CHECK(one_after.lr(5) == 1.0);   // the single post-warmup update: p = 0/max(1, 0)
  CHECK_THROWS_AS((WarmupCosine{.peak = 1, .floor = 2, .warmup_steps = 0, .total_steps = 1}.lr(0)), Error);
  CHECK_THROWS_AS((WarmupCosine{.peak = 1, .floor = 0, .warmup_steps = 5, .total_steps = 4}.lr(0)), Error);
  CHECK_THROWS_AS((WarmupCosine{.peak = 1, .floor = 0, .warmup_steps = 1, .total_steps = 4}.lr(-1)), Error);
}

TEST_CASE("WarmupLinear follows its formula") {
  const WarmupLinear s{.peak = 1e-3, .floor = 1e-4, .warmup_steps = 2, .total_steps = 13};
  CHECK(s.lr(0) == 0.5e-3);
  CHECK(s.lr(1) == 1e-3);
  CHECK(s.lr(2) == doctest::Approx(1e-3).epsilon(1e-15));
  CHECK(s.lr(7) == doctest::Approx(1e-4 + (1e-3 - 1e-4) * 0.5).epsilon(1e-15));
  for (int step = 2; step < 20; ++step) CHECK(s.lr(step + 1) <= s.lr(step));
  CHECK(s.lr(12) == 1e-4);
  CHECK(s.lr(50) == 1e-4);
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

}  // namespace lr_schedule_test

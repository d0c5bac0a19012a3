// SPDX-License-Identifier: MIT
// Instruction examples longer than a training window: kept, truncated from the prompt side (the response whole),
// or skipped, and counted.
#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include <pmc/data/instruction.hpp>

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace instruction_fit_test {

using pmc::data::fit_to_window;
using pmc::data::FitCounts;
using pmc::data::Overflow;
using pmc::data::TokenizedExample;

namespace {

/// BOS (id 1), `prompt` context tokens (ids 100...), `response` trained tokens (ids 200...), EOS (id 2).
TokenizedExample example(int prompt, int response) {
  TokenizedExample ex{{1}, {0}};
  for (int i = 0; i < prompt; ++i) ex.ids.push_back(100 + i), ex.predict.push_back(0);
  for (int i = 0; i < response; ++i) ex.ids.push_back(200 + i), ex.predict.push_back(1);
  ex.ids.push_back(2), ex.predict.push_back(1);
  return ex;
}

}  // namespace

TEST_CASE("an example that fits the window is kept as it is") {
  FitCounts c;
  auto ex = example(5, 3);  // 10 tokens
  const auto before = ex.ids;
  CHECK(fit_to_window(ex, 10, Overflow::truncate_prompt, c));
  CHECK(ex.ids == before);
  CHECK(c.fitted == 1);
  CHECK(c.overflowing() == 0);
}

TEST_CASE("an overflowing example loses prompt tokens just after BOS, never response tokens") {
  FitCounts c;
  auto ex = example(8, 3);  // 13 tokens into a window of 10: the first 3 prompt tokens go
  REQUIRE(fit_to_window(ex, 10, Overflow::truncate_prompt, c));
  CHECK(ex.ids == std::vector<std::int32_t>{1, 103, 104, 105, 106, 107, 200, 201, 202, 2});
  CHECK(ex.predict == std::vector<std::uint8_t>{0, 0, 0, 0, 0, 0, 1, 1, 1, 1});
  CHECK(c.truncated == 1);
  CHECK(c.overflowing() == 1);
}

TEST_CASE("a response longer than the window, or --overflow skip, skips the example") {
  FitCounts c;
  auto long_response = example(2, 12);
  CHECK_FALSE(fit_to_window(long_response, 10, Overflow::truncate_prompt, c));
  auto overflowing = example(8, 3);
  CHECK_FALSE(fit_to_window(overflowing, 10, Overflow::skip, c));
  auto fits = example(1, 1);
  CHECK(fit_to_window(fits, 10, Overflow::skip, c));
  CHECK(c.skipped == 2);
  CHECK(c.fitted == 1);
  CHECK(c.total() == 3);
}

TEST_CASE("a chat whose earlier assistant turn lies in the part to drop is skipped, not cut") {
  FitCounts c;
  TokenizedExample chat{{1, 10, 11, 20, 2, 12, 13, 21, 2}, {0, 0, 0, 1, 1, 0, 0, 1, 1}};
  CHECK_FALSE(fit_to_window(chat, 5, Overflow::truncate_prompt, c));
  CHECK(c.skipped == 1);
  TokenizedExample chat2 = {{1, 10, 11, 20, 2, 12, 13, 21, 2}, {0, 0, 0, 1, 1, 0, 0, 1, 1}};
  CHECK(fit_to_window(chat2, 7, Overflow::truncate_prompt, c));  // drops 10, 11: both context
  CHECK(chat2.ids == std::vector<std::int32_t>{1, 20, 2, 12, 13, 21, 2});
}

}  // namespace instruction_fit_test

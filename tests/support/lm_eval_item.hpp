// SPDX-License-Identifier: MIT
// The lm-evaluation-harness goldens (tools/make_golden_lm_eval*.py) in tests: their JSON-lines files read, and one
// scored item against its golden record (every choice's log-likelihood within 1e-4 relative, its greedy flag,
// the item's acc and acc_norm). For tests/eval/lm_eval_test.cpp and lm_eval_fewshot_test.cpp.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace pmc::test {

/// The records of a JSON-lines file (blank lines skipped); a missing file fails the test, naming it.
inline std::vector<nlohmann::json> read_jsonl(const std::filesystem::path& p) {
  std::ifstream f(p);
  REQUIRE_MESSAGE(f.good(), p.string());
  std::vector<nlohmann::json> out;
  for (std::string line; std::getline(f, line);)
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

/// Checks `item` (an eval report's item: option_sum, option_greedy, correct, correct_norm) against `golden`;
/// returns the largest relative and absolute differences of its log-likelihoods.
template <class Item>
std::pair<double, double> check_lm_eval_item(const Item& item, const nlohmann::json& golden) {
  const auto ll = golden["loglikelihoods"].get<std::vector<double>>();
  const auto greedy = golden["is_greedy"].get<std::vector<bool>>();
  REQUIRE(item.option_sum.size() == ll.size());
  double max_rel = 0, max_abs = 0;
  for (std::size_t i = 0; i < ll.size(); ++i) {
    const double rel = std::abs(item.option_sum[i] - ll[i]) / std::max(1e-12, std::abs(ll[i]));
    max_rel = std::max(max_rel, rel);
    max_abs = std::max(max_abs, std::abs(item.option_sum[i] - ll[i]));
    CHECK_MESSAGE(rel <= 1e-4, "choice " << i << ": pmc " << item.option_sum[i] << ", harness " << ll[i]);
    CHECK(item.option_greedy[i] == greedy[i]);
  }
  CHECK((item.correct ? 1.0 : 0.0) == golden["acc"].get<double>());
  CHECK((item.correct_norm ? 1.0 : 0.0) == golden["acc_norm"].get<double>());
  return {max_rel, max_abs};
}

}  // namespace pmc::test

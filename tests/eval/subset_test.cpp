// SPDX-License-Identifier: MIT
// Seeded stratified subsets (--limit) and the paired statistics: label mix of a label-sorted file, subject
// strata, determinism per seed, file order; McNemar's exact p and the harness's standard error against values
// computed by hand (and scipy.stats.binomtest, quoted).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <pmc/eval/statistics.hpp>
#include <pmc/eval/subset.hpp>

#include "support/paths.hpp"

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace subset_test {

using namespace pmc::eval;

namespace {

/// A label-sorted benchmark: `counts[l]` items of answer l, label 0 first, as PubMedQA's test file.
std::vector<McqItem> sorted_items(const std::vector<int>& counts, const std::vector<std::string>& subjects = {}) {
  std::vector<McqItem> items;
  for (std::size_t l = 0; l < counts.size(); ++l)
    for (int i = 0; i < counts[l]; ++i) {
      McqItem it;
      it.id = std::to_string(items.size());
      it.options = {"yes", "no", "maybe"};
      it.answer = static_cast<int>(l);
      if (!subjects.empty()) it.subject = subjects[static_cast<std::size_t>(i) % subjects.size()];
      items.push_back(it);
    }
  return items;
}

std::map<int, int> label_counts(const std::vector<McqItem>& items, const std::vector<std::size_t>& idx) {
  std::map<int, int> c;
  for (auto i : idx) ++c[items[i].answer];
  return c;
}

}  // namespace

TEST_CASE("a limit on a label-sorted file draws every label in proportion, within one item") {
  const std::vector<int> counts{276, 166, 58};  // 500 items sorted by label
  const auto items = sorted_items(counts);
  for (std::size_t take : {1u, 2u, 7u, 30u, 100u, 333u, 499u}) {
    for (std::uint64_t seed : {0u, 1u, 17u}) {
      SubsetInfo info;
      const auto idx = stratified_sample(items, take, seed, &info);
      REQUIRE(idx.size() == take);
      CHECK(info.taken == take);
      CHECK(info.total == 500);
      CHECK(std::is_sorted(idx.begin(), idx.end()));
      CHECK(std::set<std::size_t>(idx.begin(), idx.end()).size() == take);
      const auto got = label_counts(items, idx);
      for (int l = 0; l < 3; ++l) {
        const double share = static_cast<double>(take) * counts[static_cast<std::size_t>(l)] / 500.0;
        const int n = got.contains(l) ? got.at(l) : 0;
        INFO("take ", take, " seed ", seed, " label ", l, ": ", n, " for a share of ", share);
        CHECK(std::abs(n - share) < 1.0);
      }
    }
  }
  // the first 30 lines are all "yes": the old behaviour this replaces
  CHECK(label_counts(items, stratified_sample(items, 30, 0)).size() == 3);
}

TEST_CASE("the same seed draws the same subset, another seed another one, 0 or more than all keeps all") {
  const auto items = sorted_items({120, 80});
  CHECK(stratified_sample(items, 20, 5) == stratified_sample(items, 20, 5));
  CHECK(stratified_sample(items, 20, 5) != stratified_sample(items, 20, 6));
  CHECK(stratified_sample(items, 0, 5).size() == 200);
  CHECK(stratified_sample(items, 1000, 5).size() == 200);
  SubsetInfo info;
  stratified_sample(items, 20, 5, &info);
  CHECK(info.describe() == "a stratified sample of 20 of 200 items (seed 5; strata: answer label)");
  stratified_sample(items, 0, 5, &info);
  CHECK(info.describe() == "all 200 items");
}

TEST_CASE("within each label, subjects are drawn in proportion too") {
  // 300 items of label 0 cycling over 3 subjects, 100 of label 1 over the same subjects
  const auto items = sorted_items({300, 100}, {"anatomy", "pharmacology", "surgery"});
  SubsetInfo info;
  const auto idx = stratified_sample(items, 40, 3, &info);
  CHECK(info.stratified_by_subject);
  std::map<std::pair<int, std::string>, int> c;
  for (auto i : idx) ++c[{items[i].answer, items[i].subject}];
  CHECK(c[{0, "anatomy"}] == 10);
  CHECK(c[{0, "pharmacology"}] == 10);
  CHECK(c[{0, "surgery"}] == 10);
  // label 1 gets 10, split 34/33/33 of 100 → 4, 3, 3 (the largest remainder to the first subject)
  CHECK(c[{1, "anatomy"}] == 4);
  CHECK(c[{1, "pharmacology"}] == 3);
  CHECK(c[{1, "surgery"}] == 3);
  CHECK(info.describe().find("answer label x subject") != std::string::npos);
}

TEST_CASE("keep_stratified_sample keeps the drawn items in file order") {
  LoadResult data;
  data.items = sorted_items({10, 10});
  const auto expected = stratified_sample(data.items, 6, 2);
  const auto info = keep_stratified_sample(data, 6, 2);
  REQUIRE(data.items.size() == 6);
  for (std::size_t k = 0; k < 6; ++k) CHECK(data.items[k].id == std::to_string(expected[k]));
  CHECK(info.taken == 6);
}

TEST_CASE("largest remainder: counts within one of the share, summing to the total taken") {
  CHECK(largest_remainder({276, 166, 58}, 30) == std::vector<std::int64_t>{17, 10, 3});
  CHECK(largest_remainder({1, 1, 1}, 2) == std::vector<std::int64_t>{1, 1, 0});
  CHECK(largest_remainder({5, 0, 5}, 10) == std::vector<std::int64_t>{5, 0, 5});
  CHECK_THROWS_AS(largest_remainder({3}, 4), pmc::Error);
}

TEST_CASE("real PubMedQA test split: a 30-item limit matches the file's label mix") {
  const auto path = pmc::test::shared_file("data/benchmarks/pubmedqa/ori_pqal.json");
  if (path.empty()) PMC_SKIP("../shared/data/benchmarks/pubmedqa absent");
  const auto test = load_pubmedqa(path);
  std::map<int, int> all;
  for (const auto& it : test.items) ++all[it.answer];
  const auto idx = stratified_sample(test.items, 30, 0);
  const auto got = label_counts(test.items, idx);
  for (const auto& [label, n] : all) {
    const double share = 30.0 * n / static_cast<double>(test.items.size());
    CHECK(std::abs((got.contains(label) ? got.at(label) : 0) - share) < 1.0);
  }
}

TEST_CASE("McNemar's exact test: two-sided binomial tail of the discordant pairs") {
  // scipy.stats.binomtest(2, 12, 0.5).pvalue = 0.03857421875 = 2 · (1 + 12 + 66) / 4096
  CHECK(mcnemar_exact_p(10, 2) == doctest::Approx(0.03857421875).epsilon(1e-12));
  CHECK(mcnemar_exact_p(2, 10) == doctest::Approx(0.03857421875).epsilon(1e-12));
  CHECK(mcnemar_exact_p(0, 5) == doctest::Approx(0.0625).epsilon(1e-12));
  CHECK(mcnemar_exact_p(3, 3) == 1.0);
  CHECK(mcnemar_exact_p(0, 0) == 1.0);
  // binomtest(40, 100).pvalue = 0.056887933640...
  CHECK(mcnemar_exact_p(40, 60) == doctest::Approx(0.05688793364098078).epsilon(1e-9));
  CHECK_THROWS_AS(mcnemar_exact_p(-1, 2), pmc::Error);

  const std::vector<bool> a{true, true, true, false, true, false, true, true};
  const std::vector<bool> b{false, false, true, false, false, false, false, true};
  const auto t = paired_test(a, b);
  CHECK(t.n == 8);
  CHECK(t.only_a == 4);
  CHECK(t.only_b == 0);
  CHECK(t.accuracy_a == 0.75);
  CHECK(t.accuracy_b == 0.25);
  CHECK(t.p_value == doctest::Approx(0.125));
  CHECK_THROWS_AS(paired_test(a, {true}), pmc::Error);
}

TEST_CASE("paired bootstrap: seeded, small p for a clear difference, 1 for none") {
  std::vector<bool> a(200), b(200);
  for (std::size_t i = 0; i < 200; ++i) {
    a[i] = i % 4 != 0;  // 75%
    b[i] = i % 2 == 0;  // 50%
  }
  const double p = paired_bootstrap_p(a, b, 2000, 1);
  CHECK(p == paired_bootstrap_p(a, b, 2000, 1));
  CHECK(p < 0.01);
  CHECK(paired_bootstrap_p(a, a, 100, 1) == 1.0);
}

TEST_CASE("the harness's standard error: sample standard deviation (ddof 1) over sqrt(n)") {
  // numpy: x = [1, 1, 0, 0, 1]; np.std(x, ddof=1) / np.sqrt(5) = 0.24494897427831783
  CHECK(harness_stderr(3, 5) == doctest::Approx(0.24494897427831783).epsilon(1e-12));
  CHECK(harness_stderr(0, 10) == 0.0);
  CHECK(harness_stderr(1, 1) == 0.0);
}

}  // namespace subset_test

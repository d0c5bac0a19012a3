// SPDX-License-Identifier: MIT
// Seeded, stratified subsets of a benchmark: `--limit N` draws N items whose answer-label mix (and, within each
// label, subject mix) matches the whole file's, instead of the first N lines (benchmark files are often sorted by
// label: PubMedQA's test file starts with 276 "yes" answers).
//
// Allocation (largest remainder, two levels): label l gets n_l = floor(N·|l|/M) items, and the N − Σ n_l left
// over go one each to the labels with the largest remainders N·|l|/M − n_l (ties: the label seen first in the
// file), so every label's count is within one item of its share N·|l|/M. Within a label, the same rule splits n_l
// over its subjects. Within a stratum, the items are a uniform draw (a partial Fisher–Yates shuffle driven by
// SplitMix64 from `seed`, the same on every platform). The subset keeps the file's order.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <pmc/core/error.hpp>
#include <pmc/eval/benchmarks.hpp>

namespace pmc::eval {

/// SplitMix64: a small, portable generator (std::uniform_int_distribution differs between standard libraries).
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, n), n > 0 (Lemire's rejection keeps it unbiased).
  std::uint64_t below(std::uint64_t n) {
    const std::uint64_t limit = -n % n;  // 2^64 mod n
    for (;;) {
      const unsigned __int128 m = static_cast<unsigned __int128>(next()) * n;
      if (static_cast<std::uint64_t>(m) >= limit) return static_cast<std::uint64_t>(m >> 64);
    }
  }

 private:
  std::uint64_t state_;
};

/// How many of `take` items each group gets, proportionally to `sizes` (largest remainder; ties to the earlier
/// group). Every count is within one of take·size/total and at most the group's size.
inline std::vector<std::int64_t> largest_remainder(const std::vector<std::int64_t>& sizes, std::int64_t take) {
  std::int64_t total = 0;
  for (auto s : sizes) total += s;
  PMC_CHECK(take >= 0 && take <= total, "largest_remainder: cannot take ", take, " of ", total);
  std::vector<std::int64_t> out(sizes.size());
  std::vector<std::pair<std::int64_t, std::size_t>> remainders;  // (take·size mod total, group), to sort
  std::int64_t given = 0;
  for (std::size_t g = 0; g < sizes.size(); ++g) {
    const auto share = static_cast<__int128>(take) * sizes[g];
    out[g] = static_cast<std::int64_t>(share / total);
    given += out[g];
    remainders.push_back({static_cast<std::int64_t>(share % total), g});
  }
  std::stable_sort(remainders.begin(), remainders.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  for (std::size_t i = 0; given < take; ++i, ++given) ++out[remainders[i].second];
  return out;
}

/// What a subset is: how it was drawn, for the output and the result JSON.
struct SubsetInfo {
  std::size_t taken = 0, total = 0;
  std::uint64_t seed = 0;
  bool stratified_by_subject = false;  // whether items carried subjects (then strata are label × subject)

  /// "a stratified sample of 30 of 500 items (seed 0; strata: answer label)"; "all 500 items" when not a subset.
  std::string describe() const {
    if (taken == total) return "all " + std::to_string(total) + " items";
    return "a stratified sample of " + std::to_string(taken) + " of " + std::to_string(total) + " items (seed " +
           std::to_string(seed) + "; strata: answer label" + (stratified_by_subject ? " x subject" : "") + ")";
  }
};

/// The indices (ascending) of a seeded stratified sample of `take` of `items` (all of them when take is 0 or at
/// least items.size()).
inline std::vector<std::size_t> stratified_sample(const std::vector<McqItem>& items, std::size_t take,
                                                  std::uint64_t seed, SubsetInfo* info = nullptr) {
  const std::size_t n = items.size();
  if (take == 0 || take > n) take = n;
  bool subjects = false;
  // strata in order of first appearance: labels, and subjects within each label
  std::vector<int> labels;
  std::map<int, std::vector<std::string>> subjects_of;
  std::map<std::pair<int, std::string>, std::vector<std::size_t>> members;
  for (std::size_t i = 0; i < n; ++i) {
    const McqItem& it = items[i];
    subjects = subjects || !it.subject.empty();
    if (!subjects_of.contains(it.answer)) labels.push_back(it.answer);
    auto& subj = subjects_of[it.answer];
    if (std::find(subj.begin(), subj.end(), it.subject) == subj.end()) subj.push_back(it.subject);
    members[{it.answer, it.subject}].push_back(i);
  }
  std::vector<std::int64_t> label_sizes;
  for (int l : labels) {
    std::int64_t s = 0;
    for (const auto& subj : subjects_of[l]) s += static_cast<std::int64_t>(members[{l, subj}].size());
    label_sizes.push_back(s);
  }
  SplitMix64 rng(seed);
  std::vector<std::size_t> chosen;
  const auto per_label = largest_remainder(label_sizes, static_cast<std::int64_t>(take));
  for (std::size_t li = 0; li < labels.size(); ++li) {
    const auto& subj = subjects_of[labels[li]];
    std::vector<std::int64_t> sizes;
    for (const auto& s : subj) sizes.push_back(static_cast<std::int64_t>(members[{labels[li], s}].size()));
    const auto per_subject = largest_remainder(sizes, per_label[li]);
    for (std::size_t si = 0; si < subj.size(); ++si) {
      auto pool = members[{labels[li], subj[si]}];
      for (std::int64_t k = 0; k < per_subject[si]; ++k) {  // partial Fisher-Yates: pool[0..k] is the draw
        const auto j = static_cast<std::size_t>(k) + rng.below(pool.size() - static_cast<std::size_t>(k));
        std::swap(pool[static_cast<std::size_t>(k)], pool[j]);
        chosen.push_back(pool[static_cast<std::size_t>(k)]);
      }
    }
  }
  std::sort(chosen.begin(), chosen.end());
  if (info) *info = SubsetInfo{chosen.size(), n, seed, subjects};
  return chosen;
}

/// Keeps a seeded stratified sample of `take` items of `data` (all when take is 0), in file order.
inline SubsetInfo keep_stratified_sample(LoadResult& data, std::size_t take, std::uint64_t seed) {
  SubsetInfo info;
  const auto idx = stratified_sample(data.items, take, seed, &info);
  if (idx.size() == data.items.size()) return info;
  std::vector<McqItem> kept;
  kept.reserve(idx.size());
  for (auto i : idx) kept.push_back(std::move(data.items[i]));
  data.items = std::move(kept);
  return info;
}

/// Keeps the first `take` items in file order (all when take is 0), as lm-evaluation-harness's --limit does;
/// `per_subject`: the first `take` of each subject (MMLU, whose subjects are separate harness tasks).
inline void keep_first_per_subject(LoadResult& data, std::size_t take, bool per_subject) {
  if (take == 0) return;
  std::map<std::string, std::size_t> seen;
  std::vector<McqItem> kept;
  for (auto& item : data.items)
    if (seen[per_subject ? item.subject : std::string()]++ < take) kept.push_back(std::move(item));
  data.items = std::move(kept);
}

}  // namespace pmc::eval

// SPDX-License-Identifier: MIT
// Packing instruction examples several to a window (data/pack.hpp): best fit of whole examples in a seeded order,
// every token and predict bit kept, deterministic; the token file's segment mask; make_batch's segments
// (block-diagonal starts, positions restarting per example, no target across an example's end).
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <random>
#include <vector>

#include <pmc/data/pack.hpp>
#include <support/paths.hpp>

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace pack_test {

using namespace pmc;

namespace {
/// n examples of random lengths in [1, max_len], tokens e·1000 + i (each token names its example), the second
/// half of each predicted.
void make_examples(std::int64_t n, std::int64_t max_len, std::uint64_t seed, std::vector<std::vector<std::int32_t>>& docs,
                   std::vector<std::vector<std::uint8_t>>& masks) {
  std::mt19937_64 rng(seed);
  for (std::int64_t e = 0; e < n; ++e) {
    const auto len = static_cast<std::int64_t>(1 + rng() % static_cast<std::uint64_t>(max_len));
    std::vector<std::int32_t> ids;
    std::vector<std::uint8_t> m;
    for (std::int64_t i = 0; i < len; ++i) {
      ids.push_back(static_cast<std::int32_t>(e * 1000 + i));
      m.push_back(i >= len / 2 ? 1 : 0);
    }
    docs.push_back(ids);
    masks.push_back(m);
  }
}
}  // namespace

TEST_CASE("pack_examples: whole examples, every token and predict bit kept, best fit, deterministic") {
  std::vector<std::vector<std::int32_t>> docs;
  std::vector<std::vector<std::uint8_t>> masks;
  make_examples(200, 40, 1, docs, masks);
  const std::int64_t window = 65;
  const auto p = data::pack_examples(docs, masks, window, 7);
  CHECK(p.examples == 200);
  std::int64_t tokens = 0;
  for (const auto& d : docs) tokens += static_cast<std::int64_t>(d.size());
  CHECK(p.tokens == tokens);
  REQUIRE(p.masks.size() == p.docs.size());
  REQUIRE(p.segments.size() == p.docs.size());
  std::map<std::int64_t, int> seen;  // example → times found whole
  for (std::size_t w = 0; w < p.docs.size(); ++w) {
    const auto& d = p.docs[w];
    CHECK(static_cast<std::int64_t>(d.size()) <= window);
    REQUIRE(p.segments[w].size() == d.size());
    REQUIRE(p.masks[w].size() == d.size());
    CHECK(p.segments[w][0] == 1);
    for (std::size_t i = 0; i < d.size();) {  // each segment is one example, whole and in order
      REQUIRE(p.segments[w][i] == 1);
      const std::int64_t e = d[i] / 1000;
      const auto& orig = docs[static_cast<std::size_t>(e)];
      for (std::size_t j = 0; j < orig.size(); ++j) {
        REQUIRE(i + j < d.size());
        CHECK(d[i + j] == orig[j]);
        CHECK(p.masks[w][i + j] == masks[static_cast<std::size_t>(e)][j]);
        CHECK(p.segments[w][i + j] == (j == 0 ? 1 : 0));
      }
      ++seen[e];
      i += orig.size();
    }
  }
  CHECK(seen.size() == 200);
  for (const auto& [e, n] : seen) CHECK(n == 1);
  // best fit fills well: within 3 windows of the bound ⌈tokens / window⌉ (64 here: 66), the windows mostly full
  MESSAGE("packed 200 examples (", tokens, " tokens) into ", p.windows(), " windows of ", window, ": fill ", p.fill());
  const std::int64_t bound = (tokens + window - 1) / window;
  CHECK(p.windows() >= bound);
  CHECK(p.windows() <= bound + 3);
  CHECK(p.fill() > 0.9);
  // deterministic for a seed; another seed, another order
  const auto again = data::pack_examples(docs, masks, window, 7);
  CHECK(again.docs == p.docs);
  CHECK(again.segments == p.segments);
  CHECK(data::pack_examples(docs, masks, window, 8).docs != p.docs);
  // the first example placed is epoch 0's first of the sampler's order
  CHECK(p.docs[0][0] / 1000 == data::epoch_order(200, 7, 0)[0]);
}

TEST_CASE("pack_examples: an example longer than the window is refused, masks are optional") {
  const std::vector<std::vector<std::int32_t>> docs{{1, 2, 3}, {4, 5, 6, 7, 8}};
  CHECK_THROWS_WITH(data::pack_examples(docs, {}, 4, 0), doctest::Contains("fit_to_window first"));
  const auto p = data::pack_examples(docs, {}, 8, 0);
  CHECK(p.windows() == 1);
  CHECK(p.masks.empty());
  CHECK(p.fill() == doctest::Approx(1.0));
}

TEST_CASE("packed token file: segment mask written and read back, make_batch's segments and targets") {
  // two windows of T + 1 = 9 tokens: [BOS a a | BOS b b b b] and [BOS c c c] (then padding)
  const std::vector<std::vector<std::int32_t>> docs{{1, 10, 11, 1, 20, 21, 22, 23}, {1, 30, 31, 32}};
  const std::vector<std::vector<std::uint8_t>> masks{{0, 0, 1, 0, 0, 1, 1, 1}, {0, 1, 1, 1}};
  const std::vector<std::vector<std::uint8_t>> segs{{1, 0, 0, 1, 0, 0, 0, 0}, {1, 0, 0, 0}};
  const auto path = test::tmp_dir() / "packed.tokens";
  data::write_token_file(path, docs, 64, &masks, &segs);
  const auto f = data::TokenFile::open(path);
  CHECK(f.has_mask());
  CHECK(f.has_segments());
  CHECK(f.segment_start(3));
  CHECK(!f.segment_start(4));
  CHECK(f.segment_start(8));
  const std::int64_t T = 8;
  data::WindowSampler s(f, T, data::Packing::doc_start, 0);
  const auto b = data::make_batch(f, {s.at({0, 0}), s.at({0, 1})}, T);
  REQUIRE(b.segments);
  CHECK(b.segments->batch == 2);
  // which row is which window: the first token of row r's second example
  const bool swapped = b.tokens.at({0, 1}) == 30;
  const std::int64_t r0 = swapped ? 1 : 0, r1 = swapped ? 0 : 1;
  const std::vector<std::int32_t> start0{0, 0, 0, 3, 3, 3, 3, 3}, pos0{0, 1, 2, 0, 1, 2, 3, 4};
  const std::vector<std::int32_t> start1{0, 0, 0, 0, 4, 4, 4, 4}, pos1{0, 1, 2, 3, 0, 1, 2, 3};  // padding from 4
  for (std::int64_t t = 0; t < T; ++t) {
    CHECK(b.segments->start[static_cast<std::size_t>(r0 * T + t)] == start0[static_cast<std::size_t>(t)]);
    CHECK(b.segments->position[static_cast<std::size_t>(r0 * T + t)] == pos0[static_cast<std::size_t>(t)]);
    CHECK(b.segments->start[static_cast<std::size_t>(r1 * T + t)] == start1[static_cast<std::size_t>(t)]);
    CHECK(b.segments->position[static_cast<std::size_t>(r1 * T + t)] == pos1[static_cast<std::size_t>(t)]);
  }
  // targets: a's response token 11 (predicted from t = 1), none across a's end (t = 2 → BOS of b), b's 21, 22,
  // 23; c's 30, 31, 32; none in the padding
  const std::vector<std::int32_t> tg0{-100, 11, -100, -100, 21, 22, 23, -100};
  const std::vector<std::int32_t> tg1{30, 31, 32, -100, -100, -100, -100, -100};
  for (std::int64_t t = 0; t < T; ++t) {
    CHECK(b.targets.at({r0, t}) == tg0[static_cast<std::size_t>(t)]);
    CHECK(b.targets.at({r1, t}) == tg1[static_cast<std::size_t>(t)]);
  }
  CHECK(b.target_count == 7);
  // an unpacked file has no segments
  data::write_token_file(path, docs, 64, &masks);
  const auto plain = data::TokenFile::open(path);
  CHECK(!plain.has_segments());
  CHECK(!data::make_batch(plain, {data::Window{0, 8}}, T).segments);
}

}  // namespace pack_test

// SPDX-License-Identifier: MIT
// Training windows over a token file and the (B, T) batches made of them, in an order fixed by (seed,
// epoch) so that a run is reproducible and resumable from (epoch, index) alone.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <numeric>
#include <random>
#include <vector>

#include <pmc/core/tensor.hpp>
#include <pmc/data/token_file.hpp>
#include <pmc/ops/cross_entropy.hpp>
#include <pmc/ops/segments.hpp>

namespace pmc::data {

enum class Packing {
  plain,       // the whole token stream cut into consecutive windows of T + 1 tokens (stride T)
  doc_window,  // PMC-LLaMA: one window per document per epoch, at a random offset in long documents
  doc_start,   // one window per document per epoch, from its start (instruction data: truncated examples)
};

/// Tokens [start, start + length) of the file, length ≤ T + 1 (shorter only for short documents).
struct Window {
  std::uint64_t start = 0;
  std::uint64_t length = 0;
};

/// Where the sampler is: the epoch and the index of the next window in that epoch's order.
struct DataPosition {
  std::int64_t epoch = 0;
  std::int64_t index = 0;
  friend bool operator==(const DataPosition&, const DataPosition&) = default;
};

/// The order of n windows (or documents) in `epoch` for `seed`: a permutation of [0, n).
inline std::vector<std::int64_t> epoch_order(std::int64_t n, std::uint64_t seed, std::int64_t epoch) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed + 0x5851f42d4c957f2dull * static_cast<std::uint64_t>(epoch + 1));
  std::shuffle(order.begin(), order.end(), rng);
  return order;
}

class WindowSampler {
 public:
  WindowSampler(const TokenFile& file, std::int64_t seq_len, Packing packing, std::uint64_t seed)
      : file_(&file), seq_len_(seq_len), packing_(packing), seed_(seed) {
    PMC_CHECK(seq_len > 0, "WindowSampler: seq_len must be positive");
    const auto n = static_cast<std::int64_t>(packing == Packing::plain
                                                 ? (file.n_tokens() > 1 ? (file.n_tokens() - 1) / seq_len : 0)
                                                 : file.n_docs());
    PMC_CHECK(n > 0, file.path().string(), ": too few tokens (", file.n_tokens(), ") for one window of ",
              seq_len + 1);
    windows_per_epoch_ = n;
  }

  std::int64_t windows_per_epoch() const { return windows_per_epoch_; }
  std::int64_t seq_len() const { return seq_len_; }

  /// The window at `pos`, without moving.
  Window at(const DataPosition& pos) const {
    const auto& order = order_for(pos.epoch);
    const auto w = static_cast<std::uint64_t>(order[static_cast<std::size_t>(pos.index)]);
    const auto T1 = static_cast<std::uint64_t>(seq_len_ + 1);
    if (packing_ == Packing::plain) return {w * static_cast<std::uint64_t>(seq_len_), T1};
    const std::uint64_t begin = file_->doc_start(w), size = file_->doc_size(w);
    if (size <= T1) return {begin, size};
    if (packing_ == Packing::doc_start) return {begin, T1};
    std::mt19937_64 rng(seed_ ^ (0x9e3779b97f4a7c15ull * static_cast<std::uint64_t>(pos.epoch + 1)) ^ (w << 20));
    const std::uint64_t offset = std::uniform_int_distribution<std::uint64_t>(0, size - T1)(rng);
    return {begin + offset, T1};
  }

  /// The next window; moves `pos` on (into the next epoch after the last window).
  Window next(DataPosition& pos) const {
    Window w = at(pos);
    if (++pos.index == windows_per_epoch_) {
      pos.index = 0;
      ++pos.epoch;
    }
    return w;
  }

 private:
  const std::vector<std::int64_t>& order_for(std::int64_t epoch) const {
    if (epoch != cached_epoch_) {
      cached_order_ = epoch_order(windows_per_epoch_, seed_, epoch);
      cached_epoch_ = epoch;
    }
    return cached_order_;
  }

  const TokenFile* file_;
  std::int64_t seq_len_;
  Packing packing_;
  std::uint64_t seed_;
  std::int64_t windows_per_epoch_ = 0;
  mutable std::int64_t cached_epoch_ = -1;
  mutable std::vector<std::int64_t> cached_order_;
};

/// Inputs and next-token targets of B windows: tokens (B, T), targets (B, T) with targets[b, t] = the
/// token after tokens[b, t]; positions past a short window's end hold token 0 and target -100.
/// From a file of packed windows (TokenFile::has_segments), also the segments (ops/segments.hpp): each packed
/// example attends only within itself, positions restarting at its first token; the last token of an example
/// has no target (the next one starts another example), and the padding past the window's end is a segment of
/// its own. Without a segment mask, `segments` is null (one example per window: the plain causal mask).
struct Batch {
  Tensor<std::int32_t> tokens;
  Tensor<std::int32_t> targets;
  std::int64_t target_count = 0;  // targets that are not -100
  std::shared_ptr<const ops::Segments> segments;
};

inline Batch make_batch(const TokenFile& file, const std::vector<Window>& windows, std::int64_t seq_len) {
  const auto B = static_cast<std::int64_t>(windows.size());
  Batch b{Tensor<std::int32_t>({B, seq_len}), Tensor<std::int32_t>({B, seq_len}), 0, nullptr};
  b.targets.fill(ops::kIgnoreIndex);
  const bool packed = file.has_segments();
  ops::Segments seg;
  if (packed) seg = ops::Segments::whole(B, seq_len);
  for (std::int64_t i = 0; i < B; ++i) {
    const Window& w = windows[static_cast<std::size_t>(i)];
    const auto n = static_cast<std::int64_t>(w.length);
    const auto starts = [&](std::int64_t t) { return packed && t < n && file.segment_start(w.start + static_cast<std::uint64_t>(t)); };
    std::int64_t first = 0;  // the current example's first token
    for (std::int64_t t = 0; t < seq_len; ++t) {
      if (t > 0 && (starts(t) || t == n)) first = t;  // a new example, or the padding
      if (packed) {
        seg.start[static_cast<std::size_t>(i * seq_len + t)] = static_cast<std::int32_t>(first);
        seg.position[static_cast<std::size_t>(i * seq_len + t)] = static_cast<std::int32_t>(t - first);
      }
      if (t >= n) continue;
      b.tokens.at({i, t}) = file.token(w.start + static_cast<std::uint64_t>(t));
      if (t + 1 < n && file.predict(w.start + static_cast<std::uint64_t>(t + 1)) && !starts(t + 1)) {
        b.targets.at({i, t}) = file.token(w.start + static_cast<std::uint64_t>(t + 1));
        ++b.target_count;
      }
    }
  }
  if (packed) b.segments = std::make_shared<const ops::Segments>(std::move(seg));
  return b;
}

}  // namespace pmc::data

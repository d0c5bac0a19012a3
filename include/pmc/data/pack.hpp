// SPDX-License-Identifier: MIT
// Packing instruction examples several to a training window: tokenized examples (each already fit to the window,
// instruction.hpp's fit_to_window) are placed whole into windows of T + 1 tokens, best fit, in a seeded order;
// each window becomes one document of a token file with a segment mask (token_file.hpp) marking where its
// examples start, from which make_batch (windows.hpp) builds the block-diagonal causal mask and the positions
// restarting per example (ops/segments.hpp). The response-only predict masks travel with the tokens.
#pragma once

#include <cstdint>
#include <set>
#include <utility>
#include <vector>

#include <pmc/core/error.hpp>
#include <pmc/data/windows.hpp>

namespace pmc::data {

/// Windows of packed examples: per window its tokens, predict mask and segment mask (1 at each example's first
/// token), and what went in.
struct PackedExamples {
  std::vector<std::vector<std::int32_t>> docs;
  std::vector<std::vector<std::uint8_t>> masks;     // predict (empty when the examples had none)
  std::vector<std::vector<std::uint8_t>> segments;  // 1 where an example starts
  std::int64_t examples = 0;                        // examples packed
  std::int64_t tokens = 0;                          // their tokens
  std::int64_t window = 0;                          // tokens a window holds (T + 1)

  std::int64_t windows() const { return static_cast<std::int64_t>(docs.size()); }
  /// The share of the windows' T + 1 slots holding an example's token.
  double fill() const {
    return docs.empty() ? 0.0 : static_cast<double>(tokens) / static_cast<double>(windows() * window);
  }
};

/// Packs `docs` (with their predict `masks`, or none: empty) into windows of `window` tokens (T + 1).
/// Order: the examples are taken in epoch 0's shuffled order for `seed` (epoch_order, the order the trainer's
/// sampler would visit them unpacked). Placement: best fit: each example goes into the window whose free room
/// is the smallest that still holds it whole (the earliest such window on ties), else opens a new window; a
/// window keeps its examples in the order they were placed. No example is split; every token and mask entry is
/// kept. Deterministic: the same inputs and seed give the same windows. An example longer than `window` (or
/// empty) is an error: fit_to_window first.
inline PackedExamples pack_examples(const std::vector<std::vector<std::int32_t>>& docs,
                                    const std::vector<std::vector<std::uint8_t>>& masks, std::int64_t window,
                                    std::uint64_t seed) {
  PMC_CHECK(window >= 2, "pack_examples: a window holds at least 2 tokens, got ", window);
  PMC_CHECK(masks.empty() || masks.size() == docs.size(), "pack_examples: ", masks.size(), " masks for ",
            docs.size(), " examples");
  PackedExamples out;
  out.window = window;
  std::set<std::pair<std::int64_t, std::int64_t>> room;  // (free tokens, window index) of the windows not full
  for (const std::int64_t e : epoch_order(static_cast<std::int64_t>(docs.size()), seed, 0)) {
    const auto& ids = docs[static_cast<std::size_t>(e)];
    const auto n = static_cast<std::int64_t>(ids.size());
    PMC_CHECK(n > 0 && n <= window, "pack_examples: example ", e, " has ", n, " tokens; a window holds 1 to ", window,
              " (fit_to_window first)");
    PMC_CHECK(masks.empty() || masks[static_cast<std::size_t>(e)].size() == ids.size(), "pack_examples: the mask of ",
              "example ", e, " has ", masks.empty() ? 0 : masks[static_cast<std::size_t>(e)].size(), " entries for ",
              n, " tokens");
    std::int64_t w;
    const auto it = room.lower_bound({n, -1});  // the least room ≥ n, the earliest window on ties
    if (it != room.end()) {
      w = it->second;
      room.erase(it);
    } else {
      w = out.windows();
      out.docs.emplace_back();
      out.segments.emplace_back();
      if (!masks.empty()) out.masks.emplace_back();
    }
    auto& d = out.docs[static_cast<std::size_t>(w)];
    d.insert(d.end(), ids.begin(), ids.end());
    auto& s = out.segments[static_cast<std::size_t>(w)];
    s.push_back(1);
    s.insert(s.end(), ids.size() - 1, 0);
    if (!masks.empty()) {
      const auto& m = masks[static_cast<std::size_t>(e)];
      out.masks[static_cast<std::size_t>(w)].insert(out.masks[static_cast<std::size_t>(w)].end(), m.begin(), m.end());
    }
    const std::int64_t left = window - static_cast<std::int64_t>(d.size());
    if (left > 0) room.insert({left, w});
    ++out.examples;
    out.tokens += n;
  }
  return out;
}

}  // namespace pmc::data

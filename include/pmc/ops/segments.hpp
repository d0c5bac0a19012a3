// SPDX-License-Identifier: MIT
// Packed sequences: several examples in one (B, T) window, each attending only within itself (a
// block-diagonal causal mask) with positions restarting at its start. For the token at (b, t):
//   position[b·T + t]  its RoPE position: t − start[b·T + t] for a packed example (0 at the example's first token)
//   start[b·T + t]     the first key its query may attend to (its example's first token):
//                      attention's keys are start ≤ s ≤ t (and, with a sliding window W, also s > t − W)
// Host memory; a device whose Attention and Rope take per-row bounds and positions (AttentionTakesSegments,
// RopeTakesPositions: the CPU's) runs it, the others refuse it.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <pmc/core/error.hpp>

namespace pmc::ops {

struct Segments {
  std::int64_t batch = 0, seq_len = 0;     // B, T
  std::vector<std::int32_t> position;      // (B, T) row-major
  std::vector<std::int32_t> start;         // (B, T) row-major, start[b·T + t] ≤ t

  /// B, T with every token in one example from 0 (the plain causal mask, positions 0..T-1).
  static Segments whole(std::int64_t b, std::int64_t t) {
    Segments s{b, t, std::vector<std::int32_t>(static_cast<std::size_t>(b * t)),
               std::vector<std::int32_t>(static_cast<std::size_t>(b * t), 0)};
    for (std::int64_t i = 0; i < b * t; ++i) s.position[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(i % t);
    return s;
  }

  /// Checks the sizes against a (B, T) call and every start within [0, t] and position ≥ 0.
  void check(std::int64_t b, std::int64_t t, const char* op) const {
    PMC_CHECK(batch == b && seq_len == t && position.size() == static_cast<std::size_t>(b * t) &&
                  start.size() == position.size(),
              op, ": packing segments of (B, T) = (", batch, ", ", seq_len, ") with ", position.size(), " positions and ",
              start.size(), " starts for a call of (", b, ", ", t, ")");
    for (std::int64_t i = 0; i < b * t; ++i) {
      const auto s = start[static_cast<std::size_t>(i)], p = position[static_cast<std::size_t>(i)];
      PMC_CHECK(s >= 0 && s <= i % t && p >= 0, op, ": packing segment of token (", i / t, ", ", i % t, ") starts at ",
                s, " with position ", p, " (a start in [0, t] and a position ≥ 0 expected)");
    }
  }
};

}  // namespace pmc::ops

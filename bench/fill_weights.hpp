// SPDX-License-Identifier: MIT
// Weights for benchmarks of big shapes: uniform(−a, a) from a counter-based generator, norms 1, filled in
// parallel. Random enough for timing and memory (neither depends on the values), fast enough for 7B, where
// Model::init_random's normal draws would take minutes.
#pragma once

#include <cstdint>

namespace pmc::bench {

/// One tensor: uniform(−a, a) from `seed` (a rank-1 tensor, a norm, gets 1).
template <class Tensor>
void fill_tensor(const Tensor& t, float a, std::uint64_t seed) {
  using T = typename Tensor::value_type;
  auto span = t.span();
  const bool norm = t.rank() == 1;
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(span.size()); ++i) {
    std::uint64_t z = seed + static_cast<std::uint64_t>(i) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 31)) * 0x94d049bb133111ebull;
    z ^= z >> 29;
    const float u = static_cast<float>(z >> 40) / static_cast<float>(1 << 24) * 2.f - 1.f;
    span[static_cast<std::size_t>(i)] = T(norm ? 1.f : a * u);
  }
}

template <class Model>
void fill_weights(const Model& model, float a) {
  std::uint64_t seed = 0x9e3779b97f4a7c15ull;
  for (const auto& p : model.named_parameters()) {
    fill_tensor(p.var.value(), a, seed);
    seed += 0x632be59bd9b4e019ull;
  }
}

}  // namespace pmc::bench

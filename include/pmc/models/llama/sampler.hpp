// SPDX-License-Identifier: MIT
// Choosing the next token from logits: greedy (temperature 0), or sampling at a temperature from the
// top-k tokens and the top-p nucleus, with a seeded generator so runs are reproducible (used by generate.hpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <span>
#include <vector>

#include <pmc/core/error.hpp>

namespace pmc::llama {

struct SamplerOptions {
  float temperature = 0.f;  // 0: greedy (argmax; the lowest id wins ties)
  int top_k = 0;            // 0: all tokens
  float top_p = 1.f;        // nucleus: the smallest set of most likely tokens whose mass reaches top_p
  std::uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(SamplerOptions options = {}) : options_(options), rng_(options.seed) {
    PMC_CHECK(options.temperature >= 0.f, "sampler: temperature must be ≥ 0, got ", options.temperature);
    PMC_CHECK(options.top_p > 0.f && options.top_p <= 1.f, "sampler: top_p must be in (0, 1], got ", options.top_p);
    PMC_CHECK(options.top_k >= 0, "sampler: top_k must be ≥ 0, got ", options.top_k);
  }

  template <class T>
  std::int32_t sample(std::span<const T> logits) {
    PMC_CHECK(!logits.empty(), "sampler: empty logits");
    const std::size_t V = logits.size();
    if (options_.temperature == 0.f) return argmax(logits);
    // candidates sorted by logit, cut to top-k
    std::vector<std::int32_t> idx(V);
    std::iota(idx.begin(), idx.end(), 0);
    std::size_t k = options_.top_k > 0 ? std::min<std::size_t>(static_cast<std::size_t>(options_.top_k), V) : V;
    auto by_logit = [&](std::int32_t a, std::int32_t b) {
      float la = static_cast<float>(logits[static_cast<std::size_t>(a)]);
      float lb = static_cast<float>(logits[static_cast<std::size_t>(b)]);
      return la > lb || (la == lb && a < b);
    };
    std::partial_sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(k), idx.end(), by_logit);
    idx.resize(k);
    // softmax at the temperature over the candidates
    const double mx = static_cast<double>(logits[static_cast<std::size_t>(idx[0])]);
    std::vector<double> p(k);
    double z = 0;
    for (std::size_t i = 0; i < k; ++i) {
      p[i] = std::exp((static_cast<double>(logits[static_cast<std::size_t>(idx[i])]) - mx) / options_.temperature);
      z += p[i];
    }
    // nucleus cut
    std::size_t keep = k;
    if (options_.top_p < 1.f) {
      double mass = 0;
      for (std::size_t i = 0; i < k; ++i) {
        mass += p[i] / z;
        if (mass >= options_.top_p) {
          keep = i + 1;
          break;
        }
      }
    }
    double total = 0;
    for (std::size_t i = 0; i < keep; ++i) total += p[i];
    double r = std::uniform_real_distribution<double>(0.0, total)(rng_);
    for (std::size_t i = 0; i < keep; ++i) {
      r -= p[i];
      if (r < 0) return idx[i];
    }
    return idx[keep - 1];
  }

  template <class T>
  static std::int32_t argmax(std::span<const T> logits) {
    std::size_t best = 0;
    for (std::size_t i = 1; i < logits.size(); ++i)
      if (static_cast<float>(logits[i]) > static_cast<float>(logits[best])) best = i;
    return static_cast<std::int32_t>(best);
  }

 private:
  SamplerOptions options_;
  std::mt19937_64 rng_;
};

}  // namespace pmc::llama

// SPDX-License-Identifier: MIT
// Python's `random.Random` (CPython 3.x, Modules/_randommodule.c and Lib/random.py), bit for bit, for what
// lm-evaluation-harness draws with it: its few-shot sampler is `random.Random(seed).sample(docs, n)`.
//
//   seed(a: int)     init_by_array(key) with key = the 32-bit words of abs(a), least significant first
//                    ([0] for 0), on MT19937 initialised by init_genrand(19650218)
//   getrandbits(k)   k <= 32: genrand_uint32() >> (32 - k); k > 32: 32-bit words filled least significant
//                    first, the last one shifted right to the bits left
//   _randbelow(n)    k = n.bit_length(); r = getrandbits(k) until r < n
//   sample(pop, k)   setsize = 21 (+ 4 ** ceil(log(3k, 4)) when k > 5); n <= setsize: a pool of the n
//                    indices, each pick j = _randbelow(n - i) swapped with the last unpicked one; otherwise
//                    j = _randbelow(n) drawn again while already selected
//
// tests/eval/python_random_test.cpp checks it against sequences written by Python itself
// (tools/make_golden_python_random.py).
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <unordered_set>
#include <vector>

#include <pmc/core/error.hpp>

namespace pmc::eval {

class PythonRandom {
 public:
  /// random.Random(seed) for a non-negative integer seed below 2^64.
  explicit PythonRandom(std::uint64_t seed = 0) { this->seed(seed); }

  /// random.seed(a) for an int a (its absolute value; here 0 <= a < 2^64).
  void seed(std::uint64_t a) {
    std::vector<std::uint32_t> key;
    while (a != 0) {
      key.push_back(static_cast<std::uint32_t>(a & 0xffffffffu));
      a >>= 32;
    }
    if (key.empty()) key.push_back(0);
    init_by_array(key);
  }

  /// One 32-bit output of MT19937 (genrand_uint32).
  std::uint32_t next_u32() {
    if (index_ >= kN) twist();
    std::uint32_t y = mt_[index_++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
  }

  /// random.getrandbits(k), 0 <= k <= 64.
  std::uint64_t getrandbits(int k) {
    PMC_CHECK(k >= 0 && k <= 64, "PythonRandom::getrandbits: k = ", k, " (0..64 supported)");
    if (k == 0) return 0;
    if (k <= 32) return next_u32() >> (32 - k);
    const std::uint64_t low = next_u32();
    const std::uint64_t high = next_u32() >> (64 - k);
    return low | (high << 32);
  }

  /// random._randbelow(n) (the getrandbits version), n > 0.
  std::uint64_t randbelow(std::uint64_t n) {
    PMC_CHECK(n > 0, "PythonRandom::randbelow: n must be positive");
    int k = 0;
    for (std::uint64_t m = n; m != 0; m >>= 1) ++k;  // n.bit_length()
    std::uint64_t r = getrandbits(k);
    while (r >= n) r = getrandbits(k);
    return r;
  }

  /// random.sample(range(n), k): the indices Python's sample picks from a population of n, in pick order.
  std::vector<std::size_t> sample(std::size_t n, std::size_t k) {
    PMC_CHECK(k <= n, "Sample larger than population or is negative (", k, " of ", n, ")");
    std::vector<std::size_t> result(k);
    std::size_t setsize = 21;
    if (k > 5) {
      // 4 ** ceil(log(k * 3, 4)) as Python computes it: math.log(x, base) = log(x) / log(base) in doubles
      const double e = std::ceil(std::log(static_cast<double>(k) * 3.0) / std::log(4.0));
      std::size_t p = 1;
      for (int i = 0; i < static_cast<int>(e); ++i) p *= 4;
      setsize += p;
    }
    if (n <= setsize) {
      std::vector<std::size_t> pool(n);
      for (std::size_t i = 0; i < n; ++i) pool[i] = i;
      for (std::size_t i = 0; i < k; ++i) {
        const auto j = static_cast<std::size_t>(randbelow(n - i));
        result[i] = pool[j];
        pool[j] = pool[n - i - 1];
      }
    } else {
      std::unordered_set<std::size_t> selected;
      for (std::size_t i = 0; i < k; ++i) {
        auto j = static_cast<std::size_t>(randbelow(n));
        while (selected.contains(j)) j = static_cast<std::size_t>(randbelow(n));
        selected.insert(j);
        result[i] = j;
      }
    }
    return result;
  }

 private:
  static constexpr int kN = 624, kM = 397;

  void init_genrand(std::uint32_t s) {
    mt_[0] = s;
    for (int i = 1; i < kN; ++i)
      mt_[i] = 1812433253u * (mt_[i - 1] ^ (mt_[i - 1] >> 30)) + static_cast<std::uint32_t>(i);
    index_ = kN;
  }

  void init_by_array(const std::vector<std::uint32_t>& key) {
    init_genrand(19650218u);
    int i = 1;
    std::size_t j = 0;
    const std::size_t len = key.size();
    for (std::size_t k = kN > len ? kN : len; k; --k) {
      mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1664525u)) + key[j] + static_cast<std::uint32_t>(j);
      ++i, ++j;
      if (i >= kN) mt_[0] = mt_[kN - 1], i = 1;
      if (j >= len) j = 0;
    }
    for (int k = kN - 1; k; --k) {
      mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1566083941u)) - static_cast<std::uint32_t>(i);
      ++i;
      if (i >= kN) mt_[0] = mt_[kN - 1], i = 1;
    }
    mt_[0] = 0x80000000u;
    index_ = kN;
  }

  void twist() {
    constexpr std::uint32_t upper = 0x80000000u, lower = 0x7fffffffu, matrix_a = 0x9908b0dfu;
    for (int kk = 0; kk < kN; ++kk) {
      const std::uint32_t y = (mt_[kk] & upper) | (mt_[(kk + 1) % kN] & lower);
      mt_[kk] = mt_[(kk + kM) % kN] ^ (y >> 1) ^ ((y & 1u) ? matrix_a : 0u);
    }
    index_ = 0;
  }

  std::array<std::uint32_t, kN> mt_{};
  int index_ = kN;
};

}  // namespace pmc::eval

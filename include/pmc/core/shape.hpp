// SPDX-License-Identifier: MIT
// Shape (dynamic rank up to kMaxRank) and Extents<...> (compile-time extents, checked against a Shape).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>

#include <pmc/core/error.hpp>

namespace pmc {

inline constexpr int kMaxRank = 6;

/// The extents of a tensor, outermost first: Shape{B, T, D}.
class Shape {
 public:
  constexpr Shape() = default;
  constexpr Shape(std::initializer_list<std::int64_t> dims) {
    PMC_CHECK(dims.size() <= kMaxRank, "Shape: rank ", dims.size(), " exceeds the maximum of ", kMaxRank);
    for (auto d : dims) dims_[rank_++] = d;
  }
  template <class It>
  static Shape from(It first, It last) {
    Shape s;
    for (; first != last; ++first) {
      PMC_CHECK(s.rank_ < kMaxRank, "Shape: rank exceeds the maximum of ", kMaxRank);
      s.dims_[s.rank_++] = static_cast<std::int64_t>(*first);
    }
    return s;
  }

  constexpr int rank() const { return rank_; }
  /// Extent of dimension d; negative d counts from the end (-1 is the last).
  constexpr std::int64_t operator[](int d) const { return dims_[static_cast<std::size_t>(d < 0 ? d + rank_ : d)]; }
  constexpr std::int64_t& operator[](int d) { return dims_[static_cast<std::size_t>(d < 0 ? d + rank_ : d)]; }
  constexpr std::int64_t numel() const {
    std::int64_t n = 1;
    for (int i = 0; i < rank_; ++i) n *= dims_[static_cast<std::size_t>(i)];
    return n;
  }
  /// Whether numel() (the extents multiplied first to last) would pass 2^63 - 1 on the way: a shape read from a
  /// file whose extents include a 0 can have a product of 0 in one order and overflow in another.
  constexpr bool numel_overflows() const {
    std::int64_t n = 1;
    for (int i = 0; i < rank_; ++i)
      if (dims_[static_cast<std::size_t>(i)] < 0 || __builtin_mul_overflow(n, dims_[static_cast<std::size_t>(i)], &n))
        return true;
    return false;
  }
  constexpr const std::int64_t* begin() const { return dims_.data(); }
  constexpr const std::int64_t* end() const { return dims_.data() + rank_; }
  constexpr void push_back(std::int64_t d) {
    PMC_CHECK(rank_ < kMaxRank, "Shape: rank exceeds the maximum of ", kMaxRank);
    dims_[static_cast<std::size_t>(rank_++)] = d;
  }
  friend constexpr bool operator==(const Shape& a, const Shape& b) {
    return a.rank_ == b.rank_ && std::equal(a.begin(), a.end(), b.begin());
  }

  /// "(2, 3, 4)": the form every shape error uses.
  std::string str() const {
    std::string s = "(";
    for (int i = 0; i < rank_; ++i) s += (i ? ", " : "") + std::to_string(dims_[static_cast<std::size_t>(i)]);
    return s + (rank_ == 1 ? ",)" : ")");
  }

 private:
  std::array<std::int64_t, kMaxRank> dims_{};
  int rank_ = 0;
};

/// Marks an extent that is only known at run time in Extents<...>.
inline constexpr std::int64_t dyn = -1;

/// Compile-time extents, e.g. Extents<dyn, dyn, Config.dim> for activations (B, T, D). Where all operands
/// of an op carry Extents, mismatches are static_assert failures; at run time `check` compares a Shape.
template <std::int64_t... E>
struct Extents {
  static constexpr int rank = sizeof...(E);
  static constexpr std::array<std::int64_t, sizeof...(E)> dims{E...};
  static constexpr std::int64_t extent(int d) { return dims[static_cast<std::size_t>(d)]; }

  static bool matches(const Shape& s) {
    if (s.rank() != rank) return false;
    for (int i = 0; i < rank; ++i)
      if (dims[static_cast<std::size_t>(i)] != dyn && dims[static_cast<std::size_t>(i)] != s[i]) return false;
    return true;
  }
  static std::string str() {
    std::string s = "(";
    for (int i = 0; i < rank; ++i) {
      auto d = dims[static_cast<std::size_t>(i)];
      s += (i ? ", " : "") + (d == dyn ? std::string("?") : std::to_string(d));
    }
    return s + ")";
  }
  /// Throws pmc::Error naming `what`, the expected extents and the actual shape.
  static void check(const Shape& s, const char* what) {
    PMC_CHECK(matches(s), what, ": expected shape ", str(), ", got ", s.str());
  }
};

/// Two extents agree at compile time unless both are static and different.
constexpr bool extents_compatible(std::int64_t a, std::int64_t b) { return a == dyn || b == dyn || a == b; }

/// Throws pmc::Error naming both shapes when they differ.
inline void check_same_shape(const Shape& a, const Shape& b, const char* what) {
  PMC_CHECK(a == b, what, ": shapes ", a.str(), " and ", b.str(), " differ");
}

}  // namespace pmc

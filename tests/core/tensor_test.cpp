// SPDX-License-Identifier: MIT
// Tensor views share storage (slice, select, transpose, permute, reshape); copies do not; shape errors and
// Extents::check name the shapes.
#include <doctest/doctest.h>

#include <initializer_list>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include <pmc/core/shape.hpp>
#include <pmc/core/tensor.hpp>
#include <support/errors.hpp>

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace tensor_test {

namespace {
using pmc::Shape;
using pmc::Tensor;

using pmc::test::error_of;

bool contains_all(const std::string& s, std::initializer_list<const char*> parts) {
  for (const char* p : parts)
    if (s.find(p) == std::string::npos) return false;
  return true;
}

Tensor<float> iota(const Shape& s) {
  Tensor<float> t(s);
  std::iota(t.data(), t.data() + t.numel(), 0.f);
  return t;
}
}  // namespace

TEST_CASE("a new tensor is zeroed, contiguous, aligned") {
  Tensor<float> t({2, 3, 4});
  CHECK(t.numel() == 24);
  CHECK(t.is_contiguous());
  CHECK(t.strides() == Shape({12, 4, 1}));
  CHECK(reinterpret_cast<std::uintptr_t>(t.data()) % 64 == 0);
  for (float v : t.to_vector()) CHECK(v == 0);
  CHECK_FALSE(Tensor<float>{}.defined());
}

TEST_CASE("slice and select are views: writes through them reach the base") {
  auto x = iota({4, 5});
  auto s = x.slice(1, 1, 4);  // (4, 3)
  CHECK(s.shape() == Shape({4, 3}));
  CHECK_FALSE(s.is_contiguous());
  CHECK(s.shares_storage_with(x));
  CHECK(s.at({2, 0}) == 11.f);
  s.at({2, 0}) = -1.f;
  CHECK(x.at({2, 1}) == -1.f);
  auto row = x.select(0, 3);  // (5,)
  CHECK(row.shape() == Shape({5}));
  row.fill(7.f);
  for (int j = 0; j < 5; ++j) CHECK(x.at({3, j}) == 7.f);
  auto col = x.select(1, 4);  // (4,), stride 5
  CHECK(col.strides()[0] == 5);
  col.at({0}) = 100.f;
  CHECK(x.at({0, 4}) == 100.f);
  // a slice of a slice keeps its offset
  auto ss = x.slice(0, 1, 3).slice(1, 2, 5);
  CHECK(ss.at({0, 0}) == x.at({1, 2}));
  CHECK(ss.to_vector() == std::vector<float>({7.f, 8.f, 9.f, 12.f, 13.f, 14.f}));
}

TEST_CASE("transpose and permute are views") {
  auto x = iota({2, 3, 4});
  auto t = x.transpose(0, 2);  // (4, 3, 2)
  CHECK(t.shape() == Shape({4, 3, 2}));
  CHECK(t.at({3, 1, 0}) == x.at({0, 1, 3}));
  t.at({1, 2, 1}) = -5.f;
  CHECK(x.at({1, 2, 1}) == -5.f);
  auto p = x.permute({1, 2, 0});  // (3, 4, 2)
  CHECK(p.shape() == Shape({3, 4, 2}));
  CHECK(p.at({2, 3, 1}) == x.at({1, 2, 3}));
  p.at({0, 0, 1}) = 42.f;
  CHECK(x.at({1, 0, 0}) == 42.f);
  CHECK_THROWS_AS((void)x.permute({0, 0, 1}), pmc::Error);
  CHECK_THROWS_AS((void)x.permute({0, 1}), pmc::Error);
  CHECK_THROWS_AS((void)x.transpose(0, 3), pmc::Error);
  // negative dimensions count from the end
  CHECK(x.transpose(-1, -2).shape() == Shape({2, 4, 3}));
}

TEST_CASE("reshape shares a contiguous tensor's storage and refuses a non-contiguous one") {
  auto x = iota({2, 6});
  auto r = x.reshape({3, -1});
  CHECK(r.shape() == Shape({3, 4}));
  CHECK(r.shares_storage_with(x));
  r.at({2, 3}) = -1.f;
  CHECK(x.at({1, 5}) == -1.f);
  CHECK_THROWS_AS((void)x.reshape({5, -1}), pmc::Error);
  CHECK_THROWS_AS((void)x.reshape({-1, -1}), pmc::Error);
  CHECK_THROWS_AS((void)x.reshape({4, 4}), pmc::Error);
  const auto t = x.transpose(0, 1);
  CHECK_THROWS_AS((void)t.reshape({12}), pmc::Error);
  CHECK_THROWS_WITH((void)t.reshape({12}), doctest::Contains("(6, 2)"));
  // contiguous() copies the transposed view into row-major order
  const auto c = t.contiguous();
  CHECK_FALSE(c.shares_storage_with(x));
  CHECK(c.reshape({12}).at({1}) == x.at({1, 0}));
  // a contiguous tensor's contiguous() is itself
  CHECK(x.contiguous().shares_storage_with(x));
}

TEST_CASE("clone and to<U> copy, copy_to writes through strides") {
  auto x = iota({3, 4});
  auto c = x.clone();
  c.at({0, 0}) = 99.f;
  CHECK(x.at({0, 0}) == 0.f);
  const auto d = x.to<double>();
  CHECK(d.at({2, 3}) == 11.0);
  const auto h = x.to<pmc::bf16>();
  CHECK(float(h.at({1, 1})) == 5.f);
  Tensor<float> dst({4, 3});
  x.copy_to(dst.transpose(0, 1));  // a (3, 4) view of dst
  CHECK(dst.at({3, 2}) == x.at({2, 3}));
  CHECK_THROWS_AS(x.copy_to(dst), pmc::Error);
  CHECK(contains_all(error_of([&] { x.copy_to(dst); }), {"(3, 4)", "(4, 3)"}));
}

TEST_CASE("wrap borrows memory that its owner keeps alive") {
  auto buf = std::make_shared<std::vector<float>>(6, 1.f);
  auto t = Tensor<float>::wrap(buf->data(), {2, 3}, buf);
  buf->at(4) = 3.f;
  CHECK(t.at({1, 1}) == 3.f);
  std::weak_ptr<std::vector<float>> w = buf;
  buf.reset();
  CHECK_FALSE(w.expired());  // the tensor holds it
  CHECK(t.at({1, 1}) == 3.f);
}

TEST_CASE("element access and construction errors name the shape") {
  auto x = iota({2, 3});
  CHECK_THROWS_AS(x.at({2, 0}), pmc::Error);
  CHECK_THROWS_WITH(x.at({0, 3}), doctest::Contains("(2, 3)"));
  CHECK_THROWS_AS(x.at({0}), pmc::Error);
  CHECK_THROWS_AS((void)x.slice(1, 2, 4), pmc::Error);
  CHECK_THROWS_AS((void)x.select(0, -1), pmc::Error);
  const Shape two_by_two{2, 2};
  const std::vector<float> three{1.f, 2.f, 3.f};
  CHECK_THROWS_AS(Tensor<float>::from(two_by_two, three), pmc::Error);
  CHECK_THROWS_AS(Tensor<float>(Shape{2, -3}), pmc::Error);  // checked before allocating 2^64 − 24 bytes
  CHECK_THROWS_WITH(Tensor<float>(Shape{2, -3}), doctest::Contains("(2, -3)"));
  CHECK_THROWS_AS((Shape{1, 2, 3, 4, 5, 6, 7}), pmc::Error);
  CHECK_THROWS_AS(pmc::expect_shape(x, {3, 2}, "weight"), pmc::Error);
  CHECK(contains_all(error_of([&] { pmc::expect_shape(x, {3, 2}, "weight"); }), {"weight", "(3, 2)", "(2, 3)"}));
}

TEST_CASE("Shape prints, compares, and check_same_shape names both shapes") {
  CHECK(Shape({2, 3}).str() == "(2, 3)");
  CHECK(Shape({5}).str() == "(5,)");
  CHECK(Shape{}.str() == "()");
  CHECK(Shape({2, 3})[-1] == 3);
  CHECK(Shape({2, 3}).numel() == 6);
  CHECK(Shape({2, 3}) == Shape({2, 3}));
  CHECK_FALSE(Shape({2, 3}) == Shape({2, 3, 1}));
  CHECK_NOTHROW(pmc::check_same_shape({2, 3}, {2, 3}, "add"));
  CHECK(contains_all(error_of([] { pmc::check_same_shape({2, 3}, {3, 2}, "add"); }), {"add", "(2, 3)", "(3, 2)"}));
}

TEST_CASE("Extents check shapes at run time and compare at compile time") {
  using Act = pmc::Extents<pmc::dyn, pmc::dyn, 64>;  // (B, T, D) with D = 64
  static_assert(Act::rank == 3 && Act::extent(2) == 64);
  static_assert(pmc::extents_compatible(pmc::dyn, 64) && !pmc::extents_compatible(32, 64));
  CHECK(Act::str() == "(?, ?, 64)");
  CHECK(Act::matches({2, 7, 64}));
  CHECK_FALSE(Act::matches({2, 7, 65}));
  CHECK_FALSE(Act::matches({14, 64}));
  CHECK_NOTHROW(Act::check({1, 1, 64}, "x"));
  CHECK_THROWS_AS(Act::check({2, 7, 32}, "x"), pmc::Error);
  CHECK(contains_all(error_of([] { Act::check({2, 7, 32}, "hidden"); }), {"hidden", "(?, ?, 64)", "(2, 7, 32)"}));
}

}  // namespace tensor_test

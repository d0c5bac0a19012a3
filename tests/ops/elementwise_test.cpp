// SPDX-License-Identifier: MIT
// Elementwise<Cpu>: add, mul, scale, accumulate, sum, mean against plain loops; mul backward by finite differences.
#include <doctest/doctest.h>

#include <cmath>
#include <random>

#include <pmc/backends/cpu/elementwise.hpp>
#include <support/compare.hpp>
#include <support/gradcheck.hpp>

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace elementwise_test {

namespace {
using pmc::Tensor;
using Ew = pmc::ops::Elementwise<pmc::Cpu>;
using pmc::test::random_tensor;
}  // namespace

TEST_CASE("elementwise add, mul, scale, accumulate match plain loops") {
  std::mt19937 rng(11);
  const auto a = random_tensor<double>({3, 5, 7}, rng), b = random_tensor<double>({3, 5, 7}, rng);
  Tensor<double> add({3, 5, 7}), mul({3, 5, 7}), sc({3, 5, 7});
  Ew::add(a, b, add);
  Ew::mul(a, b, mul);
  Ew::scale(a, -1.5f, sc);
  auto acc = b.clone();
  Ew::accumulate(acc, a, 0.25f);
  for (std::int64_t i = 0; i < a.numel(); ++i) {
    CHECK(add[i] == a[i] + b[i]);
    CHECK(mul[i] == a[i] * b[i]);
    CHECK(sc[i] == -1.5 * a[i]);
    CHECK(acc[i] == doctest::Approx(b[i] + 0.25 * a[i]).epsilon(1e-15));
  }
  // in place: out aliases a
  auto x = a.clone();
  Ew::add(x, b, x);
  CHECK(pmc::test::max_abs_diff(x, add) == 0);
}

TEST_CASE("elementwise sum and mean") {
  std::mt19937 rng(12);
  const auto a = random_tensor<double>({7, 9}, rng);
  double s = 0;
  for (double v : a.to_vector()) s += v;
  CHECK(Ew::sum(a) == doctest::Approx(s).epsilon(1e-14));
  CHECK(Ew::mean(a) == doctest::Approx(s / 63).epsilon(1e-14));
  CHECK(Ew::mean(Tensor<float>({0, 3})) == 0.f);
  // a float sum over a million ones stays exact (accumulated in double)
  Tensor<float> ones({1 << 20});
  ones.fill(1.f);
  CHECK(Ew::sum(ones) == float(1 << 20));
  const auto h = a.to<pmc::bf16>();
  double hs = 0;
  for (auto v : h.to_vector()) hs += float(v);
  CHECK(Ew::sum(h) == doctest::Approx(hs).epsilon(1e-6));
}

TEST_CASE("elementwise forward in bf16 and f16 agrees with float") {
  std::mt19937 rng(13);
  const auto a = random_tensor<float>({33, 17}, rng), b = random_tensor<float>({33, 17}, rng);
  Tensor<float> add({33, 17}), mul({33, 17});
  Ew::add(a, b, add);
  Ew::mul(a, b, mul);
  Tensor<pmc::bf16> addb({33, 17}), mulb({33, 17});
  Ew::add(a.to<pmc::bf16>(), b.to<pmc::bf16>(), addb);
  Ew::mul(a.to<pmc::bf16>(), b.to<pmc::bf16>(), mulb);
  CHECK(pmc::test::max_abs_diff(addb, add) < 2.0 / 128);
  CHECK(pmc::test::max_abs_diff(mulb, mul) < 2.0 / 128);
  Tensor<pmc::f16> addh({33, 17});
  Ew::add(a.to<pmc::f16>(), b.to<pmc::f16>(), addh);
  CHECK(pmc::test::max_abs_diff(addh, add) < 2.0 / 1024);
}

TEST_CASE("elementwise mul backward matches finite differences and accumulates") {
  std::mt19937 rng(14);
  const auto a = random_tensor<double>({5, 3}, rng), b = random_tensor<double>({5, 3}, rng);
  const auto dy = random_tensor<double>({5, 3}, rng);
  Tensor<double> da({5, 3}), db({5, 3}), y({5, 3});
  Ew::mul_backward(a, b, dy, da, db);
  auto loss = [&] {
    Ew::mul(a, b, y);
    return pmc::test::dot(dy, y);
  };
  CHECK(pmc::test::gradcheck("mul da", a, da, loss) < 1e-6);
  CHECK(pmc::test::gradcheck("mul db", b, db, loss) < 1e-6);
  const auto once = da.clone();
  Ew::mul_backward(a, b, dy, da, Tensor<double>{});
  for (std::int64_t i = 0; i < da.numel(); ++i) CHECK(da[i] == doctest::Approx(2 * once[i]));
}

TEST_CASE("elementwise scale backward is accumulate with the same factor") {
  // add's and scale's backward are accumulate(d_in, d_out, alpha): check that against finite differences.
  std::mt19937 rng(15);
  const auto a = random_tensor<double>({4, 7}, rng), dy = random_tensor<double>({4, 7}, rng);
  Tensor<double> da({4, 7}), y({4, 7});
  Ew::accumulate(da, dy, 0.75f);
  auto loss = [&] {
    Ew::scale(a, 0.75f, y);
    return pmc::test::dot(dy, y);
  };
  CHECK(pmc::test::gradcheck("scale da", a, da, loss) < 1e-6);
}

TEST_CASE("elementwise shape mismatch and non-contiguous operands throw") {
  Tensor<float> a({3, 4}), b({4, 3}), out({3, 4});
  CHECK_THROWS_AS(Ew::add(a, b, out), pmc::Error);
  CHECK_THROWS_WITH(Ew::add(a, b, out), doctest::Contains("(4, 3)"));
  CHECK_THROWS_AS(Ew::mul(a, b.transpose(0, 1), out), pmc::Error);
}

}  // namespace elementwise_test

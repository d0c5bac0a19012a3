// SPDX-License-Identifier: MIT
// CrossEntropy<Cpu>: loss against a double reference with ignored targets, gradient by finite differences,
// stability at large logits, target range errors.
#include <doctest/doctest.h>

#include <cmath>
#include <random>

#include <pmc/backends/cpu/cross_entropy.hpp>
#include <support/compare.hpp>
#include <support/gradcheck.hpp>

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace cross_entropy_test {

namespace {
using pmc::Tensor;
using Ce = pmc::ops::CrossEntropy<pmc::Cpu>;
using pmc::test::random_tensor;

double reference(const Tensor<double>& z, const std::vector<std::int32_t>& y) {
  const std::int64_t n = z.size(0), v = z.size(1);
  double total = 0;
  int count = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    if (y[static_cast<std::size_t>(i)] == -100) continue;
    double s = 0;
    for (std::int64_t j = 0; j < v; ++j) s += std::exp(z.at({i, j}));
    total += std::log(s) - z.at({i, y[static_cast<std::size_t>(i)]});
    ++count;
  }
  return count ? total / count : 0;
}
}  // namespace

TEST_CASE("cross_entropy forward matches a reference, skipping ignored targets") {
  std::mt19937 rng(61);
  const auto z = random_tensor<double>({7, 11}, rng, -3, 3);
  const std::vector<std::int32_t> y{3, -100, 10, 0, -100, 5, 5};
  const auto t = Tensor<std::int32_t>::from({7}, y);
  Tensor<double> lse({7});
  const auto r = Ce::forward(z, t, lse);
  CHECK(r.count == 5);
  CHECK(r.loss == doctest::Approx(reference(z, y)).epsilon(1e-13));
  // float and bf16 logits
  Tensor<float> lf({7});
  CHECK(Ce::forward(z.to<float>(), t, lf).loss == doctest::Approx(reference(z, y)).epsilon(1e-6));
  CHECK(Ce::forward(z.to<pmc::bf16>(), t, lf).loss == doctest::Approx(reference(z, y)).epsilon(2e-2));
}

TEST_CASE("cross_entropy with every target ignored gives loss 0 and a zero gradient") {
  std::mt19937 rng(62);
  const auto z = random_tensor<float>({3, 4}, rng);
  const auto t = Tensor<std::int32_t>::from({3}, {-100, -100, -100});
  Tensor<float> lse({3}), dz({3, 4});
  const auto r = Ce::forward(z, t, lse);
  CHECK(r.count == 0);
  CHECK(r.loss == 0);
  Ce::backward(z, t, lse, 1.0, r.count, dz);
  for (float v : dz.to_vector()) CHECK(v == 0);
}

TEST_CASE("cross_entropy is stable at large logits") {
  const auto z = Tensor<float>::from({2, 3}, {1000.f, 0.f, -1000.f, 88.f, 89.f, 90.f});
  const auto t = Tensor<std::int32_t>::from({2}, {0, 2});
  Tensor<float> lse({2}), dz({2, 3});
  const auto r = Ce::forward(z, t, lse);
  CHECK(std::isfinite(r.loss));
  CHECK(lse[0] == doctest::Approx(1000.f));
  const double row2 = std::log(std::exp(-2.0) + std::exp(-1.0) + 1.0);
  CHECK(r.loss == doctest::Approx(row2 / 2).epsilon(1e-5));
  Ce::backward(z, t, lse, 1.0, r.count, dz);
  for (float v : dz.to_vector()) CHECK(std::isfinite(v));
}

TEST_CASE("cross_entropy backward matches finite differences and accumulates") {
  std::mt19937 rng(63);
  const auto z = random_tensor<double>({6, 9}, rng, -2, 2);
  const auto t = Tensor<std::int32_t>::from({6}, {8, -100, 0, 4, 4, -100});
  Tensor<double> lse({6}), dz({6, 9});
  const auto r = Ce::forward(z, t, lse);
  const double dloss = 0.7;
  Ce::backward(z, t, lse, dloss, r.count, dz);
  auto loss = [&] {
    Tensor<double> l({6});
    return dloss * Ce::forward(z, t, l).loss;
  };
  CHECK(pmc::test::gradcheck("cross_entropy dlogits", z, dz, loss) < 1e-6);
  for (int j = 0; j < 9; ++j) CHECK(dz.at({1, j}) == 0);  // ignored rows get nothing
  const auto once = dz.clone();
  Ce::backward(z, t, lse, dloss, r.count, dz);
  for (std::int64_t i = 0; i < dz.numel(); ++i) CHECK(dz[i] == doctest::Approx(2 * once[i]));
}

TEST_CASE("cross_entropy rejects targets out of range and mismatched shapes") {
  Tensor<float> z({2, 5}), lse({2});
  CHECK_THROWS_AS(Ce::forward(z, Tensor<std::int32_t>::from({2}, {1, 5}), lse), pmc::Error);
  CHECK_THROWS_WITH(Ce::forward(z, Tensor<std::int32_t>::from({2}, {1, 5}), lse), doctest::Contains("target 5"));
  CHECK_THROWS_AS(Ce::forward(z, Tensor<std::int32_t>::from({2}, {-1, 0}), lse), pmc::Error);
  CHECK_THROWS_AS(Ce::forward(z, Tensor<std::int32_t>::from({3}, {0, 0, 0}), lse), pmc::Error);
  // a custom ignore index
  CHECK(Ce::forward(z, Tensor<std::int32_t>::from({2}, {-1, -1}), lse, -1).count == 0);
}

}  // namespace cross_entropy_test

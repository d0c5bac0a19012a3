// SPDX-License-Identifier: MIT
// GradAccumulator: K micro-batches weighted by their token counts equal one batch; checks on misuse.
#include <cmath>
#include <vector>

#include <doctest/doctest.h>

#include <pmc/backends/cpu/ops.hpp>
#include <pmc/optim/optim.hpp>

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace grad_accumulation_test {

using namespace pmc;
using namespace pmc::optim;

namespace {
/// A least-squares "model" with analytic grads: per-token loss ½(w·x_i + b - y_i)², 16 tokens.
struct Toy {
  static constexpr int kTokens = 16;
  double x[kTokens][3], y[kTokens];
  double w[3] = {0.3, -0.2, 0.7}, b = 0.1;
  Toy() {
    for (int i = 0; i < kTokens; ++i) {
      for (int j = 0; j < 3; ++j) x[i][j] = std::sin(1.7 * i + j);
      y[i] = std::cos(0.9 * i);
    }
  }
  /// Grads of the mean loss over tokens [lo, hi), as (dw (3), db (1)) tensors of type G.
  template <class G>
  std::vector<Tensor<G>> mean_grads(int lo, int hi) const {
    double dw[3] = {0, 0, 0}, db = 0;
    for (int i = lo; i < hi; ++i) {
      const double r = w[0] * x[i][0] + w[1] * x[i][1] + w[2] * x[i][2] + b - y[i];
      for (int j = 0; j < 3; ++j) dw[j] += r * x[i][j];
      db += r;
    }
    const double n = hi - lo;
    return {Tensor<G>::from({3}, {G(dw[0] / n), G(dw[1] / n), G(dw[2] / n)}), Tensor<G>::from({1}, {G(db / n)})};
  }
};

template <class T>
std::vector<Param<T>> toy_params() {
  return {{.name = "w", .value = Tensor<T>({3}), .grad = Tensor<T>({3})},
          {.name = "b", .value = Tensor<T>({1}), .grad = Tensor<T>({1})}};
}
}  // namespace

TEST_CASE("micro-batches of 3, 5 and 8 tokens accumulate to the 16-token batch gradient") {
  const Toy toy;
  const auto full = toy.mean_grads<double>(0, 16);
  auto ps = toy_params<double>();
  GradAccumulator<double> acc(ps);
  acc.begin(16);
  acc.add(toy.mean_grads<double>(0, 3), 3);
  acc.add(toy.mean_grads<double>(3, 8), 5);
  acc.add(toy.mean_grads<double>(8, 16), 8);
  acc.finish();
  CHECK(acc.micro_batches() == 3);
  for (int j = 0; j < 3; ++j) CHECK(ps[0].grad[j] == doctest::Approx(full[0][j]).epsilon(1e-14));
  CHECK(ps[1].grad[0] == doctest::Approx(full[1][0]).epsilon(1e-14));
  // the naive average of the three micro-batch means is not the batch gradient with unequal micro-batches
  const auto m0 = toy.mean_grads<double>(0, 3), m1 = toy.mean_grads<double>(3, 8), m2 = toy.mean_grads<double>(8, 16);
  CHECK(std::abs((m0[1][0] + m1[1][0] + m2[1][0]) / 3 - full[1][0]) > 1e-3);
}

TEST_CASE("bf16 micro-batch grads accumulate into fp32, from Param lists with matching names") {
  const Toy toy;
  const auto full = toy.mean_grads<double>(0, 16);
  auto ps = toy_params<float>();
  GradAccumulator<float> acc(ps);
  acc.begin(16);
  for (auto [lo, hi] : {std::pair{0, 4}, std::pair{4, 16}}) {
    auto g = toy.mean_grads<bf16>(lo, hi);
    std::vector<Param<bf16>> micro{{.name = "w", .value = Tensor<bf16>({3}), .grad = g[0]},
                                   {.name = "b", .value = Tensor<bf16>({1}), .grad = g[1]}};
    acc.add(micro, hi - lo);
  }
  acc.finish();
  // bf16 keeps 8 significant bits: each micro-batch grad is off by at most 2^-9 relative
  for (int j = 0; j < 3; ++j) CHECK(ps[0].grad[j] == doctest::Approx(full[0][j]).epsilon(1.0 / 256));
}

TEST_CASE("begin zeroes the grads, so batches do not leak into each other") {
  const Toy toy;
  auto ps = toy_params<double>();
  GradAccumulator<double> acc(ps);
  for (int rep = 0; rep < 2; ++rep) {
    acc.begin(16);
    acc.add(toy.mean_grads<double>(0, 16), 16);
    acc.finish();
  }
  CHECK(ps[1].grad[0] == doctest::Approx(toy.mean_grads<double>(0, 16)[1][0]).epsilon(1e-15));
}

TEST_CASE("misuse is reported") {
  const Toy toy;
  auto ps = toy_params<double>();
  GradAccumulator<double> acc(ps);
  CHECK_THROWS_WITH_AS(acc.add(toy.mean_grads<double>(0, 4), 4), doctest::Contains("begin"), Error);
  acc.begin(16);
  acc.add(toy.mean_grads<double>(0, 4), 4);
  CHECK_THROWS_WITH_AS(acc.finish(), doctest::Contains("hold 4 tokens but the batch was declared with 16"), Error);
  // one data-parallel rank's share of the 16 tokens: 4 of them
  CHECK_THROWS_WITH_AS(acc.finish_share(8), doctest::Contains("hold 4 tokens but this share of the batch has 8"), Error);
  acc.finish_share(4);
  acc.begin(16);
  CHECK_THROWS_WITH_AS(acc.add(toy.mean_grads<double>(0, 4), 20), doctest::Contains("more than the batch's 16"),
                       Error);
  auto g = toy.mean_grads<double>(0, 4);
  std::swap(g[0], g[1]);
  CHECK_THROWS_WITH_AS(acc.add(g, 4), doctest::Contains("grad for 'w' has shape (1,)"), Error);
  std::vector<Param<double>> wrong{{.name = "b", .value = Tensor<double>({3}), .grad = Tensor<double>({3})},
                                   {.name = "w", .value = Tensor<double>({1}), .grad = Tensor<double>({1})}};
  CHECK_THROWS_WITH_AS(acc.add(wrong, 4), doctest::Contains("is for 'b' but parameter 0 is 'w'"), Error);
  CHECK_THROWS_WITH_AS(acc.add(std::vector<Tensor<double>>{}, 4), doctest::Contains("0 micro-batch grads for 2"),
                       Error);
}

}  // namespace grad_accumulation_test

// SPDX-License-Identifier: MIT
// Embedding<Cpu>: gather against plain indexing, scatter-add gradient by finite differences, token range errors.
#include <doctest/doctest.h>

#include <random>

#include <pmc/backends/cpu/embedding.hpp>
#include <support/compare.hpp>
#include <support/gradcheck.hpp>

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace embedding_test {

namespace {
using pmc::Tensor;
using Emb = pmc::ops::Embedding<pmc::Cpu>;
using pmc::test::random_tensor;
}  // namespace

TEST_CASE("embedding forward gathers rows, in every element type") {
  std::mt19937 rng(21);
  const auto w = random_tensor<double>({7, 5}, rng);
  const auto tok = Tensor<std::int32_t>::from({2, 3}, {3, 0, 6, 3, 3, 1});
  Tensor<double> out({6, 5});
  Emb::forward(w, tok, out);
  const std::int32_t ids[] = {3, 0, 6, 3, 3, 1};
  for (int n = 0; n < 6; ++n)
    for (int j = 0; j < 5; ++j) CHECK(out.at({n, j}) == w.at({ids[n], j}));
  // bf16 is a bit copy of the row
  const auto wb = w.to<pmc::bf16>();
  Tensor<pmc::bf16> ob({6, 5});
  Emb::forward(wb, tok, ob);
  for (int n = 0; n < 6; ++n)
    for (int j = 0; j < 5; ++j) CHECK(ob.at({n, j}).bits == wb.at({ids[n], j}).bits);
  // (B, T, D) output for (B, T) tokens
  Tensor<double> out3({2, 3, 5});
  Emb::forward(w, tok, out3);
  CHECK(pmc::test::max_abs_diff(out3.reshape({6, 5}), out) == 0);
}

TEST_CASE("embedding backward with repeated tokens matches finite differences and accumulates") {
  std::mt19937 rng(22);
  const auto w = random_tensor<double>({9, 7}, rng);
  const auto tok = Tensor<std::int32_t>::from({11}, {4, 4, 0, 8, 4, 2, 2, 7, 0, 4, 1});
  const auto dy = random_tensor<double>({11, 7}, rng);
  Tensor<double> dw({9, 7}), y({11, 7});
  Emb::backward(tok, dy, dw);
  auto loss = [&] {
    Emb::forward(w, tok, y);
    return pmc::test::dot(dy, y);
  };
  CHECK(pmc::test::gradcheck("embedding dW", w, dw, loss) < 1e-6);
  // untouched rows stay zero, accumulation doubles
  for (int j = 0; j < 7; ++j) CHECK(dw.at({3, j}) == 0);
  const auto once = dw.clone();
  Emb::backward(tok, dy, dw);
  for (std::int64_t i = 0; i < dw.numel(); ++i) CHECK(dw[i] == doctest::Approx(2 * once[i]));
  // a wide row spans several column blocks of the parallel loop
  const auto tok2 = Tensor<std::int32_t>::from({5}, {1, 1, 0, 1, 0});
  const auto dy2 = random_tensor<float>({5, 1000}, rng);
  Tensor<float> dw2({2, 1000});
  Emb::backward(tok2, dy2, dw2);
  for (int j = 0; j < 1000; j += 37) {
    CHECK(dw2.at({1, j}) == doctest::Approx(dy2.at({0, j}) + dy2.at({1, j}) + dy2.at({3, j})));
    CHECK(dw2.at({0, j}) == doctest::Approx(dy2.at({2, j}) + dy2.at({4, j})));
  }
}

TEST_CASE("embedding rejects tokens out of range and mismatched shapes") {
  Tensor<float> w({5, 3}), out({2, 3});
  CHECK_THROWS_AS(Emb::forward(w, Tensor<std::int32_t>::from({2}, {1, 5}), out), pmc::Error);
  CHECK_THROWS_WITH(Emb::forward(w, Tensor<std::int32_t>::from({2}, {1, 5}), out), doctest::Contains("token 5"));
  CHECK_THROWS_AS(Emb::forward(w, Tensor<std::int32_t>::from({2}, {-1, 0}), out), pmc::Error);
  CHECK_THROWS_AS(Emb::backward(Tensor<std::int32_t>::from({2}, {0, 9}), out, w), pmc::Error);
  Tensor<float> bad({2, 4});
  CHECK_THROWS_AS(Emb::forward(w, Tensor<std::int32_t>::from({2}, {0, 1}), bad), pmc::Error);
  CHECK_THROWS_WITH(Emb::forward(w, Tensor<std::int32_t>::from({2}, {0, 1}), bad), doctest::Contains("(2, 4)"));
}

}  // namespace embedding_test

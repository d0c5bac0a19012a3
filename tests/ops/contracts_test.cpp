// SPDX-License-Identifier: MIT
// The op contracts of pmc/ops/ check themselves: each op's concept holds for Cpu and fails for a device with no
// specialization (Cuda, whose headers this file does not include), and the CPU ops raise exactly the errors of
// the contracts' checking functions, which every backend calls (tests/cuda/contracts_test.cu does the same for Cuda).
#include <doctest/doctest.h>

#include <cstdint>
#include <string>

#include <pmc/backends/cpu/ops.hpp>

#include "support/errors.hpp"

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace contracts_test {

namespace {
using pmc::Cpu;
using pmc::Cuda;
using pmc::Tensor;
using namespace pmc::ops;

static_assert(ImplementsMatmul<Cpu>);
static_assert(ImplementsAttention<Cpu>);
static_assert(ImplementsRmsNorm<Cpu>);
static_assert(ImplementsRope<Cpu>);
static_assert(ImplementsSwiGlu<Cpu>);
static_assert(ImplementsEmbedding<Cpu>);
static_assert(ImplementsCrossEntropy<Cpu>);
static_assert(ImplementsElementwise<Cpu>);
static_assert(ImplementsAdamWKernel<Cpu>);
static_assert(ImplementsSgdKernel<Cpu>);
static_assert(ImplementsParamOps<Cpu>);

// No Cuda specialization is visible here: the concepts must say so rather than hold vacuously.
static_assert(!ImplementsMatmul<Cuda>);
static_assert(!ImplementsAttention<Cuda>);
static_assert(!ImplementsRmsNorm<Cuda>);
static_assert(!ImplementsRope<Cuda>);
static_assert(!ImplementsSwiGlu<Cuda>);
static_assert(!ImplementsEmbedding<Cuda>);
static_assert(!ImplementsCrossEntropy<Cuda>);
static_assert(!ImplementsElementwise<Cuda>);
static_assert(!ImplementsAdamWKernel<Cuda>);
static_assert(!ImplementsSgdKernel<Cuda>);
static_assert(!ImplementsParamOps<Cuda>);

using pmc::test::error_of;
using pmc::test::same_error;
}  // namespace

TEST_CASE("contracts: cross_entropy's result type and checks are the contract's") {
  static_assert(std::is_same_v<decltype(CrossEntropy<Cpu>::forward(Tensor<float>(), Tensor<std::int32_t>(),
                                                                   Tensor<float>())),
                               CrossEntropyResult>);
  Tensor<float> z({2, 5}), lse({3}), dz({2, 4});
  const auto y = Tensor<std::int32_t>::from({2}, {1, 0});
  same_error([&] { check_cross_entropy_args(z, y, lse); }, [&] { CrossEntropy<Cpu>::forward(z, y, lse); });
  Tensor<float> lse2({2});
  same_error([&] { check_cross_entropy_backward_args(z, y, lse2, dz); },
             [&] { CrossEntropy<Cpu>::backward(z, y, lse2, 1.0, 2, dz); });
  const auto bad = Tensor<std::int32_t>::from({2}, {1, 7});
  same_error([&] { check_target(7, 1, 5, kIgnoreIndex, "cross_entropy"); },
             [&] { CrossEntropy<Cpu>::forward(z, bad, lse2); });
  CHECK(error_of([&] { check_target(7, -1, 5, kIgnoreIndex, "cross_entropy"); }) ==
        "cross_entropy: target 7 is out of range for 5 classes (and is not the ignore index -100)");
  CHECK(error_of([&] { check_target(kIgnoreIndex, 0, 5, kIgnoreIndex, "cross_entropy"); }).empty());
}

TEST_CASE("contracts: matmul, attention, rms_norm, rope, swiglu, embedding, elementwise raise the contract's errors") {
  Tensor<float> a({4, 3}), b({2, 5}), c({4, 5});
  same_error([&] { check_matmul_args(a, b, c, false, false); }, [&] { Matmul<Cpu>::forward(a, b, c, false, false); });
  Tensor<float> b2({3, 5}), da({3, 4});
  same_error([&] { check_matmul_backward_args(a, b2, c, da, Tensor<float>(), false, false); },
             [&] { Matmul<Cpu>::backward(a, b2, c, da, Tensor<float>(), false, false); });

  Tensor<float> q({1, 3, 4, 8}), k({1, 2, 2, 8}), out({1, 3, 4, 8}), probs({1, 4, 3, 2});
  same_error([&] { check_attention_args(q, k, k, 0, out, probs); },
             [&] { Attention<Cpu>::forward(q, k, k, 0, out, probs); });
  Tensor<float> k3({1, 3, 2, 8}), probs3({1, 4, 3, 3}), dk({1, 3, 2, 4});
  same_error([&] { check_attention_backward_args(q, k3, k3, probs3, out, Tensor<float>(), dk, Tensor<float>()); },
             [&] { Attention<Cpu>::backward(q, k3, k3, probs3, out, Tensor<float>(), dk, Tensor<float>()); });

  Tensor<float> x({2, 4}), w({5}), y({2, 4}), rstd({2});
  same_error([&] { check_rms_norm_args(x, w, y, rstd); }, [&] { RmsNorm<Cpu>::forward(x, w, 1e-5f, y, rstd); });
  Tensor<float> w4({4}), dw({3});
  same_error([&] { check_rms_norm_backward_args(x, w4, rstd, y, Tensor<float>(), dw); },
             [&] { RmsNorm<Cpu>::backward(x, w4, rstd, y, Tensor<float>(), dw); });

  Tensor<float> h({1, 2, 2, 5}), h2({1, 2, 2, 5});
  same_error([&] { check_rope_args(h, h2, 0); },
             [&] { Rope<Cpu>::forward(h, 0, 1e4f, RopeLayout::interleaved, h2); });
  Tensor<float> r({1, 2, 2, 4}), r2({1, 2, 2, 4});
  same_error([&] { check_rope_backward_args(r, r2, -1); },
             [&] { Rope<Cpu>::backward(r, -1, 1e4f, RopeLayout::interleaved, r2); });

  Tensor<float> s({2, 3}), s2({3, 2});
  same_error([&] { check_swiglu_args(s, s2, s); }, [&] { SwiGlu<Cpu>::forward(s, s2, s); });
  same_error([&] { check_swiglu_backward_args(s, s, s, s2, Tensor<float>()); },
             [&] { SwiGlu<Cpu>::backward(s, s, s, s2, Tensor<float>()); });
  same_error([&] { check_silu_args(s, s2); }, [&] { SwiGlu<Cpu>::silu_forward(s, s2); });
  same_error([&] { check_silu_backward_args(s, s2, s); }, [&] { SwiGlu<Cpu>::silu_backward(s, s2, s); });

  Tensor<float> emb({5, 3}), rows({2, 4});
  const auto tok = Tensor<std::int32_t>::from({2}, {0, 1});
  same_error([&] { check_embedding_args(emb, tok, rows); }, [&] { Embedding<Cpu>::forward(emb, tok, rows); });
  same_error([&] { check_embedding_backward_args(tok, rows, emb); },
             [&] { Embedding<Cpu>::backward(tok, rows, emb); });
  Tensor<float> rows3({2, 3});
  const auto bad = Tensor<std::int32_t>::from({2}, {0, 5});
  same_error([&] { check_token(5, 1, 5, "embedding"); }, [&] { Embedding<Cpu>::forward(emb, bad, rows3); });

  Tensor<float> e({4, 3}), e2({2, 3});
  same_error([&] { check_elementwise_args("add", e, e2, e); }, [&] { Elementwise<Cpu>::add(e, e2, e); });
  const auto strided = e.transpose(0, 1);
  same_error([&] { check_elementwise_args("sum", strided); }, [&] { Elementwise<Cpu>::sum(strided); });
}

}  // namespace contracts_test

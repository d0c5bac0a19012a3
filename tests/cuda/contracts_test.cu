// SPDX-License-Identifier: MIT
// The op contracts of pmc/ops/ hold for Cuda (checked by nvcc when it compiles this file), and the GPU ops raise
// exactly the errors of the contracts' checking functions (run with a GPU: the shape checks come before any launch,
// but the tensors live in device memory). tests/ops/contracts_test.cpp does the same for Cpu.
#include <string>

#include "parity.hpp"
#include "support/errors.hpp"

namespace pmc::test {

static_assert(ops::ImplementsMatmul<Cuda>);
static_assert(ops::ImplementsAttention<Cuda>);
static_assert(ops::ImplementsRmsNorm<Cuda>);
static_assert(ops::ImplementsRope<Cuda>);
static_assert(ops::ImplementsSwiGlu<Cuda>);
static_assert(ops::ImplementsEmbedding<Cuda>);
static_assert(ops::ImplementsCrossEntropy<Cuda>);
static_assert(ops::ImplementsElementwise<Cuda>);
static_assert(ops::ImplementsAdamWKernel<Cuda>);
static_assert(ops::ImplementsParamOps<Cuda>);
// SGD has no GPU kernel (optim::Sgd runs on the CPU only): ops::SgdKernel<Cuda> is not specialized.

namespace {
using pmc::test::error_of;
using pmc::test::same_error;
}  // namespace

TEST_CASE("contracts/the GPU ops raise the contract's errors") {
  using namespace pmc::ops;
  using Dev = Tensor<float, Cuda>;
  Dev a({4, 3}), b({2, 5}), c({4, 5});
  same_error([&] { check_matmul_args(a, b, c, false, false); }, [&] { Matmul<Cuda>::forward(a, b, c, false, false); });

  Dev q({1, 3, 4, 8}), k({1, 2, 2, 8}), out({1, 3, 4, 8}), probs({1, 4, 3, 2});
  same_error([&] { check_attention_args(q, k, k, 0, out, probs); },
             [&] { Attention<Cuda>::forward(q, k, k, 0, out, probs); });

  Dev x({2, 4}), w({5}), y({2, 4}), rstd({2});
  same_error([&] { check_rms_norm_args(x, w, y, rstd); }, [&] { RmsNorm<Cuda>::forward(x, w, 1e-5f, y, rstd); });

  Dev h({1, 2, 2, 5}), h2({1, 2, 2, 5});
  same_error([&] { check_rope_args(h, h2, 0); },
             [&] { Rope<Cuda>::forward(h, 0, 1e4f, RopeLayout::interleaved, h2); });

  Dev s({2, 3}), s2({3, 2});
  same_error([&] { check_swiglu_args(s, s2, s); }, [&] { SwiGlu<Cuda>::forward(s, s2, s); });

  Dev emb({5, 3}), rows({2, 4});
  const auto tok = dev(Tensor<std::int32_t>::from({2}, {0, 1}));
  same_error([&] { check_embedding_args(emb, tok, rows); }, [&] { Embedding<Cuda>::forward(emb, tok, rows); });
  Dev rows3({2, 3});
  const auto bad = dev(Tensor<std::int32_t>::from({2}, {0, 5}));
  same_error([&] { check_token(5, -1, 5, "embedding"); }, [&] { Embedding<Cuda>::forward(emb, bad, rows3); });

  Dev z({2, 5}), lse({3});
  const auto t = dev(Tensor<std::int32_t>::from({2}, {1, 0}));
  same_error([&] { check_cross_entropy_args(z, t, lse); }, [&] { CrossEntropy<Cuda>::forward(z, t, lse); });
  Dev lse2({2});
  const auto bad_t = dev(Tensor<std::int32_t>::from({2}, {1, 7}));
  same_error([&] { check_target(7, -1, 5, kIgnoreIndex, "cross_entropy"); },
             [&] { CrossEntropy<Cuda>::forward(z, bad_t, lse2); });

  Dev e({4, 3}), e2({2, 3});
  same_error([&] { check_elementwise_args("add", e, e2, e); }, [&] { Elementwise<Cuda>::add(e, e2, e); });
}

}  // namespace pmc::test

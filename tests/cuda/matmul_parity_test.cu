// SPDX-License-Identifier: MIT
// Matmul<Cuda> (cuBLASLt) against Matmul<Cpu>: transposes, transposed views, batches, a shared 2-D B; plus
// the plan cache and the bias epilogue.
#include "parity.hpp"

namespace pmc::test {
namespace {

template <class T>
void check_matmul(std::int64_t bt, std::int64_t m, std::int64_t k, std::int64_t n, bool ta, bool tb, bool shared_b,
                  std::mt19937& rng) {
  using Cpu = ops::Matmul<pmc::Cpu>;
  using Gpu = ops::Matmul<Cuda>;
  auto shape = [&](std::int64_t r, std::int64_t c, bool t, bool batched) {
    Shape s = t ? Shape{c, r} : Shape{r, c};
    if (!batched) return s;
    return t ? Shape{bt, c, r} : Shape{bt, r, c};
  };
  const bool batched = bt > 0;
  auto a = rnd<T>(shape(m, k, ta, batched), rng);
  auto b = rnd<T>(shape(k, n, tb, batched && !shared_b), rng);
  auto c0 = rnd<T>(batched ? Shape{bt, m, n} : Shape{m, n}, rng);
  auto c = c0.clone();
  Cpu::forward(a, b, c, ta, tb, 0.5f, 1.f);
  auto cd = dev(c0);
  Gpu::forward(dev(a), dev(b), cd, ta, tb, 0.5f, 1.f);
  PMC_CHECK_PARITY(T, cd, c, "matmul forward");

  auto dc = rnd<T>(c.shape(), rng);
  auto da = rnd<T>(a.shape(), rng), db = rnd<T>(b.shape(), rng);
  auto da_d = dev(da), db_d = dev(db);
  Cpu::backward(a, b, dc, da, db, ta, tb);
  Gpu::backward(dev(a), dev(b), dev(dc), da_d, db_d, ta, tb);
  PMC_CHECK_PARITY(T, da_d, da, "matmul dA");
  PMC_CHECK_PARITY(T, db_d, db, "matmul dB");
}

}  // namespace

TEST_CASE_TEMPLATE("matmul/2-D, every transpose", T, float, bf16) {
  std::mt19937 rng(1);
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      CAPTURE(ta);
      CAPTURE(tb);
      check_matmul<T>(0, 37, 70, 45, ta, tb, false, rng);
    }
}

TEST_CASE_TEMPLATE("matmul/batched and shared 2-D B", T, float, bf16) {
  std::mt19937 rng(2);
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      CAPTURE(ta);
      CAPTURE(tb);
      check_matmul<T>(3, 17, 40, 24, ta, tb, false, rng);
      check_matmul<T>(3, 17, 40, 24, ta, tb, true, rng);  // x · Wᵀ over a batch; dW summed over it
    }
}

TEST_CASE("matmul/transposed views as operands") {
  std::mt19937 rng(3);
  auto a = rnd<float>({20, 12}, rng), b = rnd<float>({16, 20}, rng);
  Tensor<float> c({12, 16});
  ops::Matmul<pmc::Cpu>::forward(a.transpose(0, 1), b.transpose(0, 1), c, false, false);
  Tensor<float, Cuda> cd({12, 16});
  ops::Matmul<Cuda>::forward(dev(a).transpose(0, 1), dev(b).transpose(0, 1), cd, false, false);
  PMC_CHECK_PARITY(float, cd, c, "matmul of transposed views");
}

TEST_CASE("matmul/f16 and plan cache") {
  std::mt19937 rng(4);
  check_matmul<f16>(0, 33, 64, 48, false, true, false, rng);
  const auto before = cuda::gemm_plan_cache_size();
  check_matmul<f16>(0, 33, 64, 48, false, true, false, rng);  // same shapes: no new plans
  CHECK(cuda::gemm_plan_cache_size() == before);
}

TEST_CASE("matmul/bias epilogue") {
  std::mt19937 rng(5);
  auto a = rnd<float>({9, 32}, rng), w = rnd<float>({24, 32}, rng), bias = rnd<float>({24}, rng);
  Tensor<float> c({9, 24});
  ops::Matmul<pmc::Cpu>::forward(a, w, c, false, true);
  for (std::int64_t i = 0; i < 9; ++i)
    for (std::int64_t j = 0; j < 24; ++j) c.at({i, j}) += bias[j];
  Tensor<float, Cuda> cd({9, 24});
  auto bias_d = dev(bias);
  cuda::GemmOptions opt;
  opt.epilogue = cuda::Epilogue::bias;
  opt.bias = bias_d.data();
  cuda::matmul(dev(a), dev(w), cd, false, true, 1.f, 0.f, opt);
  PMC_CHECK_PARITY(float, cd, c, "matmul + bias epilogue");
}

}  // namespace pmc::test

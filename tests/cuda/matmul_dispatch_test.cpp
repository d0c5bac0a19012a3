// SPDX-License-Identifier: MIT
// Matmul<Cuda>'s host logic, checked without a GPU: this test replaces cuda::gemm<float, float> with an
// emulation of cuBLASLt's column-major semantics on host memory, driven by the same lt_shapes() mapping the
// real call uses. So it checks the row-major -> column-major mapping, the view analysis (transposed views,
// leading dimensions), batching, shared-B folding and the batch reduction of dB against Matmul<Cpu>.
#include <doctest/doctest.h>

#include <random>
#include <vector>

#include <pmc/backends/cuda/cublaslt.hpp>
#include <pmc/pmc.hpp>
#include <support/compare.hpp>

namespace {
struct GemmCall {
  std::int64_t m, n, k, batch;
};
std::vector<GemmCall> calls;
}  // namespace

/// cuBLASLt, emulated: D (column-major c_rows x c_cols, ldc) = alpha op(A_lt) op(B_lt) + beta D per batch,
/// where A_lt is our b (ldb) and B_lt our a (lda), as lt_shapes() describes them.
template <>
void pmc::cuda::gemm<float, float>(std::int64_t m, std::int64_t n, std::int64_t k, std::int64_t batch,
                                   const float* a, std::int64_t lda, std::int64_t stride_a, bool trans_a,
                                   const float* b, std::int64_t ldb, std::int64_t stride_b, bool trans_b, float* c,
                                   std::int64_t ldc, std::int64_t stride_c, float alpha, float beta,
                                   const GemmOptions&) {
  calls.push_back({m, n, k, batch});
  const auto sh = detail::lt_shapes(m, n, k, trans_a, trans_b);
  REQUIRE(static_cast<std::int64_t>(sh.c_rows) == n);
  REQUIRE(static_cast<std::int64_t>(sh.c_cols) == m);
  REQUIRE(ldb >= static_cast<std::int64_t>(sh.a_rows));  // cuBLASLt's ld >= rows rule
  REQUIRE(lda >= static_cast<std::int64_t>(sh.b_rows));
  REQUIRE(ldc >= static_cast<std::int64_t>(sh.c_rows));
  for (std::int64_t i = 0; i < batch; ++i) {
    const float* A = b + i * stride_b;  // column-major (a_rows x a_cols), ld = ldb
    const float* B = a + i * stride_a;  // column-major (b_rows x b_cols), ld = lda
    float* D = c + i * stride_c;
    for (std::int64_t r = 0; r < n; ++r)
      for (std::int64_t col = 0; col < m; ++col) {
        double acc = 0;
        for (std::int64_t x = 0; x < k; ++x) {
          const float opa = sh.op_a == CUBLAS_OP_N ? A[r + x * ldb] : A[x + r * ldb];
          const float opb = sh.op_b == CUBLAS_OP_N ? B[x + col * lda] : B[col + x * lda];
          acc += static_cast<double>(opa) * opb;
        }
        float& d = D[r + col * ldc];
        d = static_cast<float>(alpha * acc + (beta == 0.f ? 0.0 : beta * static_cast<double>(d)));
      }
  }
}

namespace pmc::test {
namespace {

/// A "device" tensor over host memory (the emulated gemm reads it on the host).
struct HostBacked {
  std::vector<float> mem;
  Tensor<float, Cuda> t;
  explicit HostBacked(const Tensor<float>& src) : mem(src.to_vector()) {
    t = Tensor<float, Cuda>::wrap(mem.data(), src.shape());
  }
  Tensor<float> host() const { return Tensor<float>::from(t.shape(), std::span<const float>(mem)); }
};

void check(std::int64_t bt, std::int64_t m, std::int64_t k, std::int64_t n, bool ta, bool tb, bool shared_b) {
  std::mt19937 rng(static_cast<unsigned>(bt * 1000 + m + 7 * ta + 13 * tb + shared_b));
  auto shape = [&](std::int64_t r, std::int64_t c, bool t, bool batched) {
    Shape s = t ? Shape{c, r} : Shape{r, c};
    return batched ? (t ? Shape{bt, c, r} : Shape{bt, r, c}) : s;
  };
  const bool batched = bt > 0;
  auto a = random_tensor<float>(shape(m, k, ta, batched), rng);
  auto b = random_tensor<float>(shape(k, n, tb, batched && !shared_b), rng);
  auto c = random_tensor<float>(batched ? Shape{bt, m, n} : Shape{m, n}, rng);
  HostBacked ad(a), bd(b), cd(c);
  ops::Matmul<Cpu>::forward(a, b, c, ta, tb, 0.5f, 1.f);
  ops::Matmul<Cuda>::forward(ad.t, bd.t, cd.t, ta, tb, 0.5f, 1.f);
  CHECK(max_rel_diff(cd.host(), c) <= 1e-5);

  auto dc = random_tensor<float>(c.shape(), rng);
  auto da = random_tensor<float>(a.shape(), rng), db = random_tensor<float>(b.shape(), rng);
  HostBacked dcd(dc), dad(da), dbd(db);
  ops::Matmul<Cpu>::backward(a, b, dc, da, db, ta, tb);
  ops::Matmul<Cuda>::backward(ad.t, bd.t, dcd.t, dad.t, dbd.t, ta, tb);
  CHECK(max_rel_diff(dad.host(), da) <= 1e-5);
  CHECK(max_rel_diff(dbd.host(), db) <= 1e-5);
}

}  // namespace

TEST_CASE("cuda matmul dispatch: 2-D, batched, shared B, every transpose") {
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      CAPTURE(ta);
      CAPTURE(tb);
      check(0, 7, 5, 6, ta, tb, false);
      check(3, 4, 5, 6, ta, tb, false);
      check(3, 4, 5, 6, ta, tb, true);
    }
}

TEST_CASE("cuda matmul dispatch: a shared B folds the batch into one GEMM, and so does dB") {
  calls.clear();
  check(3, 4, 5, 6, false, true, true);  // y = x Wᵀ over a batch: forward, dX, dW
  REQUIRE(calls.size() == 3);
  CHECK(calls[0].m == 12);   // forward: 3·4 rows, one GEMM
  CHECK(calls[0].batch == 1);
  CHECK(calls[1].m == 12);   // dX = dY W, one GEMM
  CHECK(calls[2].k == 12);   // dW = dYᵀ X summed over the batch: k = 3·4
}

TEST_CASE("cuda matmul dispatch: transposed and offset views") {
  std::mt19937 rng(9);
  auto a = random_tensor<float>({6, 9}, rng), b = random_tensor<float>({5, 6}, rng);
  Tensor<float> c({9, 5});
  ops::Matmul<Cpu>::forward(a.transpose(0, 1), b.transpose(0, 1), c, false, false);
  HostBacked ad(a), bd(b), cd(Tensor<float>({9, 5}));
  ops::Matmul<Cuda>::forward(ad.t.transpose(0, 1), bd.t.transpose(0, 1), cd.t, false, false);
  CHECK(max_rel_diff(cd.host(), c) <= 1e-5);
  // A column slice keeps unit stride with a larger leading dimension.
  Tensor<float> c2({6, 6});
  ops::Matmul<Cpu>::forward(a.slice(1, 2, 7), a.slice(1, 3, 8), c2, false, true);
  HostBacked c2d(Tensor<float>({6, 6}));
  ops::Matmul<Cuda>::forward(ad.t.slice(1, 2, 7), ad.t.slice(1, 3, 8), c2d.t, false, true);
  CHECK(max_rel_diff(c2d.host(), c2) <= 1e-5);
}

}  // namespace pmc::test

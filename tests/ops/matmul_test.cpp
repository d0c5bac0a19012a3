// SPDX-License-Identifier: MIT
// Matmul<Cpu>: forward against a naive double reference, backward against finite differences, 16-bit, errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include <pmc/backends/cpu/matmul.hpp>
#include <support/compare.hpp>
#include <support/gradcheck.hpp>

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace matmul_test {

namespace {

using pmc::Shape;
using pmc::Tensor;
using pmc::ops::Matmul;
using Mm = Matmul<pmc::Cpu>;
using pmc::test::random_tensor;

/// Shapes of A, B and C for op(A) (M, K), op(B) (K, N); batch 0 means 2-D; b_batched = false shares B.
struct Case {
  std::int64_t batch, m, k, n;
  bool ta, tb, b_batched;
  Shape a() const {
    Shape s = ta ? Shape{k, m} : Shape{m, k};
    return batch ? Shape{batch, s[0], s[1]} : s;
  }
  Shape b() const {
    Shape s = tb ? Shape{n, k} : Shape{k, n};
    return batch && b_batched ? Shape{batch, s[0], s[1]} : s;
  }
  Shape c() const { return batch ? Shape{batch, m, n} : Shape{m, n}; }
};

/// C = alpha op(A) op(B) + beta C0 in double with plain loops.
template <class T>
Tensor<double> reference(const Case& cs, const Tensor<T>& a, const Tensor<T>& b, double alpha, double beta,
                         const Tensor<double>& c0) {
  const auto av = pmc::test::to_doubles(a), bv = pmc::test::to_doubles(b), cv = pmc::test::to_doubles(c0);
  Tensor<double> c(cs.c());
  const std::int64_t nb = cs.batch ? cs.batch : 1, m = cs.m, k = cs.k, n = cs.n;
  for (std::int64_t bi = 0; bi < nb; ++bi)
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j) {
        double s = 0;
        for (std::int64_t p = 0; p < k; ++p) {
          const double x = av[static_cast<std::size_t>(bi * m * k + (cs.ta ? p * m + i : i * k + p))];
          const std::int64_t boff = cs.b_batched ? bi * k * n : 0;
          const double y = bv[static_cast<std::size_t>(boff + (cs.tb ? j * k + p : p * n + j))];
          s += x * y;
        }
        const std::size_t o = static_cast<std::size_t>(bi * m * n + i * n + j);
        c.data()[o] = alpha * s + (beta == 0 ? 0 : beta * cv[o]);
      }
  return c;
}

std::vector<Case> all_cases() {
  std::vector<Case> out;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      out.push_back({0, 5, 7, 3, ta == 1, tb == 1, false});
      out.push_back({3, 5, 7, 3, ta == 1, tb == 1, true});
      out.push_back({3, 5, 7, 3, ta == 1, tb == 1, false});
      out.push_back({2, 1, 9, 5, ta == 1, tb == 1, false});  // a single row: the decoding shape
    }
  return out;
}

std::string name(const Case& c) {
  std::ostringstream os;
  os << "batch " << c.batch << " ta " << c.ta << " tb " << c.tb << " shared B " << !c.b_batched;
  return os.str();
}

}  // namespace

TEST_CASE("matmul forward matches a naive reference for all transposes, batches and broadcast B") {
  std::mt19937 rng(1);
  for (const auto& cs : all_cases()) {
    CAPTURE(name(cs));
    const auto a = random_tensor<float>(cs.a(), rng), b = random_tensor<float>(cs.b(), rng);
    const auto c0 = random_tensor<double>(cs.c(), rng);
    Tensor<float> c(cs.c());
    Mm::forward(a, b, c, cs.ta, cs.tb);
    CHECK(pmc::test::max_abs_diff(c, reference(cs, a, b, 1, 0, c0)) < 1e-5);

    // alpha and beta, in double
    const auto ad = a.to<double>(), bd = b.to<double>();
    auto cd = c0.clone();
    Mm::forward(ad, bd, cd, cs.ta, cs.tb, 0.5f, -2.f);
    CHECK(pmc::test::max_abs_diff(cd, reference(cs, ad, bd, 0.5, -2, c0)) < 1e-12);
  }
}

TEST_CASE("matmul forward with beta = 0 overwrites NaN in C") {
  std::mt19937 rng(2);
  const auto a = random_tensor<float>({4, 6}, rng), b = random_tensor<float>({6, 3}, rng);
  Tensor<float> c({4, 3});
  c.fill(NAN);
  Mm::forward(a, b, c, false, false);
  for (float v : c.to_vector()) CHECK(std::isfinite(v));
}

TEST_CASE("matmul forward reads strided views: column slices, transposed views, no unit stride") {
  std::mt19937 rng(3);
  const auto base = random_tensor<double>({5, 11}, rng);
  const auto a = base.slice(1, 2, 9);                                      // (5, 7), rows 11 apart
  const auto w = random_tensor<double>({3, 7}, rng);                       // (N, K)
  const auto b = w.transpose(0, 1);                                        // (7, 3) view, column-major
  const auto picked = random_tensor<double>({7, 3, 2}, rng).select(2, 1);  // (7, 3), strides (6, 2)
  Tensor<double> c({5, 3}), expect({5, 3});
  const Case cs{0, 5, 7, 3, false, false, false};
  Mm::forward(a, b, c, false, false);
  CHECK(pmc::test::max_abs_diff(c, reference(cs, a.contiguous(), b.contiguous(), 1, 0, c)) < 1e-12);
  Mm::forward(a, picked, c, false, false);
  CHECK(pmc::test::max_abs_diff(c, reference(cs, a.contiguous(), picked.contiguous(), 1, 0, c)) < 1e-12);
  // the output may itself be a transposed view
  Tensor<double> ct({3, 5});
  Mm::forward(a, b, ct.transpose(0, 1), false, false);
  CHECK(pmc::test::max_abs_diff(ct.transpose(0, 1), reference(cs, a.contiguous(), b.contiguous(), 1, 0, c)) < 1e-12);
}

/// Float products of every edge of the own GEMM's blocking (sgemm.hpp: M >= 192; partial MR × NR tiles, K beyond
/// one depth block, N beyond one column block and up to six of them, M beyond one row block of ~4096, too few column
/// blocks for the threads), 2-D ones first.
std::vector<Case> blocked_cases() {
  std::vector<Case> cases;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      cases.push_back({0, 197, 19, 50, ta == 1, tb == 1, false});    // one partial tile each way
      cases.push_back({0, 203, 400, 433, ta == 1, tb == 1, false});  // two depth and several column blocks
    }
  cases.push_back({0, 4100, 16, 20, false, true, false});  // two row blocks, the second of a few rows
  cases.push_back({0, 200, 16, 2000, true, false, false});  // many column blocks
  cases.push_back({3, 70, 40, 48, false, true, false});    // a batch against a shared B (folded into one GEMM)
  cases.push_back({3, 200, 40, 48, true, false, true});    // a batch of separate products
  return cases;
}

/// Runs `gemm(a, b, c, alpha, beta)` (C = alpha op(A) op(B) + beta C) on random operands of `cs` twice, with beta = 0
/// into a C of NaN (which must not be read) and with alpha = 0.5, beta = -2, against the naive reference.
template <class Gemm>
void check_blocked(const Case& cs, std::mt19937& rng, Gemm gemm) {
  CAPTURE(name(cs));
  CAPTURE(cs.m);
  CAPTURE(cs.k);
  CAPTURE(cs.n);
  const auto a = random_tensor<float>(cs.a(), rng), b = random_tensor<float>(cs.b(), rng);
  const auto c0 = random_tensor<double>(cs.c(), rng);
  const double tol = 1e-6 * static_cast<double>(cs.k);  // float rounding of k products of |x| <= 1
  Tensor<float> c(cs.c());
  c.fill(NAN);
  gemm(a, b, c, 1.f, 0.f);
  CHECK(pmc::test::max_abs_diff(c, reference(cs, a, b, 1, 0, c0)) < tol);
  auto cb = c0.to<float>();
  gemm(a, b, cb, 0.5f, -2.f);
  CHECK(pmc::test::max_abs_diff(cb, reference(cs, a, b, 0.5, -2, c0)) < tol);
}

// Through Matmul<Cpu>, on the GEMM it chooses: the own kernel where compiled in (PMC_CPU_GEMM=avx2 or eigen choose
// another), Eigen otherwise.
TEST_CASE("matmul forward in float at blocked sizes matches a naive reference") {
  MESSAGE("float GEMMs of at least 192 x 16 x 16 run on: " << std::string(pmc::backends::cpu::float_gemm_name()));
  std::mt19937 rng(11);
  for (const auto& cs : blocked_cases())
    check_blocked(cs, rng, [&](const Tensor<float>& a, const Tensor<float>& b, Tensor<float>& c, float alpha,
                               float beta) { Mm::forward(a, b, c, cs.ta, cs.tb, alpha, beta); });
}

#ifdef PMC_HAVE_OWN_SGEMM
namespace sgemm = pmc::backends::cpu::sgemm;

/// op(X) of a stored row-major 2-D tensor as a GEMM operand.
pmc::backends::cpu::MatDesc<const float> operand(const Tensor<float>& x, bool trans) {
  const std::int64_t r = x.shape()[0], c = x.shape()[1];
  return trans ? pmc::backends::cpu::MatDesc<const float>{x.data(), c, r, 1, c, 0}
               : pmc::backends::cpu::MatDesc<const float>{x.data(), r, c, c, 1, 0};
}

/// A row-major 2-D tensor as the GEMM's output.
pmc::backends::cpu::MatDesc<float> output(Tensor<float>& c) {
  return {c.data(), c.shape()[0], c.shape()[1], c.shape()[1], 1, 0};
}

#if defined(__AVX512F__)
#define PMC_SGEMM_KERNELS sgemm::Avx2, sgemm::Avx512
#else
#define PMC_SGEMM_KERNELS sgemm::Avx2
#endif

// Each kernel compiled in, called directly: on an AVX-512 build this also checks the AVX2 kernel, which then
// runs only under PMC_CPU_GEMM=avx2.
TEST_CASE_TEMPLATE("sgemm kernel at every blocking edge matches a naive reference", K, PMC_SGEMM_KERNELS) {
  MESSAGE("kernel: " << std::string(K::name));
  std::mt19937 rng(14);
  // Packed A of the default size (one row block up to MC rows), and of 800 words: row blocks of one panel, each
  // holding both depth blocks of K = 400.
  for (const std::int64_t words : {sgemm::kPackedAWords, std::int64_t{800}})
    for (const auto& cs : blocked_cases())
      if (cs.batch == 0 && (words == sgemm::kPackedAWords || cs.m < 1000))
        check_blocked(cs, rng, [&](const Tensor<float>& a, const Tensor<float>& b, Tensor<float>& c, float alpha,
                                   float beta) {
          CAPTURE(words);
          sgemm::gemm<K>(operand(a, cs.ta), operand(b, cs.tb), output(c), alpha, beta, words);
        });
}

TEST_CASE("PMC_CPU_GEMM values name a GEMM, and an unknown one is an error naming the variable") {
  CHECK(sgemm::parse_choice("") == sgemm::Choice::native);
  CHECK(sgemm::parse_choice("native") == sgemm::Choice::native);
  CHECK(sgemm::parse_choice("eigen") == sgemm::Choice::eigen);
  CHECK(sgemm::parse_choice("avx2") == sgemm::Choice::avx2);
#if defined(__AVX512F__)
  CHECK(sgemm::parse_choice("avx512") == sgemm::Choice::avx512);  // float on AVX-512, bf16 widened onto it
#else
  CHECK_THROWS_WITH_AS(sgemm::parse_choice("avx512"), doctest::Contains("no AVX-512 kernel"), pmc::Error);
#endif
  CHECK_THROWS_WITH_AS(sgemm::parse_choice("mkl"), doctest::Contains("PMC_CPU_GEMM=mkl: unknown GEMM"), pmc::Error);
}

#ifdef _OPENMP
// The own kernels sum each element in an order that does not depend on the threads (Eigen's does: its blocking
// follows the thread count).
TEST_CASE_TEMPLATE("sgemm kernel gives the same bits on one thread and on several", K, PMC_SGEMM_KERNELS) {
  std::mt19937 rng(13);
  const Case cs{0, 300, 500, 400, false, true, false};
  const auto a = random_tensor<float>(cs.a(), rng), b = random_tensor<float>(cs.b(), rng);
  Tensor<float> one(cs.c()), many(cs.c());
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  sgemm::gemm<K>(operand(a, cs.ta), operand(b, cs.tb), output(one), 1.f, 0.f);
  omp_set_num_threads(std::max(threads, 3));  // more threads than cores still splits the work
  sgemm::gemm<K>(operand(a, cs.ta), operand(b, cs.tb), output(many), 1.f, 0.f);
  Tensor<float> blocks(cs.c());  // row blocks of a few dozen rows: the same sums
  sgemm::gemm<K>(operand(a, cs.ta), operand(b, cs.tb), output(blocks), 1.f, 0.f, 24 * 2 * 384);
  omp_set_num_threads(threads);
  CHECK(one.to_vector() == many.to_vector());
  CHECK(one.to_vector() == blocks.to_vector());
}
#endif
#endif  // PMC_HAVE_OWN_SGEMM

TEST_CASE("matmul backward in float at blocked sizes sums a shared weight's gradient over the batch") {
  std::mt19937 rng(12);
  // A linear layer's three products: y = x·Wᵀ, dx += dy·W, dW += dyᵀ·x with x (2, 100, 200), W (200, 200).
  const Case cs{2, 100, 200, 200, false, true, false};
  const auto x = random_tensor<float>(cs.a(), rng), w = random_tensor<float>(cs.b(), rng);
  const auto dy = random_tensor<float>(cs.c(), rng);
  Tensor<float> dx(cs.a()), dw(cs.b());
  dw.fill(1.f);  // accumulates onto what is there
  Mm::backward(x, w, dy, dx, dw, cs.ta, cs.tb);
  const auto xv = x.to_vector(), wv = w.to_vector(), dyv = dy.to_vector(), dxv = dx.to_vector(), dwv = dw.to_vector();
  double err_dx = 0, err_dw = 0;
  for (std::int64_t bi = 0; bi < cs.batch; ++bi)
    for (std::int64_t t = 0; t < cs.m; ++t)
      for (std::int64_t p = 0; p < cs.k; ++p) {
        double s = 0;
        for (std::int64_t j = 0; j < cs.n; ++j)
          s += double(dyv[static_cast<std::size_t>((bi * cs.m + t) * cs.n + j)]) * wv[static_cast<std::size_t>(j * cs.k + p)];
        err_dx = std::max(err_dx, std::abs(s - dxv[static_cast<std::size_t>((bi * cs.m + t) * cs.k + p)]));
      }
  for (std::int64_t j = 0; j < cs.n; ++j)
    for (std::int64_t p = 0; p < cs.k; ++p) {
      double s = 1;
      for (std::int64_t r = 0; r < cs.batch * cs.m; ++r)
        s += double(dyv[static_cast<std::size_t>(r * cs.n + j)]) * xv[static_cast<std::size_t>(r * cs.k + p)];
      err_dw = std::max(err_dw, std::abs(s - dwv[static_cast<std::size_t>(j * cs.k + p)]));
    }
  CHECK(err_dx < 1e-4);
  CHECK(err_dw < 2e-4);
}

TEST_CASE("matmul backward matches finite differences (double)") {
  std::mt19937 rng(4);
  for (const auto& cs : all_cases()) {
    CAPTURE(name(cs));
    const auto a = random_tensor<double>(cs.a(), rng), b = random_tensor<double>(cs.b(), rng);
    const auto dy = random_tensor<double>(cs.c(), rng);
    Tensor<double> da(cs.a()), db(cs.b()), y(cs.c());
    Mm::backward(a, b, dy, da, db, cs.ta, cs.tb);
    auto loss = [&] {
      Mm::forward(a, b, y, cs.ta, cs.tb);
      return pmc::test::dot(dy, y);
    };
    CHECK(pmc::test::gradcheck("matmul dA", a, da, loss) < 1e-6);
    CHECK(pmc::test::gradcheck("matmul dB", b, db, loss) < 1e-6);
  }
}

TEST_CASE("matmul backward accumulates and skips undefined gradients") {
  std::mt19937 rng(5);
  const Case cs{3, 4, 5, 6, false, true, false};
  const auto a = random_tensor<double>(cs.a(), rng), b = random_tensor<double>(cs.b(), rng);
  const auto dy = random_tensor<double>(cs.c(), rng);
  Tensor<double> da(cs.a()), db(cs.b());
  Mm::backward(a, b, dy, da, Tensor<double>{}, cs.ta, cs.tb);
  for (double v : db.to_vector()) CHECK(v == 0);
  const auto once = da.clone();
  Mm::backward(a, b, dy, da, db, cs.ta, cs.tb);
  auto twice = once.clone();
  for (std::int64_t i = 0; i < twice.numel(); ++i) twice.data()[i] *= 2;
  CHECK(pmc::test::max_abs_diff(da, twice) < 1e-12);
  Mm::backward(a, b, dy, Tensor<double>{}, Tensor<double>{}, cs.ta, cs.tb);  // nothing to do, no throw
}

TEST_CASE("matmul forward in bf16 and f16 agrees with float") {
  std::mt19937 rng(6);
  // The decoding path (few rows against a (N, K) weight), the staged path, and a K large enough that the
  // staging splits rows and columns into several blocks.
  const std::vector<Case> cases{{0, 3, 64, 33, false, true, false},
                                {2, 17, 40, 9, false, false, false},
                                {0, 13, 24, 20, true, true, false},
                                {0, 70, 1 << 16, 70, false, true, false}};
  for (const auto& cs : cases) {
    CAPTURE(name(cs));
    const auto a = random_tensor<float>(cs.a(), rng), b = random_tensor<float>(cs.b(), rng);
    const auto ab = a.to<pmc::bf16>(), bb = b.to<pmc::bf16>();
    const auto ah = a.to<pmc::f16>(), bh = b.to<pmc::f16>();
    Tensor<pmc::bf16> cb(cs.c());
    Tensor<pmc::f16> ch(cs.c());
    Mm::forward(ab, bb, cb, cs.ta, cs.tb);
    Mm::forward(ah, bh, ch, cs.ta, cs.tb);
    // Reference: the product of the rounded inputs (naive in double; for the long K, the float product,
    // itself checked against the naive one above); the outputs may differ by their own rounding.
    auto product = [&](const auto& x, const auto& y) {
      if (cs.k < 4096) return reference(cs, x, y, 1, 0, Tensor<double>(cs.c()));
      Tensor<float> r(cs.c());
      Mm::forward(x.template to<float>(), y.template to<float>(), r, cs.ta, cs.tb);
      return r.to<double>();
    };
    const auto rb = product(ab, bb), rh = product(ah, bh);
    CHECK(pmc::test::max_rel_diff(cb, rb) < 1.0 / 128);
    CHECK(pmc::test::max_rel_diff(ch, rh) < 1.0 / 1024);
    CHECK(pmc::test::nmse(cb, rb) < 1e-4);
    // and within bf16 input rounding of the float product
    Tensor<float> cf(cs.c());
    Mm::forward(a, b, cf, cs.ta, cs.tb);
    CHECK(pmc::test::nmse(cb, cf) < 1e-4);
  }
  // alpha, beta on 16-bit accumulate in float
  const auto a = random_tensor<pmc::bf16>({2, 8}, rng), b = random_tensor<pmc::bf16>({5, 8}, rng);
  auto c = random_tensor<pmc::bf16>({2, 5}, rng);
  const auto c0 = c.to<double>();
  Mm::forward(a, b, c, false, true, 2.f, 1.f);
  CHECK(pmc::test::max_abs_diff(c, reference(Case{0, 2, 8, 5, false, true, false}, a, b, 2, 1, c0)) < 0.05);
}

TEST_CASE("matmul shape errors are pmc::Error naming the shapes") {
  Tensor<float> a({4, 5}), b({6, 3}), c({4, 3});
  CHECK_THROWS_AS(Mm::forward(a, b, c, false, false), pmc::Error);
  CHECK_THROWS_WITH(Mm::forward(a, b, c, false, false), doctest::Contains("(6, 3)"));
  Tensor<float> b2({5, 3}), bad_c({4, 4});
  CHECK_THROWS_AS(Mm::forward(a, b2, bad_c, false, false), pmc::Error);
  CHECK_THROWS_WITH(Mm::forward(a, b2, bad_c, false, false), doctest::Contains("(4, 4)"));
  Tensor<float> a3({2, 4, 5}), b3({3, 5, 3}), c3({2, 4, 3});
  CHECK_THROWS_AS(Mm::forward(a3, b3, c3, false, false), pmc::Error);  // batch 2 vs 3
  Tensor<float> v({5});
  CHECK_THROWS_AS(Mm::forward(v, b2, c, false, false), pmc::Error);
  Tensor<float> da({5, 4});
  CHECK_THROWS_AS(Mm::backward(a, b2, c, da, Tensor<float>{}, false, false), pmc::Error);
}

}  // namespace matmul_test

// SPDX-License-Identifier: MIT
// The bf16 matrix-vector product of decoding (backends/cpu/bgemv.hpp): every kernel compiled in against a double
// reference of the same bf16 inputs at the edges of its steps (K around 8, 16 and 32, N around its groups of 4
// columns, 1 to 4 rows of x), with alpha and beta; the same bits at 1, 2 and 3 threads; Matmul<Cpu> sending a
// decoding product of bf16 tensors to it.
//
// The bound (bgemv.hpp): a float sum of the exact products, |y − ref| ≤ (K + 4) · 2^-24 · (|alpha| Σ|x||w| +
// |beta y0|) plus the final rounding to bf16, 2^-8 |y|. The test allows twice the float part. A kernel that drops
// or doubles one product, or reads a wrong element or row, is off by about |x||w|, far beyond it.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>
#include <cstdint>
#include <initializer_list>
#include <random>
#include <type_traits>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include <pmc/backends/cpu/matmul.hpp>
#include <pmc/pmc.hpp>
#include <support/paths.hpp>

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace bf16_gemv_test {

namespace {

using pmc::bf16;
using pmc::backends::cpu::MatDesc;
namespace bgemv = pmc::backends::cpu::bgemv;

std::vector<bgemv::Kernel> compiled_kernels() {
  std::vector<bgemv::Kernel> out;
  for (auto k : {bgemv::Kernel::scalar, bgemv::Kernel::avx2, bgemv::Kernel::avx512, bgemv::Kernel::avx512bf16})
    if (bgemv::compiled(k)) out.push_back(k);
  return out;
}

/// n values uniform in [-1, 1), rounded to T (bf16 or float).
template <class T>
std::vector<T> random_values(std::int64_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<T> v(static_cast<std::size_t>(n));
  for (auto& e : v) e = T(u(rng));
  return v;
}
std::vector<bf16> random_bf16(std::int64_t n, std::mt19937& rng) { return random_values<bf16>(n, rng); }

/// y = alpha · x · Wᵀ + beta · y on kernel k; x (m, K) rows ldx apart, W (n, K) rows ldw apart, y (m, n); bf16 or
/// float.
template <class T>
std::vector<T> run(bgemv::Kernel k, const std::vector<T>& x, std::int64_t m, std::int64_t K, std::int64_t ldx,
                   const std::vector<T>& w, std::int64_t n, std::int64_t ldw, std::vector<T> y, float alpha,
                   float beta) {
  const MatDesc<const T> xd = MatDesc<const T>{x.data(), m, K, ldx, 1, 0}.normalized();
  const MatDesc<const T> bd = MatDesc<const T>{w.data(), K, n, 1, ldw, 0}.normalized();
  bgemv::gemv(k, xd, bd, MatDesc<T>{y.data(), m, n, n, 1, 0}.normalized(), alpha, beta);
  return y;
}

/// The exact Σ_p x[p]·w[p] over K pairs of bf16 or float (double), and Σ |x[p]·w[p]| for the bound.
struct ExactDot {
  double sum = 0, abs = 0;
};
template <class T>
ExactDot exact_dot(const T* x, const T* w, std::int64_t K) {
  ExactDot d;
  for (std::int64_t p = 0; p < K; ++p) {
    const double prod = static_cast<double>(static_cast<float>(x[p])) * static_cast<float>(w[p]);
    d.sum += prod;
    d.abs += std::abs(prod);
  }
  return d;
}

#ifdef _OPENMP
/// Every compiled kernel gives the same bits at 1, 2 and 3 threads on x (m, K) against W (n, K).
template <class T>
void check_same_bits_across_threads(const std::vector<T>& x, std::int64_t m, std::int64_t K, const std::vector<T>& w,
                                    std::int64_t n) {
  const int saved = omp_get_max_threads();
  for (auto k : compiled_kernels()) {
    CAPTURE(bgemv::kernel_name(k));
    std::vector<std::vector<T>> outs;
    for (int t : {1, 2, 3}) {
      omp_set_num_threads(t);
      outs.push_back(run(k, x, m, K, K, w, n, K, std::vector<T>(static_cast<std::size_t>(m * n)), 1.f, 0.f));
    }
    omp_set_num_threads(saved);
    CHECK(std::memcmp(outs[0].data(), outs[1].data(), outs[0].size() * sizeof(T)) == 0);
    CHECK(std::memcmp(outs[0].data(), outs[2].data(), outs[0].size() * sizeof(T)) == 0);
  }
}
#endif

}  // namespace

/// Every compiled kernel on bf16 or float x (m, K) against W (n, K) for each m, K, n, rows padded (the kernel must
/// follow the strides), alpha = 1, beta = 0 (into a y of NaN: beta = 0 must not read y) and alpha = 0.5, beta = -2:
/// within twice the float bound of the exact product, plus a bf16 y's final rounding (2^-8 |y|).
template <class T>
void check_against_reference(std::mt19937& rng, std::initializer_list<std::int64_t> ms,
                             std::initializer_list<std::int64_t> Ks, std::initializer_list<std::int64_t> ns) {
  const double round = std::is_same_v<T, bf16> ? std::ldexp(1.0, -8) : 0.0;
  const auto kernels = compiled_kernels();
  INFO("kernels compiled in: ", kernels.size());
  for (std::int64_t m : ms)
    for (std::int64_t K : Ks)
      for (std::int64_t n : ns) {
        const std::int64_t ldx = K + 3, ldw = K + 5;
        const auto x = random_values<T>(m * ldx, rng), w = random_values<T>(n * ldw, rng);
        const auto y0 = random_values<T>(m * n, rng);
        for (const auto& [alpha, beta] : {std::pair{1.f, 0.f}, std::pair{0.5f, -2.f}}) {
          std::vector<double> ref(static_cast<std::size_t>(m * n)), bound(ref.size());
          for (std::int64_t i = 0; i < m; ++i)
            for (std::int64_t j = 0; j < n; ++j) {
              const auto [s, a] = exact_dot(x.data() + i * ldx, w.data() + j * ldw, K);
              const std::size_t o = static_cast<std::size_t>(i * n + j);
              const double cb = beta == 0.f ? 0.0 : static_cast<double>(beta) * static_cast<float>(y0[o]);
              ref[o] = alpha * s + cb;
              bound[o] = 2.0 * static_cast<double>(K + 4) * std::ldexp(1.0, -24) * (std::abs(alpha) * a + std::abs(cb));
            }
          for (auto k : kernels) {
            CAPTURE(bgemv::kernel_name(k));
            CAPTURE(m);
            CAPTURE(K);
            CAPTURE(n);
            CAPTURE(beta);
            std::vector<T> yin = y0;
            if (beta == 0.f) std::fill(yin.begin(), yin.end(), T(NAN));
            const auto y = run(k, x, m, K, ldx, w, n, ldw, yin, alpha, beta);
            int bad = 0;
            for (std::size_t o = 0; o < y.size(); ++o) {
              const double err = std::abs(static_cast<double>(static_cast<float>(y[o])) - ref[o]);
              if (!(err <= (1 + round) * bound[o] + round * std::abs(ref[o]))) ++bad;
            }
            CHECK(bad == 0);
          }
        }
      }
}

TEST_CASE("bf16 gemv: every compiled kernel matches a double reference within fp32 accumulation") {
  std::mt19937 rng(7);
  check_against_reference<bf16>(rng, {1, 2, 3, 4}, {1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 100, 2053},
                                {1, 3, 4, 5, 9, 64});
}

TEST_CASE("bf16 gemv gives the same bits at 1, 2 and 3 threads") {
#ifndef _OPENMP
  PMC_SKIP("built without OpenMP: one thread only");
#else
  std::mt19937 rng(11);
  const std::int64_t m = 2, K = 1000, n = 4099;
  const auto x = random_bf16(m * K, rng), w = random_bf16(n * K, rng);
  check_same_bits_across_threads(x, m, K, w, n);
#endif
}

TEST_CASE("Matmul<Cpu> sends a decoding product of bf16 tensors to the gemv kernel") {
  std::mt19937 rng(3);
  const std::int64_t K = 96, n = 37;
  for (std::int64_t m : {1, 4, 5}) {
    CAPTURE(m);
    const auto xv = random_bf16(m * K, rng), wv = random_bf16(n * K, rng);
    auto x = pmc::Tensor<bf16, pmc::Cpu>::empty({m, K});
    auto w = pmc::Tensor<bf16, pmc::Cpu>::empty({n, K});
    std::copy(xv.begin(), xv.end(), x.data());
    std::copy(wv.begin(), wv.end(), w.data());
    auto y = pmc::Tensor<bf16, pmc::Cpu>::empty({m, n});
    pmc::ops::Matmul<pmc::Cpu>::forward(x, w, y, false, true);
    if (m <= bgemv::kMaxRows) {
      // the exact bits of the kernel decoding runs
      const auto expect = run(bgemv::kernel(), xv, m, K, K, wv, n, K, std::vector<bf16>(static_cast<std::size_t>(m * n)),
                              1.f, 0.f);
      CHECK(std::memcmp(expect.data(), y.data(), expect.size() * sizeof(bf16)) == 0);
    } else {
      // five rows go to the GEMM: the same values within the bound, not necessarily the same bits
      double worst = 0;
      for (std::int64_t i = 0; i < m; ++i)
        for (std::int64_t j = 0; j < n; ++j) {
          const auto [s, a] = exact_dot(xv.data() + i * K, wv.data() + j * K, K);
          const double err = std::abs(static_cast<double>(static_cast<float>(y.data()[i * n + j])) - s);
          worst = std::max(worst, err / (std::ldexp(1.0, -8) * std::abs(s) + 2 * (K + 4) * std::ldexp(1.0, -24) * a));
        }
      CHECK(worst <= 1.0);
    }
  }
}

// The same kernels on float rows (decoding a float model): against a double reference within the same bound
// (each FMA adds an exact product with one rounding), at the edges of the 16-, 32- and 64-element steps; the same
// bits at 1, 2 and 3 threads; Matmul<Cpu> sending a float decoding product here.

TEST_CASE("float gemv: every compiled kernel matches a double reference within fp32 accumulation") {
  std::mt19937 rng(17);
  check_against_reference<float>(rng, {1, 2, 4}, {1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 2053},
                                 {1, 3, 5, 64});
}

TEST_CASE("float gemv gives the same bits at 1, 2 and 3 threads, and Matmul<Cpu> runs decoding on it") {
  std::mt19937 rng(19);
  const std::int64_t m = 1, K = 1000, n = 4099;
  const auto x = random_values<float>(m * K, rng), w = random_values<float>(n * K, rng);
#ifdef _OPENMP
  check_same_bits_across_threads(x, m, K, w, n);
#endif
  auto xt = pmc::Tensor<float, pmc::Cpu>::empty({m, K});
  auto wt = pmc::Tensor<float, pmc::Cpu>::empty({n, K});
  std::copy(x.begin(), x.end(), xt.data());
  std::copy(w.begin(), w.end(), wt.data());
  auto y = pmc::Tensor<float, pmc::Cpu>::empty({m, n});
  pmc::ops::Matmul<pmc::Cpu>::forward(xt, wt, y, false, true);
  if (bgemv::kernel() == bgemv::Kernel::scalar) {
    MESSAGE("PMC_CPU_GEMM=eigen (or no vector kernel): float decoding stays on Eigen's GEMV");
  } else {
    const auto expect = run(bgemv::kernel(), x, m, K, K, w, n, K, std::vector<float>(static_cast<std::size_t>(n)),
                                  1.f, 0.f);
    CHECK(std::memcmp(expect.data(), y.data(), expect.size() * sizeof(float)) == 0);
  }
}

}  // namespace bf16_gemv_test

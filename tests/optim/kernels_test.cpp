// SPDX-License-Identifier: MIT
// The CPU kernels on buffers spanning several OpenMP chunks with odd tails, against scalar references.
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include <doctest/doctest.h>

#include <pmc/backends/cpu/ops.hpp>
#include <pmc/optim/optim.hpp>

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace kernels_test {

using namespace pmc;
using namespace pmc::ops;

TEST_CASE_TEMPLATE("AdamWKernel<Cpu> over chunks and tails equals the scalar formula", T, float, double) {
  const std::int64_t n = 3 * 4096 + 13;  // 4 chunks; the vector body leaves a scalar tail in the last one
  std::vector<T> p(n), g(n), m(n), v(n);
  for (std::int64_t i = 0; i < n; ++i) {
    const auto x = static_cast<double>(i);
    p[i] = static_cast<T>(std::sin(0.1 * x));
    g[i] = static_cast<T>(std::cos(0.37 * x) * 1e-2);
    m[i] = static_cast<T>(std::sin(0.05 * x) * 1e-3);
    v[i] = static_cast<T>(1e-6 * (1 + std::cos(0.2 * x)));
  }
  auto rp = p, rm = m, rv = v;
  const AdamWCoefficients c{.decay = 1 - 1e-3 * 0.1, .one_minus_beta1 = 0.1, .beta2 = 0.95, .one_minus_beta2 = 0.05,
                            .step_size = 1e-3 / (1 - std::pow(0.9, 3.0)), .bc2_sqrt = std::sqrt(1 - std::pow(0.95, 3.0)),
                            .eps = 1e-8};
  AdamWKernel<Cpu>::step(p.data(), g.data(), m.data(), v.data(), n, c);
  int bad = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const T pp = rp[i] * static_cast<T>(c.decay);
    const T mm = rm[i] + static_cast<T>(c.one_minus_beta1) * (g[i] - rm[i]);
    const T vv = rv[i] * static_cast<T>(c.beta2) + (static_cast<T>(c.one_minus_beta2) * g[i]) * g[i];
    const T want = pp + (static_cast<T>(-c.step_size) * mm) / (std::sqrt(vv) / static_cast<T>(c.bc2_sqrt) +
                                                                 static_cast<T>(c.eps));
    // a few ulps: the scalar reference may be contracted into FMAs where the compiler targets them
    const T tol = 4 * std::numeric_limits<T>::epsilon();
    bad += std::abs(p[i] - want) > tol * std::abs(want) || std::abs(m[i] - mm) > tol * std::abs(mm) ||
           std::abs(v[i] - vv) > tol * std::abs(vv);
  }
  CHECK(bad == 0);
}

TEST_CASE("ParamOps<Cpu> sum_squares, all_finite, axpy, convert over several chunks") {
  const std::int64_t n = 2 * 4096 + 7;
  std::vector<float> x(n);
  double want = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    x[i] = static_cast<float>(std::sin(0.3 * static_cast<double>(i)));
    want += static_cast<double>(x[i]) * x[i];
  }
  CHECK(ParamOps<Cpu>::sum_squares(x.data(), n) == doctest::Approx(want).epsilon(1e-12));  // summation order differs
  CHECK(ParamOps<Cpu>::all_finite(x.data(), n));
  x[n - 1] = std::numeric_limits<float>::infinity();  // in the tail of the last chunk
  CHECK_FALSE(ParamOps<Cpu>::all_finite(x.data(), n));
  x[n - 1] = 0.5f;
  std::vector<bf16> h(n);
  ParamOps<Cpu>::convert(x.data(), h.data(), n);
  std::vector<float> y(n, 1.f);
  ParamOps<Cpu>::axpy(h.data(), y.data(), n, 2.f);
  int bad = 0;
  for (std::int64_t i = 0; i < n; ++i) bad += h[i].bits != bf16(x[i]).bits || y[i] != 1.f + 2.f * float(h[i]);
  CHECK(bad == 0);
  CHECK(ParamOps<Cpu>::sum_squares(h.data(), n) > 0);
}

TEST_CASE("ParamOps<Cpu> convert to the same type copies bit for bit (signaling NaN payloads too) at 1 and 2 threads") {
  const std::int64_t n = 3 * 4096 + 5;
  std::vector<bf16> src(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) src[static_cast<std::size_t>(i)].bits = static_cast<std::uint16_t>(i * 40503u);
  src[4096].bits = 0x7f81;   // a signaling NaN, at a chunk's start: a convert through float would quieten it
  src[n - 1].bits = 0xff82;  // another, in the tail
#ifdef _OPENMP
  const int saved = omp_get_max_threads();
  for (const int threads : {1, 2}) {
    omp_set_num_threads(threads);
#endif
    std::vector<bf16> dst(src.size());
    ParamOps<Cpu>::convert(src.data(), dst.data(), n);
    std::int64_t differ = 0;
    for (std::size_t i = 0; i < src.size(); ++i) differ += dst[i].bits != src[i].bits;
    CHECK(differ == 0);
#ifdef _OPENMP
  }
  omp_set_num_threads(saved);
#endif
}

}  // namespace kernels_test

// SPDX-License-Identifier: MIT
// The AVX512-BF16 GEMM (backends/cpu/bgemm.hpp): against a double reference of the same bf16 inputs at every edge
// of its blocking, in each transpose a linear layer uses, with alpha and beta; the same bits at 1, 2 and 3 threads;
// and Matmul<Cpu> on bf16 tensors against the path it replaces (bf16 staged to float, gemm_lowp). The AMX kernel
// (amx.hpp) the same way, on the model of its tile instructions everywhere and on the CPU's tiles where it has them
// (then also bit for bit against the model). And bf16 widened onto the float kernels (sgemm.hpp's gemm<K, bf16>,
// the path of CPUs without AVX512-BF16) the same way, and bit for bit against the float GEMM of the widened values.
//
// The bound. Products of two bf16 are exact in float; vdpbf16ps adds them to an fp32 accumulator, at most two
// roundings (2^-24 relative each) per k pair, then alpha and beta cost two more. So for a float C
//   |c - ref| ≤ (K + 4) · 2^-24 · (|alpha| Σ_k |a||b| + |beta| |c0|)  (+ K · 2^-126 of flushed denormals)
// and a bf16 C adds its final rounding to nearest, ≤ 2^-8 |c| (8 significant bits). The tests use twice the
// float part. A kernel that drops or doubles one product, or reads a wrong element, is off by about |a||b|,
// far beyond it.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include <pmc/backends/cpu/amx.hpp>
#include <pmc/backends/cpu/matmul.hpp>
#include <pmc/pmc.hpp>
#include <support/compare.hpp>
#include <support/paths.hpp>

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace bf16_gemm_test {

#ifndef PMC_HAVE_OWN_SGEMM

TEST_CASE("bf16 GEMM: this build has no own GEMM kernel") {
  PMC_SKIP("built for a CPU without AVX2 + FMA (-march=native): bf16 products run staged to float, which "
           "tests/ops/matmul_test.cpp covers");
}

#else

namespace {

using pmc::bf16;
using pmc::Tensor;
using pmc::backends::cpu::MatDesc;
namespace sgemm = pmc::backends::cpu::sgemm;
#ifdef PMC_HAVE_OWN_BGEMM
namespace bgemm = pmc::backends::cpu::bgemm;

/// The GEMMs under test, as gemm<TC>(a, b, c, alpha, beta, partial_floats). Bgemm<K>: bgemm.hpp on micro-kernel K.
template <class K>
struct Bgemm {
  template <class TC>
  static void gemm(const MatDesc<const bf16>& a, const MatDesc<const bf16>& b, const MatDesc<TC>& c, float alpha,
                   float beta, std::int64_t partial_floats = sgemm::kPartialFloats) {
    bgemm::gemm<TC, K>(a, b, c, alpha, beta, partial_floats);
  }
};
#endif

/// bf16 widened onto sgemm.hpp's float kernel F (Avx2 or Avx512) as it is packed.
template <class F>
struct Widened {
  template <class TC>
  static void gemm(const MatDesc<const bf16>& a, const MatDesc<const bf16>& b, const MatDesc<TC>& c, float alpha,
                   float beta, std::int64_t partial_floats = sgemm::kPartialFloats) {
    sgemm::gemm<F, bf16, TC>(a, b, c, alpha, beta, sgemm::kPackedAWords, partial_floats);
  }
};

struct Shape3 {
  std::int64_t m, k, n;
};

/// op(X) of a stored matrix of op's shape (rows, cols): row-major, or stored transposed (cols, rows).
struct Operand {
  std::vector<bf16> data;
  std::int64_t rows, cols;
  bool trans;
  MatDesc<const bf16> desc() const {
    return trans ? MatDesc<const bf16>{data.data(), rows, cols, 1, rows, 0}.normalized()
                 : MatDesc<const bf16>{data.data(), rows, cols, cols, 1, 0}.normalized();
  }
  float at(std::int64_t i, std::int64_t j) const {
    return static_cast<float>(data[static_cast<std::size_t>(trans ? j * rows + i : i * cols + j)]);
  }
};

Operand random_operand(std::int64_t rows, std::int64_t cols, bool trans, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  Operand o{std::vector<bf16>(static_cast<std::size_t>(rows * cols)), rows, cols, trans};
  for (auto& v : o.data) v = bf16(u(rng));
  return o;
}

/// The exact (double) alpha · op(A) · op(B) + beta · C0, and the bound above per element for a float C.
struct Reference {
  std::vector<double> value, bound;
};

Reference reference(const Operand& a, const Operand& b, const std::vector<float>& c0, float alpha, float beta) {
  const std::int64_t m = a.rows, k = a.cols, n = b.cols;
  const auto mn = static_cast<std::size_t>(m * n);
  Reference r{std::vector<double>(mn), std::vector<double>(mn)};
  std::vector<double> bt(static_cast<std::size_t>(k * n));
  for (std::int64_t p = 0; p < k; ++p)
    for (std::int64_t j = 0; j < n; ++j) bt[static_cast<std::size_t>(j * k + p)] = b.at(p, j);
  std::vector<double> ar(static_cast<std::size_t>(k));
  for (std::int64_t i = 0; i < m; ++i) {
    for (std::int64_t p = 0; p < k; ++p) ar[static_cast<std::size_t>(p)] = a.at(i, p);
    for (std::int64_t j = 0; j < n; ++j) {
      const double* bj = bt.data() + j * k;
      double s = 0, abs = 0;
      for (std::int64_t p = 0; p < k; ++p) {
        s += ar[static_cast<std::size_t>(p)] * bj[p];
        abs += std::abs(ar[static_cast<std::size_t>(p)] * bj[p]);
      }
      const std::size_t o = static_cast<std::size_t>(i * n + j);
      const double cb = beta == 0.f ? 0.0 : static_cast<double>(beta) * c0[o];
      r.value[o] = alpha * s + cb;
      r.bound[o] = 2.0 * static_cast<double>(k + 4) * std::ldexp(1.0, -24) * (std::abs(alpha) * abs + std::abs(cb)) +
                   static_cast<double>(k) * std::ldexp(1.0, -126);
    }
  }
  return r;
}

/// Runs G::gemm<TC> (G: Bgemm<K> or Widened<F>) on `s` with op(A), op(B) stored as `ta`, `tb`: beta = 0 into a C of
/// NaN (which must not be read) and alpha = 0.5, beta = -2; checks each element against the reference within the
/// bound.
template <class TC, class G>
void check_shape(const Shape3& s, bool ta, bool tb, std::mt19937& rng, std::int64_t partial_floats) {
  CAPTURE(s.m);
  CAPTURE(s.k);
  CAPTURE(s.n);
  CAPTURE(ta);
  CAPTURE(tb);
  CAPTURE(partial_floats);
  const auto a = random_operand(s.m, s.k, ta, rng), b = random_operand(s.k, s.n, tb, rng);
  std::vector<float> c0(static_cast<std::size_t>(s.m * s.n));
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (auto& v : c0) v = static_cast<float>(TC(u(rng)));  // representable in TC
  const double round_c = std::is_same_v<TC, bf16> ? std::ldexp(1.0, -8) : 0.0;
  for (const auto& [alpha, beta] : {std::pair{1.f, 0.f}, std::pair{0.5f, -2.f}}) {
    CAPTURE(alpha);
    CAPTURE(beta);
    std::vector<TC> c(c0.size());
    for (std::size_t i = 0; i < c.size(); ++i) c[i] = beta == 0.f ? TC(NAN) : TC(c0[i]);
    G::template gemm<TC>(a.desc(), b.desc(), MatDesc<TC>{c.data(), s.m, s.n, s.n, 1, 0}, alpha, beta, partial_floats);
    const auto r = reference(a, b, c0, alpha, beta);
    std::size_t bad = 0, first_bad = 0;
    double worst = 0;  // the largest error as a fraction of its bound
    for (std::size_t i = 0; i < c.size(); ++i) {
      const double got = static_cast<float>(c[i]);
      const double err = std::abs(got - r.value[i]);
      const double bound = (1 + round_c) * r.bound[i] + round_c * std::abs(r.value[i]);
      if (!(err <= bound)) {
        if (bad++ == 0) first_bad = i;
      }
      if (bound > 0) worst = std::max(worst, err / bound);
    }
    CAPTURE(first_bad);
    CAPTURE(worst);
    CHECK(bad == 0);
  }
}

/// Shapes at the blocking's edges: MR = 8, NR = 48, KC = 768 (bf16), NC = 384, MC = 4096; K odd; 1 × 1 × 1.
std::vector<Shape3> edge_shapes() {
  return {{1, 1, 1},      {1, 2, 1},     {8, 16, 48},    {7, 15, 47},    {9, 17, 49},   {16, 2, 96},
          {33, 768, 385}, {24, 769, 384}, {17, 767, 97}, {200, 100, 50}, {5, 1537, 30}, {9, 1536, 770}};
}

/// bgemm's edge shapes and those of the float kernels: AVX2 MR = 6, NR = 16, KC = 256; AVX-512 MR = 8, NR = 48,
/// KC = 384; NC = 384 both, MC = 4092 (AVX2) or 4096.
std::vector<Shape3> widened_edge_shapes() {
  auto shapes = edge_shapes();
  for (const auto& s : std::vector<Shape3>{{6, 16, 16}, {5, 255, 15}, {7, 257, 17}, {13, 512, 385}, {12, 513, 383},
                                           {6, 383, 768}, {11, 385, 47}, {4093, 20, 17}})
    shapes.push_back(s);
  return shapes;
}

/// check_shape<TC, G> on `shapes` in each transpose (float and bf16 C), over two row blocks (MC = 4096, the second
/// of a few rows), and over several depth blocks with small partial-sum buffers (a bf16 C keeps float partial sums
/// per row block: row blocks of 8 and 24 rows for 100 columns, with partial tiles, in each transpose).
template <class G>
void check_edges(std::mt19937& rng, const std::vector<Shape3>& shapes) {
  for (const auto& s : shapes)
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb) {
        check_shape<float, G>(s, ta == 1, tb == 1, rng, sgemm::kPartialFloats);
        check_shape<bf16, G>(s, ta == 1, tb == 1, rng, sgemm::kPartialFloats);
      }
  check_shape<bf16, G>({4100, 40, 20}, false, true, rng, sgemm::kPartialFloats);
  check_shape<float, G>({4100, 40, 20}, false, true, rng, sgemm::kPartialFloats);
  for (const std::int64_t floats : {800, 2400})
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb) check_shape<bf16, G>({61, 1600, 100}, ta == 1, tb == 1, rng, floats);
}

#ifdef PMC_HAVE_OWN_BGEMM
TEST_CASE("bf16 GEMM at every blocking edge matches a double reference within fp32 accumulation") {
  MESSAGE("bf16 products in Matmul<Cpu> run on: " << std::string(pmc::backends::cpu::bf16_gemm_name()));
  std::mt19937 rng(21);
  check_edges<Bgemm<bgemm::Dpbf16>>(rng, edge_shapes());
}
#endif

TEST_CASE("bf16 widened onto the AVX2 float kernel at every blocking edge matches a double reference") {
  MESSAGE("bf16 products in Matmul<Cpu> run on: " << std::string(pmc::backends::cpu::bf16_gemm_name()));
  std::mt19937 rng(31);
  check_edges<Widened<sgemm::Avx2>>(rng, widened_edge_shapes());
}

#ifdef __AVX512F__
TEST_CASE("bf16 widened onto the AVX-512 float kernel at every blocking edge matches a double reference") {
  std::mt19937 rng(32);
  check_edges<Widened<sgemm::Avx512>>(rng, widened_edge_shapes());
}
#endif

/// Widened<F>'s products are the float GEMM's of the widened values: a float C has its bits, and a bf16 C (alpha = 1,
/// beta = 0) the bits of that float C rounded to bf16, in every transpose and over several depth and row blocks.
template <class F>
void check_widened_is_float_gemm(std::mt19937& rng) {
  for (const auto& s : std::vector<Shape3>{{37, 700, 130}, {200, 300, 400}, {9, 1000, 50}})
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb) {
        CAPTURE(s.m);
        CAPTURE(s.k);
        CAPTURE(s.n);
        CAPTURE(ta);
        CAPTURE(tb);
        const auto a = random_operand(s.m, s.k, ta == 1, rng), b = random_operand(s.k, s.n, tb == 1, rng);
        const std::vector<float> af(a.data.begin(), a.data.end()), bf(b.data.begin(), b.data.end());
        const auto desc = [](const std::vector<float>& v, const Operand& o) {
          return o.trans ? MatDesc<const float>{v.data(), o.rows, o.cols, 1, o.rows, 0}.normalized()
                         : MatDesc<const float>{v.data(), o.rows, o.cols, o.cols, 1, 0}.normalized();
        };
        const auto mn = static_cast<std::size_t>(s.m * s.n);
        std::vector<float> want(mn, 0.75f), got = want;
        sgemm::gemm<F>(desc(af, a), desc(bf, b), MatDesc<float>{want.data(), s.m, s.n, s.n, 1, 0}, 0.5f, -2.f);
        sgemm::gemm<F, bf16, float>(a.desc(), b.desc(), MatDesc<float>{got.data(), s.m, s.n, s.n, 1, 0}, 0.5f, -2.f);
        CHECK(got == want);
        std::vector<float> sum(mn);
        std::vector<bf16> rounded(mn, bf16(NAN));
        sgemm::gemm<F>(desc(af, a), desc(bf, b), MatDesc<float>{sum.data(), s.m, s.n, s.n, 1, 0}, 1.f, 0.f);
        sgemm::gemm<F, bf16, bf16>(a.desc(), b.desc(), MatDesc<bf16>{rounded.data(), s.m, s.n, s.n, 1, 0}, 1.f, 0.f,
                                   sgemm::kPackedAWords, 3000);
        std::size_t differ = 0;
        for (std::size_t i = 0; i < mn; ++i) differ += rounded[i].bits != bf16(sum[i]).bits;
        CHECK(differ == 0);
      }
}

TEST_CASE("bf16 widened onto a float kernel gives the float GEMM's bits on the widened values") {
  std::mt19937 rng(33);
  check_widened_is_float_gemm<sgemm::Avx2>(rng);
#ifdef __AVX512F__
  check_widened_is_float_gemm<sgemm::Avx512>(rng);
#endif
}

#ifdef PMC_HAVE_OWN_BGEMM
TEST_CASE("bf16 GEMM of empty products") {
  std::mt19937 rng(22);
  // K = 0: C = beta · C; M or N = 0: nothing.
  std::vector<bf16> c{bf16(1.f), bf16(-2.f), bf16(3.f), bf16(0.5f)};
  std::vector<bf16> none;
  bgemm::gemm<bf16>(MatDesc<const bf16>{none.data(), 2, 0, 0, 1, 0}, MatDesc<const bf16>{none.data(), 0, 2, 2, 1, 0},
                    MatDesc<bf16>{c.data(), 2, 2, 2, 1, 0}, 1.f, 2.f);
  CHECK(static_cast<float>(c[0]) == 2.f);
  CHECK(static_cast<float>(c[1]) == -4.f);
  bgemm::gemm<bf16>(MatDesc<const bf16>{none.data(), 2, 0, 0, 1, 0}, MatDesc<const bf16>{none.data(), 0, 2, 2, 1, 0},
                    MatDesc<bf16>{c.data(), 2, 2, 2, 1, 0}, 1.f, 0.f);
  for (const auto v : c) CHECK(static_cast<float>(v) == 0.f);
  bgemm::gemm<bf16>(MatDesc<const bf16>{none.data(), 0, 5, 5, 1, 0}, MatDesc<const bf16>{none.data(), 5, 0, 0, 1, 0},
                    MatDesc<bf16>{none.data(), 0, 0, 0, 1, 0}, 1.f, 0.f);
}
#endif

/// Rows (1, 2^-8), (1 + 2^-7, 2^-8), (NaN, 1), (1, 2^-8 + 2^-15) of op(A) times columns (1, 1): sums halfway between
/// two bf16 values (down to the even 1, up to the even 1 + 2^-6), a NaN, and just above halfway (up). In a full
/// 8 × 48 tile (the vector epilogue) and in 1 × 1 and 5 × 7 ones (the scalar epilogue), into a C of NaN.
template <class G>
void check_rounding() {
  const float lo[4] = {1.f, 1.f + std::ldexp(1.f, -7), NAN, 1.f};
  const float hi[4] = {std::ldexp(1.f, -8), std::ldexp(1.f, -8), 1.f, std::ldexp(1.f, -8) + std::ldexp(1.f, -15)};
  const float want[4] = {1.f, 1.f + std::ldexp(1.f, -6), NAN, 1.f + std::ldexp(1.f, -7)};
  for (const auto& [m, n] : {std::pair<std::int64_t, std::int64_t>{8, 48}, {1, 1}, {5, 7}}) {
    CAPTURE(m);
    CAPTURE(n);
    std::vector<bf16> a(static_cast<std::size_t>(m * 2)), b(static_cast<std::size_t>(2 * n), bf16(1.f));
    for (std::int64_t i = 0; i < m; ++i) {
      a[static_cast<std::size_t>(2 * i)] = bf16(lo[i % 4]);
      a[static_cast<std::size_t>(2 * i + 1)] = bf16(hi[i % 4]);
    }
    std::vector<bf16> c(static_cast<std::size_t>(m * n), bf16(NAN));
    G::template gemm<bf16>(MatDesc<const bf16>{a.data(), m, 2, 2, 1, 0},
                           MatDesc<const bf16>{b.data(), 2, n, n, 1, 0}, MatDesc<bf16>{c.data(), m, n, n, 1, 0}, 1.f,
                           0.f);
    std::size_t wrong = 0;
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j) {
        const bf16 got = c[static_cast<std::size_t>(i * n + j)];
        const float w = want[i % 4];
        wrong += std::isnan(w) ? !std::isnan(static_cast<float>(got)) : got.bits != bf16(w).bits;
      }
    CHECK(wrong == 0);
  }
}

TEST_CASE("bf16 GEMM rounds C as pmc::bf16 does (nearest even, NaN kept) and reads no C when beta = 0") {
#ifdef PMC_HAVE_OWN_BGEMM
  check_rounding<Bgemm<bgemm::Dpbf16>>();
#endif
  check_rounding<Widened<sgemm::Avx2>>();
#ifdef __AVX512F__
  check_rounding<Widened<sgemm::Avx512>>();
#endif
}

#ifdef _OPENMP
/// Shapes (with a bf16 C's partial-sum budget) for the thread test: one column block (row slices follow the thread
/// count), several, K over one depth block, small partial blocks.
using ThreadShapes = std::vector<std::pair<Shape3, std::int64_t>>;
const ThreadShapes kThreadShapes{{{300, 500, 400}, sgemm::kPartialFloats},
                                 {{200, 1000, 900}, sgemm::kPartialFloats},
                                 {{130, 1700, 390}, 390 * 40}};

/// G::gemm<TC> gives the same bits at 1, 2 and 3 threads, for a bf16 and a float C, on each shape.
template <class G>
void check_same_bits_across_threads(std::mt19937& rng, const ThreadShapes& shapes = kThreadShapes) {
  const int saved = omp_get_max_threads();
  for (const auto& [s, floats] : shapes)
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb) {
        CAPTURE(s.m);
        CAPTURE(s.k);
        CAPTURE(ta);
        CAPTURE(tb);
        const auto a = random_operand(s.m, s.k, ta == 1, rng), b = random_operand(s.k, s.n, tb == 1, rng);
        std::vector<std::vector<std::uint16_t>> bits;
        std::vector<std::vector<float>> floats_out;
        for (const int threads : {1, 2, 3}) {
          omp_set_num_threads(threads);
          std::vector<bf16> c(static_cast<std::size_t>(s.m * s.n), bf16(0.25f));
          std::vector<float> cf(c.size(), 0.25f);
          G::template gemm<bf16>(a.desc(), b.desc(), MatDesc<bf16>{c.data(), s.m, s.n, s.n, 1, 0}, 1.f, 1.f, floats);
          G::template gemm<float>(a.desc(), b.desc(), MatDesc<float>{cf.data(), s.m, s.n, s.n, 1, 0}, 1.f, 1.f);
          std::vector<std::uint16_t> u;
          for (const auto v : c) u.push_back(v.bits);
          bits.push_back(u);
          floats_out.push_back(cf);
        }
        omp_set_num_threads(saved);
        CHECK(bits[0] == bits[1]);
        CHECK(bits[0] == bits[2]);
        CHECK(floats_out[0] == floats_out[1]);
        CHECK(floats_out[0] == floats_out[2]);
      }
  omp_set_num_threads(saved);
}

TEST_CASE("bf16 GEMM gives the same bits at 1, 2 and 3 threads") {
  std::mt19937 rng(23);
#ifdef PMC_HAVE_OWN_BGEMM
  check_same_bits_across_threads<Bgemm<bgemm::Dpbf16>>(rng);
#endif
  check_same_bits_across_threads<Widened<sgemm::Avx2>>(rng);
#ifdef __AVX512F__
  check_same_bits_across_threads<Widened<sgemm::Avx512>>(rng);
#endif
}
#endif

TEST_CASE("PMC_CPU_GEMM: avx512bf16 names the bf16 kernel, avx2 and avx512 widen bf16 onto them, eigen stages it") {
  const auto c = sgemm::choice();
#ifdef PMC_HAVE_OWN_BGEMM
  CHECK(sgemm::parse_choice("avx512bf16") == sgemm::Choice::native);
  CHECK(bgemm::suits(200, 300, 400) == (c == sgemm::Choice::native || c == sgemm::Choice::amx));
  CHECK_FALSE(bgemm::suits(200, 300, 0));
  const bool widened = c == sgemm::Choice::avx2 || c == sgemm::Choice::avx512;
#else
  const bool widened = c == sgemm::Choice::avx2 || c == sgemm::Choice::avx512 || c == sgemm::Choice::native;
#endif
  CHECK(sgemm::suits_widened(200, 300, 400) == widened);
  CHECK_FALSE(sgemm::suits_widened(sgemm::kMinRowsWidened - 1, 300, 400));
  const std::string name = pmc::backends::cpu::bf16_gemm_name();
  if (widened) CHECK(name.find("bf16 widened") != std::string::npos);
  if (c == sgemm::Choice::eigen) CHECK(name == "staged to float");
}

/// Matmul<Cpu> on bf16 tensors (a linear layer's forward x·Wᵀ, grad input dy·W, grad weight dyᵀ·x summed over a
/// batch, accumulating onto existing gradients) against the staged path it replaces, gemm_lowp, both within the
/// bound of the exact product; so within twice the bound of each other.
TEST_CASE("Matmul<Cpu> on bf16 tensors matches the staged bf16 path within fp32 accumulation bounds") {
  namespace cpu = pmc::backends::cpu;
  using Mm = pmc::ops::Matmul<pmc::Cpu>;
  std::mt19937 rng(24);
  for (const auto& [bt, t, d, out] : std::vector<std::array<std::int64_t, 4>>{{2, 100, 200, 300}, {1, 3, 64, 50},
                                                                             {3, 67, 1100, 97}}) {
    CAPTURE(t);
    CAPTURE(d);
    CAPTURE(out);
    const auto x = pmc::test::random_tensor<bf16>({bt, t, d}, rng), w = pmc::test::random_tensor<bf16>({out, d}, rng);
    const auto dy = pmc::test::random_tensor<bf16>({bt, t, out}, rng);
    Tensor<bf16> y({bt, t, out}), dx({bt, t, d}), dw({out, d});
    dx.fill(bf16(0.5f));
    dw.fill(bf16(-0.25f));
    Mm::forward(x, w, y, false, true);
    Mm::backward(x, w, dy, dx, dw, false, true);
    // The staged path on the same operands, as 2-D products (the batch folded as Matmul folds it).
    const std::int64_t rows = bt * t;
    const MatDesc<const bf16> xd{x.data(), rows, d, d, 1, 0}, wt{w.data(), d, out, 1, d, 0},
        wd{w.data(), out, d, d, 1, 0};
    const MatDesc<const bf16> dyd{dy.data(), rows, out, out, 1, 0};
    Tensor<bf16> ys({bt, t, out}), dxs({bt, t, d}), dws({out, d});
    dxs.fill(bf16(0.5f));
    dws.fill(bf16(-0.25f));
    cpu::gemm_lowp<bf16>(xd, wt, MatDesc<bf16>{ys.data(), rows, out, out, 1, 0}, 1.f, 0.f);
    cpu::gemm_lowp<bf16>(dyd, wd, MatDesc<bf16>{dxs.data(), rows, d, d, 1, 0}, 1.f, 1.f);
    cpu::gemm_lowp<bf16>(dyd.t(), xd, MatDesc<bf16>{dws.data(), out, d, d, 1, 0}, 1.f, 1.f);
    // Exact references of the three products, with their bounds (bf16 output rounding included).
    auto op = [](const Tensor<bf16>& m, std::int64_t r, std::int64_t c, bool trans) {
      Operand o{std::vector<bf16>(m.data(), m.data() + m.numel()), r, c, trans};
      return o;
    };
    const auto xo = op(x, rows, d, false), wto = op(w, d, out, true), wo = op(w, out, d, false);
    const auto dyo = op(dy, rows, out, false), dyto = op(dy, out, rows, true);
    const std::vector<float> zeros_y(static_cast<std::size_t>(rows * out), 0.f);
    const std::vector<float> half(static_cast<std::size_t>(rows * d), 0.5f),
        quarter(static_cast<std::size_t>(out * d), -0.25f);
    const auto ry = reference(xo, wto, zeros_y, 1.f, 0.f), rdx = reference(dyo, wo, half, 1.f, 1.f),
               rdw = reference(dyto, xo, quarter, 1.f, 1.f);
    auto within = [](const Tensor<bf16>& got, const Reference& r, double scale) {
      for (std::int64_t i = 0; i < got.numel(); ++i) {
        const double v = r.value[static_cast<std::size_t>(i)];
        const double bound = scale * ((1 + std::ldexp(1.0, -8)) * r.bound[static_cast<std::size_t>(i)] +
                                      std::ldexp(1.0, -8) * std::abs(v));
        if (!(std::abs(static_cast<float>(got.data()[i]) - v) <= bound)) return false;
      }
      return true;
    };
    CHECK(within(y, ry, 1));
    CHECK(within(ys, ry, 1));
    CHECK(within(dx, rdx, 1));
    CHECK(within(dxs, rdx, 1));
    CHECK(within(dw, rdw, 1));
    CHECK(within(dws, rdw, 1));
    // new against staged: each within its bound of the exact, so within twice it of each other
    auto close = [](const Tensor<bf16>& p, const Tensor<bf16>& q, const Reference& r) {
      double worst = 0;
      for (std::int64_t i = 0; i < p.numel(); ++i) {
        const double v = r.value[static_cast<std::size_t>(i)];
        const double bound = 2 * ((1 + std::ldexp(1.0, -8)) * r.bound[static_cast<std::size_t>(i)] +
                                  std::ldexp(1.0, -8) * std::abs(v));
        const double err =
            std::abs(static_cast<double>(static_cast<float>(p.data()[i])) - static_cast<float>(q.data()[i]));
        if (!(err <= bound)) return double(INFINITY);
        if (bound > 0) worst = std::max(worst, err / bound);
      }
      return worst;
    };
    const double cy = close(y, ys, ry), cdx = close(dx, dxs, rdx), cdw = close(dw, dws, rdw);
    MESSAGE("bf16 " << bt << "x" << t << "x" << d << "x" << out << ": largest new-vs-staged difference / bound: y "
                    << cy << ", dx " << cdx << ", dw " << cdw);
    CHECK(cy <= 1);
    CHECK(cdx <= 1);
    CHECK(cdw <= 1);
  }
}

#ifdef PMC_HAVE_AMX_BGEMM
namespace amx = pmc::backends::cpu::amx;
using AmxModel = amx::Kernel<amx::Model>;
using AmxHardware = amx::Kernel<amx::Hardware>;

/// Shapes at the AMX kernel's own edges: 16-row A panels, tiles of 32 values of k (16 pairs), B tiles of 16 columns.
std::vector<Shape3> amx_edge_shapes() {
  return {{15, 31, 16}, {16, 32, 32}, {17, 33, 47}, {31, 63, 48}, {32, 64, 49}, {33, 65, 97}, {48, 769, 50}};
}

/// bgemm's edge shapes and the AMX kernel's (check_edges).
template <class K>
void check_amx_edges(std::mt19937& rng) {
  auto shapes = edge_shapes();
  for (const auto& s : amx_edge_shapes()) shapes.push_back(s);
  check_edges<Bgemm<K>>(rng, shapes);
}

TEST_CASE("AMX bf16 GEMM on the model of its tile instructions matches a double reference at every blocking edge") {
  std::mt19937 rng(25);
  check_amx_edges<AmxModel>(rng);
}

#ifdef _OPENMP
TEST_CASE("AMX bf16 GEMM on the model of its tile instructions gives the same bits at 1, 2 and 3 threads") {
  std::mt19937 rng(26);
  // Smaller than kThreadShapes (the model is slow), with the same cases.
  check_same_bits_across_threads<Bgemm<AmxModel>>(rng, {{{100, 300, 200}, sgemm::kPartialFloats},
                                                        {{50, 1000, 500}, sgemm::kPartialFloats},
                                                 {{70, 1700, 150}, 150 * 40}});
}
#endif

TEST_CASE("the model of tdpbf16ps adds the even product of a pair first, rounds each sum and flushes denormals") {
  // One tdpbf16ps on tiles where only pair 0 is non-zero. B: column 0 = (2^-70, 0), columns 1 and 2 = (1, 1).
  //   row 0 of A (2^-24, 2^-24): c(0,1) = 2^-23 exactly; c(0,0) = 2^-94 (small, normal: kept).
  //   row 1 (2^-130, 0): a denormal input is flushed: c(1,1) = 0, not 2^-130.
  //   row 2 (2^-70, 0): c(2,0) = 2^-140, a denormal sum, flushed to 0; c(2,1) = 2^-70.
  //   row 3 (2^-24, -1) onto c(3,2) = 1: (1 + 2^-24) rounds to 1 (a tie, to even), then - 1: 0. The odd product
  //   first, or both products added at once, would leave 2^-24.
  alignas(64) std::uint16_t a[16][32] = {}, b[16][32] = {};
  alignas(64) float c[16][16] = {};
  a[0][0] = a[0][1] = bf16(std::ldexp(1.f, -24)).bits;
  a[1][0] = bf16(std::ldexp(1.f, -130)).bits;
  a[2][0] = bf16(std::ldexp(1.f, -70)).bits;
  a[3][0] = bf16(std::ldexp(1.f, -24)).bits;
  a[3][1] = bf16(-1.f).bits;
  b[0][0] = bf16(std::ldexp(1.f, -70)).bits;
  b[0][2] = b[0][3] = b[0][4] = b[0][5] = bf16(1.f).bits;
  c[3][2] = 1.f;
  amx::Model::configure(amx::kernel_config());
  amx::Model::load<0>(c, 64);
  amx::Model::load<3>(a, 64);
  amx::Model::load<4>(b, 64);
  amx::Model::dot<0, 3, 4>();
  amx::Model::store<0>(c, 64);
  amx::Model::release();
  CHECK(c[0][1] == std::ldexp(1.f, -23));
  CHECK(c[0][0] == std::ldexp(1.f, -94));
  CHECK(c[1][1] == 0.f);
  CHECK(c[2][0] == 0.f);
  CHECK(c[2][1] == std::ldexp(1.f, -70));
  CHECK(c[3][2] == 0.f);
}

TEST_CASE("AMX bf16 GEMM on the CPU's tiles matches the reference and gives the model's bits") {
  if (!amx::available())
    PMC_SKIP("this CPU (or its kernel) allows no AMX-BF16 tiles: the AMX kernel runs only on its model here "
             "(scripts/gpu_check.sh runs this test on the GPU machine's CPU)");
  MESSAGE("AMX-BF16 tiles available: checking the kernel on the CPU's tiles");
  std::mt19937 rng(27);
  check_amx_edges<AmxHardware>(rng);
#ifdef _OPENMP
  check_same_bits_across_threads<Bgemm<AmxHardware>>(rng);
#endif
  // The instructions against their model: the same bits on shapes with partial tiles in every direction.
  for (const auto& s : std::vector<Shape3>{{33, 65, 97}, {130, 1700, 390}, {17, 800, 49}}) {
    CAPTURE(s.m);
    CAPTURE(s.k);
    CAPTURE(s.n);
    const auto a = random_operand(s.m, s.k, false, rng), b = random_operand(s.k, s.n, true, rng);
    std::vector<float> hw(static_cast<std::size_t>(s.m * s.n), 0.5f), model = hw;
    bgemm::gemm<float, AmxHardware>(a.desc(), b.desc(), MatDesc<float>{hw.data(), s.m, s.n, s.n, 1, 0}, 1.f, 1.f);
    bgemm::gemm<float, AmxModel>(a.desc(), b.desc(), MatDesc<float>{model.data(), s.m, s.n, s.n, 1, 0}, 1.f, 1.f);
    std::size_t differ = 0;
    for (std::size_t i = 0; i < hw.size(); ++i) differ += hw[i] != model[i];
    CAPTURE(differ);
    CHECK(differ == 0);
  }
}
#endif  // PMC_HAVE_AMX_BGEMM

#ifdef PMC_HAVE_OWN_BGEMM
TEST_CASE("PMC_CPU_GEMM=amx chooses the AMX tiles for bf16 products where the AVX512-BF16 kernel is compiled in") {
  CHECK(sgemm::parse_choice("amx") == sgemm::Choice::amx);
  if (sgemm::choice() == sgemm::Choice::amx)
    CHECK(std::string(pmc::backends::cpu::bf16_gemm_name()) == "own AMX-BF16");
}
#endif

}  // namespace

#endif  // PMC_HAVE_OWN_SGEMM

}  // namespace bf16_gemm_test

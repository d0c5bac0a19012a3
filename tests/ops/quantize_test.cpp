// SPDX-License-Identifier: MIT
// Quantize<Cpu>: int8 and NF4 round trips within their per-element bounds (random and adversarial blocks),
// bitsandbytes parity on a committed golden (tools/make_golden_quant.py), the NF4 and dynamic-map tables, the
// quantized linear's forward and backward (finite differences in double), its error against the unquantized
// layer, thread-count independence, and the argument checks.
#include <doctest/doctest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include <pmc/autograd/functions.hpp>
#include <pmc/backends/cpu/ops.hpp>
#include <pmc/io/gguf.hpp>
#include <pmc/io/safetensors.hpp>
#include <support/compare.hpp>
#include <support/gradcheck.hpp>
#include <support/float_activations.hpp>
#include <support/paths.hpp>

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace quantize_test {

namespace {
using pmc::Shape;
using pmc::Tensor;
using pmc::ops::QuantFormat;
using pmc::ops::QuantizedMatrix;
using Q = pmc::ops::Quantize<pmc::Cpu>;
namespace quant = pmc::ops::quant;
static_assert(pmc::ops::ImplementsQuantize<pmc::Cpu>);

Tensor<float> normal_matrix(std::int64_t rows, std::int64_t cols, std::mt19937& rng, double sigma = 1.0) {
  std::normal_distribution<float> dist(0.f, static_cast<float>(sigma));
  Tensor<float> t({rows, cols});
  for (auto& x : t.span()) x = dist(rng);
  return t;
}

/// A (8, 64·k) matrix whose blocks are the hard cases: zeros, one huge outlier among tiny values, constant,
/// negative only, a single nonzero, huge and tiny magnitudes, then normal blocks.
Tensor<float> adversarial_matrix(std::mt19937& rng) {
  auto t = normal_matrix(8, 512, rng, 0.02);
  float* x = t.data();
  auto block = [&](int b) { return x + b * 64; };
  std::fill(block(0), block(0) + 64, 0.f);                                      // all zeros
  for (int i = 0; i < 64; ++i) block(1)[i] = 1e-4f * static_cast<float>(i % 7 - 3);
  block(1)[5] = 1e4f;                                                            // one huge outlier
  std::fill(block(2), block(2) + 64, 0.375f);                                    // constant
  std::fill(block(3), block(3) + 64, -2.5f);                                     // constant negative
  for (int i = 0; i < 64; ++i) block(4)[i] = -std::abs(block(4)[i]) - 1e-3f;    // negative only
  std::fill(block(5), block(5) + 64, 0.f);
  block(5)[63] = -7.f;                                                           // a single nonzero
  for (int i = 0; i < 64; ++i) block(6)[i] *= 1e6f;                              // huge
  for (int i = 0; i < 64; ++i) block(7)[i] *= 1e-6f;                             // tiny
  return t;
}

struct RoundTrip {
  double worst_abs = 0;    // max |x − x̂|
  double worst_ratio = 0;  // max |x − x̂| / bound
};

/// Quantizes, dequantizes and checks every element against the format's bound from the stored scales (and, for
/// int8, against absmax / 254 from the true absmax).
template <class T>
RoundTrip round_trip(const Tensor<T>& w, QuantFormat f) {
  const auto q = Q::quantize(w, f);
  Tensor<float> back(w.shape());
  Q::dequantize(q, back);
  const auto bounds = pmc::ops::block_error_bounds(q);
  RoundTrip r;
  bool ok = true;
  for (std::int64_t b = 0; b < q.blocks(); ++b) {
    const double true_absmax = quant::absmax_of(w.data() + b * 64, 64);
    const double true_bound = f == QuantFormat::int8 ? quant::element_error_bound(f, true_absmax) : INFINITY;
    for (std::int64_t i = b * 64; i < (b + 1) * 64; ++i) {
      const double e = std::abs(static_cast<double>(static_cast<float>(w.data()[i])) - back.data()[i]);
      r.worst_abs = std::max(r.worst_abs, e);
      if (bounds[b] > 0) r.worst_ratio = std::max(r.worst_ratio, e / bounds[b]);
      if (!(e <= bounds[b] && e <= true_bound)) {
        if (ok) FAIL_CHECK("element ", i, " (block ", b, "): |x − x̂| = ", e, " > bound ", bounds[b]);
        ok = false;
      }
    }
  }
  CHECK(ok);
  return r;
}

float golden_scalar(const pmc::io::SafetensorsFile& f, const std::string& name) {
  return f.get<float>(name).data()[0];
}

/// Reference y = x · Wᵀ in double.
Tensor<double> reference_linear(const Tensor<double>& x, const Tensor<double>& w) {
  const std::int64_t n = x.size(0), in = x.size(1), out = w.size(0);
  Tensor<double> y({n, out});
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t o = 0; o < out; ++o) {
      double s = 0;
      for (std::int64_t k = 0; k < in; ++k) s += x.at({i, k}) * w.at({o, k});
      y.at({i, o}) = s;
    }
  return y;
}

double frobenius(const Tensor<float>& a) {
  double s = 0;
  for (float v : a.span()) s += static_cast<double>(v) * v;
  return std::sqrt(s);
}

}  // namespace

TEST_CASE("quantize: int8 round trip is within absmax/254 per element, random and adversarial blocks") {
  std::mt19937 rng(64);
  const auto r1 = round_trip(normal_matrix(96, 256, rng), QuantFormat::int8);
  const auto r2 = round_trip(adversarial_matrix(rng), QuantFormat::int8);
  MESSAGE("int8 N(0,1) 96x256: max |x − x̂| = ", r1.worst_abs, ", max error / bound = ", r1.worst_ratio);
  MESSAGE("int8 adversarial: max error / bound = ", r2.worst_ratio);
  CHECK(r1.worst_ratio > 0.9);  // the bound is tight: half a step is reached on random data
  // bf16 input: the same bytes as its float values
  const auto w = normal_matrix(4, 128, rng).to<pmc::bf16>();
  const auto qb = Q::quantize(w, QuantFormat::int8), qf = Q::quantize(w.to<float>(), QuantFormat::int8);
  CHECK(qb.codes.to_vector() == qf.codes.to_vector());
  CHECK(qb.absmax.to_vector() == qf.absmax.to_vector());
  CHECK(round_trip(w, QuantFormat::int8).worst_ratio <= 1);
}

TEST_CASE("quantize: nf4 round trip is within its bound per element, random and adversarial blocks") {
  std::mt19937 rng(65);
  const auto r1 = round_trip(normal_matrix(96, 256, rng), QuantFormat::nf4);
  const auto r2 = round_trip(adversarial_matrix(rng), QuantFormat::nf4);
  MESSAGE("nf4 N(0,1) 96x256: max |x − x̂| = ", r1.worst_abs, ", max error / bound = ", r1.worst_ratio);
  MESSAGE("nf4 adversarial: max error / bound = ", r2.worst_ratio);
  // all-zero and constant blocks come back exactly (code 7 = 0; a constant block is ±absmax = level ±1)
  const auto w = adversarial_matrix(rng);
  const auto q = Q::quantize(w, QuantFormat::nf4);
  Tensor<float> back(w.shape());
  Q::dequantize(q, back);
  for (int i = 0; i < 64; ++i) CHECK(back.data()[i] == 0.f);
  const auto codes = q.codes.to_vector();
  for (int i = 64; i < 96; ++i) CHECK(codes[i] == 0xff);  // block 2, 0.375 = +absmax: level 15 in both nibbles
  for (int i = 96; i < 128; ++i) CHECK(codes[i] == 0x00);  // block 3, −2.5 = −absmax: level 0
  CHECK(q.bytes() == w.numel() / 2 + q.blocks() + 4 * q.absmax2.numel() + 4);
  const auto q8 = Q::quantize(w, QuantFormat::int8);
  CHECK(q8.bytes() == w.numel() + 4 * q8.blocks());
  MESSAGE("bytes per element: int8 ", static_cast<double>(q8.bytes()) / w.numel(), ", nf4 ",
          static_cast<double>(q.bytes()) / w.numel());
  // bf16 input: the same bytes as its float values
  const auto wb = normal_matrix(4, 512, rng).to<pmc::bf16>();
  const auto qb = Q::quantize(wb, QuantFormat::nf4), qf = Q::quantize(wb.to<float>(), QuantFormat::nf4);
  CHECK(qb.codes.to_vector() == qf.codes.to_vector());
  CHECK(qb.absmax_codes.to_vector() == qf.absmax_codes.to_vector());
  CHECK(qb.offset == qf.offset);
}

TEST_CASE("quantize: the NF4 levels and the dynamic map are bitsandbytes' tables") {
  // QLoRA's NF4 (Dettmers et al. 2023, appendix E; bitsandbytes functional.get_4bit_type("nf4"))
  const double published[16] = {-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
                                -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
                                0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
                                0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0};
  for (int i = 0; i < 16; ++i) CHECK(quant::kNf4[i] == static_cast<float>(published[i]));
  // create_dynamic_map(signed=True): for i = 0..6, the midpoints of linspace(0.1, 1, 2^i + 1) times ±10^(i−6),
  // then 0 and 1, sorted. Recomputed in double; float32 arithmetic in bitsandbytes makes them agree to 1e-6.
  std::vector<double> d;
  for (int i = 0; i < 7; ++i) {
    const int items = (1 << i) + 1;
    for (int k = 0; k + 1 < items; ++k) {
      const double lo = 0.1 + 0.9 * k / (items - 1), hi = 0.1 + 0.9 * (k + 1) / (items - 1);
      const double v = std::pow(10.0, i - 6) * (lo + hi) / 2;
      d.push_back(v);
      d.push_back(-v);
    }
  }
  d.push_back(0);
  d.push_back(1);
  std::sort(d.begin(), d.end());
  REQUIRE(d.size() == 256);
  for (int i = 0; i < 256; ++i) CHECK(quant::kDynamicMap[i] == doctest::Approx(d[i]).epsilon(1e-6));
  CHECK(quant::kDynamicMap[127] == 0.f);
  CHECK(quant::kDynamicMap[255] == 1.f);
  CHECK(quant::kNf4Gap == doctest::Approx(0.3038072).epsilon(1e-6));
  CHECK(quant::kDynamicGap == doctest::Approx(0.0140625).epsilon(1e-5));
}

TEST_CASE("quantize: nf4 matches bitsandbytes (golden from tools/make_golden_quant.py)") {
  const auto path = pmc::test::source_dir() / "tests/golden/quant/nf4.safetensors";
  const auto f = pmc::io::SafetensorsFile::open(path);
  const auto levels = f.get<float>("nf4_levels"), dyn = f.get<float>("dynamic_map");
  for (int i = 0; i < 16; ++i)
    CHECK(std::bit_cast<std::uint32_t>(levels.data()[i]) == std::bit_cast<std::uint32_t>(quant::kNf4[i]));
  for (int i = 0; i < 256; ++i)
    CHECK(std::bit_cast<std::uint32_t>(dyn.data()[i]) == std::bit_cast<std::uint32_t>(quant::kDynamicMap[i]));
  // bitsandbytes' CPU quantize_blockwise (0.50): a 65536-bin table over [−1, 1], each bin holding the code nearest
  // to the bin's value; v goes to bin round((v + 1) / 2 · 65535). Emulated here only to explain its choices.
  std::vector<std::uint8_t> lut(65536);
  {
    float mids[255];
    for (int i = 0; i < 255; ++i) mids[i] = 0.5f * (quant::kDynamicMap[i] + quant::kDynamicMap[i + 1]);
    int c = 0;
    for (int i = 0; i < 65536; ++i) {
      const float val = -1.0f + (2.0f * static_cast<float>(i)) / 65535.f;
      while (c < 255 && mids[c] < val) ++c;
      lut[i] = static_cast<std::uint8_t>(c);
    }
  }
  auto bnb_cpu_code = [&](float v) {
    v = std::clamp(v, -1.f, 1.f);
    return lut[static_cast<std::uint16_t>((v + 1.0f) * 0.5f * 65535.f + 0.5f)];
  };

  for (const std::string name : {"w64x256", "w40x512"}) {
    CAPTURE(name);
    const auto w = f.get<float>(name + ".w");
    const float bnb_offset = golden_scalar(f, name + ".offset");
    const auto bnb_codes = f.get<std::uint8_t>(name + ".codes");
    const auto bnb_acodes = f.get<std::uint8_t>(name + ".absmax");
    const auto bnb_absmax2 = f.get<float>(name + ".absmax2");
    const auto bnb_dequant = f.get<float>(name + ".dequant");
    auto bit_mismatches = [&](const Tensor<float>& a) {
      std::int64_t n = 0;
      for (std::int64_t i = 0; i < a.numel(); ++i)
        n += std::bit_cast<std::uint32_t>(a.data()[i]) != std::bit_cast<std::uint32_t>(bnb_dequant.data()[i]);
      return n;
    };

    // 1. The format: pmc dequantizes bitsandbytes' bytes to bitsandbytes' floats, bit for bit.
    QuantizedMatrix<pmc::Cpu> theirs;
    theirs.format = QuantFormat::nf4;
    theirs.rows = w.size(0);
    theirs.cols = w.size(1);
    theirs.codes = bnb_codes;
    theirs.absmax_codes = bnb_acodes;
    theirs.absmax2 = bnb_absmax2;
    theirs.offset = bnb_offset;
    Tensor<float> back(w.shape());
    Q::dequantize(theirs, back);
    CHECK(bit_mismatches(back) == 0);

    // 2. Quantization with bitsandbytes' offset: the NF4 codes and absmax2 are identical; each absmax code is the
    //    nearest entry, which is bitsandbytes' except where its CPU table picks the farther neighbour.
    const auto q = Q::quantize(w, QuantFormat::nf4, bnb_offset);
    CHECK(q.codes.to_vector() == bnb_codes.to_vector());
    REQUIRE(q.absmax2.numel() == bnb_absmax2.numel());
    for (std::int64_t g = 0; g < q.absmax2.numel(); ++g) CHECK(q.absmax2.data()[g] == bnb_absmax2.data()[g]);
    const auto true_absmax = [&](std::int64_t b) { return quant::absmax_of(w.data() + b * 64, 64); };
    int differ = 0;
    for (std::int64_t b = 0; b < q.blocks(); ++b) {
      const float v = (true_absmax(b) - bnb_offset) * (1.0f / bnb_absmax2.data()[b / 256]);
      const std::uint8_t mine = q.absmax_codes.data()[b], theirs_code = bnb_acodes.data()[b];
      CHECK(theirs_code == bnb_cpu_code(v));  // the emulation explains every bitsandbytes code
      if (mine != theirs_code) {
        ++differ;
        CHECK(std::abs(static_cast<int>(mine) - static_cast<int>(theirs_code)) == 1);
        CHECK(std::fabs(v - quant::kDynamicMap[mine]) < std::fabs(v - quant::kDynamicMap[theirs_code]));
      }
    }
    Q::dequantize(q, back);
    MESSAGE(name, ": absmax codes differing from bitsandbytes' CPU table (pmc nearer each time): ", differ, " of ",
            q.blocks(), "; dequantized floats differing: ", bit_mismatches(back), " of ", back.numel(),
            ", max |x̂_pmc − x̂_bnb| = ", pmc::test::max_abs_diff(back, bnb_dequant));

    // 3. pmc's own offset (the mean summed in double) is within an ulp of torch's float32 mean; the NF4 codes do
    //    not depend on it.
    const auto own = Q::quantize(w, QuantFormat::nf4);
    CHECK(own.codes.to_vector() == bnb_codes.to_vector());
    const float ulp = std::nextafter(std::abs(bnb_offset), INFINITY) - std::abs(bnb_offset);
    CHECK(std::abs(own.offset - bnb_offset) <= ulp);
    MESSAGE(name, ": offset ", own.offset, " vs bitsandbytes ", bnb_offset, " (", (own.offset - bnb_offset) / ulp,
            " ulp)");
  }
}

TEST_CASE("quantize: the quantized linear's forward is x · dequant(W)ᵀ and its backward matches finite differences") {
  namespace ag = pmc::autograd;
  std::mt19937 rng(66);
  for (const auto fmt : {QuantFormat::int8, QuantFormat::nf4}) {
    const std::string format_name = pmc::ops::quant_format_name(fmt);
    CAPTURE(format_name);
    const auto w = pmc::test::random_tensor<double>({6, 128}, rng);
    const auto q = Q::quantize(w, fmt);
    Tensor<double> wd({6, 128});
    Q::dequantize(q, wd);
    ag::Var<double> x(pmc::test::random_tensor<double>({5, 128}, rng), true);
    const auto dy = pmc::test::random_tensor<double>({5, 6}, rng);
    auto y = ag::linear(x, q);
    CHECK(y.requires_grad());
    CHECK(pmc::test::max_abs_diff(y.value(), reference_linear(x.value(), wd)) < 1e-12);
    ag::backward(ag::sum(ag::mul(y, ag::Var<double>(dy, false))));
    auto loss = [&] {
      ag::NoGrad ng;
      return pmc::test::dot(dy, ag::linear(x, q).value());
    };
    CHECK(pmc::test::gradcheck("quantized linear dx", x.value(), x.grad(), loss) < 1e-6);
    // no gradient recorded when x does not require it
    const ag::Var<double> xc(x.value(), false);
    CHECK_FALSE(ag::linear(xc, q).requires_grad());
  }
}

TEST_CASE("quantize: the quantized forward of a 256x512 weight is close to the unquantized one") {
  std::mt19937 rng(67);
  const auto w = normal_matrix(256, 512, rng, 0.02);
  const auto x = normal_matrix(32, 512, rng);
  Tensor<float> y({32, 256});
  pmc::ops::Matmul<pmc::Cpu>::forward(x, w, y, false, true);
  // stated bounds on ‖y_q − y‖_F / ‖y‖_F (measured: 0.0059 for int8 and 0.092 for nf4)
  for (const auto& [fmt, limit] : {std::pair{QuantFormat::int8, 0.01}, std::pair{QuantFormat::nf4, 0.12}}) {
    const auto q = Q::quantize(w, fmt);
    const pmc::autograd::Var<float> xv(x, false);
    const auto yq = pmc::autograd::linear(xv, q).value();
    Tensor<float> diff({32, 256});
    for (std::int64_t i = 0; i < diff.numel(); ++i) diff.data()[i] = yq.data()[i] - y.data()[i];
    const double rel = frobenius(diff) / frobenius(y);
    // the worst case from the per-element bounds: ‖x Eᵀ‖_F ≤ ‖x‖_F ‖E‖_F with |E_ij| ≤ bound of its block
    const auto bounds = pmc::ops::block_error_bounds(q);
    double e2 = 0;
    for (double b : bounds) e2 += 64 * b * b;
    const double worst = frobenius(x) * std::sqrt(e2) / frobenius(y);
    MESSAGE(std::string(pmc::ops::quant_format_name(fmt)), ": relative error of the forward ", rel, " (stated bound ",
            limit, ", worst case from the element bounds ", worst, ")");
    CHECK(rel < limit);
    CHECK(rel <= worst);
  }
}

TEST_CASE("quantize: the bytes do not depend on the thread count") {
#if defined(_OPENMP)
  std::mt19937 rng(68);
  const auto w = normal_matrix(512, 640, rng);  // 5120 blocks, 20 absmax groups
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  const auto a = Q::quantize(w, QuantFormat::nf4);
  const auto a8 = Q::quantize(w, QuantFormat::int8);
  omp_set_num_threads(4);
  const auto b = Q::quantize(w, QuantFormat::nf4);
  const auto b8 = Q::quantize(w, QuantFormat::int8);
  omp_set_num_threads(saved);
  CHECK(a.codes.to_vector() == b.codes.to_vector());
  CHECK(a.absmax_codes.to_vector() == b.absmax_codes.to_vector());
  CHECK(a.absmax2.to_vector() == b.absmax2.to_vector());
  CHECK(a.offset == b.offset);
  CHECK(a8.codes.to_vector() == b8.codes.to_vector());
  CHECK(a8.absmax.to_vector() == b8.absmax.to_vector());
#else
  MESSAGE("built without OpenMP: one thread only");
#endif
}

TEST_CASE("quantize: bad shapes are refused with a clear pmc::Error") {
  Tensor<float> w({3, 7});
  CHECK_THROWS_AS(Q::quantize(w, QuantFormat::nf4), pmc::Error);
  CHECK_THROWS_WITH(Q::quantize(w, QuantFormat::int8),
                    doctest::Contains("rows · cols = 3 · 7 = 21 is not a multiple of the block size 64"));
  CHECK_THROWS_WITH(Q::quantize(Tensor<float>({64}), QuantFormat::int8), doctest::Contains("must be 2-D"));
  const auto q = Q::quantize(Tensor<float>({4, 64}), QuantFormat::nf4);
  CHECK_THROWS_WITH(Q::dequantize(q, Tensor<float>({64, 4})),
                    doctest::Contains("must have the quantized shape (4, 64)"));
  const pmc::autograd::Var<float> x(Tensor<float>({2, 32}), false);
  CHECK_THROWS_WITH(pmc::autograd::linear(x, q), doctest::Contains("does not match the quantized weight"));
}

// ---- llama.cpp's q8_0 and q4_0 (issue 21) ------------------------------------------------------------------------

namespace {

/// q8_0 / q4_0 round trip: every element within the bound of its block, from the stored fp16 d and from the float
/// d recomputed from the source (the tighter bound of ops/quantize.hpp's top).
RoundTrip ggml_round_trip(const Tensor<float>& w, QuantFormat f) {
  const auto q = Q::quantize(w, f);
  CHECK(q.block == 32);
  CHECK(q.codes.numel() == w.numel() / 32 * quant::ggml_block_bytes(f));
  Tensor<float> back(w.shape());
  Q::dequantize(q, back);
  const auto bounds = pmc::ops::block_error_bounds(q);
  RoundTrip r;
  bool ok = true;
  for (std::int64_t b = 0; b < q.blocks(); ++b) {
    const float* xb = w.data() + b * 32;
    float d = 0;  // the float d before fp16
    if (f == QuantFormat::q8_0) {
      d = quant::absmax_of(xb, 32) / 127.f;
    } else {
      float amax = 0;
      for (int j = 0; j < 32; ++j)
        if (std::fabs(xb[j]) > amax) amax = std::fabs(xb[j]), d = xb[j] / -8.f;
    }
    const double dstored = quant::ggml_block_scale(q.codes.data() + b * quant::ggml_block_bytes(f));
    const double tight = quant::element_error_bound(f, dstored, d == 0 ? 0 : d);
    for (std::int64_t i = b * 32; i < (b + 1) * 32; ++i) {
      const double e = std::abs(static_cast<double>(w.data()[i]) - back.data()[i]);
      r.worst_abs = std::max(r.worst_abs, e);
      if (bounds[b] > 0) r.worst_ratio = std::max(r.worst_ratio, e / bounds[b]);
      if (!(e <= bounds[b] && e <= tight + 1e-30)) {
        if (ok) FAIL_CHECK("element ", i, " (block ", b, "): |x − x̂| = ", e, " > bound ", bounds[b], " / ", tight);
        ok = false;
      }
    }
  }
  CHECK(ok);
  return r;
}

/// y = x · dequant(q)ᵀ the long way: dequantize, then Matmul<Cpu>.
template <class T>
Tensor<T> dequant_matmul(const Tensor<T>& x, const QuantizedMatrix<pmc::Cpu>& q) {
  Tensor<T> wd(q.shape()), y({x.size(0), q.rows});
  Q::dequantize(q, wd);
  pmc::ops::Matmul<pmc::Cpu>::forward(x, wd, y, false, true);
  return y;
}

/// q in the rows16 layout, built here from the format's definition (quant::rows16_chunk), on any CPU.
QuantizedMatrix<pmc::Cpu> rows16_of(const QuantizedMatrix<pmc::Cpu>& q) {
  constexpr std::int64_t R = quant::kInterleavedRows;
  const std::int64_t nb = q.cols / 32, bb = quant::ggml_block_bytes(q.format);
  auto r = q;
  r.codes = Tensor<std::uint8_t>(q.codes.shape());
  r.layout = pmc::ops::QuantLayout::rows16;
  for (std::int64_t g = 0; g < q.rows / R; ++g)
    quant::rows16_group(q.format, q.codes.data() + g * R * nb * bb, nb, r.codes.data() + g * R * nb * bb);
  return r;
}

std::vector<pmc::backends::cpu::qmm::Isa> compiled_kernels() {
  using pmc::backends::cpu::qmm::Isa;
  std::vector<Isa> k;
  for (auto i : {Isa::scalar, Isa::avx2, Isa::avx512})
    if (pmc::backends::cpu::qmm::compiled(i)) k.push_back(i);
  return k;
}

}  // namespace

TEST_CASE("quantize: q8_0 and q4_0 round trips are within their bounds, random and adversarial blocks") {
  std::mt19937 rng(70);
  for (const auto f : {QuantFormat::q8_0, QuantFormat::q4_0}) {
    const std::string name = pmc::ops::quant_format_name(f);
    CAPTURE(name);
    const auto r1 = ggml_round_trip(normal_matrix(96, 32 * 7, rng), f);
    const auto r2 = ggml_round_trip(adversarial_matrix(rng), f);
    MESSAGE(name, " N(0,1) 96x224: max |x − x̂| = ", r1.worst_abs, ", max error / bound = ", r1.worst_ratio,
            "; adversarial: ", r2.worst_ratio);
    CHECK(r1.worst_ratio > 0.4);  // the bounds are not loose by orders of magnitude
    // x̂ is exactly what llama.cpp / io::GgufFile computes: d · q (d · (q − 8)) with d the stored fp16
    const auto w = normal_matrix(2, 64, rng);
    const auto q = Q::quantize(w, f);
    Tensor<float> back(w.shape());
    Q::dequantize(q, back);
    const std::uint8_t* blk = q.codes.data();
    const float d = pmc::f16::to_float(static_cast<std::uint16_t>(blk[0] | (blk[1] << 8)));
    const float e0 = f == QuantFormat::q8_0 ? d * static_cast<float>(static_cast<std::int8_t>(blk[2]))
                                            : d * static_cast<float>((blk[2] & 15) - 8);
    const float e16 = f == QuantFormat::q8_0 ? d * static_cast<float>(static_cast<std::int8_t>(blk[18]))
                                             : d * static_cast<float>((blk[2] >> 4) - 8);
    CHECK(std::bit_cast<std::uint32_t>(back.data()[0]) == std::bit_cast<std::uint32_t>(e0));
    CHECK(std::bit_cast<std::uint32_t>(back.data()[16]) == std::bit_cast<std::uint32_t>(e16));
  }
}

TEST_CASE("quantize: q8_0 and q4_0 are gguf.quants.quantize's bytes (tests/golden/gguf, tools/make_golden_gguf.py)") {
  const auto dir = pmc::test::source_dir() / "tests/golden/gguf";
  const auto expected = pmc::io::SafetensorsFile::open(dir / "expected.safetensors");
  for (const auto& [kind, f] : {std::pair{std::string("q8_0"), QuantFormat::q8_0}, std::pair{std::string("q4_0"), QuantFormat::q4_0}}) {
    const auto file = pmc::io::GgufFile::open(dir / ("gqa32_" + kind + ".gguf"));
    int compared = 0;
    for (const auto& name : file.names()) {
      const auto src = expected.get<float>("src." + name);
      if (src.rank() != 2) continue;
      CAPTURE(name);
      const auto q = Q::quantize(src, f);
      const auto raw = file.raw(name);
      REQUIRE(static_cast<std::int64_t>(raw.size()) == q.codes.numel());
      CHECK(std::memcmp(raw.data(), q.codes.data(), raw.size()) == 0);
      // the GGUF bytes used as-is: dequantized they are gguf.quants.dequantize's floats
      QuantizedMatrix<pmc::Cpu> g = q;
      g.codes = Tensor<std::uint8_t>({static_cast<std::int64_t>(raw.size())});
      std::memcpy(g.codes.data(), raw.data(), raw.size());
      Tensor<float> back(src.shape());
      Q::dequantize(g, back);
      const auto want = expected.get<float>(kind + "." + name);
      CHECK(std::memcmp(back.data(), want.data(), 4 * static_cast<std::size_t>(want.numel())) == 0);
      ++compared;
    }
    CHECK(compared == 16);  // token_embd, output and 7 projections × 2 blocks
    const auto raw_q = expected.get<std::uint8_t>("raw." + kind + ".blk.0.attn_q.weight");
    const auto q = Q::quantize(expected.get<float>("src.blk.0.attn_q.weight"), f);
    CHECK(raw_q.to_vector() == q.codes.to_vector());
  }
}

TEST_CASE("quantize: q4_0 and q8_0 block rules at the edges (ties, zeros, the clamped far end)") {
  // q4_0: the first element of largest |x| sets d (sign included); its opposite is clamped to 15
  std::vector<float> v(32, 0.f);
  v[3] = -1.f;
  v[9] = 1.f;  // same |x|: the first (−1) wins, d = 1/8; x = 1 → 1 · 8 + 8.5 = 16.5 → 16 → clamped 15 (x̂ = 0.875)
  std::uint8_t blk[18];
  quant::quantize_q4_0_block(v.data(), blk);
  CHECK(quant::ggml_block_scale(blk) == 0.125f);
  CHECK(quant::q4_0_value(blk, 0.125f, 3) == -1.f);
  CHECK(quant::q4_0_value(blk, 0.125f, 9) == 0.875f);
  CHECK(quant::q4_0_value(blk, 0.125f, 0) == 0.f);
  // all zeros: d = 0 / −8 = −0 (fp16 0x8000, as numpy writes it; +0 for a block of −0) and every code 8 (q4_0)
  std::fill(v.begin(), v.end(), 0.f);
  quant::quantize_q4_0_block(v.data(), blk);
  CHECK((blk[0] == 0 && blk[1] == 0x80 && blk[2] == 0x88 && blk[17] == 0x88));
  std::fill(v.begin(), v.end(), -0.f);
  quant::quantize_q4_0_block(v.data(), blk);
  CHECK((blk[0] == 0 && blk[1] == 0 && blk[2] == 0x88));
  std::fill(v.begin(), v.end(), 0.f);
  std::uint8_t b8[34];
  quant::quantize_q8_0_block(v.data(), b8);
  CHECK(std::all_of(b8, b8 + 34, [](std::uint8_t c) { return c == 0; }));
  // q8_0 rounds half away from zero (np_roundf): x · id = ±2.5 → ±3
  v[0] = 127.f;
  v[1] = 2.5f;
  v[2] = -2.5f;
  quant::quantize_q8_0_block(v.data(), b8);
  CHECK(static_cast<std::int8_t>(b8[2]) == 127);
  CHECK(static_cast<std::int8_t>(b8[3]) == 3);
  CHECK(static_cast<std::int8_t>(b8[4]) == -3);
}

TEST_CASE("quantize: the fused matmul equals dequantize-then-matmul, on every kernel, at any thread count") {
  const pmc::test::FloatActivations float_x;  // the float kernels (int8 activations: the test below)
  std::mt19937 rng(71);
  const std::int64_t N = 72, K = 32 * 7;  // K = 224: not a multiple of 64 (int8/nf4 blocks straddle rows) nor of 48
  const auto w = normal_matrix(N, K, rng, 0.05);
  for (const auto f : {QuantFormat::q8_0, QuantFormat::q4_0, QuantFormat::int8, QuantFormat::nf4}) {
    const std::string name = pmc::ops::quant_format_name(f);
    CAPTURE(name);
    const auto q = Q::quantize(w, f);
    for (const std::int64_t M : {1, 3, 16}) {
      CAPTURE(M);
      const auto x = normal_matrix(M, K, rng);
      const auto ref = dequant_matmul(x, q);
      for (const auto isa : compiled_kernels()) {
        CAPTURE(pmc::backends::cpu::qmm::isa_name(isa));
        Tensor<float> y1({M, N}), y2({M, N});
#if defined(_OPENMP)
        const int saved = omp_get_max_threads();
        omp_set_num_threads(1);
        Q::matmul_on(isa, x, q, y1);
        omp_set_num_threads(2);
        Q::matmul_on(isa, x, q, y2);
        omp_set_num_threads(saved);
#else
        Q::matmul_on(isa, x, q, y1);
        Q::matmul_on(isa, x, q, y2);
#endif
        CHECK(std::memcmp(y1.data(), y2.data(), 4 * static_cast<std::size_t>(y1.numel())) == 0);
        // equal to float rounding: |Δ| ≤ K · 2^-22 · Σ|x_k ŵ_k| (a loose float-summation bound)
        Tensor<float> wd(q.shape());
        Q::dequantize(q, wd);
        double worst = 0;
        for (std::int64_t m = 0; m < M; ++m)
          for (std::int64_t n = 0; n < N; ++n) {
            double mag = 0;
            for (std::int64_t k = 0; k < K; ++k) mag += std::fabs(x.data()[m * K + k] * wd.data()[n * K + k]);
            const double diff = std::fabs(static_cast<double>(y1.data()[m * N + n]) - ref.data()[m * N + n]);
            worst = std::max(worst, diff / (mag * K * 0x1p-24));
          }
        CHECK(worst <= 1.0);
      }
      // bf16 activations: staged to float, accumulated in float, rounded once
      const auto xb = x.to<pmc::bf16>();
      Tensor<pmc::bf16> yb({M, N});
      Q::matmul(xb, q, yb);
      const auto refb = dequant_matmul(xb.to<float>(), q);
      double db = 0;
      for (std::int64_t i = 0; i < yb.numel(); ++i)
        db = std::max(db, std::fabs(static_cast<double>(static_cast<float>(yb.data()[i])) - refb.data()[i]) /
                              (std::fabs(refb.data()[i]) + 1e-3));
      CHECK(db < 1e-2);
    }
  }
  // autograd::linear under NoGrad takes the fused path for q8_0 / q4_0 at any row count, for int8 / nf4 up to
  // kQuantizedMatmulMaxRows rows and the GEMM above; with grad on, the GEMM
  constexpr std::int64_t kMax = pmc::autograd::kQuantizedMatmulMaxRows;
  for (const auto f : {QuantFormat::q4_0, QuantFormat::int8})
  for (const std::int64_t M : {std::int64_t{1}, kMax, kMax + 1}) {
    const auto q = Q::quantize(w, f);
    CAPTURE(pmc::ops::quant_format_name(f));
    CAPTURE(M);
    const auto x = normal_matrix(M, K, rng);
    Tensor<float> fused({M, N});
    Q::matmul(x, q, fused);
    const auto gemm = dequant_matmul(x, q);
    CHECK(pmc::autograd::fused_quantized_rows(f, M) == (f == QuantFormat::q4_0 || M <= kMax));
    const auto& want = pmc::autograd::fused_quantized_rows(f, M) ? fused : gemm;
    // the two differ in their last bits on the AVX512-VNNI kernels, which tells the paths apart below; on AVX2
    // (PMC_CPU_GEMM=avx2, or a CPU without AVX-512) a one-row product may agree to the bit, and the check below then
    // holds either way
    const bool differ = std::memcmp(fused.data(), gemm.data(), 4 * static_cast<std::size_t>(gemm.numel())) != 0;
    if (pmc::backends::cpu::qmm::rows16_pays()) CHECK(differ);
    if (!differ) MESSAGE("fused and dequantize-then-matmul agree to the bit on this kernel choice");
    {
      pmc::autograd::NoGrad ng;
      const auto y = pmc::autograd::linear(pmc::autograd::Var<float>(x, false), q).value();
      CHECK(std::memcmp(y.data(), want.data(), 4 * static_cast<std::size_t>(y.numel())) == 0);
    }
    const auto yg = pmc::autograd::linear(pmc::autograd::Var<float>(x, false), q).value();
    CHECK(std::memcmp(yg.data(), gemm.data(), 4 * static_cast<std::size_t>(yg.numel())) == 0);
  }
}

/// x as the int8-activation kernels see it: each block of 32 its codes round(x / d) times d = max|x| / 127.
Tensor<float> quantized_rows(const Tensor<float>& x) {
  Tensor<float> xq(x.shape());
  for (std::int64_t b = 0; b < x.numel() / 32; ++b) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x.data()[b * 32 + j]));
    const float d = amax / 127.f, id = d > 0 ? 1.f / d : 0.f;
    for (int j = 0; j < 32; ++j) xq.data()[b * 32 + j] = d * std::nearbyint(x.data()[b * 32 + j] * id);
  }
  return xq;
}

/// The worst error of y (M, N) against xq (M, K) · wdᵀ (wd: the dequantized W, (N, K)) in double, in units of
/// K · 2^-22 · Σ_k |xq · wd| (≤ 1: float rounding of the integer block sums and their scaled sum).
double quantized_rows_error(const Tensor<float>& xq, const Tensor<float>& wd, const Tensor<float>& y) {
  const std::int64_t M = xq.shape()[0], K = xq.shape()[1], N = wd.shape()[0];
  double worst = 0;
  for (std::int64_t m = 0; m < M; ++m)
    for (std::int64_t o = 0; o < N; ++o) {
      double ref = 0, mag = 0;
      for (std::int64_t k = 0; k < K; ++k) {
        ref += static_cast<double>(xq.data()[m * K + k]) * wd.data()[o * K + k];
        mag += std::fabs(static_cast<double>(xq.data()[m * K + k]) * wd.data()[o * K + k]);
      }
      worst = std::max(worst, std::fabs(y.data()[m * N + o] - ref) / (mag * K * 0x1p-22));
    }
  return worst;
}

TEST_CASE("quantize: int8 activations (the default) compute the product of the quantized rows of x, on every kernel") {
  // With int8 activations (the default), q8_0 / q4_0 multiply each row of x quantized to blocks of 32 (d = max|x| / 127,
  // codes round(x / d)) with integer dot products: the result is, to float rounding, dequant(W) times x's
  // dequantized blocks, which this test builds itself; against the exact product it moves by x's rounding only.
  // Both layouts: row-major blocks and rows16 (the AVX-512 and AVX2 kernels' own, quant_rows16.hpp; the others'
  // grouped reading). Every output's bits are the same whatever the thread count and however M is split.
  namespace qmm = pmc::backends::cpu::qmm;
  std::mt19937 rng(73);
  const std::int64_t N = 48, K = 32 * 9;
  const auto w = normal_matrix(N, K, rng, 0.05);
  const bool saved = qmm::int8_activations();
  for (const auto f : {QuantFormat::q8_0, QuantFormat::q4_0})
  for (const bool rows16 : {false, true}) {
    const std::string format_name = pmc::ops::quant_format_name(f);
    CAPTURE(format_name);
    CAPTURE(rows16);
    const auto q = rows16 ? rows16_of(Q::quantize(w, f)) : Q::quantize(w, f);
    Tensor<float> wd(q.shape());
    Q::dequantize(q, wd);
    for (const std::int64_t M : {1, 4, 9}) {
      CAPTURE(M);
      auto x = normal_matrix(M, K, rng);
      for (std::int64_t k = 0; k < 32; ++k) x.data()[k] = 0.f;  // an all-zero block: scale 0, codes 0
      const auto xq = quantized_rows(x);
      const auto exact = dequant_matmul(x, q);
      for (const auto isa : compiled_kernels()) {
        const std::string kernel = qmm::isa_name(isa);
        CAPTURE(kernel);
        Tensor<float> y({M, N}), y3({M, N});
        qmm::set_int8_activations(true);
        Q::matmul_on(isa, x, q, y);
#if defined(_OPENMP)
        const int threads = omp_get_max_threads();
        omp_set_num_threads(3);
        Q::matmul_on(isa, x, q, y3);
        omp_set_num_threads(threads);
#else
        Q::matmul_on(isa, x, q, y3);
#endif
        CHECK(std::memcmp(y.data(), y3.data(), 4 * static_cast<std::size_t>(y.numel())) == 0);
        for (std::int64_t m = 0; m < M; ++m) {  // a row alone: the same bits
          Tensor<float> row({1, K}), one({1, N});
          std::copy(x.data() + m * K, x.data() + (m + 1) * K, row.data());
          Q::matmul_on(isa, row, q, one);
          CHECK(std::memcmp(one.data(), y.data() + m * N, 4 * static_cast<std::size_t>(N)) == 0);
        }
        qmm::set_int8_activations(saved);
        CHECK(quantized_rows_error(xq, wd, y) <= 1.0);  // the quantized rows' product, to float rounding
        double d = 0, n = 0;
        for (std::int64_t i = 0; i < y.numel(); ++i) {
          d += (y.data()[i] - exact.data()[i]) * (y.data()[i] - exact.data()[i]);
          n += static_cast<double>(exact.data()[i]) * exact.data()[i];
        }
        const double rel = std::sqrt(d / n);
        CHECK(rel > 0);       // it is not the float kernel
        CHECK(rel < 1e-2);    // x's rounding: ~0.5% (measured 0.0055 on a 5632 x 2048 q4_0 product)
      }
    }
  }
  CHECK(qmm::int8_activations() == saved);
}

#if defined(PMC_HAVE_QMM_ROWS16_AVX2)
/// w quantized to f, and for q8_0 row 9's codes all -128 (its scales kept): the extreme the AVX2 kernel's sign trick
/// (|q| times c with q's sign) must take.
QuantizedMatrix<pmc::Cpu> quantize_with_extreme_row(const Tensor<float>& w, QuantFormat f) {
  auto blocks = Q::quantize(w, f);
  const std::int64_t nb = w.shape()[1] / 32;
  if (f == QuantFormat::q8_0)
    for (std::int64_t b = 0; b < nb; ++b)
      std::fill_n(blocks.codes.data() + (9 * nb + b) * quant::kQ8_0Bytes + 2, 32, std::uint8_t{0x80});
  return blocks;
}
#endif

#if defined(PMC_HAVE_QMM_ROWS16) && defined(PMC_HAVE_QMM_ROWS16_AVX2)
TEST_CASE("quantize: the AVX2 rows16 kernel gives the AVX-512 rows16 kernel's bits (int8 activations)") {
  // Both sum each block's products exactly in integers (vpdpbusd; vpmaddubsw + vpmaddwd, q8_0 by |q| and c with q's
  // sign) and then convert and FMA in the same order, so the outputs are equal bit for bit. Codes at the extremes
  // (q8_0 -128 and 127 against x's ±127, q4_0 0 and 15) check that the AVX2 byte products do not saturate.
  namespace qmm = pmc::backends::cpu::qmm;
  std::mt19937 rng(75);
  const std::int64_t N = 64, K = 32 * 11;
  auto w = normal_matrix(N, K, rng, 0.05);
  for (std::int64_t k = 0; k < K; ++k) w.data()[3 * K + k] = (k % 2 == 0 ? 1.f : -1.f);  // codes ±127 / 0, 15
  for (std::int64_t k = 0; k < K; ++k) w.data()[7 * K + k] = (k % 3 == 0 ? -1.f : 0.99f);  // q8_0: -127..126
  const bool saved = qmm::int8_activations();
  qmm::set_int8_activations(true);
  for (const auto f : {QuantFormat::q8_0, QuantFormat::q4_0}) {
    const std::string format_name = pmc::ops::quant_format_name(f);
    CAPTURE(format_name);
    const auto q = rows16_of(quantize_with_extreme_row(w, f));
    for (const std::int64_t M : {1, 2, 3, 4, 7}) {
      CAPTURE(M);
      auto x = normal_matrix(M, K, rng);
      for (std::int64_t k = 0; k < K; k += 5) x.data()[k] = (k % 2 == 0 ? 3.f : -3.f);  // codes ±127
      Tensor<float> y512({M, N}), y2({M, N});
      Q::matmul_on(qmm::Isa::avx512, x, q, y512);
      Q::matmul_on(qmm::Isa::avx2, x, q, y2);
      CHECK(std::memcmp(y512.data(), y2.data(), 4 * static_cast<std::size_t>(y2.numel())) == 0);
    }
  }
  qmm::set_int8_activations(saved);
}
#endif

#if defined(PMC_HAVE_QMM_ROWS16_AVX2)
TEST_CASE("quantize: the AVX2 rows16 kernel takes the extreme codes (int8 activations), on any AVX2 CPU") {
  // q4_0 adds a block's vpmaddubsw pair sums in 16 bits (16 products of a nibble and an x code a lane, at most
  // 16 · 15 · 127 = 30480) and q8_0 multiplies |q| by c with q's sign (pairs up to 2 · 128 · 127). Rows of codes 15
  // (q4_0: each block [1, -1, ..., -1]) or ±127 / -128 (q8_0) against x's codes all +127 or -127 come near those
  // limits: a sum that wrapped or saturated would be off by thousands of units, far outside float rounding. (The
  // AVX-512 comparison above needs an AVX-512 CPU; this runs wherever the AVX2 kernel does.)
  namespace qmm = pmc::backends::cpu::qmm;
  std::mt19937 rng(76);
  const std::int64_t N = 32, K = 32 * 6;
  auto w = normal_matrix(N, K, rng, 0.05);
  for (std::int64_t k = 0; k < K; ++k) {
    w.data()[2 * K + k] = k % 32 == 0 ? 1.f : -1.f;   // q4_0: code 0, then 31 codes 15; q8_0: 127, -127...
    w.data()[5 * K + k] = k % 32 == 0 ? -1.f : 1.f;   // the same, other sign
    w.data()[11 * K + k] = (k % 2 == 0 ? 1.f : -1.f);  // q4_0 codes 0 / 15, q8_0 ±127
  }
  const bool saved = qmm::int8_activations();
  qmm::set_int8_activations(true);
  for (const auto f : {QuantFormat::q8_0, QuantFormat::q4_0}) {
    const std::string format_name = pmc::ops::quant_format_name(f);
    CAPTURE(format_name);
    const auto q = rows16_of(quantize_with_extreme_row(w, f));
    Tensor<float> wd(q.shape());
    Q::dequantize(q, wd);
    Tensor<float> x({3, K});
    for (std::int64_t k = 0; k < K; ++k) {
      x.data()[k] = 3.f;                              // codes all +127
      x.data()[K + k] = -3.f;                         // all -127
      x.data()[2 * K + k] = k % 2 == 0 ? 3.f : -3.f;  // alternating
    }
    for (const std::int64_t M : {1, 2, 3}) {
      CAPTURE(M);
      Tensor<float> xm({M, K}), y({M, N});
      std::copy(x.data(), x.data() + M * K, xm.data());
      Q::matmul_on(qmm::Isa::avx2, xm, q, y);
      CHECK(quantized_rows_error(quantized_rows(xm), wd, y) <= 1.0);
    }
  }
  qmm::set_int8_activations(saved);
}
#endif

TEST_CASE("quantize: the rows16 layout holds the same blocks, and every kernel reads it as the row-major ones") {
  namespace qmm = pmc::backends::cpu::qmm;
  std::mt19937 rng(74);
  const std::int64_t N = 48, K = 32 * 3;
  auto w = normal_matrix(N, K, rng, 0.05);
  for (std::int64_t k = 0; k < 32; ++k) w.data()[5 * K + k] = 0.f;  // an all-zero block
  const bool saved = qmm::int8_activations();
  for (const auto f : {QuantFormat::q8_0, QuantFormat::q4_0}) {
    const std::string format_name = pmc::ops::quant_format_name(f);
    CAPTURE(format_name);
    const auto q = Q::quantize(w, f);
    const auto r = rows16_of(q);
    CHECK(pmc::ops::row_major_blocks(r) == q.codes.to_vector());
    CHECK(pmc::ops::row_major_blocks(q) == q.codes.to_vector());
    const std::int64_t bb = quant::ggml_block_bytes(f);
    bool same = true;
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t b = 0; b < K / 32; ++b) {
        std::uint8_t blk[quant::kQ8_0Bytes];
        quant::ggml_block_at(f, r.layout, r.codes.data(), K / 32, n, b, blk);
        same = same && std::memcmp(blk, q.codes.data() + (n * (K / 32) + b) * bb, static_cast<std::size_t>(bb)) == 0;
      }
    CHECK(same);
    CHECK(r.codes.to_vector() != q.codes.to_vector());  // regrouped, not copied
    // for_matmul regroups exactly when the AVX512-VNNI kernel runs, and only then
    const auto laid = Q::for_matmul(q);
    CHECK(laid.layout == (qmm::rows16_pays() ? pmc::ops::QuantLayout::rows16 : pmc::ops::QuantLayout::blocks));
    CHECK(laid.codes.to_vector() == (qmm::rows16_pays() ? r : q).codes.to_vector());
    CHECK(Q::for_matmul(laid).codes.data() == laid.codes.data());  // once regrouped, kept
    Tensor<float> a(q.shape()), b(q.shape());
    Q::dequantize(q, a);
    Q::dequantize(r, b);
    CHECK(a.to_vector() == b.to_vector());
    CHECK(pmc::ops::block_error_bounds(q) == pmc::ops::block_error_bounds(r));
    const auto x = normal_matrix(5, K, rng);
    for (const bool int8 : {false, true})
      for (const auto isa : compiled_kernels()) {
        // rows16's own kernels (AVX-512, AVX2): the int8 test above, and the AVX2 one against the AVX-512 one below
        if (int8 && isa == qmm::Isa::avx512) continue;
#if defined(PMC_HAVE_QMM_ROWS16_AVX2)
        if (int8 && isa == qmm::Isa::avx2) continue;
#endif
        CAPTURE(int8);
        CAPTURE(qmm::isa_name(isa));
        qmm::set_int8_activations(int8);
        Tensor<float> y1({5, N}), y2({5, N});
        Q::matmul_on(isa, x, q, y1);
        Q::matmul_on(isa, x, r, y2);
        CHECK(std::memcmp(y1.data(), y2.data(), 4 * static_cast<std::size_t>(y1.numel())) == 0);
      }
    qmm::set_int8_activations(saved);
    // other formats and shapes stay row-major; a rows16 matrix of rows not a multiple of 16 is refused
    auto odd = Q::quantize(normal_matrix(8, K, rng), f);
    CHECK(Q::for_matmul(odd).layout == pmc::ops::QuantLayout::blocks);
    odd.layout = pmc::ops::QuantLayout::rows16;
    CHECK_THROWS_WITH(Q::dequantize(odd, Tensor<float>({8, K})),
                      doctest::Contains("the rows16 layout needs q8_0 / q4_0 with rows a multiple of 16"));
  }
  CHECK(Q::for_matmul(Q::quantize(w, QuantFormat::int8)).layout == pmc::ops::QuantLayout::blocks);
}

TEST_CASE("quantize: q8_0 / q4_0 shape checks") {
  CHECK_THROWS_WITH(Q::quantize(Tensor<float>({4, 48}), QuantFormat::q8_0),
                    doctest::Contains("q8_0 needs cols (the input dimension) a multiple of 32, got (4, 48)"));
  CHECK_NOTHROW(Q::quantize(Tensor<float>({3, 32}), QuantFormat::q4_0));  // rows · cols not a multiple of 64: fine
  auto q = Q::quantize(Tensor<float>({4, 64}), QuantFormat::q4_0);
  Tensor<float> y({2, 4});
  CHECK_THROWS_WITH(Q::matmul(Tensor<float>({2, 32}), q, y), doctest::Contains("must be (M, 64)"));
  CHECK_THROWS_WITH(Q::matmul(Tensor<float>({2, 64}), q, Tensor<float>({2, 5})), doctest::Contains("must be (2, 4)"));
  q.codes = Tensor<std::uint8_t>({10});
  CHECK_THROWS_WITH(Q::dequantize(q, Tensor<float>({4, 64})), doctest::Contains("q4_0 blocks must hold 144 bytes"));
}

}  // namespace quantize_test

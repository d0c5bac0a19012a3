// SPDX-License-Identifier: MIT
// Tensors and reverse-mode autograd: a tensor and its strided views (transpose and select share memory),
// bf16 rounding, then a small network (RMSNorm, a linear layer, cross-entropy) differentiated by the tape and
// its gradient checked against central finite differences in double. Exits 1 if the check fails.
//
//   cmake --build build/release --target example_tensors_and_autograd
//   build/release/bin/tensors_and_autograd
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

// g++ 12 warns falsely (its bug 105593) inside its AVX-512 intrinsics, which Eigen's exp for double uses when
// built with -march=native on an AVX-512 machine.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <pmc/pmc.hpp>
#pragma GCC diagnostic pop

namespace ag = pmc::autograd;

int main() {
  // ---- tensors: views share storage, contiguous() and clone() copy ----
  auto x = pmc::Tensor<float>::from({2, 3}, {1, 2, 3, 4, 5, 6});
  const auto xt = x.transpose(0, 1);  // (3, 2), strides (1, 3): no copy
  const auto row = x.select(0, 1);    // (3): the second row
  x.at({1, 2}) = 60.f;                // seen through both views
  std::printf("x %s, x.transpose(0, 1) %s with strides %s, contiguous: %s\n", x.shape().str().c_str(),
              xt.shape().str().c_str(), xt.strides().str().c_str(), xt.is_contiguous() ? "yes" : "no");
  std::printf("xt.at({2, 1}) = %g, x.select(0, 1) = [%g %g %g], shares storage: %s\n", xt.at({2, 1}), row[0], row[1],
              row[2], row.shares_storage_with(x) ? "yes" : "no");
  const auto packed = xt.contiguous();  // a row-major copy of the view
  std::printf("xt.contiguous() = [%g %g | %g %g | %g %g]\n", packed[0], packed[1], packed[2], packed[3], packed[4],
              packed[5]);

  // ---- bf16: 8 significant bits, rounded to nearest, ties to even ----
  const pmc::bf16 tenth = 0.1f;
  std::printf("bf16(0.1) = %.9g (bits 0x%04x); 0.1f = %.9g\n", static_cast<float>(tenth), tenth.bits, 0.1f);
  const auto halves = pmc::Tensor<float>::from({3}, {1.00390625f, 1.01171875f, 3.14159265f}).to<pmc::bf16>();
  std::printf("to<bf16>: 1.00390625 -> %g (tie, to even), 1.01171875 -> %g (tie, to even), pi -> %g\n",
              static_cast<float>(halves[0]), static_cast<float>(halves[1]), static_cast<float>(halves[2]));

  // ---- autograd in double: loss = cross_entropy(rms_norm(h, g) · Wᵀ, targets) ----
  const std::int64_t tokens = 4, dim = 6, vocab = 5;
  std::mt19937 rng(11);
  std::normal_distribution<double> normal(0.0, 1.0);
  auto random = [&](pmc::Shape shape) {
    pmc::Tensor<double> t(shape);
    for (auto& v : t.span()) v = normal(rng);
    return t;
  };
  const ag::Var<double> hidden(random({tokens, dim}), true);  // requires_grad: a leaf whose gradient we want
  const ag::Var<double> norm_weight(random({dim}), true);
  const ag::Var<double> weight(random({vocab, dim}), true);
  // row 2's target is ignored, so the loss does not depend on hidden row 2 (elements 12..17): zero gradient
  const auto targets = pmc::Tensor<std::int32_t>::from({tokens}, {3, 0, pmc::ops::kIgnoreIndex, 4});
  auto loss_of = [&] {
    const auto normed = ag::rms_norm(hidden, norm_weight, 1e-5f);
    const auto logits = ag::matmul(normed, weight, false, true);  // (tokens, vocab); ag::linear does the same
    return ag::cross_entropy(logits, targets);                    // mean over the 3 targets that count
  };
  const auto loss = loss_of();  // records backward closures on this thread's tape
  ag::backward(loss);           // runs them, newest first; every leaf's grad() is now filled
  std::printf("loss %.12f\n", loss.value()[0]);

  // Central differences: (L(w + h) - L(w - h)) / 2h for a few elements of each parameter, without recording.
  double worst = 0;
  const double h = 1e-6;
  for (const auto* param : {&hidden, &norm_weight, &weight}) {
    const auto& value = param->value();
    for (std::int64_t i : {std::int64_t{0}, value.numel() / 2, value.numel() - 1}) {
      const double saved = value[i];
      ag::NoGrad no_grad;
      value[i] = saved + h;
      const double plus = loss_of().value()[0];
      value[i] = saved - h;
      const double minus = loss_of().value()[0];
      value[i] = saved;
      const double numeric = (plus - minus) / (2 * h), analytic = param->grad()[i];
      const double error = std::abs(analytic - numeric) / std::max(1.0, std::abs(numeric));
      worst = std::max(worst, error);
      std::printf("  %s element %2lld: autograd %+.10f  finite difference %+.10f  error %.1e\n",
                  param->shape().str().c_str(), static_cast<long long>(i), analytic, numeric, error);
    }
  }
  const bool ok = worst < 1e-6;
  std::printf("gradient check %s (worst relative error %.1e)\n", ok ? "passed" : "FAILED", worst);
  return ok ? 0 : 1;
}

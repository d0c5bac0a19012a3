// SPDX-License-Identifier: MIT
// Quantize<Cuda> (int8, NF4, q8_0, q4_0) against Quantize<Cpu>: the same codes and scales, the same dequantized bits (the
// kernel rounds each product as the CPU does, without fused multiply-adds), and the quantized linear's forward
// and backward on the GPU against the CPU's; under NoGrad with few rows the CPU multiplies from the blocks
// (Quantize<Cpu>::matmul) and the GPU dequantizes and runs cuBLASLt: the same products up to rounding.
#include <cstring>

#include <support/float_activations.hpp>

#include "parity.hpp"

namespace pmc::test {

static_assert(ops::ImplementsQuantize<Cuda>);

TEST_CASE_TEMPLATE("quantize/codes, dequantized bits and the quantized linear match the CPU", T, float, bf16) {
  for (auto f : {ops::QuantFormat::int8, ops::QuantFormat::nf4, ops::QuantFormat::q8_0, ops::QuantFormat::q4_0}) {
    CAPTURE(ops::quant_format_name(f));
    std::mt19937 rng(1);
    std::normal_distribution<float> nd(0.f, 1.f);
    Tensor<float> w32({256, 320});
    for (auto& x : w32.span()) x = nd(rng);
    const auto w = w32.to<T>();
    const auto qc = ops::Quantize<Cpu>::quantize(w, f);
    const auto qg = ops::Quantize<Cuda>::quantize(dev(w), f);
    CHECK(cuda::to_host(qg.codes).to_vector() == qc.codes.to_vector());
    Tensor<T> hc({256, 320});
    ops::Quantize<Cpu>::dequantize(qc, hc);
    auto dg = Tensor<T, Cuda>::empty(Shape{256, 320});
    ops::Quantize<Cuda>::dequantize(qg, dg);
    const auto hg = cuda::to_host(dg);
    std::int64_t differ = 0;
    for (std::int64_t i = 0; i < hc.numel(); ++i) differ += std::memcmp(&hc.data()[i], &hg.data()[i], sizeof(T)) != 0;
    CHECK(differ == 0);
    Tensor<T> x({8, 320});
    for (auto& v : x.span()) v = static_cast<T>(nd(rng));
    autograd::Var<T, Cuda> xg(dev(x), true);
    autograd::Var<T, Cpu> xc(x.clone(), true);
    // One graph at a time: backward runs every closure on the thread's tape, so the CPU graph is recorded only
    // after the GPU one has run (else the first backward would reach the other's closures, whose outputs have
    // no gradient).
    auto yg = autograd::linear(xg, qg);
    autograd::backward(autograd::sum(yg));
    auto yc = autograd::linear(xc, qc);
    autograd::backward(autograd::sum(yc));
    PMC_CHECK_PARITY(T, yg.value(), yc.value(), "quantized linear forward");
    PMC_CHECK_PARITY(T, xg.grad(), xc.grad(), "quantized linear backward (dx)");
    autograd::NoGrad ng;
    const FloatActivations float_x;  // the CPU's product from the blocks, x kept in float (not int8, the default)
    PMC_CHECK_PARITY(T, autograd::linear(autograd::Var<T, Cuda>(dev(x), false), qg).value(),
                     autograd::linear(autograd::Var<T, Cpu>(x, false), qc).value(), "quantized linear, small M");
  }
}

}  // namespace pmc::test

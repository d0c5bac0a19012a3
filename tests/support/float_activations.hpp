// SPDX-License-Identifier: MIT
// FloatActivations: for one scope, q8_0 / q4_0 products on the CPU keep x in float (backends/cpu/quant_matmul.hpp).
// For tests that compare those products with the dequantized weight's to float rounding: by default x is quantized
// to int8 blocks (as llama.cpp does), which moves a product by ~0.5% of its norm.
#pragma once

#include <pmc/backends/cpu/quant_matmul.hpp>

namespace pmc::test {

struct FloatActivations {
  bool saved = backends::cpu::qmm::int8_activations();
  FloatActivations() { backends::cpu::qmm::set_int8_activations(false); }
  ~FloatActivations() { backends::cpu::qmm::set_int8_activations(saved); }
  FloatActivations(const FloatActivations&) = delete;
  FloatActivations& operator=(const FloatActivations&) = delete;
};

}  // namespace pmc::test

// SPDX-License-Identifier: MIT
// Must not compile: a dynamic loss scaler for the Fp32 policy (loss scaling exists for fp16's exponent range).
#include <pmc/optim/precision.hpp>

int main() {
#ifdef PMC_COMPILE_FAIL
  pmc::optim::DynamicLossScaler<pmc::optim::Fp32> scaler;
#else
  pmc::optim::DynamicLossScaler<pmc::optim::Fp16Mixed> scaler;
#endif
  return scaler.scale() > 0 ? 0 : 1;
}

// SPDX-License-Identifier: MIT
// Must not compile: a dynamic loss scaler for Bf16Mixed (bf16 has fp32's exponent range; grads do not underflow).
#include <pmc/optim/precision.hpp>

int main() {
#ifdef PMC_COMPILE_FAIL
  pmc::optim::DynamicLossScaler<pmc::optim::Bf16Mixed> scaler;
#else
  pmc::optim::loss_scaler_for<pmc::optim::Bf16Mixed> scaler;  // the right choice: NoLossScaler
#endif
  return scaler.scale() > 0 ? 0 : 1;
}

// SPDX-License-Identifier: MIT
// Must not compile: AdamW with bf16 parameters/state (the optimizer runs on the fp32 masters of MasterWeights).
#include <pmc/optim/adamw.hpp>

int main() {
#ifdef PMC_COMPILE_FAIL
  pmc::optim::AdamW<pmc::bf16> opt;
#else
  pmc::optim::AdamW<float> opt;
#endif
  return opt.step_count() == 0 ? 0 : 1;
}

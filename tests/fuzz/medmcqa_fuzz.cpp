// SPDX-License-Identifier: MIT
// eval::load_medmcqa (MedMCQA JSONL) on arbitrary bytes.
#include <pmc/eval/benchmarks.hpp>

#include "fuzz_support.hpp"

PMC_FUZZ_TARGET(medmcqa) {
  const auto path = pmc::fuzz::write_input(data, size, "medmcqa.jsonl");
  return pmc::fuzz::refuse_or_accept([&] { (void)pmc::eval::load_medmcqa(path); });
}

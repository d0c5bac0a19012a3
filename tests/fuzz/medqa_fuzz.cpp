// SPDX-License-Identifier: MIT
// eval::load_medqa (MedQA JSONL) on arbitrary bytes.
#include <pmc/eval/benchmarks.hpp>

#include "fuzz_support.hpp"

PMC_FUZZ_TARGET(medqa) {
  const auto path = pmc::fuzz::write_input(data, size, "medqa.jsonl");
  return pmc::fuzz::refuse_or_accept([&] { (void)pmc::eval::load_medqa(path); });
}

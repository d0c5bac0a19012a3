// SPDX-License-Identifier: MIT
// eval::load_mcq_jsonl (generic MCQ JSONL) on arbitrary bytes.
#include <pmc/eval/benchmarks.hpp>

#include "fuzz_support.hpp"

PMC_FUZZ_TARGET(mcq) {
  const auto path = pmc::fuzz::write_input(data, size, "mcq.jsonl");
  return pmc::fuzz::refuse_or_accept([&] { (void)pmc::eval::load_mcq_jsonl(path); });
}

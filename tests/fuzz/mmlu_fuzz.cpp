// SPDX-License-Identifier: MIT
// eval::load_mmlu_csv (an MMLU CSV file, RFC 4180 quoting) on arbitrary bytes.
#include <pmc/eval/benchmarks.hpp>

#include "fuzz_support.hpp"

PMC_FUZZ_TARGET(mmlu) {
  const auto path = pmc::fuzz::write_input(data, size, "anatomy_test.csv");
  return pmc::fuzz::refuse_or_accept([&] { (void)pmc::eval::load_mmlu_csv(path); });
}

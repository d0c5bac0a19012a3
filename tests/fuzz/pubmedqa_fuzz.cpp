// SPDX-License-Identifier: MIT
// eval::load_pubmedqa on arbitrary bytes: as ori_pqal.json (split `all`), then as both ori_pqal.json and its
// test_ground_truth.json (split `test`).
#include <pmc/eval/benchmarks.hpp>

#include "fuzz_support.hpp"

PMC_FUZZ_TARGET(pubmedqa) {
  const auto path = pmc::fuzz::write_input(data, size, "ori_pqal.json");
  const auto truth = pmc::fuzz::write_input(data, size, "test_ground_truth.json");
  pmc::fuzz::refuse_or_accept([&] { (void)pmc::eval::load_pubmedqa(path, pmc::eval::PubmedqaSplit::all); });
  return pmc::fuzz::refuse_or_accept(
      [&] { (void)pmc::eval::load_pubmedqa(path, pmc::eval::PubmedqaSplit::test, truth); });
}

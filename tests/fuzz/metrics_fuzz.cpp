// SPDX-License-Identifier: MIT
// train::read_metric (a run's metrics.jsonl, as `pmc plot` reads it) on arbitrary bytes, then its moving average.
#include <pmc/train/metrics.hpp>

#include "fuzz_support.hpp"

PMC_FUZZ_TARGET(metrics) {
  const auto path = pmc::fuzz::write_input(data, size, "metrics.jsonl");
  return pmc::fuzz::refuse_or_accept([&] {
    for (const char* field : {"loss", "eval_loss"}) (void)pmc::train::moving_average(pmc::train::read_metric(path, field), 3);
  });
}

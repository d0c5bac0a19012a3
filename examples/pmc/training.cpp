// SPDX-License-Identifier: MIT
// The CPU trainer of `pmc pretrain`, `pmc instruct` and `pmc pipeline` (training.hpp): no subcommand, only the
// one translation unit that instantiates run_training on the CPU (Trainer<dynamic, float|bf16, Cpu> and the
// model). Compiled here once rather than in each subcommand's file, it no longer dominates the build time.
#include "training.hpp"

namespace pmc::cli {

int run_training_on_cpu(const TrainArgs& a, data::Packing packing, const PrepareFn& prepare) {
  return run_training_in_precision<Cpu>(a, packing, prepare);
}

}  // namespace pmc::cli

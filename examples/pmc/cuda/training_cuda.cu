// SPDX-License-Identifier: MIT
// `pmc pretrain|instruct --device cuda`: the trainer on the GPU, compiled by nvcc into the pmc program when it
// is built with CUDA (the cuda preset), for every config of the registry (llama::with_config), as on the CPU.
#include <pmc/cuda.hpp>

#include "../training.hpp"

namespace pmc::cli {

int run_training_cuda(const TrainArgs& a, data::Packing packing, const PrepareFn& prepare) {
  PMC_CHECK(cuda::cuda_device_count() > 0, "--device cuda: no CUDA device (or driver) on this machine");
  return llama::with_config(training_config_name(a),
                            [&]<llama::Config C>() { return run_training_in_precision<C, Cuda>(a, packing, prepare); });
}

}  // namespace pmc::cli

// SPDX-License-Identifier: MIT
// `pmc pretrain|instruct --device cuda`: the trainer on the GPU, compiled by nvcc into the pmc program when it
// is built with CUDA (the cuda preset). The configs listed here are the ones the GPU path is built for.
#include <pmc/cuda.hpp>

#include "../training.hpp"

namespace pmc::cli {

int run_training_cuda(const TrainArgs& a, data::Packing packing, const PrepareFn& prepare) {
  PMC_CHECK(cuda::cuda_device_count() > 0, "--device cuda: no CUDA device (or driver) on this machine");
  return llama::dispatch_config<llama::tiny, llama::demo, llama::stories260k, llama::small_20m, llama::llama_1b>(
      training_config_name(a),
      [&]<llama::Config C>() { return run_training_in_precision<C, Cuda>(a, packing, prepare); });
}

}  // namespace pmc::cli

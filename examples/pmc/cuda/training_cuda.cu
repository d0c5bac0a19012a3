// SPDX-License-Identifier: MIT
// `pmc pretrain|instruct --device cuda`: the trainer on the GPU, compiled by nvcc into the pmc program when it
// is built with CUDA (the cuda preset), for any architecture (Model<dynamic>), as on the CPU.
#include <pmc/cuda.hpp>

#include "../training.hpp"

namespace pmc::cli {

int run_training_cuda(const TrainArgs& a, data::Packing packing, const PrepareFn& prepare) {
  PMC_CHECK(cuda::cuda_device_count() > 0, "--device cuda: no CUDA device (or driver) on this machine");
  return run_training_in_precision<Cuda>(a, packing, prepare);
}

}  // namespace pmc::cli

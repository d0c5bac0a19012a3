// SPDX-License-Identifier: MIT
// --device for the subcommands that can run on a GPU: the check of the name, and the error of a program
// built without CUDA (the GPU halves are in cuda/, compiled by nvcc when the toolkit is found).
#pragma once

#include <string>

#include <pmc/core/error.hpp>

// The GPU half (cuda/*.cu) is a shared library whose symbols are hidden but for its entry points: nvcc and g++
// may lay out the same inline code differently (a lambda's captures), so neither half may use the other's copy.
#define PMC_CLI_CUDA_ENTRY __attribute__((visibility("default")))

namespace pmc::cli {

/// Fails with the reason this program cannot use a GPU.
[[noreturn]] inline void fail_without_cuda() {
  fail("--device cuda: this pmc was built without CUDA; build it with the CUDA toolkit: cmake --preset cuda "
       "&& cmake --build build/cuda --target pmc_cli");
}

/// Checks a --device value: true for cuda, false for cpu.
inline bool wants_cuda(const std::string& device) {
  PMC_CHECK(device == "cpu" || device == "cuda", "--device must be cpu or cuda, got '", device, "'");
  return device == "cuda";
}

}  // namespace pmc::cli

// SPDX-License-Identifier: MIT
// main() of the GPU tests: exits with 77 (ctest's SKIP_RETURN_CODE) when there is no usable CUDA device.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>

#include <pmc/backends/cuda/runtime.hpp>

namespace {
// Listing and counting test cases touches no GPU: allowed without one (CI checks the ctest filters that way).
bool only_lists(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    for (const char* flag : {"--list-test-cases", "-ltc", "--count", "-c"})
      if (std::strcmp(argv[i], flag) == 0) return true;
  return false;
}
}  // namespace

int main(int argc, char** argv) {
  if (!only_lists(argc, argv) && pmc::cuda::cuda_device_count() == 0) {
    std::printf("pmc GPU tests: no CUDA device (or no driver) on this machine; skipping (exit 77)\n");
    return 77;
  }
  doctest::Context ctx(argc, argv);
  return ctx.run();
}

// SPDX-License-Identifier: MIT
// CUDA runtime glue: error-checking macros that throw pmc::Error, the device-count query, device properties.
#pragma once

#if !defined(PMC_WITH_CUDA)
#error "pmc/backends/cuda/runtime.hpp needs PMC_WITH_CUDA (link pmc::cuda and include <pmc/cuda.hpp>)"
#endif

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <mutex>
#include <vector>

#include <pmc/core/error.hpp>

namespace pmc::cuda {

namespace detail {
[[noreturn]] inline void throw_cuda(cudaError_t e, const char* expr, const char* file, int line) {
  fail(file, ":", line, ": CUDA error ", cudaGetErrorName(e), " (", cudaGetErrorString(e), ") in ", expr);
}
[[noreturn]] inline void throw_cublas(cublasStatus_t s, const char* expr, const char* file, int line) {
  fail(file, ":", line, ": cuBLAS error ", cublasLtGetStatusName(s), " (", cublasLtGetStatusString(s), ") in ",
       expr);
}
}  // namespace detail

/// Number of CUDA devices, or 0 where there is no device or no (or too old a) driver: never throws, so that
/// tests and benchmarks can skip cleanly on a machine without a GPU.
inline int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();  // clear the sticky "no device"/"insufficient driver" error of this thread
    return 0;
  }
  return n;
}

/// The current device's properties, queried once per device (cudaGetDeviceProperties is slow).
inline const cudaDeviceProp& device_properties() {
  static std::mutex mu;
  static std::vector<cudaDeviceProp> props;
  static std::vector<bool> have;
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) fail("cudaGetDevice failed: no usable CUDA device");
  std::lock_guard lock(mu);
  if (static_cast<int>(props.size()) <= dev) {
    props.resize(static_cast<std::size_t>(dev) + 1);
    have.resize(static_cast<std::size_t>(dev) + 1, false);
  }
  if (!have[static_cast<std::size_t>(dev)]) {
    if (auto e = cudaGetDeviceProperties(&props[static_cast<std::size_t>(dev)], dev); e != cudaSuccess)
      detail::throw_cuda(e, "cudaGetDeviceProperties", __FILE__, __LINE__);
    have[static_cast<std::size_t>(dev)] = true;
  }
  return props[static_cast<std::size_t>(dev)];
}

}  // namespace pmc::cuda

/// PMC_CUDA_CHECK(cudaMemcpy(...)): throws pmc::Error with file:line, the error's name and string.
#define PMC_CUDA_CHECK(expr)                                                                  \
  do {                                                                                        \
    const cudaError_t pmc_cuda_err_ = (expr);                                                 \
    if (pmc_cuda_err_ != cudaSuccess) ::pmc::cuda::detail::throw_cuda(pmc_cuda_err_, #expr, __FILE__, __LINE__); \
  } while (0)

/// PMC_CUBLAS_CHECK(cublasLtMatmul(...)): as PMC_CUDA_CHECK for cublasStatus_t.
#define PMC_CUBLAS_CHECK(expr)                                                                      \
  do {                                                                                              \
    const cublasStatus_t pmc_cublas_st_ = (expr);                                                   \
    if (pmc_cublas_st_ != CUBLAS_STATUS_SUCCESS)                                                    \
      ::pmc::cuda::detail::throw_cublas(pmc_cublas_st_, #expr, __FILE__, __LINE__);                 \
  } while (0)

/// After a <<<...>>> launch: reports launch-configuration errors (asynchronous faults surface at the next sync).
#define PMC_CUDA_CHECK_LAUNCH() PMC_CUDA_CHECK(cudaGetLastError())

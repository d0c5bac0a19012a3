// SPDX-License-Identifier: MIT
// The CUDA umbrella header: Cuda specializations of the op contracts, device memory, streams, copies and GEMMs.
// Host-only parts (allocator, streams, copies, cuBLASLt) build with any C++20 compiler under PMC_WITH_CUDA;
// the kernels and the ops built on them need nvcc (a .cu file).
#pragma once

#if !defined(PMC_WITH_CUDA)
#error "<pmc/cuda.hpp> needs the pmc::cuda component (PMC_WITH_CUDA): link pmc::cuda, configured with PMC_ENABLE_CUDA"
#endif

#include <pmc/pmc.hpp>

#include <pmc/backends/cuda/runtime.hpp>
#include <pmc/backends/cuda/stream.hpp>
#include <pmc/backends/cuda/allocator.hpp>
#include <pmc/backends/cuda/copy.hpp>
#include <pmc/backends/cuda/cublaslt.hpp>

#if defined(__CUDACC__)
#include <pmc/backends/cuda/elementwise.cuh>
#include <pmc/backends/cuda/embedding.cuh>
#include <pmc/backends/cuda/rms_norm.cuh>
#include <pmc/backends/cuda/rope.cuh>
#include <pmc/backends/cuda/swiglu.cuh>
#include <pmc/backends/cuda/cross_entropy.cuh>
#include <pmc/backends/cuda/attention.cuh>
#include <pmc/backends/cuda/attention_flash.cuh>
#include <pmc/backends/cuda/adamw.cuh>
#include <pmc/backends/cuda/quantize.cuh>
#endif

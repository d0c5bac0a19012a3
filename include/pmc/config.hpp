// SPDX-License-Identifier: MIT
// PMC_* macros shared by host and device code.
#pragma once

#if defined(__CUDACC__)
#define PMC_HOST_DEVICE __host__ __device__
#else
#define PMC_HOST_DEVICE
#endif

#define PMC_VERSION_MAJOR 0
#define PMC_VERSION_MINOR 1
#define PMC_VERSION_PATCH 0

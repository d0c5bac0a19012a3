// SPDX-License-Identifier: MIT
// The CPU specializations of every op contract in pmc/ops/ (Eigen, OpenMP).
#pragma once

#include <pmc/backends/cpu/elementwise.hpp>
#include <pmc/backends/cpu/matmul.hpp>

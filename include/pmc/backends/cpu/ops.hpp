// SPDX-License-Identifier: MIT
// The CPU specializations of every op contract in pmc/ops/ (Eigen, OpenMP), the optimizer kernels included.
#pragma once

#include <pmc/backends/cpu/adamw.hpp>
#include <pmc/backends/cpu/attention.hpp>
#include <pmc/backends/cpu/cross_entropy.hpp>
#include <pmc/backends/cpu/elementwise.hpp>
#include <pmc/backends/cpu/embedding.hpp>
#include <pmc/backends/cpu/matmul.hpp>
#include <pmc/backends/cpu/param_ops.hpp>
#include <pmc/backends/cpu/quantize.hpp>
#include <pmc/backends/cpu/rms_norm.hpp>
#include <pmc/backends/cpu/rope.hpp>
#include <pmc/backends/cpu/sgd.hpp>
#include <pmc/backends/cpu/swiglu.hpp>

// SPDX-License-Identifier: MIT
// Compiled (never run) by the package test: the installed <pmc/cuda.hpp> builds under nvcc via pmc::cuda.
#include <pmc/cuda.hpp>

int main() { return 0; }

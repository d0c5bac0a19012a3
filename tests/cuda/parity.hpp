// SPDX-License-Identifier: MIT
// Helpers of the CUDA parity tests: host/device round trips, per-dtype bounds, the comparison macro.
#pragma once

#include <doctest/doctest.h>

#include <random>
#include <string>
#include <type_traits>

#include <pmc/cuda.hpp>
#include <support/compare.hpp>

namespace pmc::test {

/// The bound on max |gpu − cpu| / max |cpu| per element type: fp32 1e-5, 16-bit 2e-2.
template <class T>
constexpr double parity_bound() {
  return std::is_same_v<T, float> || std::is_same_v<T, double> ? 1e-5 : 2e-2;
}

template <class T>
std::string type_name() {
  return std::string(dtype_name(dtype_of<T>()));
}

template <class T>
Tensor<T, Cuda> dev(const Tensor<T>& t) {
  return cuda::to_device(t);
}

/// A uniform(lo, hi) CPU tensor from a fixed-seed generator.
template <class T>
Tensor<T> rnd(const Shape& s, std::mt19937& rng, double lo = -1, double hi = 1) {
  return random_tensor<T>(s, rng, lo, hi);
}

/// max relative difference of a device tensor from its CPU reference.
template <class T, class U>
double rel_diff(const Tensor<T, Cuda>& gpu, const Tensor<U>& cpu) {
  return max_rel_diff(cuda::to_host(gpu), cpu);
}

}  // namespace pmc::test

/// CHECKs that a device tensor matches its CPU reference within the bound of element type T.
#define PMC_CHECK_PARITY(T, gpu, cpu, what)                                            \
  do {                                                                                 \
    const double pmc_rel_ = ::pmc::test::rel_diff((gpu), (cpu));                       \
    INFO(what, " (", ::pmc::test::type_name<T>(), "): max rel diff ", pmc_rel_);        \
    CHECK(pmc_rel_ <= ::pmc::test::parity_bound<T>());                                 \
  } while (0)

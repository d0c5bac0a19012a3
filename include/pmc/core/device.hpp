// SPDX-License-Identifier: MIT
// Device tags: every tensor, op and model is a template on one of these. Only backends/ names a device.
#pragma once

#include <string_view>
#include <type_traits>

namespace pmc {

/// Host memory; ops run on Eigen (and OpenMP).
struct Cpu {
  static constexpr std::string_view name = "cpu";
};

/// An NVIDIA GPU; its specializations live behind <pmc/cuda.hpp> (built with the pmc::cuda component).
struct Cuda {
  static constexpr std::string_view name = "cuda";
};

template <class D>
concept Device = std::is_same_v<D, Cpu> || std::is_same_v<D, Cuda>;

}  // namespace pmc

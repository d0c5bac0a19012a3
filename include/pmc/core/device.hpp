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

/// A device whose memory the host reaches only through copies (pmc::to_host, pmc::copy): every device but Cpu.
/// Code above the backends that must take another path for such memory (load on the host, then copy) asks this
/// instead of naming a device.
template <class D>
concept OffHostDevice = Device<D> && !std::is_same_v<D, Cpu>;

}  // namespace pmc

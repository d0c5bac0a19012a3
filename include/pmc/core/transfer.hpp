// SPDX-License-Identifier: MIT
// Moving tensors between the host and a device, and the few whole-tensor operations that code written once
// for every device needs (zeroing, copying into a view): Transfer<D>, specialized by each backend
// (Cpu here; Cuda in backends/cuda/copy.hpp), and the free functions that dispatch on it.
#pragma once

#include <initializer_list>

#include <pmc/core/device.hpp>
#include <pmc/core/tensor.hpp>

namespace pmc {

/// Host <-> device transfers for device D. Every specialization provides, for any element type T:
///   from_host(Tensor<T, Cpu>) -> Tensor<T, D>   a contiguous copy on D
///   to_host(Tensor<T, D>)     -> Tensor<T, Cpu> a contiguous host copy (synchronizes with D)
///   zero(Tensor<T, D>)                          zeroes a contiguous tensor
///   copy(Tensor<T, D> src, Tensor<T, D> dst)    same shape; dst may be a view (see each backend's limits)
template <Device D>
struct Transfer;

template <>
struct Transfer<Cpu> {
  template <class T>
  static Tensor<T, Cpu> from_host(const Tensor<T, Cpu>& t) { return t; }
  template <class T>
  static Tensor<T, Cpu> to_host(const Tensor<T, Cpu>& t) { return t; }
  template <class T>
  static void zero(const Tensor<T, Cpu>& t) { t.zero(); }
  template <class T>
  static void copy(const Tensor<T, Cpu>& src, const Tensor<T, Cpu>& dst) { src.copy_to(dst); }
};

/// `t` on device D: the same tensor for D = Cpu, a copy otherwise.
template <Device D, class T>
Tensor<T, D> to_device(const Tensor<T, Cpu>& t) {
  return Transfer<D>::from_host(t);
}

/// `t` on the host: the same tensor for a CPU tensor, a copy otherwise.
template <class T, Device D>
Tensor<T, Cpu> to_host(const Tensor<T, D>& t) {
  return Transfer<D>::to_host(t);
}

/// A contiguous host copy of `t` with storage of its own, also for a CPU tensor (which to_host returns itself).
template <class T, Device D>
Tensor<T, Cpu> host_copy(const Tensor<T, D>& t) {
  if constexpr (std::is_same_v<D, Cpu>) return t.clone();
  else return Transfer<D>::to_host(t);
}

/// A scalar of shape () holding `value`, on device D.
template <class T, Device D>
Tensor<T, D> scalar_on(T value) {
  return Transfer<D>::from_host(Tensor<T, Cpu>::from(Shape{}, {value}));
}

/// The value of a one-element tensor, read on the host.
template <class T, Device D>
T item(const Tensor<T, D>& t) {
  PMC_CHECK(t.numel() == 1, "item: a one-element tensor expected, got shape ", t.shape().str());
  if constexpr (std::is_same_v<D, Cpu>) return t.data()[0];
  else return Transfer<D>::to_host(t).data()[0];
}

/// Zeroes `t` in place.
template <class T, Device D>
void zero(const Tensor<T, D>& t) {
  Transfer<D>::zero(t);
}

/// Copies `src` into `dst` (same shape) on one device.
template <class T, Device D>
void copy(const Tensor<T, D>& src, const Tensor<T, D>& dst) {
  Transfer<D>::copy(src, dst);
}

}  // namespace pmc

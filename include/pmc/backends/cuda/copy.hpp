// SPDX-License-Identifier: MIT
// Host <-> device copies of tensors (cudaMemcpy on the current stream) and device-to-device copies.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <optional>

#include <pmc/backends/cuda/allocator.hpp>
#include <pmc/backends/cuda/runtime.hpp>
#include <pmc/backends/cuda/stream.hpp>
#include <pmc/core/tensor.hpp>
#include <pmc/core/transfer.hpp>

namespace pmc::cuda {

/// An uninitialized contiguous device tensor (scratch the caller overwrites in full; Tensor(shape) zero-fills).
template <class T>
Tensor<T, Cuda> empty(const Shape& shape) {
  auto owner = allocate_uninitialized(static_cast<std::size_t>(shape.numel()) * sizeof(T));
  // The pointer is read before the call: in wrap(owner.get(), shape, std::move(owner)) the compiler may move
  // `owner` into its parameter first (argument order is unspecified), and g++ does, so the tensor got nullptr.
  T* data = static_cast<T*>(owner.get());
  return Tensor<T, Cuda>::wrap(data, shape, std::move(owner));
}

/// Copies a host tensor into the contiguous device tensor `dst` of the same shape. A strided `src` is made
/// contiguous on the host first. Returns once `src` may be modified or freed (pageable host memory is staged).
template <class T>
void copy_to_device(const Tensor<T, Cpu>& src, const Tensor<T, Cuda>& dst) {
  check_same_shape(src.shape(), dst.shape(), "copy_to_device");
  PMC_CHECK(dst.is_contiguous(), "copy_to_device: destination of shape ", dst.shape().str(), " is not contiguous");
  const auto c = src.contiguous();
  if (c.numel() == 0) return;
  PMC_CUDA_CHECK(cudaMemcpyAsync(dst.data(), c.data(), static_cast<std::size_t>(c.numel()) * sizeof(T),
                                 cudaMemcpyHostToDevice, current_stream()));
}

/// A contiguous device copy of a host tensor.
///   auto xd = pmc::cuda::to_device(x);          // Tensor<float, Cuda>, same shape
template <class T>
Tensor<T, Cuda> to_device(const Tensor<T, Cpu>& src) {
  auto dst = empty<T>(src.shape());
  copy_to_device(src, dst);
  return dst;
}

/// Copies a device tensor (any non-negative strides) into the host tensor `dst` (any strides) of the same
/// shape; waits for the current stream, so `dst` holds the values on return.
template <class T>
void copy_to_host(const Tensor<T, Cuda>& src, const Tensor<T, Cpu>& dst) {
  check_same_shape(src.shape(), dst.shape(), "copy_to_host");
  if (src.numel() == 0) return;
  if (src.is_contiguous() && dst.is_contiguous()) {
    PMC_CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), static_cast<std::size_t>(src.numel()) * sizeof(T),
                                   cudaMemcpyDeviceToHost, current_stream()));
    PMC_CUDA_CHECK(cudaStreamSynchronize(current_stream()));
    return;
  }
  // A strided view: fetch the span of memory it covers, then gather on the host.
  std::int64_t span = 1;
  for (int d = 0; d < src.rank(); ++d) {
    PMC_CHECK(src.strides()[d] >= 0, "copy_to_host: negative stride in a view of shape ", src.shape().str());
    span += (src.shape()[d] - 1) * src.strides()[d];
  }
  Tensor<T, Cpu> raw({span});
  PMC_CUDA_CHECK(cudaMemcpyAsync(raw.data(), src.data(), static_cast<std::size_t>(span) * sizeof(T),
                                 cudaMemcpyDeviceToHost, current_stream()));
  PMC_CUDA_CHECK(cudaStreamSynchronize(current_stream()));
  src.for_each_index([&](std::int64_t s, std::int64_t d) { dst.data()[d] = raw.data()[s]; }, dst.strides());
}

/// A contiguous host copy of a device tensor.
template <class T>
Tensor<T, Cpu> to_host(const Tensor<T, Cuda>& src) {
  Tensor<T, Cpu> dst(src.shape());
  copy_to_host(src, dst);
  return dst;
}

/// Copies between two contiguous device tensors of the same shape (stream-ordered, asynchronous).
template <class T>
void copy(const Tensor<T, Cuda>& src, const Tensor<T, Cuda>& dst) {
  check_same_shape(src.shape(), dst.shape(), "cuda::copy");
  PMC_CHECK(src.is_contiguous() && dst.is_contiguous(), "cuda::copy: both tensors must be contiguous (shape ",
            src.shape().str(), "); use cuda::contiguous for strided views");
  if (src.numel() == 0) return;
  PMC_CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), static_cast<std::size_t>(src.numel()) * sizeof(T),
                                 cudaMemcpyDeviceToDevice, current_stream()));
}

/// Zeroes a contiguous device tensor (stream-ordered).
template <class T>
void zero(const Tensor<T, Cuda>& t) {
  PMC_CHECK(t.is_contiguous(), "cuda::zero: tensor of shape ", t.shape().str(), " is not contiguous");
  if (t.numel() == 0) return;
  PMC_CUDA_CHECK(cudaMemsetAsync(t.data(), 0, static_cast<std::size_t>(t.numel()) * sizeof(T), current_stream()));
}

/// A tensor as `rows` contiguous blocks of `width` elements, `pitch` elements apart: a contiguous tensor
/// (one block), or a slice along dimension 1 of a contiguous tensor (a KV cache's positions [p0, p1)).
struct RowBlocks {
  std::int64_t rows = 0, width = 0, pitch = 0;
};
template <class T>
std::optional<RowBlocks> row_blocks(const Tensor<T, Cuda>& t) {
  if (t.is_contiguous()) return RowBlocks{1, t.numel(), t.numel()};
  if (t.rank() < 2) return std::nullopt;
  std::int64_t expected = 1;
  for (int d = t.rank() - 1; d >= 1; --d) {
    if (t.shape()[d] != 1 && t.strides()[d] != expected) return std::nullopt;
    expected *= t.shape()[d];
  }
  if (t.strides()[0] < expected) return std::nullopt;
  return RowBlocks{t.shape()[0], expected, t.strides()[0]};
}

/// Copies src into dst (same shape) on the device, stream-ordered; each may be contiguous or a slice along
/// dimension 1 of a contiguous tensor (one cudaMemcpy2DAsync).
template <class T>
void copy_rows(const Tensor<T, Cuda>& src, const Tensor<T, Cuda>& dst) {
  check_same_shape(src.shape(), dst.shape(), "cuda::copy_rows");
  if (src.numel() == 0) return;
  const auto s = row_blocks(src), d = row_blocks(dst);
  PMC_CHECK(s && d, "cuda::copy_rows: a view of shape ", src.shape().str(), " (strides ", src.strides().str(),
            " -> ", dst.strides().str(), ") is neither contiguous nor a slice of contiguous rows");
  const std::int64_t rows = src.is_contiguous() && dst.is_contiguous() ? 1 : src.shape()[0];
  const std::int64_t width = src.numel() / rows;
  const std::int64_t spitch = src.is_contiguous() ? width : s->pitch, dpitch = dst.is_contiguous() ? width : d->pitch;
  PMC_CUDA_CHECK(cudaMemcpy2DAsync(dst.data(), static_cast<std::size_t>(dpitch) * sizeof(T), src.data(),
                                   static_cast<std::size_t>(spitch) * sizeof(T), static_cast<std::size_t>(width) * sizeof(T),
                                   static_cast<std::size_t>(rows), cudaMemcpyDeviceToDevice, current_stream()));
}

}  // namespace pmc::cuda

namespace pmc {

/// What device-generic code (autograd, the model, the trainer) needs of the GPU; see core/transfer.hpp.
template <>
struct Transfer<Cuda> {
  template <class T>
  static Tensor<T, Cuda> from_host(const Tensor<T, Cpu>& t) { return cuda::to_device(t); }
  template <class T>
  static Tensor<T, Cpu> to_host(const Tensor<T, Cuda>& t) { return cuda::to_host(t); }
  template <class T>
  static void zero(const Tensor<T, Cuda>& t) { cuda::zero(t); }
  template <class T>
  static void copy(const Tensor<T, Cuda>& src, const Tensor<T, Cuda>& dst) { cuda::copy_rows(src, dst); }
};

}  // namespace pmc

// SPDX-License-Identifier: MIT
// Storage: a reference-counted block of device memory. Owned (allocated by Allocator<D>) or borrowed
// (a memory-mapped checkpoint, a caller's buffer) with an owner object that keeps the memory alive.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <new>

#include <pmc/core/device.hpp>
#include <pmc/core/error.hpp>

namespace pmc {

/// Allocates `bytes` of memory on device D and returns an owner whose deleter frees it.
template <Device D>
struct Allocator;

/// CPU memory: 64-byte aligned (a cache line, an AVX-512 vector), zero-filled.
template <>
struct Allocator<Cpu> {
  static constexpr std::size_t alignment = 64;
  static std::shared_ptr<void> allocate(std::size_t bytes) {
    if (bytes == 0) bytes = alignment;
    void* p = ::operator new(bytes, std::align_val_t{alignment}, std::nothrow);
    PMC_CHECK(p != nullptr, "out of host memory allocating ", bytes, " bytes");
    std::memset(p, 0, bytes);
    return std::shared_ptr<void>(p, [](void* q) { ::operator delete(q, std::align_val_t{alignment}); });
  }
};

/// `count` elements of T on device D. Copies share the memory (like std::shared_ptr).
template <class T, Device D>
class Storage {
 public:
  Storage() = default;
  explicit Storage(std::size_t count) : owner_(Allocator<D>::allocate(count * sizeof(T))), count_(count) {
    data_ = static_cast<T*>(owner_.get());
  }
  /// Borrows `count` elements at `data`; `owner` keeps them alive (nullptr: the caller guarantees it).
  Storage(T* data, std::size_t count, std::shared_ptr<void> owner)
      : owner_(std::move(owner)), data_(data), count_(count) {}

  T* data() const { return data_; }
  std::size_t size() const { return count_; }
  const std::shared_ptr<void>& owner() const { return owner_; }
  bool same_memory(const Storage& o) const { return data_ == o.data_; }

 private:
  std::shared_ptr<void> owner_;
  T* data_ = nullptr;
  std::size_t count_ = 0;
};

}  // namespace pmc

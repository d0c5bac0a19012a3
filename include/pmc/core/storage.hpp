// SPDX-License-Identifier: MIT
// Storage: a reference-counted block of device memory. Owned (allocated by Allocator<D>) or borrowed
// (a memory-mapped checkpoint, a caller's buffer) with an owner object that keeps the memory alive.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstddef>
#include <mutex>
#include <unordered_map>
#include <vector>
#include <cstring>
#include <memory>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include <pmc/core/device.hpp>
#include <pmc/core/error.hpp>

namespace pmc {

/// Allocates `bytes` of memory on device D and returns an owner whose deleter frees it.
template <Device D>
struct Allocator;

namespace detail {

/// Freed CPU blocks kept for reuse, by exact size. A training step allocates the same activation and
/// gradient sizes every step; handing those back to the OS (glibc maps blocks over 32 MiB with mmap) costs
/// a page fault per 4 KiB on the next step (12% of a 20M-parameter step before this cache). Blocks up to
/// kMaxBlock are kept, kLimit bytes in all; larger ones (model weights) go straight back.
class CpuBlockCache {
 public:
  static constexpr std::size_t kMaxBlock = std::size_t{512} << 20;
  static constexpr std::size_t kLimit = std::size_t{2} << 30;

  static CpuBlockCache& instance() {
    static auto* cache = new CpuBlockCache;  // never destroyed: tensors may outlive static destructors
    return *cache;
  }
  void* take(std::size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = free_.find(bytes);
    if (it == free_.end() || it->second.empty()) return nullptr;
    void* p = it->second.back();
    it->second.pop_back();
    cached_ -= bytes;
    return p;
  }
  /// Keeps the block if it fits the limits; returns false when the caller must free it.
  bool give(void* p, std::size_t bytes) {
    if (bytes > kMaxBlock) return false;
    std::lock_guard<std::mutex> lock(mutex_);
    if (cached_ + bytes > kLimit) return false;
    free_[bytes].push_back(p);
    cached_ += bytes;
    return true;
  }
  /// Returns every cached block to the system.
  void release_all(std::size_t alignment) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [bytes, blocks] : free_)
      for (void* p : blocks) ::operator delete(p, std::align_val_t{alignment});
    free_.clear();
    cached_ = 0;
  }
  std::size_t cached_bytes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return cached_;
  }

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::size_t, std::vector<void*>> free_;
  std::size_t cached_ = 0;
};

/// Bytes of CPU tensor memory in use (allocated and not yet freed; cached free blocks do not count) and the
/// most in use at once since the last reset: what a training step really holds, as `pmc plan` predicts it.
class CpuMemoryStats {
 public:
  static CpuMemoryStats& instance() {
    static auto* stats = new CpuMemoryStats;
    return *stats;
  }
  void on_allocate(std::size_t bytes) {
    const auto now = live_.fetch_add(static_cast<std::int64_t>(bytes), std::memory_order_relaxed) +
                     static_cast<std::int64_t>(bytes);
    auto peak = peak_.load(std::memory_order_relaxed);
    while (now > peak && !peak_.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
    }
  }
  void on_free(std::size_t bytes) { live_.fetch_sub(static_cast<std::int64_t>(bytes), std::memory_order_relaxed); }
  std::int64_t live() const { return live_.load(std::memory_order_relaxed); }
  std::int64_t peak() const { return peak_.load(std::memory_order_relaxed); }
  void reset_peak() { peak_.store(live_.load(std::memory_order_relaxed), std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> live_{0}, peak_{0};
};

/// Asks for transparent huge pages on the whole 2 MiB pages inside a new block of at least kHugeBlock bytes
/// (madvise MADV_HUGEPAGE, before the first touch; Linux, where the system's THP setting is `madvise` or `always`).
/// A decoding token streams every weight once, and on 4 KiB pages the stream is slower: a bf16 matrix-vector
/// product over 1.9 GB read 51-54 GB/s on 4 KiB pages and 61-64 on huge pages (Zen 5, 2 threads).
inline constexpr std::size_t kHugeBlock = std::size_t{8} << 20;
inline void advise_huge_pages([[maybe_unused]] void* p, [[maybe_unused]] std::size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (bytes < kHugeBlock) return;
  constexpr std::uintptr_t huge = std::uintptr_t{2} << 20;
  const auto a = reinterpret_cast<std::uintptr_t>(p);
  const std::uintptr_t first = (a + huge - 1) / huge * huge, last = (a + bytes) / huge * huge;
  if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
#endif
}

}  // namespace detail

/// CPU memory: 64-byte aligned (a cache line, an AVX-512 vector), zero-filled unless `zero` is false (for
/// outputs that an op overwrites entirely), on huge pages from 8 MiB (detail::advise_huge_pages); freed blocks of
/// up to 512 MiB are cached for reuse (empty_cache() returns them to the system).
template <>
struct Allocator<Cpu> {
  static constexpr std::size_t alignment = 64;
  static std::shared_ptr<void> allocate(std::size_t bytes, bool zero = true) {
    bytes = (std::max<std::size_t>(bytes, 1) + alignment - 1) / alignment * alignment;
    void* p = detail::CpuBlockCache::instance().take(bytes);
    if (p == nullptr) {
      p = ::operator new(bytes, std::align_val_t{alignment}, std::nothrow);
      PMC_CHECK(p != nullptr, "out of host memory allocating ", bytes, " bytes");
      detail::advise_huge_pages(p, bytes);
    }
    if (zero) std::memset(p, 0, bytes);
    detail::CpuMemoryStats::instance().on_allocate(bytes);
    return std::shared_ptr<void>(p, [bytes](void* q) {
      detail::CpuMemoryStats::instance().on_free(bytes);
      if (!detail::CpuBlockCache::instance().give(q, bytes)) ::operator delete(q, std::align_val_t{alignment});
    });
  }
  /// Returns the cached free blocks to the system.
  static void empty_cache() { detail::CpuBlockCache::instance().release_all(alignment); }
  static std::size_t cached_bytes() { return detail::CpuBlockCache::instance().cached_bytes(); }
  /// Bytes held by live tensors now (rounded up to the alignment; borrowed memory is not counted).
  static std::int64_t live_bytes() { return detail::CpuMemoryStats::instance().live(); }
  /// The most live_bytes() since the last reset_peak_bytes().
  static std::int64_t peak_bytes() { return detail::CpuMemoryStats::instance().peak(); }
  static void reset_peak_bytes() { detail::CpuMemoryStats::instance().reset_peak(); }
};

/// `count` elements of T on device D. Copies share the memory (like std::shared_ptr).
template <class T, Device D>
class Storage {
 public:
  Storage() = default;
  /// `count` zeroed elements, or uninitialized ones when `zero` is false.
  explicit Storage(std::size_t count, bool zero = true)
      : owner_(Allocator<D>::allocate(count * sizeof(T), zero)), count_(count) {
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

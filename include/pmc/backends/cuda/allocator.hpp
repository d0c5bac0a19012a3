// SPDX-License-Identifier: MIT
// Allocator<Cuda>: a caching device allocator. Freed blocks go back to size-class bins and are reused, so a
// training step does no cudaMalloc/cudaFree once the first step has warmed the cache.
//
// Design
//  * Size classes: requests are rounded up to a multiple of 512 B up to 1 MiB; above, to a quarter of the
//    enclosing power of two (1.25, 1.5, 1.75, 2 MiB, 2.5 MiB, ...), so at most 25% (usually far less) is wasted.
//  * Bins: one free list per (device, stream, size class). A block is reused only for the exact size class it
//    was cut for (no splitting or coalescing, hence no fragmentation inside blocks and O(log n) lookups).
//  * Stream ordering: a block remembers the current stream at allocation. When its owning shared_ptr dies it
//    returns to that stream's bin at once, even if kernels queued on the stream still read it: the next user
//    is an allocation on the same stream, whose work the stream orders after those kernels. A tensor used on
//    a second stream must not be dropped before that stream's work is known complete (synchronize or an
//    event); there is no record_stream. The default stream (cudaStreamLegacy) synchronizes with every other
//    blocking stream, so single-stream code needs no care at all.
//  * Stream destruction: cuda::Stream's destructor synchronizes the stream and then calls release_stream()
//    (a stream-release hook, stream.hpp): the stream's cached blocks are freed (cudaFree) and its epoch is
//    bumped, so a block of the old stream that is still in use is not returned to the bin of a new stream
//    that gets the same handle: it goes to a retired list (no stream, never reused) when freed, and is
//    cudaFree'd with the next release_stream, empty_cache or out-of-memory retry.
//  * Misses call cudaMalloc. If that fails, the cache of the device is released (cudaFree) and cudaMalloc is
//    tried once more before a pmc::Error reports the request and the allocator's statistics.
//  * Zero fill: like Allocator<Cpu>, every Tensor starts zeroed; that is a cudaMemsetAsync on the current
//    stream (stream-ordered before any use on it). Scratch buffers use allocate_uninitialized.
//  * The singleton is never destroyed: blocks freed during static destruction only return to a bin (no CUDA
//    call after the driver may have shut down); the driver reclaims everything at exit.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include <pmc/backends/cuda/runtime.hpp>
#include <pmc/backends/cuda/stream.hpp>
#include <pmc/core/storage.hpp>

namespace pmc::cuda {

/// Byte counts of one device's allocator (size-class bytes, i.e. after rounding).
struct AllocatorStats {
  std::size_t in_use = 0;        // held by live tensors and buffers
  std::size_t reserved = 0;      // obtained from cudaMalloc (in use + cached)
  std::size_t peak_in_use = 0;   // high-water mark of in_use since start or reset_peak()
  std::uint64_t cuda_mallocs = 0;
  std::uint64_t cache_hits = 0;
};

class CachingAllocator {
 public:
  static constexpr std::size_t alignment = 256;  // what cudaMalloc guarantees; cuBLASLt's preferred alignment

  static CachingAllocator& instance() {
    static auto* a = new CachingAllocator();  // leaked on purpose: see the note at the top
    return *a;
  }

  /// The size class of a request of `bytes`.
  static constexpr std::size_t round_size(std::size_t bytes) {
    constexpr std::size_t small = 512, large = std::size_t{1} << 20;
    if (bytes <= small) return small;
    if (bytes <= large) return (bytes + small - 1) / small * small;
    std::size_t p = large;
    while (p * 2 <= bytes) p *= 2;  // p: the largest power of two <= bytes
    const std::size_t step = p / 4;
    return (bytes + step - 1) / step * step;
  }

  /// `bytes` of device memory on the current device, owned by the returned pointer; zero-filled on the current
  /// stream when `zero` is set.
  std::shared_ptr<void> allocate(std::size_t bytes, bool zero) {
    int device = 0;
    PMC_CUDA_CHECK(cudaGetDevice(&device));
    const cudaStream_t stream = current_stream();
    const std::size_t size = round_size(bytes);
    std::uint64_t epoch = 0;
    void* p = take(device, stream, size, epoch);
    if (zero && bytes > 0) PMC_CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, stream));
    return std::shared_ptr<void>(
        p, [this, device, stream, size, epoch](void* q) { give_back(device, stream, size, epoch, q); });
  }

  /// Releases what is cached for `stream`, which must be idle (synchronized) and about to be destroyed: its
  /// cached blocks are freed (cudaFree), and blocks of it still in use will retire when freed instead of
  /// returning to a bin that a new stream with the same handle would draw from. Also frees retired blocks.
  /// cuda::Stream's destructor calls it (through stream.hpp's release hooks); never throws.
  void release_stream(cudaStream_t stream) noexcept {
    std::lock_guard lock(mu_);
    ++epochs_[stream];
    int saved = 0;
    cudaGetDevice(&saved);
    for (auto it = free_.begin(); it != free_.end();) {
      if (std::get<1>(it->first) == stream) {
        const int device = std::get<0>(it->first);
        cudaSetDevice(device);
        for (void* q : it->second) {
          cudaFree(q);
          stats_for(device).reserved -= std::get<2>(it->first);
        }
        it = free_.erase(it);
      } else {
        ++it;
      }
    }
    free_retired_locked(-1);
    cudaSetDevice(saved);
  }

  /// Bytes of the cached (free) blocks of `stream` on the current device.
  std::size_t cached_bytes(cudaStream_t stream) {
    int device = 0;
    PMC_CUDA_CHECK(cudaGetDevice(&device));
    std::lock_guard lock(mu_);
    std::size_t total = 0;
    for (const auto& [key, blocks] : free_)
      if (std::get<0>(key) == device && std::get<1>(key) == stream) total += std::get<2>(key) * blocks.size();
    return total;
  }

  /// Frees (cudaFree) every cached block of every device; blocks in use are untouched.
  void empty_cache() {
    std::lock_guard lock(mu_);
    free_retired_locked(-1);
    for (auto& [key, blocks] : free_) {
      const int device = std::get<0>(key);
      int saved = 0;
      cudaGetDevice(&saved);
      cudaSetDevice(device);
      for (void* p : blocks) {
        cudaFree(p);
        stats_for(device).reserved -= std::get<2>(key);
      }
      cudaSetDevice(saved);
    }
    free_.clear();
  }

  /// Statistics of the current device.
  AllocatorStats stats() {
    int device = 0;
    PMC_CUDA_CHECK(cudaGetDevice(&device));
    std::lock_guard lock(mu_);
    return stats_for(device);
  }
  void reset_peak() {
    int device = 0;
    PMC_CUDA_CHECK(cudaGetDevice(&device));
    std::lock_guard lock(mu_);
    auto& s = stats_for(device);
    s.peak_in_use = s.in_use;
  }

 private:
  using Key = std::tuple<int, cudaStream_t, std::size_t>;  // device, stream, size class

  struct Retired {
    int device;
    std::size_t size;
    void* p;
  };

  CachingAllocator() {
    // after cuBLASLt's workspaces (order 0), which return their blocks here
    detail::on_stream_release(1, [](cudaStream_t s) noexcept { instance().release_stream(s); });
  }

  std::uint64_t epoch_locked(cudaStream_t stream) const {
    const auto it = epochs_.find(stream);
    return it == epochs_.end() ? 0 : it->second;
  }

  /// cudaFree of the retired blocks (of `device`, or of all devices when device < 0); mu_ held.
  void free_retired_locked(int device) noexcept {
    if (retired_.empty()) return;
    int saved = 0;
    cudaGetDevice(&saved);
    std::vector<Retired> kept;
    for (const Retired& r : retired_) {
      if (device >= 0 && r.device != device) {
        kept.push_back(r);
        continue;
      }
      cudaSetDevice(r.device);
      cudaFree(r.p);  // synchronizes the device: work queued on other streams may still read the block
      stats_for(r.device).reserved -= r.size;
    }
    retired_ = std::move(kept);
    cudaSetDevice(saved);
  }

  AllocatorStats& stats_for(int device) {
    if (static_cast<int>(stats_.size()) <= device) stats_.resize(static_cast<std::size_t>(device) + 1);
    return stats_[static_cast<std::size_t>(device)];
  }

  void* take(int device, cudaStream_t stream, std::size_t size, std::uint64_t& epoch) {
    {
      std::lock_guard lock(mu_);
      epoch = epoch_locked(stream);
      auto& s = stats_for(device);
      if (auto it = free_.find(Key{device, stream, size}); it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        ++s.cache_hits;
        note_in_use(s, size);
        return p;
      }
    }
    void* p = nullptr;
    cudaError_t e = cudaMalloc(&p, size);
    if (e == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();  // not sticky, but clear it so that later checks do not see it
      release_device_cache(device);
      e = cudaMalloc(&p, size);
    }
    if (e != cudaSuccess) {
      (void)cudaGetLastError();
      const AllocatorStats s = stats();
      fail("CUDA out of memory: cudaMalloc of ", size, " bytes on device ", device, " failed (",
           cudaGetErrorString(e), "); allocator: ", s.in_use, " bytes in use, ", s.reserved,
           " reserved, peak ", s.peak_in_use);
    }
    std::lock_guard lock(mu_);
    auto& s = stats_for(device);
    ++s.cuda_mallocs;
    s.reserved += size;
    note_in_use(s, size);
    return p;
  }

  static void note_in_use(AllocatorStats& s, std::size_t size) {
    s.in_use += size;
    s.peak_in_use = std::max(s.peak_in_use, s.in_use);
  }

  void give_back(int device, cudaStream_t stream, std::size_t size, std::uint64_t epoch, void* p) noexcept {
    std::lock_guard lock(mu_);
    // A block of a stream released since it was allocated must not go to a bin a new stream with the same
    // handle would reuse unordered: it retires (freed later, no CUDA call here: this may run during exit).
    if (epoch_locked(stream) != epoch) retired_.push_back({device, size, p});
    else free_[Key{device, stream, size}].push_back(p);
    stats_for(device).in_use -= size;
  }

  void release_device_cache(int device) {
    std::lock_guard lock(mu_);
    free_retired_locked(device);
    for (auto it = free_.begin(); it != free_.end();) {
      if (std::get<0>(it->first) == device) {
        for (void* q : it->second) {
          cudaFree(q);  // synchronizes the device: pending kernels may still read the block
          stats_for(device).reserved -= std::get<2>(it->first);
        }
        it = free_.erase(it);
      } else {
        ++it;
      }
    }
  }

  std::mutex mu_;
  std::map<Key, std::vector<void*>> free_;
  std::map<cudaStream_t, std::uint64_t> epochs_;  // bumped by release_stream; absent: 0
  std::vector<Retired> retired_;                   // freed blocks of released streams, awaiting cudaFree
  std::vector<AllocatorStats> stats_;
};

/// Uninitialized device scratch of `bytes` on the current stream (workspaces, temporaries).
inline std::shared_ptr<void> allocate_uninitialized(std::size_t bytes) {
  return CachingAllocator::instance().allocate(bytes, false);
}
inline void empty_cache() { CachingAllocator::instance().empty_cache(); }
/// Bytes the allocator keeps cached for `stream` on the current device (0 once a cuda::Stream is destroyed).
inline std::size_t cached_bytes(cudaStream_t stream) { return CachingAllocator::instance().cached_bytes(stream); }
inline AllocatorStats allocator_stats() { return CachingAllocator::instance().stats(); }

}  // namespace pmc::cuda

namespace pmc {

/// Device memory for Tensor<T, Cuda>: 256-byte aligned, zero-filled (cudaMemsetAsync on the current stream)
/// unless `zero` is false, from the caching allocator above.
template <>
struct Allocator<Cuda> {
  static constexpr std::size_t alignment = cuda::CachingAllocator::alignment;
  static std::shared_ptr<void> allocate(std::size_t bytes, bool zero = true) {
    return cuda::CachingAllocator::instance().allocate(bytes, zero);
  }
  /// cudaFree of every cached (unused) block.
  static void empty_cache() { cuda::CachingAllocator::instance().empty_cache(); }
  /// Bytes in use, reserved and peak on the current device.
  static cuda::AllocatorStats stats() { return cuda::CachingAllocator::instance().stats(); }
};

}  // namespace pmc

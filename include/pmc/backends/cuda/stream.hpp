// SPDX-License-Identifier: MIT
// Streams: the calling thread's current stream (what every pmc CUDA op launches on), a scoped override,
// and an owning Stream.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <mutex>
#include <utility>
#include <vector>

#include <pmc/backends/cuda/runtime.hpp>

namespace pmc::cuda {

namespace detail {
// The legacy default stream, named explicitly so its meaning does not depend on nvcc's --default-stream flag.
// It synchronizes with every other blocking stream, which is what makes the caching allocator's reuse of a
// freed block safe by default (see allocator.hpp).
inline cudaStream_t& current_stream_slot() {
  thread_local cudaStream_t s = cudaStreamLegacy;
  return s;
}

/// What caches per-stream resources (the caching allocator's bins, cuBLASLt's workspaces) registers here, so
/// that a destroyed Stream's resources are released before its handle can be reused by a new stream (which
/// would otherwise inherit blocks without being ordered after the old stream's work). Hooks run in ascending
/// `order` (the workspaces, which return their block to the allocator, before the allocator), after the
/// stream has been synchronized, and must not throw.
using StreamReleaseHook = void (*)(cudaStream_t) noexcept;
struct StreamReleaseHooks {
  std::mutex mu;
  std::vector<std::pair<int, StreamReleaseHook>> hooks;  // (order, hook)
};
inline StreamReleaseHooks& stream_release_hooks() {
  static auto* h = new StreamReleaseHooks();  // leaked on purpose, as the allocator (usable during exit)
  return *h;
}
inline void on_stream_release(int order, StreamReleaseHook hook) {
  auto& h = stream_release_hooks();
  std::lock_guard lock(h.mu);
  const std::pair<int, StreamReleaseHook> entry{order, hook};
  if (std::find(h.hooks.begin(), h.hooks.end(), entry) != h.hooks.end()) return;
  h.hooks.insert(std::upper_bound(h.hooks.begin(), h.hooks.end(), entry,
                                  [](const auto& a, const auto& b) { return a.first < b.first; }),
                 entry);
}
/// Waits for `s`, then releases what every registered cache holds for it (called by ~Stream before
/// cudaStreamDestroy; call it yourself before destroying a stream created with cudaStreamCreate).
inline void release_stream_resources(cudaStream_t s) noexcept {
  if (!s) return;
  (void)cudaStreamSynchronize(s);  // its work done, its blocks are free for any stream
  std::vector<std::pair<int, StreamReleaseHook>> hooks;
  {
    auto& h = stream_release_hooks();
    std::lock_guard lock(h.mu);
    hooks = h.hooks;
  }
  for (const auto& [order, hook] : hooks) hook(s);
}
}  // namespace detail

/// The stream pmc's CUDA ops of this thread run on; cudaStreamLegacy unless set.
inline cudaStream_t current_stream() { return detail::current_stream_slot(); }
inline void set_current_stream(cudaStream_t s) { detail::current_stream_slot() = s; }

/// Makes `s` the current stream of this thread for the guard's lifetime.
///   { StreamGuard g(side.get()); ops::RmsNorm<Cuda>::forward(...); }   // runs on `side`
class StreamGuard {
 public:
  explicit StreamGuard(cudaStream_t s) : saved_(current_stream()) { set_current_stream(s); }
  ~StreamGuard() { set_current_stream(saved_); }
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;

 private:
  cudaStream_t saved_;
};

/// An owned non-blocking stream (destroyed with the object). Non-blocking streams do not synchronize with the
/// legacy stream: memory freed on one stream is reused only by allocations made on that same stream.
/// Destroying it waits for its work and releases what the caches hold for it (the allocator's cached blocks
/// of this stream are freed, its cuBLASLt workspaces dropped), so a later stream that gets the same handle
/// starts with nothing cached.
class Stream {
 public:
  Stream() { PMC_CUDA_CHECK(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking)); }
  ~Stream() { destroy(); }
  Stream(Stream&& o) noexcept : s_(o.s_) { o.s_ = nullptr; }
  Stream& operator=(Stream&& o) noexcept {
    if (this != &o) {
      destroy();
      s_ = o.s_;
      o.s_ = nullptr;
    }
    return *this;
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  cudaStream_t get() const { return s_; }
  void synchronize() const { PMC_CUDA_CHECK(cudaStreamSynchronize(s_)); }

 private:
  void destroy() noexcept {
    if (!s_) return;
    detail::release_stream_resources(s_);
    cudaStreamDestroy(s_);
    s_ = nullptr;
  }

  cudaStream_t s_ = nullptr;
};

/// Waits for all work queued on the current stream.
inline void synchronize() { PMC_CUDA_CHECK(cudaStreamSynchronize(current_stream())); }

}  // namespace pmc::cuda

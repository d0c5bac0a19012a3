// SPDX-License-Identifier: MIT
// Streams: the calling thread's current stream (what every pmc CUDA op launches on), a scoped override,
// and an owning Stream.
#pragma once

#include <cuda_runtime.h>

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
class Stream {
 public:
  Stream() { PMC_CUDA_CHECK(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking)); }
  ~Stream() {
    if (s_) cudaStreamDestroy(s_);
  }
  Stream(Stream&& o) noexcept : s_(o.s_) { o.s_ = nullptr; }
  Stream& operator=(Stream&& o) noexcept {
    if (this != &o) {
      if (s_) cudaStreamDestroy(s_);
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
  cudaStream_t s_ = nullptr;
};

/// Waits for all work queued on the current stream.
inline void synchronize() { PMC_CUDA_CHECK(cudaStreamSynchronize(current_stream())); }

}  // namespace pmc::cuda

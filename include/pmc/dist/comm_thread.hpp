// SPDX-License-Identifier: MIT
// A thread that runs a rank's collectives in the background, in the order they were submitted, so that
// communication overlaps computation (ZeRO-3's prefetched all-gathers and its reduce-scatters during backward,
// train/sharding.hpp). Every rank submits the same collectives in the same order, as collectives need; the
// results are the same bits as running them in place. While work is queued, the submitting thread must not call
// the communicator itself: wait for it first (drain). MPI needs MPI_THREAD_SERIALIZED for this
// (Communicator::callable_from_any_thread).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>

namespace pmc::dist {

///   CommThread worker;
///   auto t = worker.submit([&] { comm->all_gather(...); });   // returns at once
///   ... compute ...
///   worker.wait(t);       // that task (and every one before it) is done; rethrows its error
///   worker.drain();       // everything submitted is done
class CommThread {
 public:
  using Ticket = std::uint64_t;

  CommThread() : thread_([this] { loop(); }) {}
  CommThread(const CommThread&) = delete;
  CommThread& operator=(const CommThread&) = delete;
  /// Runs what is queued (unless a task failed: then the rest is dropped), then stops.
  ~CommThread() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }

  /// Queues `task`; its ticket says when it is done (wait).
  Ticket submit(std::function<void()> task) {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(task));
    wake_.notify_all();
    return ++submitted_;
  }

  /// Returns when task `ticket` and all before it have run; rethrows the first error of any task.
  void wait(Ticket ticket) {
    std::unique_lock lock(mutex_);
    done_cv_.wait(lock, [&] { return done_ >= ticket || error_; });
    if (error_) std::rethrow_exception(error_);
  }
  void drain() {
    Ticket last = 0;
    {
      std::lock_guard lock(mutex_);
      last = submitted_;
    }
    wait(last);
  }

 private:
  void loop() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return stop_ || !queue_.empty(); });
        if (queue_.empty() || error_) return;  // stopping (after a failure, what is left is dropped)
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      try {
        task();
      } catch (...) {
        std::lock_guard lock(mutex_);
        error_ = std::current_exception();
      }
      {
        std::lock_guard lock(mutex_);
        ++done_;
      }
      done_cv_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_, done_cv_;
  std::deque<std::function<void()>> queue_;
  Ticket submitted_ = 0, done_ = 0;
  std::exception_ptr error_;
  bool stop_ = false;
  std::thread thread_;  // last: started once the rest is ready
};

}  // namespace pmc::dist

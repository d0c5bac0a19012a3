// SPDX-License-Identifier: MIT
// StopSignals: Ctrl-C (SIGINT) and SIGTERM (what Slurm and Kubernetes send before killing a job) ask a training
// run to stop at the end of its step and save a checkpoint; a second one ends the process at once.
#pragma once

#include <atomic>
#include <csignal>
#include <mutex>

#include <signal.h>

namespace pmc::train {

namespace detail {
inline std::atomic<int>& stop_signal() {
  static std::atomic<int> received{0};
  return received;
}
// The first signal is recorded and the default actions come back, so that a second Ctrl-C or SIGTERM (the
// user insisting, or the scheduler's grace period running out) ends the process at once. Two signals that arrive
// together both reach this handler (the kernel stacks both before either runs): the one that finds a signal
// already recorded takes its default action itself (raised here, delivered when the handler returns).
extern "C" inline void on_stop_signal(int sig) {
  if (detail::stop_signal().exchange(sig) != 0) {
    std::signal(sig, SIG_DFL);
    std::raise(sig);
    return;
  }
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
}
}  // namespace detail

/// While one lives, SIGINT and SIGTERM do not end the process: the first is recorded (received()) for the
/// trainer to stop after its current step, and restores the default actions, so that a second one ends the
/// process at once. Instances alive at the same time (nested, or data-parallel ranks as threads) share one
/// installation: the first clears received() and installs the handler, the last restores the handlers it found.
class StopSignals {
 public:
  StopSignals() {
    const std::lock_guard guard(mutex());
    if (users()++ > 0) return;
    detail::stop_signal().store(0);
    struct sigaction sa {};
    sa.sa_handler = detail::on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &previous()[0]);
    sigaction(SIGTERM, &sa, &previous()[1]);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  ~StopSignals() {
    const std::lock_guard guard(mutex());
    if (--users() > 0) return;
    sigaction(SIGINT, &previous()[0], nullptr);
    sigaction(SIGTERM, &previous()[1], nullptr);
  }

  /// The signal received since the first of the live instances was made (SIGINT or SIGTERM), or 0.
  static int received() { return detail::stop_signal().load(); }

 private:
  static std::mutex& mutex() {
    static std::mutex m;
    return m;
  }
  static int& users() {
    static int n = 0;
    return n;
  }
  static struct sigaction* previous() {
    static struct sigaction saved[2];
    return saved;
  }
};

}  // namespace pmc::train

// SPDX-License-Identifier: MIT
// A progress display for long work: a redrawn bar with rate and ETA on a terminal, plain lines otherwise.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace pmc::train {

class ProgressBar {
 public:
  /// `total` units of work; writes to `out` (a terminal gets a bar redrawn in place; a file or pipe gets
  /// one line per `line_every` updates).
  ProgressBar(std::string label, std::int64_t total, std::FILE* out = stderr, std::int64_t line_every = 10)
      : label_(std::move(label)), total_(total), out_(out), line_every_(line_every),
        tty_(out != nullptr && ::isatty(::fileno(out))), start_(std::chrono::steady_clock::now()) {}

  /// Reports that `done` units are complete; `detail` (e.g. "loss 3.21 · 5400 tok/s") is shown beside.
  void update(std::int64_t done, const std::string& detail) {
    if (out_ == nullptr) return;
    const double elapsed = seconds();
    const double rate = done > first_done_ && elapsed > 0 ? static_cast<double>(done - first_done_) / elapsed : 0;
    const double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : 0;
    if (tty_) {
      const int width = 24;
      const int fill = total_ > 0 ? static_cast<int>(width * done / total_) : 0;
      std::string bar(static_cast<std::size_t>(fill), '#');
      bar.resize(width, '.');
      std::fprintf(out_, "\r%s [%s] %lld/%lld %s · ETA %s\x1b[K", label_.c_str(), bar.c_str(),
                   static_cast<long long>(done), static_cast<long long>(total_), detail.c_str(), clock(eta).c_str());
      if (done >= total_) std::fprintf(out_, "\n");
      std::fflush(out_);
    } else if (done == total_ || done % line_every_ == 0) {
      std::fprintf(out_, "%s %lld/%lld %s · elapsed %s · ETA %s\n", label_.c_str(), static_cast<long long>(done),
                   static_cast<long long>(total_), detail.c_str(), clock(elapsed).c_str(), clock(eta).c_str());
      std::fflush(out_);
    }
  }
  /// Counts rates from `done` on (e.g. after resuming at step k).
  void start_at(std::int64_t done) { first_done_ = done; }
  /// Ends a bar that stopped before its total (interrupted).
  void finish() {
    if (out_ && tty_) std::fprintf(out_, "\n");
  }
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

  static std::string clock(double s) {
    const auto t = static_cast<long long>(s + 0.5);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%02lld:%02lld:%02lld", t / 3600, t / 60 % 60, t % 60);
    return buf;
  }

 private:
  std::string label_;
  std::int64_t total_;
  std::FILE* out_;
  std::int64_t line_every_;
  bool tty_;
  std::int64_t first_done_ = 0;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace pmc::train

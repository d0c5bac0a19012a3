// SPDX-License-Identifier: MIT
// RunLock: one training at a time in a run folder, by an flock on <folder>/.lock.
#pragma once

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <pmc/core/error.hpp>
#include <pmc/io/atomic_file.hpp>

namespace pmc::train {

/// Holds an exclusive, non-blocking flock on <dir>/.lock (dir is created if needed) while it lives: a second
/// process that locks the same folder fails at once with an error naming it and the pid holding it, instead of
/// interleaving metrics lines and overwriting checkpoints. The kernel drops the lock when the process ends, so
/// a killed run leaves nothing to clean up. Within one process the lock is shared (counted): the pmc program
/// takes it before writing a run's token files, and the Trainer takes it again.
///
///   train::RunLock lock(out_dir);   // throws pmc::Error if another process trains into out_dir
class RunLock {
 public:
  explicit RunLock(const std::filesystem::path& dir) {
    io::ensure_directory(dir);
    const auto path = dir / ".lock";
    key_ = std::filesystem::weakly_canonical(path).string();
    const std::lock_guard guard(mutex());
    auto& held = registry()[key_];
    if (held.count > 0 && held.pid == ::getpid()) {
      ++held.count;
      return;
    }
    held = {.fd = -1, .count = 1, .pid = ::getpid()};  // a fork's child does not hold its parent's lock
    held.fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (held.fd < 0) {
      const std::string why = std::strerror(errno);
      registry().erase(key_);
      fail(path.string(), ": cannot open the run folder's lock file: ", why);
    }
    if (::flock(held.fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      const std::string holder = read_holder(held.fd);
      ::close(held.fd);
      registry().erase(key_);
      if (err == EWOULDBLOCK)
        fail(dir.string(), ": the run folder is in use by another training (", holder.empty() ? "" : "pid " + holder,
             holder.empty() ? "" : " holds ", path.string(), "); wait for it to end, or give another output folder");
      fail(path.string(), ": cannot lock: ", std::strerror(err));
    }
    const std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(held.fd, 0) == 0) (void)!::pwrite(held.fd, pid.data(), pid.size(), 0);  // for the message above
  }
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;
  ~RunLock() {
    const std::lock_guard guard(mutex());
    auto it = registry().find(key_);
    if (it == registry().end() || it->second.pid != ::getpid() || --it->second.count > 0) return;
    ::close(it->second.fd);  // releases the flock
    registry().erase(it);
  }

 private:
  struct Held {
    int fd = -1;
    int count = 0;
    pid_t pid = 0;  // the process that took it
  };
  static std::mutex& mutex() {
    static std::mutex m;
    return m;
  }
  static std::map<std::string, Held>& registry() {
    static std::map<std::string, Held> held;
    return held;
  }
  static std::string read_holder(int fd) {
    char text[32] = {};
    const ssize_t n = ::pread(fd, text, sizeof text - 1, 0);
    std::string pid(text, n > 0 ? static_cast<std::size_t>(n) : 0);
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    return pid;
  }

  std::string key_;
};

}  // namespace pmc::train

// SPDX-License-Identifier: MIT
// AtomicFile: writes a file so that readers see either the old or the complete new contents, never a torn one.
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pmc/core/error.hpp>

namespace pmc::io {

/// Writes `path` atomically: the bytes go to `path.tmp.<pid>`, which commit() flushes, fsyncs and renames
/// over `path`, then fsyncs the directory so the rename itself survives a crash. A checkpoint interrupted
/// mid-write (crash, full disk, exception) therefore never replaces a good file with a truncated one, and a
/// reader that has the old file memory-mapped keeps its (now unlinked) inode intact.
///
///   AtomicFile f(path);
///   f.write(header.data(), header.size());
///   f.commit();            // without commit(), the destructor deletes the temporary file
///
/// Two writers of the same path in one process race on the temporary name; checkpoints are written by one
/// thread, so the pid alone keeps concurrent processes apart.
class AtomicFile {
 public:
  explicit AtomicFile(std::filesystem::path path) : path_(std::move(path)) {
    tmp_ = path_;
    tmp_ += ".tmp." + std::to_string(::getpid());
    file_ = std::fopen(tmp_.c_str(), "wb");
    if (file_ == nullptr) fail(path_.string(), ": cannot create temporary file ", tmp_.string(), ": ", errno_text());
  }
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile() { abandon(); }

  const std::filesystem::path& path() const { return path_; }
  std::uint64_t bytes_written() const { return written_; }

  void write(const void* data, std::size_t n) {
    PMC_CHECK(file_ != nullptr, path_.string(), ": write after commit");
    if (n == 0) return;
    if (std::fwrite(data, 1, n, file_) != n) {
      const std::string why = errno_text();
      abandon();
      fail(path_.string(), ": write failed after ", written_, " bytes: ", why);
    }
    written_ += n;
  }
  void write(std::string_view s) { write(s.data(), s.size()); }

  /// Makes the new contents visible under path(); throws (leaving the old file in place) on any failure.
  void commit() {
    PMC_CHECK(file_ != nullptr, path_.string(), ": commit called twice");
    if (std::fflush(file_) != 0 || ::fsync(::fileno(file_)) != 0) {
      const std::string why = errno_text();
      abandon();
      fail(path_.string(), ": cannot flush ", written_, " bytes to disk: ", why);
    }
    const int rc = std::fclose(file_);
    file_ = nullptr;
    if (rc != 0) {
      const std::string why = errno_text();
      std::remove(tmp_.c_str());
      fail(path_.string(), ": cannot close temporary file: ", why);
    }
    if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
      const std::string why = errno_text();
      std::remove(tmp_.c_str());
      fail(path_.string(), ": cannot rename ", tmp_.string(), " over it: ", why);
    }
    sync_directory();
  }

 private:
  static std::string errno_text() { return std::strerror(errno); }

  void abandon() noexcept {
    if (file_ == nullptr) return;
    std::fclose(file_);
    file_ = nullptr;
    std::remove(tmp_.c_str());
  }

  // The rename is a change to the directory: without this fsync a crash may forget it.
  void sync_directory() const {
    auto dir = path_.parent_path();
    if (dir.empty()) dir = ".";
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (fd < 0) fail(path_.string(), ": cannot open directory ", dir.string(), " to sync it: ", errno_text());
    const int rc = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    // Some file systems (e.g. certain network mounts) refuse fsync on directories; the data is already safe.
    if (rc != 0 && err != EINVAL && err != ENOTSUP)
      fail(path_.string(), ": cannot sync directory ", dir.string(), ": ", std::strerror(err));
  }

  std::filesystem::path path_;
  std::filesystem::path tmp_;
  std::FILE* file_ = nullptr;
  std::uint64_t written_ = 0;
};

/// Creates the folder `dir` and its missing parents (nothing when it exists). A failure (a parent that is a file,
/// no permission) is a pmc::Error naming the folder and the reason, not std::filesystem's exception.
inline void ensure_directory(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (!ec && !std::filesystem::is_directory(dir, ec)) ec = std::make_error_code(std::errc::not_a_directory);
  if (ec) fail(dir.string(), ": cannot create the folder: ", ec.message());
}

/// Writes `bytes` to `path` atomically.
inline void write_file_atomic(const std::filesystem::path& path, std::string_view bytes) {
  AtomicFile f(path);
  f.write(bytes);
  f.commit();
}

/// Writes `path` atomically with the bytes that `fill` writes to the AtomicFile it is given; if `fill`
/// throws, the target is left untouched.
inline void write_file_atomic(const std::filesystem::path& path, const std::function<void(AtomicFile&)>& fill) {
  AtomicFile f(path);
  fill(f);
  f.commit();
}

}  // namespace pmc::io

// SPDX-License-Identifier: MIT
// MappedFile: a memory-mapped checkpoint file that tensors borrow from (kept alive through a shared_ptr).
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pmc/core/error.hpp>

namespace pmc::io {

/// The whole of a file, mapped into memory. The file is opened read-only and never modified.
///
/// The mapping is private copy-on-write (PROT_READ | PROT_WRITE, MAP_PRIVATE) rather than PROT_READ: tensors
/// borrowed from it are ordinary writable Tensor<T>s, so a model that loads weights zero-copy and then
/// trains them in place writes to private pages (copied on first write) instead of crashing with SIGSEGV.
///
/// Always held by shared_ptr (open() returns one): tensors that borrow from the mapping store it as their
/// storage owner, so the mapping lives as long as the last such tensor.
///
/// Caveat of every mmap: if another process truncates the file while it is mapped, touching the lost pages
/// raises SIGBUS. pmc's writers never truncate in place (AtomicFile renames a new file over the old one).
class MappedFile {
 public:
  static std::shared_ptr<const MappedFile> open(const std::filesystem::path& path) {
    return std::shared_ptr<const MappedFile>(new MappedFile(path));
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile() {
    if (data_ != nullptr) ::munmap(data_, size_);
  }

  const std::filesystem::path& path() const { return path_; }
  std::size_t size() const { return size_; }
  /// The first byte (page-aligned); nullptr for an empty file.
  std::byte* data() const { return data_; }
  std::span<const std::byte> bytes() const { return {data_, size_}; }
  /// Drops the pages that lie wholly inside [p, p + n) from this process's memory (madvise MADV_DONTNEED): the
  /// next read of them reads the file again, and a private copy made by a write there is lost. For a range that
  /// was read once and that no tensor borrows any more (a projection copied out to be quantized), so that reading
  /// a checkpoint larger than memory keeps its resident set small. Ranges outside the mapping are ignored.
  void release(const void* p, std::size_t n) const {
    if (!contains(p, n) || n == 0) return;
    const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    const auto a = reinterpret_cast<std::uintptr_t>(p), e = a + n;
    const std::uintptr_t first = (a + page - 1) / page * page, last = e / page * page;
    if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
  }
  /// True when [p, p + n) lies inside the mapping.
  bool contains(const void* p, std::size_t n = 1) const {
    const auto a = reinterpret_cast<std::uintptr_t>(p), base = reinterpret_cast<std::uintptr_t>(data_);
    return data_ != nullptr && a >= base && n <= size_ && a - base <= size_ - n;
  }

 private:
  explicit MappedFile(const std::filesystem::path& path) : path_(path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      if (err == ENOENT) fail(path.string(), ": no such file");
      fail(path.string(), ": cannot open: ", std::strerror(err));
    }
    struct stat st{};
    if (::fstat(fd, &st) != 0) {
      const int err = errno;
      ::close(fd);
      fail(path.string(), ": cannot stat: ", std::strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd);
      fail(path.string(), ": not a regular file");
    }
    size_ = static_cast<std::size_t>(st.st_size);
    if (size_ > 0) {  // mmap of length 0 is an error; an empty file is a valid (if useless) mapping
      void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        const int err = errno;
        ::close(fd);
        fail(path.string(), ": cannot map ", size_, " bytes: ", std::strerror(err));
      }
      data_ = static_cast<std::byte*>(p);
    }
    ::close(fd);  // the mapping keeps its own reference to the file
  }

  std::filesystem::path path_;
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

/// The JSON document of the file at `path`, read through a mapping: a missing file is MappedFile::open's error,
/// malformed JSON an error naming the file.
inline nlohmann::json read_json_file(const std::filesystem::path& path) {
  const auto map = MappedFile::open(path);
  try {
    const auto* p = reinterpret_cast<const char*>(map->data());
    return nlohmann::json::parse(p, p + map->size());
  } catch (const nlohmann::json::exception& e) {
    fail(path.string(), ": malformed JSON: ", e.what());
  }
}

}  // namespace pmc::io

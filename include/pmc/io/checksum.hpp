// SPDX-License-Identifier: MIT
// CRC-32C (Castagnoli), the checksum of training checkpoints' manifests: of a byte span, and of a whole file
// read in chunks. Slicing-by-8 tables built at compile time; no hardware instruction, so the same on every
// machine.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <span>
#include <vector>

#include <pmc/core/error.hpp>

namespace pmc::io {

namespace detail {
// tables[k][b]: the CRC of byte b followed by k zero bytes (reflected polynomial 0x82F63B78)
inline constexpr auto kCrc32cTables = [] {
  std::array<std::array<std::uint32_t, 256>, 8> t{};
  for (std::uint32_t b = 0; b < 256; ++b) {
    std::uint32_t c = b;
    for (int i = 0; i < 8; ++i) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
    t[0][b] = c;
  }
  for (std::size_t k = 1; k < 8; ++k)
    for (std::size_t b = 0; b < 256; ++b) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xFFu];
  return t;
}();
}  // namespace detail

/// CRC-32C of `bytes`, continuing the checksum `crc` of the bytes before them (0 for none):
///   crc32c("123456789") == 0xE3069283;  crc32c(b, crc32c(a)) == crc32c(a followed by b)
inline std::uint32_t crc32c(std::span<const std::byte> bytes, std::uint32_t crc = 0) {
  const auto& t = detail::kCrc32cTables;
  std::uint32_t c = ~crc;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  std::size_t n = bytes.size();
  for (; n >= 8; n -= 8, p += 8) {
    const std::uint32_t lo = c ^ (std::uint32_t(p[0]) | std::uint32_t(p[1]) << 8 | std::uint32_t(p[2]) << 16 |
                                  std::uint32_t(p[3]) << 24);
    c = t[7][lo & 0xFFu] ^ t[6][(lo >> 8) & 0xFFu] ^ t[5][(lo >> 16) & 0xFFu] ^ t[4][lo >> 24] ^ t[3][p[4]] ^
        t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]];
  }
  for (; n > 0; --n, ++p) c = (c >> 8) ^ t[0][(c ^ *p) & 0xFFu];
  return ~c;
}

/// Size and CRC-32C of a file's contents.
struct FileChecksum {
  std::uint64_t bytes = 0;
  std::uint32_t crc32c = 0;
  friend bool operator==(const FileChecksum&, const FileChecksum&) = default;
};

/// The checksum of the file at `path`, read in 1 MiB chunks; an unreadable file is an error naming it.
inline FileChecksum checksum_file(const std::filesystem::path& path) {
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  PMC_CHECK(f != nullptr, path.string(), ": cannot open to checksum");
  std::vector<std::byte> chunk(1 << 20);
  FileChecksum sum;
  for (;;) {
    const std::size_t n = std::fread(chunk.data(), 1, chunk.size(), f.get());
    sum.crc32c = crc32c(std::span<const std::byte>(chunk.data(), n), sum.crc32c);
    sum.bytes += n;
    if (n < chunk.size()) break;
  }
  PMC_CHECK(!std::ferror(f.get()), path.string(), ": read error while checksumming");
  return sum;
}

}  // namespace pmc::io

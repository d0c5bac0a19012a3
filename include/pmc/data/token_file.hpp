// SPDX-License-Identifier: MIT
// Token files: a tokenized corpus on disk, memory-mapped for training. Documents are kept apart so that
// PMC-LLaMA's "one random window per document" sampling is possible.
//
// Layout (little-endian):  "PMCTOKS1" | u32 token_bytes (2 or 4) | u32 flags | u64 n_tokens | u64 n_docs
//                          | tokens[n_tokens] | u64 doc_start[n_docs + 1]   (doc d = tokens[start[d], start[d+1]))
//                          | if flags & 1: u8 predict[n_tokens]   (0: the token is context, never a target)
//                          | if flags & 2: u8 segment[n_tokens]   (1: the token starts a packed example)
// The predict mask is how instruction data trains only on responses: a target whose token has predict 0
// becomes -100. The segment mask marks packed windows (data/pack.hpp: each document is one window holding
// several examples): attention stays inside each example and positions restart at its first token.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <pmc/core/error.hpp>
#include <pmc/io/atomic_file.hpp>
#include <pmc/io/mapped_file.hpp>

namespace pmc::data {

inline constexpr char kTokenFileMagic[8] = {'P', 'M', 'C', 'T', 'O', 'K', 'S', '1'};

struct TokenFileHeader {
  char magic[8];
  std::uint32_t token_bytes;
  std::uint32_t flags;  // bit 0: a predict mask follows the offsets; bit 1: then a segment mask
  std::uint64_t n_tokens;
  std::uint64_t n_docs;
};
static_assert(sizeof(TokenFileHeader) == 32);

/// Writes documents of token ids atomically; ids must fit the chosen width (uint16 when vocab ≤ 65536).
/// `masks`, when given, has one 0/1 vector per document: 1 where the token may be a training target.
/// `segments`, when given (packed windows), one 0/1 vector per document: 1 where a packed example starts.
inline void write_token_file(const std::filesystem::path& path, const std::vector<std::vector<std::int32_t>>& docs,
                             int vocab_size, const std::vector<std::vector<std::uint8_t>>* masks = nullptr,
                             const std::vector<std::vector<std::uint8_t>>* segments = nullptr) {
  const std::uint32_t width = vocab_size <= 65536 ? 2 : 4;
  TokenFileHeader h{};
  std::memcpy(h.magic, kTokenFileMagic, 8);
  h.token_bytes = width;
  h.flags = (masks ? 1u : 0u) | (segments ? 2u : 0u);
  h.n_docs = docs.size();
  for (const auto* m : {masks, segments}) {
    if (!m) continue;
    const char* what = m == masks ? "mask" : "segment mask";
    PMC_CHECK(m->size() == docs.size(), path.string(), ": ", m->size(), " ", what, "s for ", docs.size(), " documents");
    for (std::size_t d = 0; d < docs.size(); ++d)
      PMC_CHECK((*m)[d].size() == docs[d].size(), path.string(), ": the ", what, " of document ", d, " has ",
                (*m)[d].size(), " entries for ", docs[d].size(), " tokens");
  }
  std::vector<std::uint64_t> starts{0};
  for (const auto& d : docs) starts.push_back(starts.back() + d.size());
  h.n_tokens = starts.back();
  io::AtomicFile f(path);
  f.write(&h, sizeof h);
  std::vector<std::byte> buf;
  for (const auto& d : docs) {
    buf.resize(d.size() * width);
    for (std::size_t i = 0; i < d.size(); ++i) {
      PMC_CHECK(d[i] >= 0 && d[i] < vocab_size, path.string(), ": token ", d[i], " outside the vocabulary of ",
                vocab_size);
      if (width == 2) {
        const auto v = static_cast<std::uint16_t>(d[i]);
        std::memcpy(buf.data() + 2 * i, &v, 2);
      } else {
        const auto v = static_cast<std::uint32_t>(d[i]);
        std::memcpy(buf.data() + 4 * i, &v, 4);
      }
    }
    f.write(buf.data(), buf.size());
  }
  f.write(starts.data(), starts.size() * sizeof(std::uint64_t));
  if (masks)
    for (const auto& m : *masks) f.write(m.data(), m.size());
  if (segments)
    for (const auto& m : *segments) f.write(m.data(), m.size());
  f.commit();
}

/// A memory-mapped token file; every size is validated against the file's length on open.
class TokenFile {
 public:
  static TokenFile open(const std::filesystem::path& path) {
    TokenFile t;
    t.map_ = io::MappedFile::open(path);
    const auto bytes = t.map_->bytes();
    const std::string what = path.string();
    PMC_CHECK(bytes.size() >= sizeof(TokenFileHeader), what, ": truncated token file (", bytes.size(),
              " bytes, the header alone is ", sizeof(TokenFileHeader), ")");
    std::memcpy(&t.header_, bytes.data(), sizeof t.header_);
    PMC_CHECK(std::memcmp(t.header_.magic, kTokenFileMagic, 8) == 0, what, ": not a pmc token file (bad magic)");
    PMC_CHECK(t.header_.token_bytes == 2 || t.header_.token_bytes == 4, what, ": token width ",
              t.header_.token_bytes, " is not 2 or 4");
    PMC_CHECK((t.header_.flags & ~3u) == 0, what, ": unknown flags ", t.header_.flags);
    // Each part the header claims must fit in what the file holds after the parts before it; checking so,
    // part by part, no size computed from the header can wrap around 2^64.
    const std::uint64_t width = t.header_.token_bytes, n_tokens = t.header_.n_tokens, n_docs = t.header_.n_docs;
    std::uint64_t left = bytes.size() - sizeof(TokenFileHeader);
    PMC_CHECK(n_tokens <= left / width, what, ": the header's ", n_tokens, " tokens of ", width,
              " bytes do not fit in the file's ", bytes.size(), " bytes: truncated or corrupt");
    left -= n_tokens * width;
    PMC_CHECK(n_docs < left / sizeof(std::uint64_t), what, ": the header's ", n_docs, " documents do not fit (",
              "their offsets need ", sizeof(std::uint64_t), " bytes each, plus one, and ", left,
              " bytes are left after the tokens): truncated or corrupt");
    const std::uint64_t offsets_end = sizeof(TokenFileHeader) + n_tokens * width + (n_docs + 1) * sizeof(std::uint64_t);
    const std::uint64_t need = offsets_end + (t.has_mask() ? n_tokens : 0) + (t.has_segments() ? n_tokens : 0);
    PMC_CHECK(bytes.size() == need, what, ": size ", bytes.size(), " bytes does not match its header (expected ",
              need, "): truncated or corrupt");
    t.starts_ = reinterpret_cast<const std::uint64_t*>(bytes.data() + offsets_end - (t.header_.n_docs + 1) * 8);
    if (t.has_mask()) t.mask_ = reinterpret_cast<const std::uint8_t*>(bytes.data() + offsets_end);
    if (t.has_segments())
      t.segment_ = reinterpret_cast<const std::uint8_t*>(bytes.data() + offsets_end + (t.has_mask() ? n_tokens : 0));
    std::uint64_t prev = 0;
    for (std::uint64_t d = 0; d <= t.header_.n_docs; ++d) {
      std::uint64_t s;
      std::memcpy(&s, t.starts_ + d, 8);
      PMC_CHECK(s >= prev && s <= t.header_.n_tokens && (d > 0 || s == 0), what, ": document offsets are corrupt");
      prev = s;
    }
    PMC_CHECK(prev == t.header_.n_tokens, what, ": document offsets do not end at the token count");
    t.path_ = path;
    return t;
  }

  std::uint64_t n_tokens() const { return header_.n_tokens; }
  std::uint64_t n_docs() const { return header_.n_docs; }
  const std::filesystem::path& path() const { return path_; }
  std::int32_t token(std::uint64_t i) const {
    const std::byte* p = map_->data() + sizeof(TokenFileHeader) + i * header_.token_bytes;
    if (header_.token_bytes == 2) {
      std::uint16_t v;
      std::memcpy(&v, p, 2);
      return v;
    }
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    return static_cast<std::int32_t>(v);
  }
  std::uint64_t doc_start(std::uint64_t d) const {
    std::uint64_t s;
    std::memcpy(&s, starts_ + d, 8);
    return s;
  }
  std::uint64_t doc_size(std::uint64_t d) const { return doc_start(d + 1) - doc_start(d); }
  bool has_mask() const { return (header_.flags & 1u) != 0; }
  /// Whether token i may be a training target (always, without a mask).
  bool predict(std::uint64_t i) const { return mask_ == nullptr || mask_[i] != 0; }
  /// Whether the documents are packed windows (a segment mask: several examples per document).
  bool has_segments() const { return (header_.flags & 2u) != 0; }
  /// Whether token i starts a packed example (never, without a segment mask).
  bool segment_start(std::uint64_t i) const { return segment_ != nullptr && segment_[i] != 0; }

 private:
  std::shared_ptr<const io::MappedFile> map_;
  TokenFileHeader header_{};
  const std::uint64_t* starts_ = nullptr;
  const std::uint8_t* mask_ = nullptr;
  const std::uint8_t* segment_ = nullptr;
  std::filesystem::path path_;
};

}  // namespace pmc::data

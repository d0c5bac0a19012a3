// SPDX-License-Identifier: MIT
// Writing GGUF files (llama.cpp's format, version 3): the metadata, the tensor infos and the data, each tensor at
// an offset aligned to `general.alignment` (32), as gguf.h lays them out. The reader is io/gguf.hpp.
//
//   file   = magic "GGUF" · version u32 (3) · tensor count u64 · metadata count u64 · metadata · tensor infos ·
//            zero padding to the alignment · data
//   string = length u64 · bytes;  value = type u32 · payload (an array: element type u32 · count u64 · elements)
//   info   = name · dims u32 · ne[dims] u64 (ne[0] the innermost: a row-major (rows, cols) matrix has ne = {cols,
//            rows}) · ggml type u32 · offset u64 from the start of the data
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <pmc/core/error.hpp>
#include <pmc/core/shape.hpp>
#include <pmc/io/atomic_file.hpp>
#include <pmc/io/gguf.hpp>

namespace pmc::io {

/// A metadata value to write: uint32, int32, float32, bool, string, or an array of strings, float32s or int32s.
using GgufWriteValue = std::variant<std::uint32_t, std::int32_t, float, bool, std::string, std::vector<std::string>,
                                    std::vector<float>, std::vector<std::int32_t>>;

/// A tensor to write: its (row-major) shape, its ggml type and its stored bytes (for a block type, the blocks of
/// each row in order), which must be the size the type and shape give.
struct GgufWriteTensor {
  std::string name;
  Shape shape;
  GgmlType type = GgmlType::f32;
  std::span<const std::byte> data;
};

namespace detail {

class GgufOut {
 public:
  explicit GgufOut(AtomicFile& f) : f_(f) {}
  template <class T>
  void raw(const T& v) {
    f_.write(&v, sizeof(T));
    n_ += sizeof(T);
  }
  void bytes(const void* p, std::size_t n) {
    if (n > 0) f_.write(p, n);
    n_ += n;
  }
  void str(const std::string& s) {
    raw(static_cast<std::uint64_t>(s.size()));
    bytes(s.data(), s.size());
  }
  void pad_to(std::uint64_t alignment) {
    static constexpr char zeros[64] = {};
    while (n_ % alignment != 0) bytes(zeros, std::min<std::uint64_t>(alignment - n_ % alignment, sizeof zeros));
  }
  std::uint64_t written() const { return n_; }

  void value(const GgufWriteValue& v) {
    std::visit(
        [&](const auto& x) {
          using V = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<V, std::uint32_t>) type(GgufType::uint32), raw(x);
          else if constexpr (std::is_same_v<V, std::int32_t>) type(GgufType::int32), raw(x);
          else if constexpr (std::is_same_v<V, float>) type(GgufType::float32), raw(x);
          else if constexpr (std::is_same_v<V, bool>) type(GgufType::boolean), raw(static_cast<std::uint8_t>(x));
          else if constexpr (std::is_same_v<V, std::string>) type(GgufType::string), str(x);
          else {
            type(GgufType::array);
            using E = typename V::value_type;
            type(std::is_same_v<E, std::string> ? GgufType::string
                 : std::is_same_v<E, float>     ? GgufType::float32
                                                : GgufType::int32);
            raw(static_cast<std::uint64_t>(x.size()));
            for (const auto& e : x) {
              if constexpr (std::is_same_v<E, std::string>) str(e);
              else raw(e);
            }
          }
        },
        v);
  }

 private:
  void type(GgufType t) { raw(static_cast<std::uint32_t>(t)); }
  AtomicFile& f_;
  std::uint64_t n_ = 0;
};

}  // namespace detail

/// The bytes a tensor of `shape` takes in ggml type `type`; throws when its rows cannot be cut in the type's blocks.
inline std::uint64_t gguf_tensor_bytes(const std::string& name, const Shape& shape, GgmlType type) {
  const auto traits = ggml_type_traits(static_cast<std::uint32_t>(type));
  PMC_CHECK(traits.has_value(), "write_gguf: tensor '", name, "': unknown ggml type ", static_cast<std::uint32_t>(type));
  PMC_CHECK(shape.rank() >= 1 && shape.rank() <= 4, "write_gguf: tensor '", name, "' has rank ", shape.rank(),
            " (1 to 4 allowed)");
  const std::int64_t cols = shape[shape.rank() - 1];
  PMC_CHECK(cols % static_cast<std::int64_t>(traits->block) == 0, "write_gguf: tensor '", name, "' of shape ",
            shape.str(), ": ", traits->name, " needs rows of a multiple of ", traits->block, " elements");
  return static_cast<std::uint64_t>(shape.numel()) / traits->block * traits->block_bytes;
}

/// Writes a GGUF (version 3) file atomically: `metadata` in the order given (general.alignment, if present, must
/// be a uint32 power of two; default 32), then `tensors` in the order given, each at an aligned offset. Throws
/// naming the tensor on a duplicate name or a byte count that does not match its shape and type.
inline void write_gguf(const std::filesystem::path& path,
                       const std::vector<std::pair<std::string, GgufWriteValue>>& metadata,
                       const std::vector<GgufWriteTensor>& tensors) {
  std::uint64_t alignment = 32;
  std::set<std::string> keys;
  for (const auto& [k, v] : metadata) {
    PMC_CHECK(keys.insert(k).second, path.string(), ": metadata key '", k, "' given twice");
    if (k == "general.alignment") {
      PMC_CHECK(std::holds_alternative<std::uint32_t>(v), path.string(), ": general.alignment must be a uint32");
      alignment = std::get<std::uint32_t>(v);
      PMC_CHECK(alignment > 0 && (alignment & (alignment - 1)) == 0, path.string(), ": general.alignment ", alignment,
                " is not a power of two");
    }
  }
  std::set<std::string> names;
  std::vector<std::uint64_t> offsets;
  std::uint64_t offset = 0;
  for (const auto& t : tensors) {
    PMC_CHECK(names.insert(t.name).second, path.string(), ": tensor '", t.name, "' given twice");
    const std::uint64_t n = gguf_tensor_bytes(t.name, t.shape, t.type);
    PMC_CHECK(n == t.data.size(), path.string(), ": tensor '", t.name, "' of shape ", t.shape.str(), " in ",
              ggml_type_traits(static_cast<std::uint32_t>(t.type))->name, " takes ", n, " bytes, got ", t.data.size());
    offsets.push_back(offset);
    offset = (offset + n + alignment - 1) / alignment * alignment;
  }

  AtomicFile file(path);
  detail::GgufOut out(file);
  out.bytes("GGUF", 4);
  out.raw(std::uint32_t{3});
  out.raw(static_cast<std::uint64_t>(tensors.size()));
  out.raw(static_cast<std::uint64_t>(metadata.size()));
  for (const auto& [k, v] : metadata) {
    out.str(k);
    out.value(v);
  }
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    out.str(t.name);
    out.raw(static_cast<std::uint32_t>(t.shape.rank()));
    for (int d = t.shape.rank() - 1; d >= 0; --d) out.raw(static_cast<std::uint64_t>(t.shape[d]));  // ne[0]: innermost
    out.raw(static_cast<std::uint32_t>(t.type));
    out.raw(offsets[i]);
  }
  out.pad_to(alignment);
  const std::uint64_t data_start = out.written();
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    out.pad_to(alignment);
    PMC_CHECK(out.written() - data_start == offsets[i], path.string(), ": internal: tensor '", tensors[i].name,
              "' misplaced");
    out.bytes(tensors[i].data.data(), tensors[i].data.size());
  }
  file.commit();
}

}  // namespace pmc::io

// SPDX-License-Identifier: MIT
// The safetensors format: a validating zero-copy reader, an atomic writer, and sharded HF checkpoints.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include <pmc/core/dtype.hpp>
#include <pmc/core/error.hpp>
#include <pmc/core/shape.hpp>
#include <pmc/core/tensor.hpp>
#include <pmc/core/transfer.hpp>
#include <pmc/io/atomic_file.hpp>
#include <pmc/io/mapped_file.hpp>

// safetensors stores little-endian values and pmc borrows them in place.
static_assert(std::endian::native == std::endian::little, "pmc::io assumes a little-endian host");

namespace pmc::io {

/// `__metadata__` of a safetensors file: free-form string → string.
using Metadata = std::map<std::string, std::string>;

/// The format's name of a dtype: "F32", "F64", "BF16", "F16", "I32", "I64", "U8".
constexpr std::string_view safetensors_dtype_name(DType d) {
  switch (d) {
    case DType::f32: return "F32";
    case DType::f64: return "F64";
    case DType::bf16: return "BF16";
    case DType::f16: return "F16";
    case DType::i32: return "I32";
    case DType::i64: return "I64";
    case DType::u8: return "U8";
  }
  return "?";
}

/// The DType of a format name, or nothing when pmc has no such element type.
inline std::optional<DType> parse_safetensors_dtype(std::string_view s) {
  for (DType d : {DType::f32, DType::f64, DType::bf16, DType::f16, DType::i32, DType::i64, DType::u8})
    if (safetensors_dtype_name(d) == s) return d;
  return std::nullopt;
}

constexpr bool is_floating(DType d) { return d == DType::f32 || d == DType::f64 || d == DType::bf16 || d == DType::f16; }

/// One tensor of a file: element type, shape, and byte range [begin, end) relative to the data buffer.
struct TensorInfo {
  DType dtype{};
  Shape shape;
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
  std::uint64_t nbytes() const { return end - begin; }
};

/// A type-erased, read-only view of a contiguous CPU tensor: what the writer needs. `keep_alive` owns the
/// bytes when the view was made from a temporary (a contiguous copy of a strided tensor).
struct TensorBytes {
  DType dtype{};
  Shape shape;
  std::span<const std::byte> bytes;
  std::shared_ptr<const void> keep_alive;
};

/// A view of t for writing; a non-contiguous t is copied to a contiguous tensor that the view keeps alive.
template <Element T>
TensorBytes tensor_bytes(const Tensor<T, Cpu>& t) {
  auto c = std::make_shared<const Tensor<T, Cpu>>(t.contiguous());
  const auto* p = reinterpret_cast<const std::byte*>(c->data());
  return {dtype_of<T>(), c->shape(), {p, static_cast<std::size_t>(c->numel()) * sizeof(T)}, c};
}

/// A named tensor to write.
struct SafetensorsEntry {
  std::string name;
  TensorBytes tensor;
};

/// `{name, tensor_bytes(t)}`: the entry for any CPU tensor.
template <Element T>
SafetensorsEntry tensor_entry(std::string name, const Tensor<T, Cpu>& t) {
  return {std::move(name), tensor_bytes(t)};
}

namespace detail {

/// The safetensors reference implementation refuses headers above 100 MB; a larger length is a corrupt file.
inline constexpr std::uint64_t kMaxHeaderBytes = 100ull << 20;

inline std::string quoted_list(const std::vector<std::string>& names, std::size_t max_items) {
  std::string s;
  for (std::size_t i = 0; i < names.size() && i < max_items; ++i) s += (i ? ", '" : "'") + names[i] + "'";
  if (names.size() > max_items) s += ", ... (" + std::to_string(names.size() - max_items) + " more)";
  return s;
}

/// Up to `k` of `names` sharing the longest prefix with `wanted` (a typo in a layer index lands near its
/// neighbours), for "tensor not found" messages.
inline std::vector<std::string> closest_names(const std::vector<std::string>& names, const std::string& wanted,
                                              std::size_t k = 5) {
  std::vector<std::pair<std::size_t, const std::string*>> scored;
  scored.reserve(names.size());
  for (const auto& n : names) {
    std::size_t p = 0;
    while (p < n.size() && p < wanted.size() && n[p] == wanted[p]) ++p;
    scored.emplace_back(p, &n);
  }
  std::stable_sort(scored.begin(), scored.end(), [](auto& a, auto& b) { return a.first > b.first; });
  std::vector<std::string> out;
  for (std::size_t i = 0; i < scored.size() && i < k; ++i) out.push_back(*scored[i].second);
  return out;
}

[[noreturn]] inline void tensor_not_found(const std::string& where, const std::string& name,
                                          const std::vector<std::string>& names) {
  if (names.empty()) fail(where, ": no tensor named '", name, "' (it holds no tensors)");
  fail(where, ": no tensor named '", name, "'; it holds ", names.size(), " tensors, the closest being ",
       quoted_list(closest_names(names, name), 5));
}

/// Throws one error listing both the expected names that are missing and the names nobody expected.
inline void check_name_sets(const std::string& where, const std::vector<std::string>& have,
                            const std::set<std::string>& expected) {
  std::vector<std::string> missing, unexpected;
  const std::set<std::string> have_set(have.begin(), have.end());
  for (const auto& e : expected)
    if (!have_set.count(e)) missing.push_back(e);
  for (const auto& h : have_set)
    if (!expected.count(h)) unexpected.push_back(h);
  if (missing.empty() && unexpected.empty()) return;
  std::string msg = where + ": tensor names do not match the model:";
  // appended piece by piece: g++ 12's -Wrestrict misfires on `" " + std::string&&` (GCC bug 105329)
  if (!missing.empty()) msg.append(" ").append(std::to_string(missing.size())).append(" missing (").append(quoted_list(missing, 8)).append(")");
  if (!missing.empty() && !unexpected.empty()) msg += ";";
  if (!unexpected.empty())
    msg.append(" ").append(std::to_string(unexpected.size())).append(" unexpected (").append(quoted_list(unexpected, 8)).append(")");
  throw Error(msg);
}

template <class S>
S load(const std::byte* p) {  // memcpy: the source may be unaligned
  S s;
  std::memcpy(&s, p, sizeof(S));
  return s;
}

/// Converts n elements of dtype `src` at `in` (any alignment) into T. Floating ↔ floating and integer ↔
/// integer only: reading integer ids as floats (or weights as integers) is a caller's mistake worth an error.
template <Element T>
void convert_elements(DType src, const std::byte* in, T* out, std::size_t n, const std::string& what) {
  constexpr DType dst = dtype_of<T>();
  if (is_floating(src) != is_floating(dst))
    fail(what, ": cannot read ", safetensors_dtype_name(src), " data as ", dtype_name(dst),
         " (integer and floating types do not convert)");
  const std::size_t w = dtype_size(src);
  if (src == dst) {
    std::memcpy(out, in, n * sizeof(T));
    return;
  }
  for (std::size_t i = 0; i < n; ++i, in += w) {
    if constexpr (std::is_integral_v<T>) {
      const std::int64_t v = src == DType::i32  ? std::int64_t{load<std::int32_t>(in)}
                             : src == DType::u8 ? std::int64_t{load<std::uint8_t>(in)}
                                                : load<std::int64_t>(in);
      if constexpr (!std::is_same_v<T, std::int64_t>) {
        PMC_CHECK(v >= std::numeric_limits<T>::min() && v <= std::numeric_limits<T>::max(), what, ": element ", i,
                  " = ", v, " does not fit in ", dtype_name(dst));
      }
      out[i] = static_cast<T>(v);
    } else {
      compute_t<T> v{};
      switch (src) {
        case DType::f32: v = static_cast<compute_t<T>>(load<float>(in)); break;
        case DType::f64: v = static_cast<compute_t<T>>(load<double>(in)); break;
        case DType::bf16: v = static_cast<compute_t<T>>(bf16::to_float(load<std::uint16_t>(in))); break;
        case DType::f16: v = static_cast<compute_t<T>>(f16::to_float(load<std::uint16_t>(in))); break;
        default: break;  // integers excluded above
      }
      out[i] = static_cast<T>(v);
    }
  }
}

inline std::uint64_t json_u64(const nlohmann::json& v, const std::string& what) {
  if (!v.is_number_unsigned()) fail(what, " must be a non-negative integer, got ", v.dump());
  return v.get<std::uint64_t>();
}

}  // namespace detail

/// A safetensors file, memory-mapped and validated on open. Tensors are served zero-copy when the stored
/// dtype is the one asked for (and aligned), else as a converted copy.
///
///   auto f = SafetensorsFile::open("model.safetensors");
///   Tensor<float> w = f.get<float>("model.norm.weight");   // borrows from the mapping when stored as F32
///   f.get_into("lm_head.weight", model.lm_head);           // checks the shape, converts, copies
class SafetensorsFile {
 public:
  /// Maps and validates `path`: header length within the file, well-formed JSON with no duplicate names,
  /// known dtypes, byte sizes matching shapes, data ranges inside the buffer, neither overlapping nor leaving
  /// holes, and covering it exactly. Every error names the file (and the tensor where there is one).
  static SafetensorsFile open(const std::filesystem::path& path) {
    SafetensorsFile f;
    f.map_ = MappedFile::open(path);
    f.parse();
    return f;
  }

  const std::filesystem::path& path() const { return map_->path(); }
  /// The mapping tensors borrow from.
  const std::shared_ptr<const MappedFile>& mapping() const { return map_; }
  /// Tensor names, sorted.
  const std::vector<std::string>& names() const { return names_; }
  std::size_t size() const { return names_.size(); }
  bool contains(const std::string& name) const { return infos_.count(name) != 0; }
  const Metadata& metadata() const { return metadata_; }

  /// dtype, shape and byte range of a tensor; throws naming the file and the closest names when absent.
  const TensorInfo& info(const std::string& name) const {
    auto it = infos_.find(name);
    if (it == infos_.end()) detail::tensor_not_found(path().string(), name, names_);
    return it->second;
  }

  /// The stored bytes of a tensor (little-endian, row-major).
  std::span<const std::byte> raw(const std::string& name) const {
    const auto& ti = info(name);
    return {data_begin() + ti.begin, static_cast<std::size_t>(ti.nbytes())};
  }
  /// The tensor as stored, for re-writing without conversion (keeps the mapping alive).
  TensorBytes view(const std::string& name) const {
    const auto& ti = info(name);
    return {ti.dtype, ti.shape, raw(name), map_};
  }

  /// The tensor as a Tensor<T>: zero-copy (borrowing the mapping, which it keeps alive) when stored as T
  /// at a T-aligned address, else a converted copy (bf16 → float, f32 → f16, i32 → i64, ...).
  template <Element T>
  Tensor<T> get(const std::string& name) const {
    const auto& ti = info(name);
    const std::byte* p = data_begin() + ti.begin;
    if (ti.dtype == dtype_of<T>() && ti.shape.numel() > 0 &&
        reinterpret_cast<std::uintptr_t>(p) % alignof(T) == 0) {
      // The mapping is private copy-on-write (see MappedFile), so handing out a mutable T* is safe.
      auto owner = std::const_pointer_cast<MappedFile>(map_);
      return Tensor<T>::wrap(reinterpret_cast<T*>(const_cast<std::byte*>(p)), ti.shape, std::move(owner));
    }
    Tensor<T> out(ti.shape);
    detail::convert_elements<T>(ti.dtype, p, out.data(), static_cast<std::size_t>(ti.shape.numel()), what(name));
    return out;
  }

  /// Copies the tensor into dst (any strides), converting to T; throws naming the file, the tensor and both
  /// shapes when dst's shape differs.
  template <Element T>
  void get_into(const std::string& name, const Tensor<T, Cpu>& dst) const {
    const auto& ti = info(name);
    PMC_CHECK(ti.shape == dst.shape(), what(name), ": stored shape ", ti.shape.str(), " (",
              safetensors_dtype_name(ti.dtype), ") does not match the destination's shape ", dst.shape().str());
    if (dst.is_contiguous()) {
      detail::convert_elements<T>(ti.dtype, data_begin() + ti.begin, dst.data(),
                                  static_cast<std::size_t>(ti.shape.numel()), what(name));
    } else {
      get<T>(name).copy_to(dst);
    }
  }

  /// Drops the mapped pages of the tensor's bytes from memory (MappedFile::release): only once nothing borrows
  /// them (get<T> of the same dtype hands out the mapping itself).
  void release(const std::string& name) const {
    const auto r = raw(name);
    map_->release(r.data(), r.size());
  }

  /// Throws one error naming the file, the expected tensors it lacks and the tensors nobody expected.
  void check_names(const std::set<std::string>& expected) const {
    detail::check_name_sets(path().string(), names_, expected);
  }

 private:
  SafetensorsFile() = default;

  std::string what(const std::string& name) const { return path().string() + ": tensor '" + name + "'"; }
  const std::byte* data_begin() const { return map_->data() + data_offset_; }

  void parse() {
    const std::string file = path().string();
    const std::uint64_t size = map_->size();
    if (size < 8) fail(file, ": truncated: ", size, " bytes, too short for the 8-byte header length");
    const auto n = detail::load<std::uint64_t>(map_->data());
    if (n > size - 8)
      fail(file, ": truncated or corrupt: the header length is ", n, " bytes but only ", size - 8,
           " bytes follow it");
    if (n > detail::kMaxHeaderBytes)
      fail(file, ": corrupt header length ", n, " (more than the format's limit of ", detail::kMaxHeaderBytes, ")");
    data_offset_ = 8 + n;
    const auto* h = reinterpret_cast<const char*>(map_->data() + 8);
    if (n == 0 || h[0] != '{') fail(file, ": malformed header: the JSON header must start with '{'");

    // nlohmann keeps the last of duplicate keys silently; the format forbids duplicates, so catch them.
    std::string duplicate;
    std::set<std::string> seen;
    nlohmann::json::parser_callback_t on_event = [&](int depth, nlohmann::json::parse_event_t ev,
                                                     nlohmann::json& parsed) {
      if (ev == nlohmann::json::parse_event_t::key && depth == 1 && parsed.is_string()) {
        const auto& k = parsed.get_ref<const std::string&>();
        if (!seen.insert(k).second && duplicate.empty()) duplicate = k;
      }
      return true;
    };
    nlohmann::json header;
    try {
      header = nlohmann::json::parse(h, h + n, on_event);
    } catch (const nlohmann::json::exception& e) {
      fail(file, ": malformed header JSON: ", e.what());
    }
    if (!duplicate.empty()) fail(file, ": malformed header: tensor '", duplicate, "' appears twice");
    if (!header.is_object()) fail(file, ": malformed header: expected a JSON object, got ", header.type_name());

    const std::uint64_t buffer = size - data_offset_;
    std::vector<std::pair<std::string, const TensorInfo*>> by_offset;
    for (auto& [name, v] : header.items()) {
      if (name == "__metadata__") {
        if (!v.is_object()) fail(file, ": malformed header: __metadata__ must be an object of strings");
        for (auto& [k, s] : v.items()) {
          if (!s.is_string()) fail(file, ": malformed header: __metadata__ value '", k, "' is not a string");
          metadata_[k] = s.get<std::string>();
        }
        continue;
      }
      const std::string w = what(name);
      if (!v.is_object()) fail(w, ": malformed header entry ", v.dump());
      for (const char* key : {"dtype", "shape", "data_offsets"})
        if (!v.contains(key)) fail(w, ": malformed header: no '", key, "'");
      if (!v["dtype"].is_string()) fail(w, ": malformed header: dtype must be a string");
      const auto dt_name = v["dtype"].get<std::string>();
      const auto dt = parse_safetensors_dtype(dt_name);
      if (!dt) fail(w, ": unknown or unsupported dtype '", dt_name, "' (pmc reads F32, F64, BF16, F16, I32, I64)");
      TensorInfo ti;
      ti.dtype = *dt;
      const auto& shape = v["shape"];
      if (!shape.is_array()) fail(w, ": malformed header: shape must be an array");
      if (shape.size() > static_cast<std::size_t>(kMaxRank))
        fail(w, ": rank ", shape.size(), " exceeds pmc's maximum of ", kMaxRank);
      std::uint64_t numel = 1;
      for (const auto& d : shape) {
        const auto e = detail::json_u64(d, w + ": shape extent");
        if (e > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) ||
            __builtin_mul_overflow(numel, e, &numel))
          fail(w, ": shape ", shape.dump(), " overflows");
        ti.shape.push_back(static_cast<std::int64_t>(e));
      }
      const auto& off = v["data_offsets"];
      if (!off.is_array() || off.size() != 2) fail(w, ": malformed header: data_offsets must be [begin, end]");
      ti.begin = detail::json_u64(off[0], w + ": data_offsets[0]");
      ti.end = detail::json_u64(off[1], w + ": data_offsets[1]");
      if (ti.end < ti.begin) fail(w, ": data_offsets [", ti.begin, ", ", ti.end, "] end before they begin");
      if (ti.end > buffer)
        fail(w, ": truncated or corrupt: data_offsets [", ti.begin, ", ", ti.end, "] run past the data buffer of ",
             buffer, " bytes");
      std::uint64_t expect = 0;
      if (__builtin_mul_overflow(numel, dtype_size(ti.dtype), &expect) || expect != ti.nbytes())
        fail(w, ": size mismatch: shape ", ti.shape.str(), " of ", dt_name, " needs ", numel, " x ",
             dtype_size(ti.dtype), " bytes but data_offsets [", ti.begin, ", ", ti.end, "] span ", ti.nbytes());
      auto [it, _] = infos_.emplace(name, ti);
      by_offset.emplace_back(name, &it->second);
      names_.push_back(name);
    }
    std::sort(names_.begin(), names_.end());

    // The format requires the tensors to tile the buffer exactly: no overlaps (aliasing), no holes.
    std::stable_sort(by_offset.begin(), by_offset.end(), [](const auto& a, const auto& b) {
      return a.second->begin != b.second->begin ? a.second->begin < b.second->begin
                                                : a.second->end < b.second->end;
    });
    std::uint64_t pos = 0;
    const std::string* prev = nullptr;
    for (const auto& [name, ti] : by_offset) {
      if (ti->begin < pos)
        fail(what(name), ": data_offsets [", ti->begin, ", ", ti->end, "] overlap those of '", *prev, "'");
      if (ti->begin > pos) fail(what(name), ": data_offsets begin at ", ti->begin, ", leaving a hole at ", pos);
      pos = ti->end;
      prev = &name;
    }
    if (pos != buffer)
      fail(file, ": ", buffer - pos, " trailing bytes after the last tensor (data buffer ", buffer,
           " bytes, tensors cover ", pos, ")");
  }

  std::shared_ptr<const MappedFile> map_;
  std::uint64_t data_offset_ = 0;
  std::unordered_map<std::string, TensorInfo> infos_;
  std::vector<std::string> names_;
  Metadata metadata_;
};

namespace detail {

inline void check_entries(const std::string& where, const std::vector<const SafetensorsEntry*>& entries) {
  std::set<std::string_view> seen;
  for (const auto* e : entries) {
    PMC_CHECK(!e->name.empty(), where, ": a tensor has an empty name");
    PMC_CHECK(e->name != "__metadata__", where, ": '__metadata__' is reserved and cannot name a tensor");
    PMC_CHECK(seen.insert(e->name).second, where, ": tensor '", e->name, "' given twice");
    const auto& t = e->tensor;
    for (auto d : t.shape) PMC_CHECK(d >= 0, where, ": tensor '", e->name, "' has negative extent in ", t.shape.str());
    const auto need = static_cast<std::uint64_t>(t.shape.numel()) * dtype_size(t.dtype);
    PMC_CHECK(t.bytes.size() == need, where, ": tensor '", e->name, "' has ", t.bytes.size(), " bytes but shape ",
              t.shape.str(), " of ", safetensors_dtype_name(t.dtype), " needs ", need);
  }
}

/// Data order: widest element type first, then by name. Deterministic, and since the header is padded to
/// 8 bytes every tensor then starts at a multiple of its element size, so all of them can be borrowed
/// zero-copy (the order the safetensors reference writer uses too). The header lists names sorted.
inline std::vector<const SafetensorsEntry*> data_order(std::vector<const SafetensorsEntry*> v) {
  std::sort(v.begin(), v.end(), [](const SafetensorsEntry* a, const SafetensorsEntry* b) {
    const auto wa = dtype_size(a->tensor.dtype), wb = dtype_size(b->tensor.dtype);
    return wa != wb ? wa > wb : a->name < b->name;
  });
  return v;
}

inline void write_safetensors_file(const std::filesystem::path& path, const std::vector<const SafetensorsEntry*>& in,
                                   const Metadata& metadata) {
  check_entries(path.string(), in);
  const auto entries = data_order(in);
  nlohmann::json header = nlohmann::json::object();
  Metadata meta = metadata;
  // transformers refuses safetensors files whose __metadata__ lacks "format" ("pt", "tf", "flax", "mlx").
  meta.emplace("format", "pt");
  header["__metadata__"] = meta;
  std::uint64_t pos = 0;
  for (const auto* e : entries) {
    const auto n = static_cast<std::uint64_t>(e->tensor.bytes.size());
    header[e->name] = {{"dtype", safetensors_dtype_name(e->tensor.dtype)},
                       {"shape", std::vector<std::int64_t>(e->tensor.shape.begin(), e->tensor.shape.end())},
                       {"data_offsets", {pos, pos + n}}};
    pos += n;
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');  // the format's padding: data starts 8-byte aligned
  const std::uint64_t n = json.size();
  AtomicFile f(path);
  f.write(&n, sizeof n);
  f.write(json);
  for (const auto* e : entries) f.write(e->tensor.bytes.data(), e->tensor.bytes.size());
  f.commit();
}

inline std::vector<const SafetensorsEntry*> pointers(const std::vector<SafetensorsEntry>& v) {
  std::vector<const SafetensorsEntry*> p;
  p.reserve(v.size());
  for (const auto& e : v) p.push_back(&e);
  return p;
}

}  // namespace detail

/// Writes the tensors to `path` atomically (see AtomicFile). The header lists the tensors sorted by name,
/// padded with spaces to 8 bytes; the data is ordered widest dtype first, then by name, so every tensor is
/// aligned for zero-copy reading. `metadata` goes to `__metadata__`, with "format": "pt" added when absent
/// (transformers rejects files without it). Throws on duplicate or empty names and on byte counts that do
/// not match the shape.
inline void write_safetensors(const std::filesystem::path& path, const std::vector<SafetensorsEntry>& entries,
                              const Metadata& metadata = {}) {
  detail::write_safetensors_file(path, detail::pointers(entries), metadata);
}

/// File names Hugging Face uses for a checkpoint folder.
inline constexpr const char* kSafetensorsSingleFile = "model.safetensors";
inline constexpr const char* kSafetensorsIndexFile = "model.safetensors.index.json";

/// HF's shard name: shard_file_name(1, 2) == "model-00001-of-00002.safetensors".
inline std::string shard_file_name(int index, int count) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "model-%05d-of-%05d.safetensors", index, count);
  return buf;
}

/// Writes the tensors into folder `dir` (created if needed) as Hugging Face does: one `model.safetensors`
/// when they fit in `max_shard_bytes` of tensor data, else `model-0000i-of-0000n.safetensors` shards
/// (tensors sorted by name, packed greedily; a tensor larger than the limit gets a shard of its own) plus
/// `model.safetensors.index.json` {"metadata": {"total_size": bytes}, "weight_map": {name: shard}}.
/// Each file is written atomically and the index last, since it is what readers open first. Shard files
/// and index left by an earlier save in a different layout are removed so readers never mix the two.
/// Returns the files written, the index (if any) last.
inline std::vector<std::filesystem::path> write_safetensors_sharded(const std::filesystem::path& dir,
                                                                    const std::vector<SafetensorsEntry>& entries,
                                                                    std::uint64_t max_shard_bytes,
                                                                    const Metadata& metadata = {}) {
  PMC_CHECK(max_shard_bytes > 0, dir.string(), ": max_shard_bytes must be positive");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  PMC_CHECK(!ec, dir.string(), ": cannot create directory: ", ec.message());
  auto all = detail::pointers(entries);
  detail::check_entries(dir.string(), all);
  std::sort(all.begin(), all.end(), [](auto* a, auto* b) { return a->name < b->name; });

  std::vector<std::vector<const SafetensorsEntry*>> shards;
  std::uint64_t in_shard = 0, total = 0;
  for (const auto* e : all) {
    const auto n = static_cast<std::uint64_t>(e->tensor.bytes.size());
    if (shards.empty() || (in_shard > 0 && in_shard + n > max_shard_bytes)) {
      shards.emplace_back();
      in_shard = 0;
    }
    shards.back().push_back(e);
    in_shard += n;
    total += n;
  }
  if (shards.empty()) shards.emplace_back();  // no tensors: still a valid (empty) model.safetensors

  std::vector<std::filesystem::path> written;
  std::set<std::string> keep;
  if (shards.size() == 1) {
    written.push_back(dir / kSafetensorsSingleFile);
    detail::write_safetensors_file(written.back(), shards[0], metadata);
    keep.insert(kSafetensorsSingleFile);
  } else {
    nlohmann::json weight_map = nlohmann::json::object();
    const int count = static_cast<int>(shards.size());
    for (int i = 0; i < count; ++i) {
      const auto name = shard_file_name(i + 1, count);
      written.push_back(dir / name);
      detail::write_safetensors_file(written.back(), shards[static_cast<std::size_t>(i)], metadata);
      for (const auto* e : shards[static_cast<std::size_t>(i)]) weight_map[e->name] = name;
      keep.insert(name);
    }
    const nlohmann::json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
    written.push_back(dir / kSafetensorsIndexFile);
    write_file_atomic(written.back(), index.dump(2) + "\n");
    keep.insert(kSafetensorsIndexFile);
  }
  // Remove what an earlier save in another layout left: a stale index would shadow the new single file, and
  // stale shards of another count would be dead weight.
  for (const auto& ent : std::filesystem::directory_iterator(dir, ec)) {
    const auto fn = ent.path().filename().string();
    const bool ours = fn == kSafetensorsSingleFile || fn == kSafetensorsIndexFile ||
                      (fn.size() == shard_file_name(1, 1).size() && fn.rfind("model-", 0) == 0 &&
                       fn.find("-of-") == 11 && fn.ends_with(".safetensors"));
    if (ours && !keep.count(fn)) std::filesystem::remove(ent.path(), ec);
  }
  return written;
}

/// A Hugging Face checkpoint folder (or one .safetensors file): a single `model.safetensors`, or
/// `model.safetensors.index.json` and the shards it names. Serves tensors by name across shards.
///
///   auto ckpt = SafetensorsCheckpoint::open("llama-7b/");
///   ckpt.check_names(expected);
///   auto w = ckpt.get<bf16>("model.layers.0.self_attn.q_proj.weight");
class SafetensorsCheckpoint {
 public:
  /// `path` is a folder (the index is preferred when present, else model.safetensors) or a .safetensors
  /// file or an index file. Opens and validates every shard, and checks that each tensor the index maps
  /// lives in the shard it names.
  static SafetensorsCheckpoint open(const std::filesystem::path& path) {
    SafetensorsCheckpoint c;
    namespace fs = std::filesystem;
    if (fs::is_directory(path)) {
      if (fs::exists(path / kSafetensorsIndexFile)) c.open_index(path / kSafetensorsIndexFile);
      else if (fs::exists(path / kSafetensorsSingleFile)) c.open_single(path / kSafetensorsSingleFile);
      else fail(path.string(), ": no ", kSafetensorsIndexFile, " or ", kSafetensorsSingleFile, " in this folder");
    } else if (path.string().ends_with(".json")) {
      c.open_index(path);
    } else {
      c.open_single(path);
    }
    return c;
  }

  /// The index file, or the single .safetensors file.
  const std::filesystem::path& path() const { return path_; }
  const std::vector<std::string>& names() const { return names_; }
  bool contains(const std::string& name) const { return where_.count(name) != 0; }
  std::size_t num_files() const { return files_.size(); }
  const std::vector<SafetensorsFile>& files() const { return files_; }
  /// The index's "metadata" object (e.g. total_size); for a single file, its __metadata__ strings.
  const nlohmann::json& metadata() const { return metadata_; }

  /// The file holding `name`; throws naming the checkpoint and the closest names when absent.
  const SafetensorsFile& file_of(const std::string& name) const {
    auto it = where_.find(name);
    if (it == where_.end()) detail::tensor_not_found(path_.string(), name, names_);
    return files_[it->second];
  }
  const TensorInfo& info(const std::string& name) const { return file_of(name).info(name); }
  template <Element T>
  Tensor<T> get(const std::string& name) const {
    return file_of(name).template get<T>(name);
  }
  template <Element T>
  void get_into(const std::string& name, const Tensor<T, Cpu>& dst) const {
    file_of(name).get_into(name, dst);
  }
  std::span<const std::byte> raw(const std::string& name) const { return file_of(name).raw(name); }
  void release(const std::string& name) const { file_of(name).release(name); }
  void check_names(const std::set<std::string>& expected) const {
    detail::check_name_sets(path_.string(), names_, expected);
  }

 private:
  void open_single(const std::filesystem::path& file) {
    path_ = file;
    files_.push_back(SafetensorsFile::open(file));
    names_ = files_[0].names();
    for (const auto& n : names_) where_[n] = 0;
    metadata_ = files_[0].metadata();
  }

  void open_index(const std::filesystem::path& index_path) {
    path_ = index_path;
    const std::string idx = index_path.string();
    nlohmann::json j = read_json_file(index_path);
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
      fail(idx, ": malformed index: no \"weight_map\" object");
    if (j.contains("metadata")) metadata_ = j["metadata"];
    std::map<std::string, std::size_t> shard_ids;
    for (auto& [name, shard] : j["weight_map"].items()) {
      if (!shard.is_string()) fail(idx, ": malformed index: weight_map['", name, "'] is not a file name");
      const auto fn = shard.get<std::string>();
      if (fn.empty() || fn.find('/') != std::string::npos || fn == "." || fn == "..")
        fail(idx, ": weight_map['", name, "'] = '", fn, "' is not a file in the checkpoint folder");
      auto [it, fresh] = shard_ids.emplace(fn, files_.size());
      if (fresh) files_.push_back(SafetensorsFile::open(index_path.parent_path() / fn));
      const auto& f = files_[it->second];
      if (!f.contains(name))
        fail(idx, ": maps tensor '", name, "' to ", f.path().string(), ", which does not hold it");
      where_[name] = it->second;
      names_.push_back(name);
    }
    std::sort(names_.begin(), names_.end());
  }

  std::filesystem::path path_;
  std::vector<SafetensorsFile> files_;
  std::unordered_map<std::string, std::size_t> where_;
  std::vector<std::string> names_;
  nlohmann::json metadata_ = nlohmann::json::object();
};

/// Throws unless `source` (a SafetensorsFile or SafetensorsCheckpoint) holds exactly the tensors of `expected`,
/// each of its shape: one error naming the file, the missing and the unexpected tensors (check_names), or one
/// naming `where`, the first tensor of another shape and both shapes.
template <class Source>
void check_tensors(const Source& source, const std::map<std::string, Shape>& expected, const std::string& where) {
  std::set<std::string> names;
  for (const auto& [name, shape] : expected) names.insert(name);
  source.check_names(names);
  for (const auto& [name, shape] : expected) {
    const auto& stored = source.info(name).shape;
    PMC_CHECK(stored == shape, where, ": tensor ", name, " has shape ", stored.str(), " but ", shape.str(),
              " is needed");
  }
}

/// Copies tensor `name` of `file` into `dst` on any device D, converting to T: on the CPU as get_into, on
/// another device through a host copy. A shape other than dst's is an error naming the file and tensor.
template <Element T, Device D>
void load_into(const SafetensorsFile& file, const std::string& name, const Tensor<T, D>& dst) {
  const auto& stored = file.info(name).shape;
  PMC_CHECK(stored == dst.shape(), file.path().string(), ": tensor '", name, "': stored shape ", stored.str(),
            " does not match the destination's shape ", dst.shape().str());
  pmc::copy(to_device<D>(file.get<T>(name)), dst);  // on the CPU: one copy from the mapping
}

}  // namespace pmc::io

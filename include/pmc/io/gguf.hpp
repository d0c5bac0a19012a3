// SPDX-License-Identifier: MIT
// GGUF (llama.cpp's file format): a validating, memory-mapped reader of the header, the metadata, the tensor
// infos and the data, with dequantization of F16, BF16, Q8_0, Q4_0 and Q4_1 tensors to float or bf16.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <pmc/core/dtype.hpp>
#include <pmc/core/error.hpp>
#include <pmc/core/shape.hpp>
#include <pmc/core/tensor.hpp>
#include <pmc/io/mapped_file.hpp>

static_assert(std::endian::native == std::endian::little, "pmc::io assumes a little-endian host");

namespace pmc::io {

/// The type of a GGUF metadata value (gguf.h's gguf_type).
enum class GgufType : std::uint32_t {
  uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, boolean = 7, string = 8,
  array = 9, uint64 = 10, int64 = 11, float64 = 12,
};

constexpr std::string_view gguf_type_name(GgufType t) {
  switch (t) {
    case GgufType::uint8: return "uint8";
    case GgufType::int8: return "int8";
    case GgufType::uint16: return "uint16";
    case GgufType::int16: return "int16";
    case GgufType::uint32: return "uint32";
    case GgufType::int32: return "int32";
    case GgufType::float32: return "float32";
    case GgufType::boolean: return "bool";
    case GgufType::string: return "string";
    case GgufType::array: return "array";
    case GgufType::uint64: return "uint64";
    case GgufType::int64: return "int64";
    case GgufType::float64: return "float64";
  }
  return "?";
}

/// The element type of a GGUF tensor (ggml's ggml_type). Only the ids pmc names; any other id is refused.
enum class GgmlType : std::uint32_t {
  f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9, q2_k = 10, q3_k = 11, q4_k = 12,
  q5_k = 13, q6_k = 14, q8_k = 15, iq2_xxs = 16, iq2_xs = 17, iq3_xxs = 18, iq1_s = 19, iq4_nl = 20, iq3_s = 21,
  iq2_s = 22, iq4_xs = 23, i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, iq1_m = 29, bf16 = 30, tq1_0 = 34,
  tq2_0 = 35, mxfp4 = 39,
};

/// A ggml type's name, its block size (elements) and the bytes of one block.
struct GgmlTypeTraits {
  std::string_view name;
  std::uint64_t block = 0;
  std::uint64_t block_bytes = 0;
};

/// The traits of ggml type id `t` (ggml.c's type_traits), or nothing for an id pmc does not know.
constexpr std::optional<GgmlTypeTraits> ggml_type_traits(std::uint32_t t) {
  switch (static_cast<GgmlType>(t)) {
    case GgmlType::f32: return GgmlTypeTraits{"F32", 1, 4};
    case GgmlType::f16: return GgmlTypeTraits{"F16", 1, 2};
    case GgmlType::q4_0: return GgmlTypeTraits{"Q4_0", 32, 18};
    case GgmlType::q4_1: return GgmlTypeTraits{"Q4_1", 32, 20};
    case GgmlType::q5_0: return GgmlTypeTraits{"Q5_0", 32, 22};
    case GgmlType::q5_1: return GgmlTypeTraits{"Q5_1", 32, 24};
    case GgmlType::q8_0: return GgmlTypeTraits{"Q8_0", 32, 34};
    case GgmlType::q8_1: return GgmlTypeTraits{"Q8_1", 32, 36};
    case GgmlType::q2_k: return GgmlTypeTraits{"Q2_K", 256, 84};
    case GgmlType::q3_k: return GgmlTypeTraits{"Q3_K", 256, 110};
    case GgmlType::q4_k: return GgmlTypeTraits{"Q4_K", 256, 144};
    case GgmlType::q5_k: return GgmlTypeTraits{"Q5_K", 256, 176};
    case GgmlType::q6_k: return GgmlTypeTraits{"Q6_K", 256, 210};
    case GgmlType::q8_k: return GgmlTypeTraits{"Q8_K", 256, 292};
    case GgmlType::iq2_xxs: return GgmlTypeTraits{"IQ2_XXS", 256, 66};
    case GgmlType::iq2_xs: return GgmlTypeTraits{"IQ2_XS", 256, 74};
    case GgmlType::iq3_xxs: return GgmlTypeTraits{"IQ3_XXS", 256, 98};
    case GgmlType::iq1_s: return GgmlTypeTraits{"IQ1_S", 256, 50};
    case GgmlType::iq4_nl: return GgmlTypeTraits{"IQ4_NL", 32, 18};
    case GgmlType::iq3_s: return GgmlTypeTraits{"IQ3_S", 256, 110};
    case GgmlType::iq2_s: return GgmlTypeTraits{"IQ2_S", 256, 82};
    case GgmlType::iq4_xs: return GgmlTypeTraits{"IQ4_XS", 256, 136};
    case GgmlType::i8: return GgmlTypeTraits{"I8", 1, 1};
    case GgmlType::i16: return GgmlTypeTraits{"I16", 1, 2};
    case GgmlType::i32: return GgmlTypeTraits{"I32", 1, 4};
    case GgmlType::i64: return GgmlTypeTraits{"I64", 1, 8};
    case GgmlType::f64: return GgmlTypeTraits{"F64", 1, 8};
    case GgmlType::iq1_m: return GgmlTypeTraits{"IQ1_M", 256, 56};
    case GgmlType::bf16: return GgmlTypeTraits{"BF16", 1, 2};
    case GgmlType::tq1_0: return GgmlTypeTraits{"TQ1_0", 256, 54};
    case GgmlType::tq2_0: return GgmlTypeTraits{"TQ2_0", 256, 66};
    case GgmlType::mxfp4: return GgmlTypeTraits{"MXFP4", 32, 17};
  }
  return std::nullopt;
}

/// A metadata value: a scalar of any GGUF type, a string, or an array of them (arrays of arrays included).
/// Arrays of fixed-size scalars keep their bytes as stored (one byte per uint8 in memory, not one value).
class GgufValue {
 public:
  GgufType type() const { return type_; }
  bool is_array() const { return type_ == GgufType::array; }
  bool is_integer() const {
    switch (type_) {
      case GgufType::uint8: case GgufType::int8: case GgufType::uint16: case GgufType::int16:
      case GgufType::uint32: case GgufType::int32: case GgufType::uint64: case GgufType::int64: return true;
      default: return false;
    }
  }
  bool is_float() const { return type_ == GgufType::float32 || type_ == GgufType::float64; }
  /// The element type of an array.
  GgufType array_type() const { return elem_; }
  /// The elements of an array (0 for a scalar).
  std::size_t size() const { return is_array() ? count_ : 0; }

  /// Integers as int64, floats as double, bool, string: what() names the value in the error when the type
  /// differs (or an unsigned value above INT64_MAX is read as signed).
  std::int64_t as_int(const std::string& what) const {
    if (!is_integer()) fail(what, " is ", describe(), ", not an integer");
    if (type_ == GgufType::uint64 && bits_ > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      fail(what, " = ", bits_, " does not fit in int64");
    return static_cast<std::int64_t>(bits_);
  }
  /// A non-negative integer as uint64.
  std::uint64_t as_uint(const std::string& what) const {
    if (!is_integer()) fail(what, " is ", describe(), ", not an integer");
    if (is_signed() && static_cast<std::int64_t>(bits_) < 0)
      fail(what, " = ", static_cast<std::int64_t>(bits_), " is negative");
    return bits_;
  }
  double as_float(const std::string& what) const {
    if (type_ == GgufType::float32) return std::bit_cast<float>(static_cast<std::uint32_t>(bits_));
    if (type_ == GgufType::float64) return std::bit_cast<double>(bits_);
    fail(what, " is ", describe(), ", not a floating-point number");
  }
  bool as_bool(const std::string& what) const {
    if (type_ != GgufType::boolean) fail(what, " is ", describe(), ", not a bool");
    return bits_ != 0;
  }
  const std::string& as_string(const std::string& what) const {
    if (type_ != GgufType::string) fail(what, " is ", describe(), ", not a string");
    return str_;
  }
  /// Element i of an array (a copy; strings and nested arrays included).
  GgufValue at(std::size_t i, const std::string& what) const {
    if (!is_array()) fail(what, " is ", describe(), ", not an array");
    if (i >= count_) fail(what, ": index ", i, " is outside the array of ", count_);
    if (elem_ == GgufType::string || elem_ == GgufType::array) return items_[i];
    GgufValue v;
    v.type_ = elem_;
    const std::size_t w = scalar_size(elem_);
    v.bits_ = 0;
    std::memcpy(&v.bits_, raw_.data() + i * w, w);
    v.sign_extend();
    return v;
  }
  /// An array of strings.
  std::vector<std::string> as_strings(const std::string& what) const {
    if (!is_array() || elem_ != GgufType::string) fail(what, " is ", describe(), ", not an array of strings");
    std::vector<std::string> out;
    out.reserve(count_);
    for (const auto& v : items_) out.push_back(v.str_);
    return out;
  }
  /// "uint32", "string", "array of 3 float32": for messages.
  std::string describe() const {
    if (!is_array()) return "a " + std::string(gguf_type_name(type_));
    return "an array of " + std::to_string(count_) + " " + std::string(gguf_type_name(elem_));
  }

 private:
  friend class GgufFile;
  static constexpr std::size_t scalar_size(GgufType t) {
    switch (t) {
      case GgufType::uint8: case GgufType::int8: case GgufType::boolean: return 1;
      case GgufType::uint16: case GgufType::int16: return 2;
      case GgufType::uint32: case GgufType::int32: case GgufType::float32: return 4;
      case GgufType::uint64: case GgufType::int64: case GgufType::float64: return 8;
      default: return 0;
    }
  }
  bool is_signed() const {
    return type_ == GgufType::int8 || type_ == GgufType::int16 || type_ == GgufType::int32 || type_ == GgufType::int64;
  }
  /// bits_ holds the stored bytes zero-extended; signed integers are widened to their int64 value.
  void sign_extend() {
    switch (type_) {
      case GgufType::int8: bits_ = static_cast<std::uint64_t>(std::int64_t{static_cast<std::int8_t>(bits_)}); break;
      case GgufType::int16: bits_ = static_cast<std::uint64_t>(std::int64_t{static_cast<std::int16_t>(bits_)}); break;
      case GgufType::int32: bits_ = static_cast<std::uint64_t>(std::int64_t{static_cast<std::int32_t>(bits_)}); break;
      default: break;
    }
  }

  GgufType type_ = GgufType::uint8;
  std::uint64_t bits_ = 0;       // scalars
  std::string str_;              // string
  GgufType elem_ = GgufType::uint8;  // array: element type
  std::uint64_t count_ = 0;          // array: element count
  std::vector<std::byte> raw_;       // array of fixed-size scalars: the stored bytes
  std::vector<GgufValue> items_;     // array of strings or arrays
};

/// One tensor of a GGUF file: its ggml dims (ne[0] the fastest-varying), pmc's row-major Shape (the dims
/// reversed: a matrix stored with ne = [in, out] is Shape{out, in}), its type and its bytes in the data section.
struct GgufTensorInfo {
  std::string name;
  std::vector<std::uint64_t> ne;
  Shape shape;
  std::uint32_t type = 0;
  std::uint64_t offset = 0;  // relative to the data section
  std::uint64_t nbytes = 0;
  std::string_view type_name() const { return ggml_type_traits(type)->name; }
};

/// A GGUF file (versions 2 and 3, little-endian), memory-mapped and validated on open.
///
///   auto f = io::GgufFile::open("model.Q8_0.gguf");
///   auto layers = f.get_uint("llama.block_count");
///   Tensor<float> w = f.get<float>("blk.0.attn_q.weight");   // dequantized, Shape{out, in}
class GgufFile {
 public:
  /// GGML_MAX_DIMS
  static constexpr std::uint32_t kMaxDims = 4;
  /// Arrays of arrays deeper than this are refused (the format has no limit; recursion needs one).
  static constexpr int kMaxNesting = 8;
  static constexpr std::uint64_t kDefaultAlignment = 32;

  /// Maps and validates `path`: magic, version, counts and string lengths within the file, every metadata
  /// value readable, general.alignment a power of two, tensor names unique, dims at most 4 with a product that
  /// fits, types known, rows a whole number of blocks, every tensor's bytes aligned and inside the data
  /// section. Every error names the file (and the key or tensor where there is one) and the problem.
  static GgufFile open(const std::filesystem::path& path) {
    GgufFile f;
    f.map_ = MappedFile::open(path);
    f.parse();
    return f;
  }

  const std::filesystem::path& path() const { return map_->path(); }
  const std::shared_ptr<const MappedFile>& mapping() const { return map_; }
  std::uint32_t version() const { return version_; }
  std::uint64_t alignment() const { return alignment_; }
  /// The offset of the data section in the file.
  std::uint64_t data_offset() const { return data_offset_; }

  /// Metadata keys in file order.
  const std::vector<std::string>& keys() const { return keys_; }
  bool contains_key(const std::string& key) const { return metadata_.count(key) != 0; }
  const GgufValue* find(const std::string& key) const {
    auto it = metadata_.find(key);
    return it == metadata_.end() ? nullptr : &it->second;
  }
  /// The value of `key`; throws naming the file and the key when absent.
  const GgufValue& metadata(const std::string& key) const {
    const auto* v = find(key);
    if (v == nullptr) fail(path().string(), ": no metadata key '", key, "'");
    return *v;
  }
  std::uint64_t get_uint(const std::string& key) const { return metadata(key).as_uint(what_key(key)); }
  std::int64_t get_int(const std::string& key) const { return metadata(key).as_int(what_key(key)); }
  double get_float(const std::string& key) const { return metadata(key).as_float(what_key(key)); }
  bool get_bool(const std::string& key) const { return metadata(key).as_bool(what_key(key)); }
  const std::string& get_string(const std::string& key) const { return metadata(key).as_string(what_key(key)); }
  std::vector<std::string> get_strings(const std::string& key) const {
    return metadata(key).as_strings(what_key(key));
  }
  /// "file: metadata 'key'": for callers' messages about a value.
  std::string what_key(const std::string& key) const { return path().string() + ": metadata '" + key + "'"; }

  /// Tensor names in file order.
  const std::vector<std::string>& names() const { return names_; }
  std::size_t size() const { return names_.size(); }
  bool contains(const std::string& name) const { return index_.count(name) != 0; }
  const GgufTensorInfo& info(const std::string& name) const {
    auto it = index_.find(name);
    if (it == index_.end()) {
      std::string near;
      for (std::size_t i = 0; i < names_.size() && i < 4; ++i) near += (i ? ", '" : "'") + names_[i] + "'";
      if (names_.empty()) fail(path().string(), ": no tensor named '", name, "' (it holds no tensors)");
      fail(path().string(), ": no tensor named '", name, "'; it holds ", names_.size(), " tensors (", near,
           names_.size() > 4 ? ", ...)" : ")");
    }
    return infos_[it->second];
  }
  /// The stored bytes of a tensor.
  std::span<const std::byte> raw(const std::string& name) const {
    const auto& ti = info(name);
    return {map_->data() + data_offset_ + ti.offset, static_cast<std::size_t>(ti.nbytes)};
  }

  /// The tensor as a Tensor<T> of Shape reversed(ne): F32 (borrowed from the mapping when T is float), BF16
  /// (borrowed when T is bf16), F64, F16 and BF16 otherwise converted, Q8_0, Q4_0 and Q4_1 dequantized as ggml does (x = d·q, d·(q − 8), d·q + m, in
  /// float, then rounded to T). Any other type is an error naming the file, the tensor and the type.
  template <Floating T>
  Tensor<T> get(const std::string& name) const {
    const auto& ti = info(name);
    const std::byte* p = map_->data() + data_offset_ + ti.offset;
    const auto n = static_cast<std::size_t>(ti.shape.numel());
    if constexpr (std::is_same_v<T, float>) {
      if (ti.type == static_cast<std::uint32_t>(GgmlType::f32) && n > 0 &&
          reinterpret_cast<std::uintptr_t>(p) % alignof(float) == 0) {
        auto owner = std::const_pointer_cast<MappedFile>(map_);  // private copy-on-write: see MappedFile
        return Tensor<T>::wrap(reinterpret_cast<float*>(const_cast<std::byte*>(p)), ti.shape, std::move(owner));
      }
    }
    if constexpr (std::is_same_v<T, bf16>) {
      if (ti.type == static_cast<std::uint32_t>(GgmlType::bf16) && n > 0 &&
          reinterpret_cast<std::uintptr_t>(p) % alignof(bf16) == 0) {
        auto owner = std::const_pointer_cast<MappedFile>(map_);  // private copy-on-write: see MappedFile
        return Tensor<T>::wrap(reinterpret_cast<bf16*>(const_cast<std::byte*>(p)), ti.shape, std::move(owner));
      }
    }
    Tensor<T> out(ti.shape);
    T* o = out.data();
    auto put = [&](std::size_t i, float v) { o[i] = static_cast<T>(v); };
    switch (static_cast<GgmlType>(ti.type)) {
      case GgmlType::f32:
        for (std::size_t i = 0; i < n; ++i) put(i, load<float>(p + 4 * i));
        break;
      case GgmlType::f64:
        for (std::size_t i = 0; i < n; ++i) o[i] = static_cast<T>(load<double>(p + 8 * i));
        break;
      case GgmlType::f16:
        for (std::size_t i = 0; i < n; ++i) put(i, f16::to_float(load<std::uint16_t>(p + 2 * i)));
        break;
      case GgmlType::bf16:
        for (std::size_t i = 0; i < n; ++i) put(i, bf16::to_float(load<std::uint16_t>(p + 2 * i)));
        break;
      case GgmlType::q8_0:  // d (f16), 32 × int8: x = d·q
        for (std::size_t b = 0; b < n / 32; ++b) {
          const std::byte* blk = p + 34 * b;
          const float d = f16::to_float(load<std::uint16_t>(blk));
          for (std::size_t j = 0; j < 32; ++j)
            put(32 * b + j, d * static_cast<float>(static_cast<std::int8_t>(blk[2 + j])));
        }
        break;
      case GgmlType::q4_0:  // d (f16), 16 bytes: element j the low nibble of byte j, j + 16 its high nibble
        for (std::size_t b = 0; b < n / 32; ++b) {
          const std::byte* blk = p + 18 * b;
          const float d = f16::to_float(load<std::uint16_t>(blk));
          for (std::size_t j = 0; j < 16; ++j) {
            const auto q = static_cast<unsigned>(blk[2 + j]);
            put(32 * b + j, d * static_cast<float>(static_cast<int>(q & 0x0fu) - 8));
            put(32 * b + j + 16, d * static_cast<float>(static_cast<int>(q >> 4) - 8));
          }
        }
        break;
      case GgmlType::q4_1:  // d (f16), m (f16), 16 bytes as Q4_0: x = d·q + m
        for (std::size_t b = 0; b < n / 32; ++b) {
          const std::byte* blk = p + 20 * b;
          const float d = f16::to_float(load<std::uint16_t>(blk));
          const float m = f16::to_float(load<std::uint16_t>(blk + 2));
          for (std::size_t j = 0; j < 16; ++j) {
            const auto q = static_cast<unsigned>(blk[4 + j]);
            put(32 * b + j, mul_add(d, static_cast<float>(q & 0x0fu), m));
            put(32 * b + j + 16, mul_add(d, static_cast<float>(q >> 4), m));
          }
        }
        break;
      default:
        fail(path().string(), ": tensor '", name, "' is stored as ", ti.type_name(),
             ", which pmc does not read (it reads F32, F64, F16, BF16, Q8_0, Q4_0 and Q4_1)");
    }
    return out;
  }

 private:
  GgufFile() = default;

  template <class S>
  static S load(const std::byte* p) {
    S s;
    std::memcpy(&s, p, sizeof(S));
    return s;
  }
  /// d·q + m rounded twice, as numpy does, whatever the caller's -ffp-contract.
  static float mul_add(float d, float q, float m) {
    volatile float p = d * q;
    return p + m;
  }

  /// A read position in the mapping; every read checks the bytes left and names what it was reading.
  struct Cursor {
    const GgufFile* f;
    std::uint64_t pos = 0;
    std::uint64_t left() const { return f->map_->size() - pos; }
    void need(std::uint64_t n, const std::string& what) const {
      if (n > left())
        fail(f->path().string(), ": truncated: ", what, " at byte ", pos, " needs ", n, " bytes but only ", left(),
             " remain");
    }
    template <class S>
    S read(const std::string& what) {
      need(sizeof(S), what);
      S s = load<S>(f->map_->data() + pos);
      pos += sizeof(S);
      return s;
    }
    std::string string(const std::string& what) {
      const auto n = read<std::uint64_t>(what + " (its length)");
      if (n > left())
        fail(f->path().string(), ": truncated or corrupt: ", what, " at byte ", pos - 8, " has length ", n,
             " but only ", left(), " bytes remain");
      std::string s(reinterpret_cast<const char*>(f->map_->data() + pos), static_cast<std::size_t>(n));
      pos += n;
      return s;
    }
  };

  /// Reads a value of `type`; `label` ("metadata 'key'", "metadata 'key'[3]") names it in errors.
  GgufValue read_value(Cursor& c, GgufType type, const std::string& label, int depth) const {
    GgufValue v;
    v.type_ = type;
    const std::string file = path().string();
    if (const auto w = GgufValue::scalar_size(type); w > 0) {
      c.need(w, label);
      std::memcpy(&v.bits_, map_->data() + c.pos, w);
      c.pos += w;
      v.sign_extend();
      if (type == GgufType::boolean && v.bits_ > 1)
        fail(file, ": ", label, ": bool value ", v.bits_, " is neither 0 nor 1");
      return v;
    }
    if (type == GgufType::string) {
      v.str_ = c.string(label);
      return v;
    }
    if (type != GgufType::array) fail(file, ": ", label, ": unknown value type ", static_cast<std::uint32_t>(type));
    if (depth >= kMaxNesting) fail(file, ": ", label, ": arrays nested deeper than ", kMaxNesting, " levels");
    const auto et = c.read<std::uint32_t>(label + " (its element type)");
    if (et > static_cast<std::uint32_t>(GgufType::float64))
      fail(file, ": ", label, ": unknown array element type ", et);
    v.elem_ = static_cast<GgufType>(et);
    v.count_ = c.read<std::uint64_t>(label + " (its length)");
    // the least bytes one element takes: its scalar size, a string's length, an array's type and length
    const std::size_t scalar = GgufValue::scalar_size(v.elem_);
    const std::uint64_t least = v.elem_ == GgufType::string ? 8 : v.elem_ == GgufType::array ? 12 : scalar;
    if (v.count_ > c.left() / least)
      fail(file, ": truncated or corrupt: ", label, " claims ", v.count_, " elements of ", gguf_type_name(v.elem_),
           " but only ", c.left(), " bytes remain");
    if (scalar > 0) {
      const auto n = static_cast<std::size_t>(v.count_ * scalar);
      v.raw_.assign(map_->data() + c.pos, map_->data() + c.pos + n);
      if (v.elem_ == GgufType::boolean)
        for (std::size_t i = 0; i < n; ++i)
          if (static_cast<unsigned>(v.raw_[i]) > 1)
            fail(file, ": ", label, ": element ", i, " = ", static_cast<unsigned>(v.raw_[i]),
                 " is neither 0 nor 1 (a bool)");
      c.pos += n;
      return v;
    }
    v.items_.reserve(static_cast<std::size_t>(v.count_));
    for (std::uint64_t i = 0; i < v.count_; ++i)
      v.items_.push_back(read_value(c, v.elem_, label + "[" + std::to_string(i) + "]", depth + 1));
    return v;
  }

  void parse() {
    const std::string file = path().string();
    const std::uint64_t size = map_->size();
    Cursor c{this};
    if (size < 4 || std::memcmp(map_->data(), "GGUF", 4) != 0)
      fail(file, ": not a GGUF file (it does not start with the magic \"GGUF\")");
    c.pos = 4;
    version_ = c.read<std::uint32_t>("the version");
    if (version_ == 1) fail(file, ": GGUF version 1 is not supported (pmc reads versions 2 and 3)");
    if (version_ != 2 && version_ != 3) {
      if ((version_ & 0xffffu) == 0 && (version_ >> 16) != 0)
        fail(file, ": GGUF version ", version_, " (byte-swapped: a big-endian file?); pmc reads little-endian "
             "versions 2 and 3");
      fail(file, ": unsupported GGUF version ", version_, " (pmc reads versions 2 and 3)");
    }
    const auto n_tensors = c.read<std::uint64_t>("the tensor count");
    const auto n_kv = c.read<std::uint64_t>("the metadata count");
    // a metadata entry takes at least 13 bytes (key length, type, one byte), a tensor info 24
    if (n_kv > c.left() / 13)
      fail(file, ": truncated or corrupt header: ", n_kv, " metadata entries cannot fit in the ", c.left(), " bytes left");
    if (n_tensors > c.left() / 24)
      fail(file, ": truncated or corrupt header: ", n_tensors, " tensors cannot fit in the ", c.left(), " bytes left");

    for (std::uint64_t i = 0; i < n_kv; ++i) {
      std::string key = c.string("the key of metadata entry " + std::to_string(i));
      const std::string label = "metadata '" + key + "'";
      const auto t = c.read<std::uint32_t>("the type of " + label);
      if (t > static_cast<std::uint32_t>(GgufType::float64)) fail(file, ": ", label, ": unknown value type ", t);
      GgufValue v = read_value(c, static_cast<GgufType>(t), label, 0);
      if (!metadata_.emplace(key, std::move(v)).second) fail(file, ": ", label, " appears twice");
      keys_.push_back(std::move(key));
    }
    if (const auto* a = find("general.alignment")) {
      if (a->type() != GgufType::uint32)
        fail(what_key("general.alignment"), " is ", a->describe(), ", not a uint32");
      alignment_ = a->as_uint(what_key("general.alignment"));
      if (alignment_ == 0 || (alignment_ & (alignment_ - 1)) != 0)
        fail(what_key("general.alignment"), " = ", alignment_, " is not a power of two");
    }

    infos_.reserve(static_cast<std::size_t>(n_tensors));
    for (std::uint64_t i = 0; i < n_tensors; ++i) {
      GgufTensorInfo ti;
      ti.name = c.string("the name of tensor " + std::to_string(i));
      const std::string w = file + ": tensor '" + ti.name + "'";
      const auto n_dims = c.read<std::uint32_t>("the dimension count of tensor '" + ti.name + "'");
      if (n_dims > kMaxDims) fail(w, ": ", n_dims, " dimensions (GGUF allows at most ", kMaxDims, ")");
      std::uint64_t numel = 1;
      bool overflow = false;
      for (std::uint32_t d = 0; d < n_dims; ++d) {
        const auto e = c.read<std::uint64_t>("dimension " + std::to_string(d) + " of tensor '" + ti.name + "'");
        ti.ne.push_back(e);
        if (e > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) ||
            __builtin_mul_overflow(numel, e, &numel) ||
            numel > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
          overflow = true;
      }
      if (overflow) fail(w, ": dimensions ", dims_str(ti.ne), " overflow (their product exceeds 2^63 - 1)");
      for (auto it = ti.ne.rbegin(); it != ti.ne.rend(); ++it) ti.shape.push_back(static_cast<std::int64_t>(*it));
      // with a 0 among them the product above is 0, but the Shape multiplies them in the other order
      if (ti.shape.numel_overflows())
        fail(w, ": dimensions ", dims_str(ti.ne), " overflow (a product of them exceeds 2^63 - 1)");
      ti.type = c.read<std::uint32_t>("the type of tensor '" + ti.name + "'");
      const auto traits = ggml_type_traits(ti.type);
      if (!traits) fail(w, ": unknown tensor type ", ti.type);
      ti.offset = c.read<std::uint64_t>("the offset of tensor '" + ti.name + "'");
      const std::uint64_t ne0 = ti.ne.empty() ? 1 : ti.ne[0];
      if (ne0 % traits->block != 0)
        fail(w, ": its rows of ", ne0, " elements are not a whole number of ", traits->name, " blocks of ",
             traits->block);
      if (__builtin_mul_overflow(numel / traits->block, traits->block_bytes, &ti.nbytes))
        fail(w, ": dimensions ", dims_str(ti.ne), " of ", traits->name, " overflow the byte count");
      if (ti.offset % alignment_ != 0)
        fail(w, ": offset ", ti.offset, " is not a multiple of the alignment ", alignment_);
      if (!index_.emplace(ti.name, infos_.size()).second) fail(w, " appears twice");
      names_.push_back(ti.name);
      infos_.push_back(std::move(ti));
    }

    const std::uint64_t end_of_infos = c.pos;
    data_offset_ = end_of_infos + (alignment_ - end_of_infos % alignment_) % alignment_;
    const std::uint64_t data_size = data_offset_ <= size ? size - data_offset_ : 0;
    for (const auto& ti : infos_) {
      if (data_offset_ > size || ti.offset > data_size || ti.nbytes > data_size - ti.offset)
        fail(file, ": tensor '", ti.name, "' (", ti.type_name(), " ", dims_str(ti.ne), ", ", ti.nbytes,
             " bytes at offset ", ti.offset, ") runs past the end of the data section (",
             data_offset_ <= size ? data_size : 0, " bytes from byte ", data_offset_, " of ", size,
             "): truncated or corrupt");
    }
  }

  static std::string dims_str(const std::vector<std::uint64_t>& ne) {
    std::string s = "[";
    for (std::size_t i = 0; i < ne.size(); ++i) s += (i ? ", " : "") + std::to_string(ne[i]);
    return s + "]";
  }

  std::shared_ptr<const MappedFile> map_;
  std::uint32_t version_ = 0;
  std::uint64_t alignment_ = kDefaultAlignment;
  std::uint64_t data_offset_ = 0;
  std::map<std::string, GgufValue> metadata_;
  std::vector<std::string> keys_;
  std::vector<GgufTensorInfo> infos_;
  std::unordered_map<std::string, std::size_t> index_;
  std::vector<std::string> names_;
};

}  // namespace pmc::io

// SPDX-License-Identifier: MIT
// SentencePiece `.model` files: the ModelProto protobuf read and written by our own small wire-format codec.
//
// A `.model` file is one serialized `sentencepiece.ModelProto` (proto2). We decode only the fields that
// encoding and decoding need (pieces, trainer spec flags, normalizer spec) and keep every other field as its
// raw wire bytes, so that load -> save round-trips a file without losing what we do not understand.
// Wire format: each field is a varint key (field_number << 3 | wire_type) followed by a varint (type 0),
// 8 bytes (type 1), a varint length and that many bytes (type 2) or 4 bytes (type 5). Groups (types 3, 4)
// do not occur in ModelProto and are reported as corruption.
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <pmc/core/error.hpp>

namespace pmc::tokenizer {

/// ModelProto.SentencePiece.Type; the numbers are the protobuf enum values.
enum class PieceType : int32_t {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

/// TrainerSpec.ModelType.
enum class ModelType : int32_t { kUnigram = 1, kBpe = 2, kWord = 3, kChar = 4 };

struct ModelPiece {
  std::string piece;
  float score = 0.0f;
  PieceType type = PieceType::kNormal;
};

/// The TrainerSpec fields pmc reads or writes; defaults are those of sentencepiece_model.proto.
struct TrainerSpec {
  std::vector<std::string> input;
  std::string model_prefix;
  ModelType model_type = ModelType::kUnigram;
  int32_t vocab_size = 8000;
  float character_coverage = 0.9995f;
  int32_t max_sentence_length = 4192;
  int32_t num_threads = 16;
  int32_t max_sentencepiece_length = 16;
  bool split_by_unicode_script = true;
  bool split_by_number = true;
  bool split_by_whitespace = true;
  bool treat_whitespace_as_suffix = false;
  bool allow_whitespace_only_pieces = false;
  bool split_digits = false;
  std::string required_chars;
  bool byte_fallback = false;
  int32_t unk_id = 0, bos_id = 1, eos_id = 2, pad_id = -1;
  std::string unk_piece = "<unk>", bos_piece = "<s>", eos_piece = "</s>", pad_piece = "<pad>";
  std::string unk_surface = " \xE2\x81\x87 ";
  std::string unknown_fields;  ///< fields pmc does not interpret, as raw wire bytes
};

/// NormalizerSpec: how text is normalized before encoding (and, as denormalizer_spec, after decoding).
struct NormalizerSpec {
  std::string name;
  std::string precompiled_charsmap;  ///< Darts double-array trie + replacement strings; empty = identity
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
  bool escape_whitespaces = true;
  std::string normalization_rule_tsv;
  std::string unknown_fields;
};

/// The parts of sentencepiece.ModelProto that a BPE tokenizer needs.
struct ModelProto {
  std::vector<ModelPiece> pieces;
  std::optional<TrainerSpec> trainer_spec;
  std::optional<NormalizerSpec> normalizer_spec;
  std::optional<NormalizerSpec> denormalizer_spec;
  std::string unknown_fields;  ///< self_test_data and extensions, kept verbatim
};

namespace detail {

/// Reads one protobuf message from [pos, end); every error names `what` (the file) and the byte offset.
class WireReader {
 public:
  WireReader(std::string_view data, size_t base, const std::string& what)
      : data_(data), base_(base), what_(what) {}

  bool done() const { return pos_ >= data_.size(); }
  size_t offset() const { return base_ + pos_; }

  uint64_t varint(const char* field) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      PMC_CHECK(pos_ < data_.size(), what_, ": truncated SentencePiece model (varint of ", field,
                " runs past the end at byte ", offset(), ")");
      const auto b = static_cast<uint8_t>(data_[pos_++]);
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) return v;
    }
    fail(what_, ": corrupt SentencePiece model (varint of ", field, " longer than 10 bytes at byte ", offset(), ")");
  }

  /// Next field key; returns false at the end of the message.
  bool key(uint32_t& field, uint32_t& wire_type) {
    if (done()) return false;
    const size_t at = offset();
    const uint64_t k = varint("field key");
    field = static_cast<uint32_t>(k >> 3);
    wire_type = static_cast<uint32_t>(k & 7);
    PMC_CHECK(field != 0 && (k >> 3) < (1u << 29), what_, ": corrupt SentencePiece model (invalid field number ",
              (k >> 3), " at byte ", at, ")");
    PMC_CHECK(wire_type == 0 || wire_type == 1 || wire_type == 2 || wire_type == 5, what_,
              ": corrupt SentencePiece model (invalid wire type ", wire_type, " for field ", field, " at byte ", at,
              ")");
    return true;
  }

  std::string_view bytes(const char* field) {
    const uint64_t n = varint(field);
    PMC_CHECK(n <= data_.size() - pos_, what_, ": truncated SentencePiece model (", field, " of ", n,
              " bytes at byte ", offset(), " runs past the end of its message, ", data_.size() - pos_, " bytes left)");
    std::string_view s = data_.substr(pos_, n);
    pos_ += n;
    return s;
  }

  float fixed32_float(const char* field) {
    PMC_CHECK(data_.size() - pos_ >= 4, what_, ": truncated SentencePiece model (", field, " at byte ", offset(), ")");
    uint32_t u = 0;
    for (int i = 0; i < 4; ++i) u |= static_cast<uint32_t>(static_cast<uint8_t>(data_[pos_ + i])) << (8 * i);
    pos_ += 4;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }

  /// Requires `wire_type` to be `expected` for a known field.
  void expect(uint32_t field, uint32_t wire_type, uint32_t expected, const char* name) const {
    PMC_CHECK(wire_type == expected, what_, ": corrupt SentencePiece model (field ", name, " (#", field,
              ") has wire type ", wire_type, ", expected ", expected, ", near byte ", offset(), ")");
  }

  /// Skips an unknown field, appending its raw bytes (key included) to `keep`.
  void skip(uint32_t field, uint32_t wire_type, size_t key_start, std::string* keep) {
    switch (wire_type) {
      case 0: varint("unknown field"); break;
      case 1:
        PMC_CHECK(data_.size() - pos_ >= 8, what_, ": truncated SentencePiece model (field ", field, " at byte ",
                  offset(), ")");
        pos_ += 8;
        break;
      case 2: bytes("unknown field"); break;
      case 5:
        PMC_CHECK(data_.size() - pos_ >= 4, what_, ": truncated SentencePiece model (field ", field, " at byte ",
                  offset(), ")");
        pos_ += 4;
        break;
    }
    if (keep) keep->append(data_.substr(key_start - base_, pos_ - (key_start - base_)));
  }

  size_t sub_base() const { return offset(); }
  const std::string& what() const { return what_; }

 private:
  std::string_view data_;
  size_t base_;
  size_t pos_ = 0;
  const std::string& what_;
};

class WireWriter {
 public:
  void varint(uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>((v & 0x7F) | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  void key(uint32_t field, uint32_t wire_type) { varint((static_cast<uint64_t>(field) << 3) | wire_type); }
  // int32 is sign-extended to 64 bits on the wire (a negative value takes 10 bytes).
  void int32_field(uint32_t field, int32_t v) {
    key(field, 0);
    varint(static_cast<uint64_t>(static_cast<int64_t>(v)));
  }
  void bool_field(uint32_t field, bool v) {
    key(field, 0);
    varint(v ? 1 : 0);
  }
  void float_field(uint32_t field, float f) {
    key(field, 5);
    uint32_t u;
    std::memcpy(&u, &f, 4);
    for (int i = 0; i < 4; ++i) out_.push_back(static_cast<char>((u >> (8 * i)) & 0xFF));
  }
  void bytes_field(uint32_t field, std::string_view s) {
    key(field, 2);
    varint(s.size());
    out_.append(s);
  }
  void raw(std::string_view s) { out_.append(s); }
  std::string& str() { return out_; }

 private:
  std::string out_;
};

inline ModelPiece parse_piece(std::string_view data, size_t base, const std::string& what) {
  WireReader r(data, base, what);
  ModelPiece p;
  uint32_t f, wt;
  while (true) {
    const size_t at = r.offset();
    if (!r.key(f, wt)) break;
    switch (f) {
      case 1: r.expect(f, wt, 2, "piece"); p.piece = std::string(r.bytes("piece")); break;
      case 2: r.expect(f, wt, 5, "score"); p.score = r.fixed32_float("score"); break;
      case 3: {
        r.expect(f, wt, 0, "type");
        const uint64_t t = r.varint("type");
        PMC_CHECK(t >= 1 && t <= 6, what, ": corrupt SentencePiece model (piece type ", t, " at byte ", at, ")");
        p.type = static_cast<PieceType>(t);
        break;
      }
      default: r.skip(f, wt, at, nullptr);
    }
  }
  return p;
}

inline TrainerSpec parse_trainer_spec(std::string_view data, size_t base, const std::string& what) {
  WireReader r(data, base, what);
  TrainerSpec t;
  uint32_t f, wt;
  auto i32 = [&](const char* name) {
    r.expect(f, wt, 0, name);
    return static_cast<int32_t>(static_cast<uint32_t>(r.varint(name)));
  };
  auto boolean = [&](const char* name) {
    r.expect(f, wt, 0, name);
    return r.varint(name) != 0;
  };
  auto str = [&](const char* name) {
    r.expect(f, wt, 2, name);
    return std::string(r.bytes(name));
  };
  while (true) {
    const size_t at = r.offset();
    if (!r.key(f, wt)) break;
    switch (f) {
      case 1: t.input.push_back(str("input")); break;
      case 2: t.model_prefix = str("model_prefix"); break;
      case 3: t.model_type = static_cast<ModelType>(i32("model_type")); break;
      case 4: t.vocab_size = i32("vocab_size"); break;
      case 10: r.expect(f, wt, 5, "character_coverage"); t.character_coverage = r.fixed32_float("character_coverage"); break;
      case 16: t.num_threads = i32("num_threads"); break;
      case 18: t.max_sentence_length = i32("max_sentence_length"); break;
      case 20: t.max_sentencepiece_length = i32("max_sentencepiece_length"); break;
      case 21: t.split_by_unicode_script = boolean("split_by_unicode_script"); break;
      case 22: t.split_by_whitespace = boolean("split_by_whitespace"); break;
      case 23: t.split_by_number = boolean("split_by_number"); break;
      case 24: t.treat_whitespace_as_suffix = boolean("treat_whitespace_as_suffix"); break;
      case 25: t.split_digits = boolean("split_digits"); break;
      case 26: t.allow_whitespace_only_pieces = boolean("allow_whitespace_only_pieces"); break;
      case 35: t.byte_fallback = boolean("byte_fallback"); break;
      case 36: t.required_chars = str("required_chars"); break;
      case 40: t.unk_id = i32("unk_id"); break;
      case 41: t.bos_id = i32("bos_id"); break;
      case 42: t.eos_id = i32("eos_id"); break;
      case 43: t.pad_id = i32("pad_id"); break;
      case 44: t.unk_surface = str("unk_surface"); break;
      case 45: t.unk_piece = str("unk_piece"); break;
      case 46: t.bos_piece = str("bos_piece"); break;
      case 47: t.eos_piece = str("eos_piece"); break;
      case 48: t.pad_piece = str("pad_piece"); break;
      default: r.skip(f, wt, at, &t.unknown_fields);
    }
  }
  return t;
}

inline NormalizerSpec parse_normalizer_spec(std::string_view data, size_t base, const std::string& what) {
  WireReader r(data, base, what);
  NormalizerSpec n;
  uint32_t f, wt;
  while (true) {
    const size_t at = r.offset();
    if (!r.key(f, wt)) break;
    switch (f) {
      case 1: r.expect(f, wt, 2, "name"); n.name = std::string(r.bytes("name")); break;
      case 2:
        r.expect(f, wt, 2, "precompiled_charsmap");
        n.precompiled_charsmap = std::string(r.bytes("precompiled_charsmap"));
        break;
      case 3: r.expect(f, wt, 0, "add_dummy_prefix"); n.add_dummy_prefix = r.varint("add_dummy_prefix") != 0; break;
      case 4:
        r.expect(f, wt, 0, "remove_extra_whitespaces");
        n.remove_extra_whitespaces = r.varint("remove_extra_whitespaces") != 0;
        break;
      case 5:
        r.expect(f, wt, 0, "escape_whitespaces");
        n.escape_whitespaces = r.varint("escape_whitespaces") != 0;
        break;
      case 6:
        r.expect(f, wt, 2, "normalization_rule_tsv");
        n.normalization_rule_tsv = std::string(r.bytes("normalization_rule_tsv"));
        break;
      default: r.skip(f, wt, at, &n.unknown_fields);
    }
  }
  return n;
}

inline void write_normalizer_spec(WireWriter& w, uint32_t field, const NormalizerSpec& n) {
  WireWriter m;
  if (!n.name.empty()) m.bytes_field(1, n.name);
  if (!n.precompiled_charsmap.empty()) m.bytes_field(2, n.precompiled_charsmap);
  m.bool_field(3, n.add_dummy_prefix);
  m.bool_field(4, n.remove_extra_whitespaces);
  m.bool_field(5, n.escape_whitespaces);
  if (!n.normalization_rule_tsv.empty()) m.bytes_field(6, n.normalization_rule_tsv);
  m.raw(n.unknown_fields);
  w.bytes_field(field, m.str());
}

inline void write_trainer_spec(WireWriter& w, const TrainerSpec& t) {
  WireWriter m;
  for (const auto& in : t.input) m.bytes_field(1, in);
  if (!t.model_prefix.empty()) m.bytes_field(2, t.model_prefix);
  m.int32_field(3, static_cast<int32_t>(t.model_type));
  m.int32_field(4, t.vocab_size);
  m.float_field(10, t.character_coverage);
  m.int32_field(16, t.num_threads);
  m.int32_field(18, t.max_sentence_length);
  m.int32_field(20, t.max_sentencepiece_length);
  m.bool_field(21, t.split_by_unicode_script);
  m.bool_field(22, t.split_by_whitespace);
  m.bool_field(23, t.split_by_number);
  m.bool_field(24, t.treat_whitespace_as_suffix);
  m.bool_field(25, t.split_digits);
  m.bool_field(26, t.allow_whitespace_only_pieces);
  m.bool_field(35, t.byte_fallback);
  if (!t.required_chars.empty()) m.bytes_field(36, t.required_chars);
  m.int32_field(40, t.unk_id);
  m.int32_field(41, t.bos_id);
  m.int32_field(42, t.eos_id);
  m.int32_field(43, t.pad_id);
  m.bytes_field(44, t.unk_surface);
  m.bytes_field(45, t.unk_piece);
  m.bytes_field(46, t.bos_piece);
  m.bytes_field(47, t.eos_piece);
  m.bytes_field(48, t.pad_piece);
  m.raw(t.unknown_fields);
  w.bytes_field(2, m.str());
}

}  // namespace detail

/// Parses a serialized ModelProto. `what` names the source (a file) in error messages.
/// Throws pmc::Error on truncated or malformed wire data; semantic checks are BpeTokenizer's.
inline ModelProto parse_model_proto(std::string_view data, const std::string& what = "<memory>") {
  PMC_CHECK(!data.empty(), what, ": empty SentencePiece model file");
  detail::WireReader r(data, 0, what);
  ModelProto m;
  uint32_t f, wt;
  while (true) {
    const size_t at = r.offset();
    if (!r.key(f, wt)) break;
    switch (f) {
      case 1: {
        r.expect(f, wt, 2, "pieces");
        std::string_view sub = r.bytes("pieces");
        m.pieces.push_back(detail::parse_piece(sub, r.offset() - sub.size(), what));
        break;
      }
      case 2: {
        r.expect(f, wt, 2, "trainer_spec");
        std::string_view sub = r.bytes("trainer_spec");
        m.trainer_spec = detail::parse_trainer_spec(sub, r.offset() - sub.size(), what);
        break;
      }
      case 3: {
        r.expect(f, wt, 2, "normalizer_spec");
        std::string_view sub = r.bytes("normalizer_spec");
        m.normalizer_spec = detail::parse_normalizer_spec(sub, r.offset() - sub.size(), what);
        break;
      }
      case 5: {
        r.expect(f, wt, 2, "denormalizer_spec");
        std::string_view sub = r.bytes("denormalizer_spec");
        m.denormalizer_spec = detail::parse_normalizer_spec(sub, r.offset() - sub.size(), what);
        break;
      }
      default: r.skip(f, wt, at, &m.unknown_fields);
    }
  }
  return m;
}

/// Serializes a ModelProto in field order (pieces, trainer_spec, normalizer_spec, kept fields,
/// denormalizer_spec), the layout sentencepiece itself writes.
inline std::string serialize_model_proto(const ModelProto& m) {
  detail::WireWriter w;
  for (const auto& p : m.pieces) {
    detail::WireWriter pw;
    pw.bytes_field(1, p.piece);
    pw.float_field(2, p.score);
    if (p.type != PieceType::kNormal) pw.int32_field(3, static_cast<int32_t>(p.type));
    w.bytes_field(1, pw.str());
  }
  if (m.trainer_spec) detail::write_trainer_spec(w, *m.trainer_spec);
  if (m.normalizer_spec) detail::write_normalizer_spec(w, 3, *m.normalizer_spec);
  w.raw(m.unknown_fields);
  if (m.denormalizer_spec) detail::write_normalizer_spec(w, 5, *m.denormalizer_spec);
  return std::move(w.str());
}

inline std::string read_binary_file(const std::filesystem::path& path) {
  // a folder opens as a stream on Linux and then fails inside the read with std::ios_base::failure
  PMC_CHECK(!std::filesystem::is_directory(path), path.string(), ": is a folder, expected a SentencePiece .model file");
  std::ifstream in(path, std::ios::binary);
  PMC_CHECK(in.good(), path.string(), ": cannot open file");
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  PMC_CHECK(!in.bad(), path.string(), ": read error");
  return data;
}

inline ModelProto load_model_proto(const std::filesystem::path& path) {
  return parse_model_proto(read_binary_file(path), path.string());
}

inline void save_model_proto(const ModelProto& m, const std::filesystem::path& path) {
  const std::string data = serialize_model_proto(m);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  PMC_CHECK(out.good(), path.string(), ": cannot open for writing");
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  out.close();
  PMC_CHECK(out.good(), path.string(), ": write error");
}

}  // namespace pmc::tokenizer

// SPDX-License-Identifier: MIT
// TensorBoard event files (events.out.tfevents.*), the log format TensorBoard, tbparse and TensorFlow's
// summary_iterator read: TFRecord framing around serialized `Event` protocol buffers.
//   record:  uint64 length | uint32 masked_crc32c(length bytes) | data[length] | uint32 masked_crc32c(data)
//            (little endian; masked(c) = ((c >> 15) | (c << 17)) + 0xa282ead8)
//   Event:   1 wall_time (double) · 2 step (int64) · 3 file_version (string, the first event: "brain.Event:2") ·
//            5 summary (Summary) · 6 session_log (SessionLog)
//   Summary: 1 value (repeated Value);  Value: 1 tag (string) · 2 simple_value (float)
//   SessionLog: 1 status (START = 1): written when a run resumes at a step, so that TensorBoard drops the events
//            a killed run had logged beyond it.
// The writer appends and flushes each event; the reader checks every length and checksum (for tests and tools).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <pmc/core/error.hpp>
#include <pmc/io/atomic_file.hpp>
#include <pmc/io/checksum.hpp>

namespace pmc::io {

namespace detail {
inline std::uint32_t masked_crc(std::string_view bytes) {
  const std::uint32_t c = crc32c(std::as_bytes(std::span<const char>(bytes.data(), bytes.size())));
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}
inline void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}
template <class T>
void put_fixed(std::string& out, T v) {  // little endian, as x86 and the format are
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.append(b, sizeof(T));
}
inline void put_bytes_field(std::string& out, int field, std::string_view bytes) {
  put_varint(out, static_cast<std::uint64_t>(field) << 3 | 2);
  put_varint(out, bytes.size());
  out.append(bytes);
}
}  // namespace detail

/// One scalar of an event file.
struct TensorBoardScalar {
  std::string tag;
  std::int64_t step = 0;
  float value = 0;
  double wall_time = 0;
};

/// Appends scalars to DIR/events.out.tfevents.<seconds>.pmc (a new file each time a writer is made, as
/// TensorBoard expects of a restarted run).
class TensorBoardWriter {
 public:
  explicit TensorBoardWriter(const std::filesystem::path& dir) {
    ensure_directory(dir);
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(now).count();
    file_ = dir / ("events.out.tfevents." + std::to_string(secs) + ".pmc");
    for (int n = 1; std::filesystem::exists(file_); ++n)  // two writers in one second
      file_ = dir / ("events.out.tfevents." + std::to_string(secs) + ".pmc." + std::to_string(n));
    out_.open(file_, std::ios::binary | std::ios::app);
    PMC_CHECK(out_.good(), file_.string(), ": cannot open for writing");
    std::string event;
    detail::put_varint(event, 1 << 3 | 1);
    detail::put_fixed(event, wall_time());
    detail::put_bytes_field(event, 3, "brain.Event:2");
    write_record(event);
  }

  /// The file being written.
  const std::filesystem::path& file() const { return file_; }

  /// A scalar `value` of `tag` ("train/loss") at `step`.
  void scalar(std::string_view tag, std::int64_t step, double value) { scalars(step, {{tag, value}}); }

  /// Several scalars of one step, in one event (one record, one flush).
  void scalars(std::int64_t step, std::span<const std::pair<std::string_view, double>> values) {
    std::string summary;
    for (const auto& [tag, value] : values) {
      std::string v;
      detail::put_bytes_field(v, 1, tag);
      detail::put_varint(v, 2 << 3 | 5);
      detail::put_fixed(v, static_cast<float>(value));
      detail::put_bytes_field(summary, 1, v);
    }
    write_record(event_at(step, 5, summary));
  }
  void scalars(std::int64_t step, std::initializer_list<std::pair<std::string_view, double>> values) {
    scalars(step, std::span<const std::pair<std::string_view, double>>(values.begin(), values.size()));
  }

  /// Marks a (re)start at `step`: TensorBoard discards the events of this run folder at steps ≥ `step` that
  /// earlier files hold (what a killed run logged after its last checkpoint).
  void restart_at(std::int64_t step) {
    std::string log;
    detail::put_varint(log, 1 << 3 | 0);
    detail::put_varint(log, 1);  // SessionLog.START
    write_record(event_at(step, 6, log));
  }

 private:
  static double wall_time() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  }
  static std::string event_at(std::int64_t step, int field, std::string_view payload) {
    std::string event;
    detail::put_varint(event, 1 << 3 | 1);
    detail::put_fixed(event, wall_time());
    detail::put_varint(event, 2 << 3 | 0);
    detail::put_varint(event, static_cast<std::uint64_t>(step));
    detail::put_bytes_field(event, field, payload);
    return event;
  }
  void write_record(const std::string& data) {
    std::string header;
    detail::put_fixed(header, static_cast<std::uint64_t>(data.size()));
    std::string record = header;
    detail::put_fixed(record, detail::masked_crc(header));
    record += data;
    detail::put_fixed(record, detail::masked_crc(data));
    out_.write(record.data(), static_cast<std::streamsize>(record.size()));
    out_.flush();
    PMC_CHECK(out_.good(), file_.string(), ": write failed");
  }

  std::filesystem::path file_;
  std::ofstream out_;
};

namespace detail {
/// A protobuf reader over one message's bytes; errors name `where`.
struct ProtoReader {
  std::string_view b;
  std::size_t i = 0;
  std::string where;
  bool done() const { return i >= b.size(); }
  std::uint64_t varint() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      PMC_CHECK(i < b.size(), where, ": a varint runs past the end of its message");
      const auto c = static_cast<std::uint8_t>(b[i++]);
      v |= static_cast<std::uint64_t>(c & 0x7f) << shift;
      if (!(c & 0x80)) return v;
    }
    fail(where, ": a varint longer than 10 bytes");
  }
  std::string_view take(std::size_t n) {
    PMC_CHECK(n <= b.size() - i, where, ": a field of ", n, " bytes runs past the end of its message");
    const auto s = b.substr(i, n);
    i += n;
    return s;
  }
  template <class T>
  T fixed() {
    T v;
    std::memcpy(&v, take(sizeof(T)).data(), sizeof(T));
    return v;
  }
  void skip(int wire) {
    switch (wire) {
      case 0: (void)varint(); return;
      case 1: (void)take(8); return;
      case 2: (void)take(varint()); return;
      case 5: (void)take(4); return;
      default: fail(where, ": wire type ", wire, " is not protobuf's");
    }
  }
};
}  // namespace detail

/// The scalars of an event file, in order. Every record's length and checksums are checked; a corrupt or
/// truncated record is an error naming the file and the record's offset.
inline std::vector<TensorBoardScalar> read_tensorboard_scalars(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  PMC_CHECK(in.good(), file.string(), ": no such file");
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<TensorBoardScalar> out;
  std::size_t at = 0;
  while (at < bytes.size()) {
    const std::string where = file.string() + ": record at byte " + std::to_string(at);
    PMC_CHECK(bytes.size() - at >= 12, where, ": truncated header");
    std::uint64_t len;
    std::uint32_t len_crc;
    std::memcpy(&len, bytes.data() + at, 8);
    std::memcpy(&len_crc, bytes.data() + at + 8, 4);
    PMC_CHECK(len_crc == detail::masked_crc(std::string_view(bytes.data() + at, 8)), where, ": length checksum mismatch");
    PMC_CHECK(len <= bytes.size() - at - 12 && bytes.size() - at - 12 - len >= 4, where, ": truncated (", len,
              " bytes announced)");
    const std::string_view data(bytes.data() + at + 12, len);
    std::uint32_t data_crc;
    std::memcpy(&data_crc, bytes.data() + at + 12 + len, 4);
    PMC_CHECK(data_crc == detail::masked_crc(data), where, ": data checksum mismatch");
    at += 12 + len + 4;
    detail::ProtoReader event{data, 0, where};
    double wall = 0;
    std::int64_t step = 0;
    std::vector<std::pair<std::string, float>> values;
    while (!event.done()) {
      const auto key = event.varint();
      const int field = static_cast<int>(key >> 3), wire = static_cast<int>(key & 7);
      if (field == 1 && wire == 1) wall = event.fixed<double>();
      else if (field == 2 && wire == 0) step = static_cast<std::int64_t>(event.varint());
      else if (field == 5 && wire == 2) {
        detail::ProtoReader summary{event.take(event.varint()), 0, where};
        while (!summary.done()) {
          const auto skey = summary.varint();
          if ((skey >> 3) != 1 || (skey & 7) != 2) {
            summary.skip(static_cast<int>(skey & 7));
            continue;
          }
          detail::ProtoReader value{summary.take(summary.varint()), 0, where};
          std::string tag;
          std::optional<float> simple;
          while (!value.done()) {
            const auto vkey = value.varint();
            if (vkey == (1 << 3 | 2)) tag = std::string(value.take(value.varint()));
            else if (vkey == (2 << 3 | 5)) simple = value.fixed<float>();
            else value.skip(static_cast<int>(vkey & 7));
          }
          if (simple) values.emplace_back(std::move(tag), *simple);
        }
      } else {
        event.skip(wire);
      }
    }
    for (auto& [tag, v] : values) out.push_back({std::move(tag), step, v, wall});
  }
  return out;
}

}  // namespace pmc::io

// SPDX-License-Identifier: MIT
// Tests of the safetensors reader/writer: round trips, zero-copy, Python-written files, and bad input.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <pmc/io/safetensors.hpp>

#include "io/io_test_util.hpp"

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace safetensors_test {

using namespace pmc;
using namespace pmc::io;
using pmc::test::io::error_of;
using pmc::test::io::read_bytes;
using pmc::test::io::scratch;
using pmc::test::io::write_bytes;

namespace {

template <class T>
Tensor<T> ramp(const Shape& s, double scale, double bias) {
  Tensor<T> t(s);
  for (std::int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<T>(static_cast<compute_t<T>>(i * scale + bias));
  return t;
}

template <class T>
void check_equal(const Tensor<T>& a, const Tensor<T>& b) {
  REQUIRE(a.shape() == b.shape());
  auto va = a.to_vector(), vb = b.to_vector();
  for (std::size_t i = 0; i < va.size(); ++i) CHECK(va[i] == vb[i]);
}

/// A safetensors file from a raw header string and data buffer: for malformed-input tests.
std::filesystem::path raw_file(const std::filesystem::path& dir, const std::string& name, const std::string& header,
                               std::size_t data_bytes) {
  const std::uint64_t n = header.size();
  auto p = dir / name;
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(&n), 8);
  out << header << std::string(data_bytes, '\x01');
  return p;
}

}  // namespace

TEST_CASE("round trip of every dtype, with metadata, scalars and empty tensors") {
  const auto dir = scratch("roundtrip_all_dtypes");
  const auto path = dir / "all.safetensors";
  auto f32 = ramp<float>({3, 5}, 0.25, -1);
  auto f64 = ramp<double>({2, 3}, 1.0 / 3.0, 0);
  auto b16 = ramp<bf16>({7}, 0.5, -2);  // odd byte count: the writer must still align what follows
  auto h16 = ramp<f16>({3}, 0.125, 1);
  auto i32 = ramp<std::int32_t>({2, 2}, 7, -3);
  auto i64 = ramp<std::int64_t>({3}, 3e10, -1);
  auto scalar = Tensor<float>::from(Shape{}, {2.5f});
  Tensor<float> empty({0, 4});
  write_safetensors(path,
                    {tensor_entry("w.f32", f32), tensor_entry("w.f64", f64), tensor_entry("w.bf16", b16),
                     tensor_entry("w.f16", h16), tensor_entry("w.i32", i32), tensor_entry("w.i64", i64),
                     tensor_entry("scalar", scalar), tensor_entry("empty", empty)},
                    {{"step", "42"}});

  const auto f = SafetensorsFile::open(path);
  CHECK(f.names() == std::vector<std::string>{"empty", "scalar", "w.bf16", "w.f16", "w.f32", "w.f64", "w.i32", "w.i64"});
  CHECK(f.metadata().at("step") == "42");
  CHECK(f.metadata().at("format") == "pt");  // added for transformers
  CHECK(f.info("w.bf16").dtype == DType::bf16);
  CHECK(f.info("w.f32").shape == Shape{3, 5});
  CHECK(f.info("scalar").shape.rank() == 0);
  check_equal(f.get<float>("w.f32"), f32);
  check_equal(f.get<double>("w.f64"), f64);
  check_equal(f.get<bf16>("w.bf16"), b16);
  check_equal(f.get<f16>("w.f16"), h16);
  check_equal(f.get<std::int32_t>("w.i32"), i32);
  check_equal(f.get<std::int64_t>("w.i64"), i64);
  CHECK(f.get<float>("scalar")[0] == 2.5f);
  CHECK(f.get<float>("empty").shape() == Shape{0, 4});

  // Every tensor is served zero-copy: the writer ordered the data so all are aligned.
  auto inside = [&](const auto& t) { return f.mapping()->contains(t.data(), t.numel() * sizeof(*t.data())); };
  CHECK(inside(f.get<float>("w.f32")));
  CHECK(inside(f.get<double>("w.f64")));
  CHECK(inside(f.get<bf16>("w.bf16")));
  CHECK(inside(f.get<f16>("w.f16")));
  CHECK(inside(f.get<std::int32_t>("w.i32")));
  CHECK(inside(f.get<std::int64_t>("w.i64")));
}

TEST_CASE("header is padded to 8 bytes and the output does not depend on entry order") {
  const auto dir = scratch("deterministic");
  auto a = ramp<float>({3}, 1, 0);
  auto b = ramp<bf16>({5}, 1, 0);
  auto c = ramp<double>({1}, 1, 0);
  write_safetensors(dir / "x.safetensors", {tensor_entry("a", a), tensor_entry("b", b), tensor_entry("c", c)});
  write_safetensors(dir / "y.safetensors", {tensor_entry("c", c), tensor_entry("b", b), tensor_entry("a", a)});
  const auto x = read_bytes(dir / "x.safetensors");
  CHECK(x == read_bytes(dir / "y.safetensors"));
  std::uint64_t n = 0;
  std::memcpy(&n, x.data(), 8);
  CHECK(n % 8 == 0);
  CHECK(x[8 + n - 1] != '\0');
  // Widest first: c (F64) at 0, a (F32) at 8, b (BF16) at 20.
  const auto f = SafetensorsFile::open(dir / "x.safetensors");
  CHECK(f.info("c").begin == 0);
  CHECK(f.info("a").begin == 8);
  CHECK(f.info("b").begin == 20);
  CHECK_FALSE(std::filesystem::exists(dir / ("x.safetensors.tmp." + std::to_string(::getpid()))));
}

TEST_CASE("zero-copy tensors keep the mapping alive and writing to them leaves the file unchanged") {
  const auto dir = scratch("zero_copy");
  auto w = ramp<float>({4, 4}, 1, 0);
  write_safetensors(dir / "w.safetensors", {tensor_entry("w", w)});
  const auto before = read_bytes(dir / "w.safetensors");
  Tensor<float> t;
  std::weak_ptr<const MappedFile> weak;
  {
    const auto f = SafetensorsFile::open(dir / "w.safetensors");
    t = f.get<float>("w");
    weak = f.mapping();
    CHECK(f.mapping()->contains(t.data(), 16 * sizeof(float)));
  }
  CHECK_FALSE(weak.expired());  // the tensor owns the mapping now
  CHECK(t.at({3, 3}) == 15.f);
  t.at({0, 0}) = 99.f;  // private copy-on-write page: the file must not change
  CHECK(read_bytes(dir / "w.safetensors") == before);
  t = Tensor<float>();
  CHECK(weak.expired());
}

TEST_CASE("dtype conversion on read, and get_into") {
  const auto dir = scratch("convert");
  auto b = Tensor<bf16>::from({2, 2}, {bf16(1.5f), bf16(-2.f), bf16(0.333984375f), bf16(4.f)});
  auto w = ramp<float>({2, 3}, 0.1, 0);
  auto ids = Tensor<std::int64_t>::from({3}, {1, -7, std::int64_t(1) << 40});
  auto small = Tensor<std::int32_t>::from({2}, {5, -6});
  write_safetensors(dir / "c.safetensors",
                    {tensor_entry("b", b), tensor_entry("w", w), tensor_entry("ids", ids), tensor_entry("small", small)});
  const auto f = SafetensorsFile::open(dir / "c.safetensors");

  auto bf = f.get<float>("b");  // bf16 -> float: exact
  CHECK(bf.to_vector() == std::vector<float>{1.5f, -2.f, 0.333984375f, 4.f});
  CHECK_FALSE(f.mapping()->contains(bf.data()));
  auto wb = f.get<bf16>("w");  // float -> bf16: rounds to nearest even, as bf16(float) does
  for (std::int64_t i = 0; i < 6; ++i) CHECK(wb[i].bits == bf16(w[i]).bits);
  auto wd = f.get<double>("w");
  CHECK(wd[5] == static_cast<double>(w[5]));
  CHECK(f.get<std::int64_t>("small").to_vector() == std::vector<std::int64_t>{5, -6});
  error_of([&] { f.get<std::int32_t>("ids"); }, {"c.safetensors", "'ids'", "does not fit in int32"});
  error_of([&] { f.get<float>("ids"); }, {"c.safetensors", "'ids'", "cannot read I64 data as float32"});

  Tensor<float> dst({2, 3});
  f.get_into("w", dst);
  check_equal(dst, w);
  Tensor<float> t({3, 2});  // a strided destination: the transpose of a (3, 2) buffer
  f.get_into("w", t.transpose(0, 1));
  CHECK(t.at({2, 1}) == w.at({1, 2}));
  Tensor<double> wrong({3, 2});
  error_of([&] { f.get_into("w", wrong); }, {"c.safetensors", "'w'", "(2, 3)", "(3, 2)"});
}

TEST_CASE("strided tensors are written in logical order") {
  const auto dir = scratch("strided_write");
  auto w = ramp<float>({2, 3}, 1, 0);
  write_safetensors(dir / "t.safetensors", {tensor_entry("wt", w.transpose(0, 1))});
  const auto f = SafetensorsFile::open(dir / "t.safetensors");
  auto r = f.get<float>("wt");
  CHECK(r.shape() == Shape{3, 2});
  CHECK(r.at({2, 0}) == w.at({0, 2}));
  CHECK(r.at({1, 1}) == w.at({1, 1}));
}

TEST_CASE("a file written by Python's safetensors reads with the expected values") {
  const auto path = pmc::test::source_dir() / "tests/golden/io/python_written.safetensors";
  const auto f = SafetensorsFile::open(path);
  CHECK(f.size() == 9);
  CHECK(f.metadata().at("source") == "tools/make_io_golden.py");
  auto f32 = f.get<float>("f32");
  CHECK(f32.shape() == Shape{3, 4});
  for (std::int64_t i = 0; i < 12; ++i) CHECK(f32[i] == i * 0.5f - 1.f);
  CHECK(f.mapping()->contains(f32.data()));
  auto f64 = f.get<double>("f64");
  for (std::int64_t i = 0; i < 6; ++i) CHECK(f64[i] == i * 0.25 + 1e-9);
  auto b = f.get<bf16>("bf16");
  for (std::int64_t i = 0; i < 8; ++i) CHECK(float(b[i]) == (i - 4) * 0.5f);
  auto h = f.get<float>("f16");
  CHECK(h.shape() == Shape{2, 3});
  for (std::int64_t i = 0; i < 6; ++i) CHECK(h[i] == i * 0.125f);
  CHECK(f.get<std::int32_t>("i32").to_vector() == std::vector<std::int32_t>{-2, -1, 0, 1, 2});
  CHECK(f.get<std::int64_t>("i64").to_vector() ==
        std::vector<std::int64_t>{0, 10'000'000'000, 20'000'000'000, 30'000'000'000});
  CHECK(f.get<float>("scalar").shape().rank() == 0);
  CHECK(f.get<float>("scalar")[0] == 3.5f);
  CHECK(f.get<float>("empty").shape() == Shape{0, 3});
  auto third = f.get<bf16>("bf16_third");  // torch's float32 -> bf16 rounding agrees with pmc's
  for (std::int64_t i = 0; i < 4; ++i) CHECK(third[i].bits == bf16(1.f / 3.f).bits);
}

TEST_CASE("missing and truncated files are rejected, naming the file") {
  const auto dir = scratch("truncated");
  error_of([&] { SafetensorsFile::open(dir / "nope.safetensors"); }, {"nope.safetensors", "no such file"});
  write_safetensors(dir / "ok.safetensors",
                    {tensor_entry("a", ramp<float>({16}, 1, 0)), tensor_entry("b", ramp<bf16>({8}, 1, 0))});
  const auto good = read_bytes(dir / "ok.safetensors");
  std::uint64_t n = 0;
  std::memcpy(&n, good.data(), 8);
  const std::vector<std::size_t> cuts = {0, 3, 8, 9, 8 + n / 2, 8 + n - 1, 8 + n, 8 + n + 5, good.size() - 1};
  for (auto cut : cuts) {
    CAPTURE(cut);
    write_bytes(dir / "cut.safetensors", std::vector<char>(good.begin(), good.begin() + static_cast<long>(cut)));
    error_of([&] { SafetensorsFile::open(dir / "cut.safetensors"); }, {"cut.safetensors"});
  }
  write_bytes(dir / "cut.safetensors", std::vector<char>(good.begin(), good.end() - 4));
  error_of([&] { SafetensorsFile::open(dir / "cut.safetensors"); }, {"cut.safetensors", "'b'", "truncated"});
  write_bytes(dir / "cut.safetensors", std::vector<char>(good.begin(), good.begin() + 5));
  error_of([&] { SafetensorsFile::open(dir / "cut.safetensors"); }, {"cut.safetensors", "truncated"});

  auto longer = good;
  longer.push_back('\0');
  write_bytes(dir / "long.safetensors", longer);
  error_of([&] { SafetensorsFile::open(dir / "long.safetensors"); }, {"long.safetensors", "1 trailing bytes"});

  auto corrupt = good;
  const std::uint64_t huge = std::uint64_t(1) << 40;
  std::memcpy(corrupt.data(), &huge, 8);
  write_bytes(dir / "len.safetensors", corrupt);
  error_of([&] { SafetensorsFile::open(dir / "len.safetensors"); }, {"len.safetensors", "header length"});
  const std::uint64_t bigger = n + 4;  // within the file, but the JSON then swallows data bytes
  std::memcpy(corrupt.data(), &bigger, 8);
  write_bytes(dir / "len.safetensors", corrupt);
  error_of([&] { SafetensorsFile::open(dir / "len.safetensors"); }, {"len.safetensors"});
}

TEST_CASE("malformed headers are rejected, naming the file and the tensor") {
  const auto dir = scratch("malformed");
  auto open = [&](const std::string& name, const std::string& header, std::size_t data) {
    const auto p = raw_file(dir, name, header, data);
    return [p] { SafetensorsFile::open(p); };
  };
  // Well-formed reference: loads.
  CHECK_NOTHROW(open("good.st", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8)());
  // Trailing spaces (the format's padding) are allowed.
  CHECK_NOTHROW(open("pad.st", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}      )", 8)());

  error_of(open("json.st", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})", 8),
           {"json.st", "malformed header JSON"});
  error_of(open("brace.st", R"( {"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8), {"brace.st", "'{'"});
  error_of(open("array.st", R"({"a":[1,2]})", 0), {"array.st", "'a'", "malformed"});
  error_of(open("dtype.st", R"({"a":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}})", 2),
           {"dtype.st", "'a'", "unknown or unsupported dtype 'F8_E4M3'"});
  error_of(open("nodtype.st", R"({"a":{"shape":[2],"data_offsets":[0,8]}})", 8), {"nodtype.st", "'a'", "'dtype'"});
  error_of(open("negshape.st", R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8),
           {"negshape.st", "'a'", "non-negative"});
  error_of(open("size.st", R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
           {"size.st", "'a'", "size mismatch", "(3,)"});
  error_of(open("range.st", R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8),
           {"range.st", "'a'", "run past the data buffer"});
  error_of(open("backwards.st", R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", 8),
           {"backwards.st", "'a'"});
  error_of(open("overlap.st",
                R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                12),
           {"overlap.st", "'b'", "overlap", "'a'"});
  error_of(open("alias.st",
                R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                8),
           {"alias.st", "overlap"});
  error_of(open("hole.st", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12),
           {"hole.st", "'a'", "hole"});
  error_of(open("dup.st",
                R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                8),
           {"dup.st", "'a'", "twice"});
  error_of(open("meta.st", R"({"__metadata__":{"k":1},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4),
           {"meta.st", "__metadata__", "'k'"});
  error_of(open("rank.st", R"({"a":{"dtype":"F32","shape":[1,1,1,1,1,1,1],"data_offsets":[0,4]}})", 4),
           {"rank.st", "'a'", "rank 7"});
  error_of(open("overflow.st",
                R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,4]}})", 4),
           {"overflow.st", "'a'", "overflows"});
}

TEST_CASE("tensors stored unaligned by another writer are copied, not borrowed") {
  const auto dir = scratch("unaligned");
  // 1 BF16 (2 bytes) then 2 F32 at byte 2: legal safetensors, but the floats are not 4-byte aligned.
  const std::string header = R"({"h":{"dtype":"BF16","shape":[1],"data_offsets":[0,2]},)"
                             R"("w":{"dtype":"F32","shape":[2],"data_offsets":[2,10]}})";
  const std::uint64_t n = header.size();
  std::string bytes(reinterpret_cast<const char*>(&n), 8);
  bytes += header;
  const std::uint16_t one = bf16(1.f).bits;
  const float w[2] = {1.25f, -3.5f};
  bytes.append(reinterpret_cast<const char*>(&one), 2);
  bytes.append(reinterpret_cast<const char*>(w), 8);
  write_file_atomic(dir / "u.safetensors", bytes);
  const auto f = SafetensorsFile::open(dir / "u.safetensors");
  const auto t = f.get<float>("w");
  CHECK(t.to_vector() == std::vector<float>{1.25f, -3.5f});
  CHECK(reinterpret_cast<std::uintptr_t>(t.data()) % alignof(float) == 0);
  CHECK_FALSE(f.mapping()->contains(t.data()));
  CHECK(float(f.get<bf16>("h")[0]) == 1.f);
}

TEST_CASE("missing tensors and name checks") {
  const auto dir = scratch("names");
  write_safetensors(dir / "m.safetensors", {tensor_entry("model.layers.0.attn.weight", ramp<float>({2}, 1, 0)),
                                            tensor_entry("model.layers.1.attn.weight", ramp<float>({2}, 1, 0)),
                                            tensor_entry("lm_head.weight", ramp<float>({2}, 1, 0))});
  const auto f = SafetensorsFile::open(dir / "m.safetensors");
  const auto msg = error_of([&] { f.get<float>("model.layers.2.attn.weight"); },
                            {"m.safetensors", "'model.layers.2.attn.weight'", "'model.layers.0.attn.weight'"});
  CHECK(msg.find("3 tensors") != std::string::npos);
  error_of([&] { f.info("nope"); }, {"m.safetensors", "'nope'"});
  CHECK_NOTHROW(f.check_names({"model.layers.0.attn.weight", "model.layers.1.attn.weight", "lm_head.weight"}));
  error_of([&] { f.check_names({"model.layers.0.attn.weight", "model.layers.1.attn.weight", "model.norm.weight"}); },
           {"m.safetensors", "1 missing", "'model.norm.weight'", "1 unexpected", "'lm_head.weight'"});
}

TEST_CASE("the writer refuses bad entries and leaves no partial file") {
  const auto dir = scratch("writer_errors");
  auto a = ramp<float>({2}, 1, 0);
  error_of([&] { write_safetensors(dir / "d.safetensors", {tensor_entry("a", a), tensor_entry("a", a)}); },
           {"d.safetensors", "'a'", "twice"});
  error_of([&] { write_safetensors(dir / "r.safetensors", {tensor_entry("__metadata__", a)}); },
           {"r.safetensors", "reserved"});
  TensorBytes bad = tensor_bytes(a);
  bad.shape = Shape{3};
  error_of([&] { write_safetensors(dir / "s.safetensors", {{"a", bad}}); }, {"s.safetensors", "'a'", "8 bytes"});
  error_of([&] { write_safetensors(dir / "no/such/dir/x.safetensors", {tensor_entry("a", a)}); },
           {"no/such/dir/x.safetensors", "cannot create"});
  CHECK(std::filesystem::is_empty(dir));

  // A write that fails midway (here: an exception while filling) leaves the previous file intact.
  write_safetensors(dir / "keep.safetensors", {tensor_entry("a", a)});
  const auto before = read_bytes(dir / "keep.safetensors");
  CHECK_THROWS_AS(write_file_atomic(dir / "keep.safetensors",
                                    [](AtomicFile& f) {
                                      f.write("partial");
                                      throw Error("disk on fire");
                                    }),
                  Error);
  CHECK(read_bytes(dir / "keep.safetensors") == before);
  CHECK(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator()) == 1);
}

}  // namespace safetensors_test

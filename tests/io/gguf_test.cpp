// SPDX-License-Identifier: MIT
// io::GgufFile against the golden files of tools/make_golden_gguf.py (written by llama.cpp's gguf package):
// metadata of every type, tensor infos, F32/F16/BF16 exactly, Q8_0/Q4_0/Q4_1 bit-exact against
// gguf.quants.dequantize, and damaged files refused with errors naming the file and the problem.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include <pmc/io/gguf.hpp>
#include <pmc/io/safetensors.hpp>

#include "io_test_util.hpp"

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace gguf_test {

namespace fs = std::filesystem;
using namespace pmc;
using pmc::test::io::error_of;
using pmc::test::io::read_bytes;
using pmc::test::io::scratch;
using pmc::test::io::write_bytes;

namespace {

fs::path golden(const std::string& name) { return test::source_dir() / "tests/golden/gguf" / name; }

const io::SafetensorsFile& expected() {
  static const auto f = io::SafetensorsFile::open(golden("expected.safetensors"));
  return f;
}

/// Number of elements of a and b whose bits differ (float compared as bits: -0 vs 0 and NaN payloads count).
template <class A>
std::int64_t bit_mismatches(const Tensor<A>& a, const Tensor<float>& b) {
  REQUIRE(a.shape() == b.shape());
  const auto ac = a.contiguous();
  const auto bc = b.contiguous();
  std::int64_t bad = 0;
  for (std::int64_t i = 0; i < a.numel(); ++i) {
    const float x = static_cast<float>(ac.data()[i]);
    const float y = bc.data()[i];
    if (std::memcmp(&x, &y, sizeof x) != 0) ++bad;
  }
  return bad;
}

template <class T>
Tensor<float> rounded(const Tensor<float>& src) {
  Tensor<float> out(src.shape());
  const auto c = src.contiguous();
  for (std::int64_t i = 0; i < src.numel(); ++i) out.data()[i] = static_cast<float>(T(c.data()[i]));
  return out;
}

/// The byte offset in `path` of the first occurrence of `needle`.
std::size_t find_bytes(const std::vector<char>& bytes, const std::string& needle) {
  auto it = std::search(bytes.begin(), bytes.end(), needle.begin(), needle.end());
  REQUIRE(it != bytes.end());
  return static_cast<std::size_t>(it - bytes.begin());
}

/// The byte offset of a tensor info's n_dims, just after its length-prefixed name.
std::size_t tensor_info_at(const std::vector<char>& bytes, const std::string& name) {
  std::string key(8, '\0');
  const std::uint64_t n = name.size();
  std::memcpy(key.data(), &n, 8);
  return find_bytes(bytes, key + name) + 8 + name.size();
}

template <class S>
void poke(std::vector<char>& bytes, std::size_t at, S v) {
  REQUIRE(at + sizeof v <= bytes.size());
  std::memcpy(bytes.data() + at, &v, sizeof v);
}

const std::vector<std::string> kKinds = {"f32", "f16", "bf16", "q8_0", "q4_0"};

}  // namespace

TEST_CASE("gguf: llama metadata as convert_hf_to_gguf writes it") {
  for (const auto& kind : kKinds) {
    const auto f = io::GgufFile::open(golden("gqa32_" + kind + ".gguf"));
    INFO(kind);
    CHECK(f.version() == 3);
    CHECK(f.alignment() == 32);
    CHECK(f.get_string("general.architecture") == "llama");
    CHECK(f.get_uint("llama.block_count") == 2);
    CHECK(f.get_uint("llama.context_length") == 64);
    CHECK(f.get_uint("llama.embedding_length") == 32);
    CHECK(f.get_uint("llama.feed_forward_length") == 64);
    CHECK(f.get_uint("llama.attention.head_count") == 4);
    CHECK(f.get_uint("llama.attention.head_count_kv") == 2);
    CHECK(f.get_uint("llama.rope.dimension_count") == 8);
    CHECK(f.get_uint("llama.vocab_size") == 64);
    CHECK(f.get_float("llama.rope.freq_base") == 10000.0);
    CHECK(f.get_float("llama.attention.layer_norm_rms_epsilon") == static_cast<double>(1e-5f));
    const auto tokens = f.get_strings("tokenizer.ggml.tokens");
    REQUIRE(tokens.size() == 64);
    CHECK(tokens[1] == "<s>");
    CHECK(tokens[63] == "tok63");
    const auto& scores = f.metadata("tokenizer.ggml.scores");
    CHECK(scores.array_type() == io::GgufType::float32);
    CHECK(scores.at(5, "scores").as_float("scores[5]") == -5.0);
    CHECK(f.metadata("tokenizer.ggml.token_type").at(0, "t").as_int("t") == 2);
    CHECK(f.get_uint("tokenizer.ggml.eos_token_id") == 2);
    CHECK(f.size() == 2 + 2 * 9 + 1);
    CHECK(f.names().front() == "token_embd.weight");
    // shapes: ne reversed (token_embd has ne = [hidden, vocab], attn_k ne = [hidden, kv·head_dim])
    CHECK(f.info("token_embd.weight").shape == Shape{64, 32});
    CHECK(f.info("token_embd.weight").ne == std::vector<std::uint64_t>{32, 64});
    CHECK(f.info("blk.1.attn_k.weight").shape == Shape{16, 32});
    CHECK(f.info("blk.0.ffn_down.weight").shape == Shape{32, 64});
    CHECK(f.info("blk.0.attn_norm.weight").type_name() == "F32");  // 1-D tensors stay F32
    const std::string want_type = kind == "f32" ? "F32" : kind == "f16" ? "F16" : kind == "bf16" ? "BF16"
                                  : kind == "q8_0" ? "Q8_0" : "Q4_0";
    CHECK(f.info("blk.0.attn_q.weight").type_name() == want_type);
    CHECK(f.info("output.weight").type_name() == want_type);
  }
}

TEST_CASE("gguf: metadata of every type, arrays of arrays, general.alignment") {
  const auto f = io::GgufFile::open(golden("types.gguf"));
  CHECK(f.alignment() == 64);
  CHECK(f.data_offset() % 64 == 0);
  CHECK(f.get_uint("test.u8") == 200);
  CHECK(f.get_int("test.i8") == -100);
  CHECK(f.get_uint("test.u16") == 60000);
  CHECK(f.get_int("test.i16") == -30000);
  CHECK(f.get_uint("test.u32") == 4000000000u);
  CHECK(f.get_int("test.i32") == -2000000000);
  CHECK(f.get_float("test.f32") == 0.25);
  CHECK(f.get_bool("test.bool"));
  CHECK(f.get_string("test.string") == "h\xc3\xa9llo");
  CHECK(f.get_string("test.empty_string").empty());
  CHECK(f.get_uint("test.u64") == 18000000000000000000ull);
  CHECK(f.get_int("test.i64") == -9000000000000000000ll);
  CHECK(f.get_float("test.f64") == -1.5e300);
  const auto& a = f.metadata("test.array_i32");
  REQUIRE(a.size() == 3);
  CHECK(a.at(1, "x").as_int("x") == -2);
  CHECK(f.metadata("test.array_u8").at(2, "x").as_uint("x") == 255);
  CHECK(f.metadata("test.array_f64").at(1, "x").as_float("x") == -2.0);
  CHECK(!f.metadata("test.array_bool").at(1, "x").as_bool("x"));
  CHECK(f.get_strings("test.array_string") == std::vector<std::string>{"a", "bc", ""});
  const auto& nested = f.metadata("test.array_array");
  REQUIRE(nested.size() == 2);
  CHECK(nested.at(0, "x").size() == 2);
  CHECK(nested.at(0, "x").at(1, "y").as_int("y") == 2);
  CHECK(nested.at(1, "x").at(0, "y").as_int("y") == 3);
  CHECK(f.keys().front() == "general.architecture");

  // typed getters: clear errors naming the file and the key
  const std::string file = golden("types.gguf").string();
  error_of([&] { (void)f.get_uint("test.string"); }, {file, "metadata 'test.string'", "a string, not an integer"});
  error_of([&] { (void)f.get_uint("test.i8"); }, {file, "'test.i8'", "negative"});
  error_of([&] { (void)f.get_int("test.u64"); }, {file, "'test.u64'", "does not fit"});
  error_of([&] { (void)f.get_string("test.u8"); }, {file, "'test.u8'", "not a string"});
  error_of([&] { (void)f.get_float("test.bool"); }, {file, "'test.bool'", "not a floating-point"});
  error_of([&] { (void)f.get_strings("test.array_i32"); }, {file, "'test.array_i32'", "not an array of strings"});
  error_of([&] { (void)f.metadata("llama.nothing"); }, {file, "no metadata key 'llama.nothing'"});

  // tensors: F32 exactly, F16 its rounding, Q8_0 and Q4_1 bit-exact against gguf.quants.dequantize
  const auto want_a = expected().get<float>("types.a");
  CHECK(f.info("a").shape == Shape{2, 32});
  CHECK(bit_mismatches(f.get<float>("a"), want_a) == 0);
  CHECK(bit_mismatches(f.get<float>("b"), rounded<f16>(want_a)) == 0);
  CHECK(bit_mismatches(f.get<float>("c"), expected().get<float>("types.c")) == 0);
  CHECK(bit_mismatches(f.get<float>("d"), expected().get<float>("types.d")) == 0);
  CHECK(f.get<double>("a")[5] == static_cast<double>(want_a[5]));
  error_of([&] { (void)f.info("e"); }, {file, "no tensor named 'e'", "'a'"});
}

TEST_CASE("gguf: every tensor of every golden file equals the source or gguf's dequantization") {
  for (const auto& kind : kKinds) {
    const auto f = io::GgufFile::open(golden("gqa32_" + kind + ".gguf"));
    for (const auto& name : f.names()) {
      INFO(kind, " ", name);
      const auto src = expected().get<float>("src." + name);
      const auto got = f.get<float>(name);
      REQUIRE(got.shape() == src.shape());
      const bool one_d = src.shape().rank() == 1;
      if (kind == "f32" || one_d) {
        CHECK(bit_mismatches(got, src) == 0);
      } else if (kind == "f16") {
        CHECK(bit_mismatches(got, rounded<f16>(src)) == 0);
      } else if (kind == "bf16") {
        CHECK(bit_mismatches(got, rounded<bf16>(src)) == 0);
        CHECK(bit_mismatches(f.get<bf16>(name), rounded<bf16>(src)) == 0);
      } else {
        CHECK(bit_mismatches(got, expected().get<float>(kind + "." + name)) == 0);
        // bf16 from the dequantized float, rounded once
        CHECK(bit_mismatches(f.get<bf16>(name), rounded<bf16>(expected().get<float>(kind + "." + name))) == 0);
      }
    }
    if (kind == "q8_0" || kind == "q4_0") {  // the blocks as gguf.quants.quantize wrote them
      const auto raw = f.raw("blk.0.attn_q.weight");
      const auto want = expected().get<std::uint8_t>("raw." + kind + ".blk.0.attn_q.weight");
      REQUIRE(static_cast<std::int64_t>(raw.size()) == want.numel());
      CHECK(std::memcmp(raw.data(), want.data(), raw.size()) == 0);
      CHECK(raw.size() == (kind == "q8_0" ? 32u * 34 : 32u * 18));  // 32 rows of one block
    }
  }
  // F32 is borrowed from the mapping, not copied
  const auto f = io::GgufFile::open(golden("gqa32_f32.gguf"));
  const auto w = f.get<float>("output.weight");
  CHECK(f.mapping()->contains(w.data(), static_cast<std::size_t>(w.numel()) * 4));
}

TEST_CASE("gguf: version 2 reads like version 3") {
  auto bytes = read_bytes(golden("gqa32_q8_0.gguf"));
  poke<std::uint32_t>(bytes, 4, 2);
  const auto path = scratch("gguf_v2") / "v2.gguf";
  write_bytes(path, bytes);
  const auto f = io::GgufFile::open(path);
  CHECK(f.version() == 2);
  CHECK(bit_mismatches(f.get<float>("blk.1.ffn_up.weight"), expected().get<float>("q8_0.blk.1.ffn_up.weight")) == 0);
}

TEST_CASE("gguf: damaged files are refused with errors naming the file and the problem") {
  const auto dir = scratch("gguf_bad");
  const auto good = read_bytes(golden("gqa32_q4_0.gguf"));
  auto attempt = [&](const std::vector<char>& bytes, std::initializer_list<std::string> fragments) {
    const auto path = dir / "bad.gguf";
    write_bytes(path, bytes);
    auto frags = std::vector<std::string>(fragments);
    const auto msg = error_of([&] { (void)io::GgufFile::open(path); }, {});
    CHECK_MESSAGE(msg.find(path.string()) != std::string::npos, msg);
    for (const auto& fr : frags) CHECK_MESSAGE(msg.find(fr) != std::string::npos, "'", fr, "' not in: ", msg);
    return msg;
  };

  SUBCASE("truncated at every region") {
    const auto f = io::GgufFile::open(golden("gqa32_q4_0.gguf"));
    const std::size_t infos = find_bytes(good, "token_embd.weight");
    for (std::size_t n : {std::size_t{0}, std::size_t{3}, std::size_t{6}, std::size_t{20}, std::size_t{30},
                          std::size_t{100}, std::size_t{1000}, infos + 5, infos + 40,
                          static_cast<std::size_t>(f.data_offset()) - 1, static_cast<std::size_t>(f.data_offset()) + 10,
                          good.size() - 1}) {
      INFO("truncated to ", n, " bytes");
      const auto msg = attempt(std::vector<char>(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n)), {});
      CHECK_MESSAGE((msg.find("truncated") != std::string::npos || msg.find("not a GGUF file") != std::string::npos),
                    msg);
    }
  }
  SUBCASE("bad magic") {
    auto b = good;
    b[0] = 'X';
    attempt(b, {"not a GGUF file"});
  }
  SUBCASE("unsupported versions") {
    auto b = good;
    poke<std::uint32_t>(b, 4, 1);
    attempt(b, {"version 1 is not supported"});
    poke<std::uint32_t>(b, 4, 0x03000000u);
    attempt(b, {"big-endian"});
    poke<std::uint32_t>(b, 4, 7);
    attempt(b, {"unsupported GGUF version 7"});
  }
  SUBCASE("absurd counts and lengths") {
    auto b = good;
    poke<std::uint64_t>(b, 8, std::uint64_t{1} << 60);
    attempt(b, {"tensors cannot fit"});
    b = good;
    poke<std::uint64_t>(b, 16, ~std::uint64_t{0});
    attempt(b, {"metadata entries cannot fit"});
    b = good;
    poke<std::uint64_t>(b, 24, std::uint64_t{1} << 62);  // the first key's length
    attempt(b, {"has length", "remain"});
    b = good;  // the token array's length
    const std::size_t tok = find_bytes(b, "tokenizer.ggml.tokens") + 21 + 4;  // after the key and type 9
    poke<std::uint32_t>(b, tok, 8);
    poke<std::uint64_t>(b, tok + 4, std::uint64_t{1} << 61);
    attempt(b, {"'tokenizer.ggml.tokens'", "claims 2305843009213693952 elements"});
  }
  SUBCASE("a tensor offset past the end") {
    auto b = good;
    const std::size_t at = tensor_info_at(b, "output.weight");  // n_dims, 2 dims, type, offset
    REQUIRE(static_cast<unsigned char>(b[at]) == 2);
    poke<std::uint64_t>(b, at + 4 + 16 + 4, std::uint64_t{1} << 40);
    attempt(b, {"tensor 'output.weight'", "runs past the end of the data section"});
    poke<std::uint64_t>(b, at + 4 + 16 + 4, 3);
    attempt(b, {"tensor 'output.weight'", "offset 3 is not a multiple of the alignment 32"});
  }
  SUBCASE("dims whose product overflows") {
    auto b = good;
    const std::size_t at = tensor_info_at(b, "output.weight");
    poke<std::uint64_t>(b, at + 4, std::uint64_t{1} << 32);
    poke<std::uint64_t>(b, at + 12, std::uint64_t{1} << 32);
    attempt(b, {"tensor 'output.weight'", "overflow"});
    poke<std::uint64_t>(b, at + 4, ~std::uint64_t{0});
    attempt(b, {"tensor 'output.weight'", "overflow"});
    poke<std::uint32_t>(b, at, 5);
    attempt(b, {"tensor 'output.weight'", "5 dimensions"});
    // found by the fuzzer (session 11): ne = [0, 2^40, 2^40] multiplies to 0, but the Shape {2^40, 2^40, 0}
    // multiplied 2^40 · 2^40 first (signed overflow in Shape::numel)
    b = good;
    b.insert(b.begin() + static_cast<std::ptrdiff_t>(at + 4 + 16), 8, '\0');  // a third dimension
    poke<std::uint32_t>(b, at, 3);
    poke<std::uint64_t>(b, at + 4, 0);
    poke<std::uint64_t>(b, at + 12, std::uint64_t{1} << 40);
    poke<std::uint64_t>(b, at + 20, std::uint64_t{1} << 40);
    attempt(b, {"tensor 'output.weight'", "overflow (a product of them exceeds"});
  }
  SUBCASE("an unknown tensor type, and a known one pmc does not dequantize") {
    auto b = good;
    const std::size_t at = tensor_info_at(b, "output.weight");
    poke<std::uint32_t>(b, at + 4 + 16, 77);
    attempt(b, {"tensor 'output.weight'", "unknown tensor type 77"});
    // Q4_1 has the same block size but 20 bytes: a Q4_K (256 elements) row of 32 is not a whole block
    poke<std::uint32_t>(b, at + 4 + 16, 12);
    attempt(b, {"tensor 'output.weight'", "not a whole number of Q4_K blocks"});
    // Q4_0 → IQ4_NL: same block layout size (18 bytes / 32), so the file opens but get<> refuses
    poke<std::uint32_t>(b, at + 4 + 16, 20);
    const auto path = dir / "iq4.gguf";
    write_bytes(path, b);
    const auto f = io::GgufFile::open(path);
    error_of([&] { (void)f.get<float>("output.weight"); }, {path.string(), "tensor 'output.weight'", "IQ4_NL",
                                                             "does not read"});
  }
  SUBCASE("bad metadata: unknown value type, a bool not 0/1, a duplicate key, a bad alignment") {
    auto b = good;
    const std::size_t arch = find_bytes(b, "general.architecture") + 20;  // its type
    poke<std::uint32_t>(b, arch, 13);
    attempt(b, {"metadata 'general.architecture'", "unknown value type 13"});
    auto t = read_bytes(golden("types.gguf"));
    const std::size_t bo = find_bytes(t, "test.bool") + 9 + 4;
    t[bo] = 2;
    attempt(t, {"metadata 'test.bool'", "neither 0 nor 1"});
    t = read_bytes(golden("types.gguf"));
    const std::size_t u8 = find_bytes(t, "test.u8");
    std::memcpy(t.data() + u8, "test.i8", 7);
    attempt(t, {"metadata 'test.i8' appears twice"});
    t = read_bytes(golden("types.gguf"));
    poke<std::uint32_t>(t, find_bytes(t, "general.alignment") + 17 + 4, 48);
    attempt(t, {"'general.alignment' = 48 is not a power of two"});
  }
  SUBCASE("a duplicate tensor name") {
    auto t = read_bytes(golden("types.gguf"));
    // the tensor names "a", "b": each a u64 length 1 then the letter, after the metadata
    const std::size_t at = find_bytes(t, std::string("\x01\0\0\0\0\0\0\0b", 9)) + 8;
    t[at] = 'a';
    attempt(t, {"tensor 'a' appears twice"});
  }
  SUBCASE("missing files") {
    error_of([&] { (void)io::GgufFile::open(dir / "none.gguf"); }, {"none.gguf", "no such file"});
  }
}

}  // namespace gguf_test

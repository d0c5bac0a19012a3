// SPDX-License-Identifier: MIT
// Tests of the ModelProto reader/writer: round trips, and clear errors for truncated or corrupt files.
#include <doctest/doctest.h>

#include <random>
#include <string>

#include <pmc/tokenizer/bpe.hpp>
#include <pmc/tokenizer/sentencepiece_model.hpp>

#include "support/paths.hpp"
#include "synthetic_model.hpp"
#include "tokenizer_test_support.hpp"

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace sentencepiece_model_test {

using namespace pmc::tokenizer;

namespace {

std::string message_of(auto&& fn) {
  try {
    fn();
  } catch (const pmc::Error& e) {
    return e.what();
  }
  return {};
}

void check_same(const ModelProto& a, const ModelProto& b) {
  REQUIRE(a.pieces.size() == b.pieces.size());
  for (size_t i = 0; i < a.pieces.size(); ++i) {
    CHECK(a.pieces[i].piece == b.pieces[i].piece);
    CHECK(a.pieces[i].score == b.pieces[i].score);
    CHECK(a.pieces[i].type == b.pieces[i].type);
  }
  REQUIRE(a.trainer_spec.has_value() == b.trainer_spec.has_value());
  if (a.trainer_spec) {
    CHECK(a.trainer_spec->model_type == b.trainer_spec->model_type);
    CHECK(a.trainer_spec->vocab_size == b.trainer_spec->vocab_size);
    CHECK(a.trainer_spec->byte_fallback == b.trainer_spec->byte_fallback);
    CHECK(a.trainer_spec->pad_id == b.trainer_spec->pad_id);
    CHECK(a.trainer_spec->unk_surface == b.trainer_spec->unk_surface);
    CHECK(a.trainer_spec->unknown_fields == b.trainer_spec->unknown_fields);
  }
  REQUIRE(a.normalizer_spec.has_value() == b.normalizer_spec.has_value());
  if (a.normalizer_spec) {
    CHECK(a.normalizer_spec->name == b.normalizer_spec->name);
    CHECK(a.normalizer_spec->add_dummy_prefix == b.normalizer_spec->add_dummy_prefix);
    CHECK(a.normalizer_spec->remove_extra_whitespaces == b.normalizer_spec->remove_extra_whitespaces);
    CHECK(a.normalizer_spec->precompiled_charsmap == b.normalizer_spec->precompiled_charsmap);
  }
}

}  // namespace

TEST_CASE("model proto: a synthetic model survives serialize -> parse, negative ids included") {
  ModelProto m = pmc::test::synthetic_model({"\xE2\x96\x81t", "he", "\xE2\x96\x81the"});
  m.trainer_spec->pad_id = -1;
  m.trainer_spec->unknown_fields = std::string("\xA8\x06\x01", 3);  // field 101 (varint) = 1, kept verbatim
  const std::string bytes = serialize_model_proto(m);
  const ModelProto back = parse_model_proto(bytes, "synthetic.model");
  check_same(m, back);
  CHECK(serialize_model_proto(back) == bytes);
  const auto tok = BpeTokenizer::from_serialized(bytes);
  CHECK(tok.vocab_size() == 3 + 256 + 3);
  CHECK(tok.pad_id() == -1);
}

TEST_CASE("model proto: LLaMA's and stories260K's models parse, and re-serialize to an equivalent model") {
  for (const char* rel : {"data/tokenizer/llama/tokenizer.model", "data/models/stories260K/tok512.model"}) {
    const auto path = pmc::test::shared_file(rel);
    if (path.empty()) PMC_SKIP(std::string("../shared/") + rel + " absent");
    const ModelProto m = load_model_proto(path);
    const ModelProto back = parse_model_proto(serialize_model_proto(m), "re-serialized");
    check_same(m, back);
    REQUIRE(m.trainer_spec.has_value());
    CHECK(m.trainer_spec->model_type == ModelType::kBpe);
    CHECK(m.trainer_spec->byte_fallback);
    CHECK(m.normalizer_spec->name == "identity");
  }
  const auto llama = pmc::test::shared_file("data/tokenizer/llama/tokenizer.model");
  const auto tok = BpeTokenizer::load(llama);
  CHECK(tok.vocab_size() == 32000);
  CHECK(tok.unk_id() == 0);
  CHECK(tok.bos_id() == 1);
  CHECK(tok.eos_id() == 2);
  CHECK(tok.pad_id() == -1);
  CHECK(tok.id_to_piece(29871) == "\xE2\x96\x81");
  CHECK(tok.piece_to_id("<0x0A>") == 13);
  CHECK(tok.piece_to_id("no such piece") == 0);
  CHECK(tok.type(3) == PieceType::kByte);
  CHECK_THROWS_AS(tok.id_to_piece(32000), pmc::Error);
}

TEST_CASE("model proto: every truncation of a .model file is a pmc::Error naming the file") {
  std::string bytes;
  std::string name;
  if (const auto p = pmc::test::shared_file("data/models/stories260K/tok512.model"); !p.empty()) {
    bytes = read_binary_file(p);
    name = p.string();
  } else {
    bytes = serialize_model_proto(pmc::test::synthetic_model({"ab", "cd", "abcd"}));
    name = "synthetic.model";
  }
  for (size_t n = 0; n < bytes.size(); ++n) {
    const std::string msg = message_of([&] { BpeTokenizer::from_serialized(std::string_view(bytes).substr(0, n), name); });
    INFO("truncated to ", n, " of ", bytes.size(), " bytes");
    REQUIRE(!msg.empty());
    CHECK(msg.find(name) != std::string::npos);
  }
  // Through the file API: the message names the path and says what is wrong.
  const auto path = pmc::test::tmp_dir() / "truncated.model";
  {
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  }
  const std::string msg = message_of([&] { BpeTokenizer::load(path); });
  CHECK(msg.find(path.string()) != std::string::npos);
  CHECK((msg.find("truncated") != std::string::npos || msg.find("corrupt") != std::string::npos));
  MESSAGE("error for a half file: ", msg);
  CHECK(message_of([&] { BpeTokenizer::load(pmc::test::tmp_dir() / "does-not-exist.model"); }).find("cannot open") !=
        std::string::npos);
}

TEST_CASE("model proto: random corruption either loads or is a pmc::Error, never a crash") {
  std::string bytes = serialize_model_proto(pmc::test::synthetic_model({"ab", "cd", "abcd", "\xE2\x96\x81" "ab"}));
  if (const auto p = pmc::test::shared_file("data/models/stories260K/tok512.model"); !p.empty())
    bytes = read_binary_file(p);
  std::mt19937_64 rng(7);
  int errors = 0, loaded = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::string b = bytes;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) b[rng() % b.size()] = static_cast<char>(rng() & 0xFF);
    try {
      const auto tok = BpeTokenizer::from_serialized(b, "fuzzed.model");
      const auto ids = tok.encode("Hello world \xF0\x9F\x98\x80 \xFF", true, true);
      (void)tok.decode(ids);
      ++loaded;
    } catch (const pmc::Error&) {
      ++errors;
    }
  }
  MESSAGE(loaded, " corrupted files still loaded, ", errors, " were rejected");
  CHECK(errors > 0);
}

TEST_CASE("model proto: invalid models are rejected with a reason") {
  auto msg_for = [](ModelProto m) {
    return message_of([&] { BpeTokenizer::from_serialized(serialize_model_proto(m), "bad.model"); });
  };
  CHECK(message_of([] { parse_model_proto("", "empty.model"); }).find("empty") != std::string::npos);
  CHECK(message_of([] { parse_model_proto("\x0A\xFF", "x.model"); }).find("truncated") != std::string::npos);
  CHECK(message_of([] { parse_model_proto("\x0B", "x.model"); }).find("wire type") != std::string::npos);
  {
    auto m = pmc::test::synthetic_model({"ab"});
    m.pieces[0].type = PieceType::kNormal;  // no <unk>
    CHECK(msg_for(m).find("no <unk>") != std::string::npos);
  }
  {
    auto m = pmc::test::synthetic_model({"ab", "ab"});
    CHECK(msg_for(m).find("defined twice") != std::string::npos);
  }
  {
    auto m = pmc::test::synthetic_model({"ab"});
    m.trainer_spec->byte_fallback = false;
    CHECK(msg_for(m).find("byte_fallback is false") != std::string::npos);
  }
  {
    auto m = pmc::test::synthetic_model({"ab"});
    m.pieces.erase(m.pieces.begin() + 10);
    CHECK(msg_for(m).find("256 byte pieces") != std::string::npos);
  }
  {
    auto m = pmc::test::synthetic_model({"ab"});
    m.trainer_spec->model_type = ModelType::kUnigram;
    CHECK(msg_for(m).find("only BPE") != std::string::npos);
  }
  {
    auto m = pmc::test::synthetic_model({"ab"});
    m.pieces[5].piece = "";
    CHECK(msg_for(m).find("empty") != std::string::npos);
  }
  {
    auto m = pmc::test::synthetic_model({"ab"});
    m.normalizer_spec->precompiled_charsmap = std::string("\xFF\xFF\x00\x00xyz", 7);
    CHECK(msg_for(m).find("precompiled_charsmap") != std::string::npos);
  }
}

}  // namespace sentencepiece_model_test

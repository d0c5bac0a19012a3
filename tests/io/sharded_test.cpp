// SPDX-License-Identifier: MIT
// Tests of sharded Hugging Face checkpoints: writing with a shard size limit, and reading across shards.
#include <doctest/doctest.h>

#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include <pmc/io/safetensors.hpp>

#include "io/io_test_util.hpp"

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace sharded_test {

using namespace pmc;
using namespace pmc::io;
using pmc::test::io::error_of;
using pmc::test::io::scratch;

namespace {

Tensor<float> filled(const Shape& s, float v) {
  Tensor<float> t(s);
  t.fill(v);
  return t;
}

nlohmann::json read_json(const std::filesystem::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

}  // namespace

TEST_CASE("sharded write and read") {
  const auto dir = scratch("sharded_write_read");
  // 5 tensors of 64 bytes + one of 256 (larger than the 150-byte limit: a shard of its own).
  std::vector<SafetensorsEntry> entries;
  for (int i = 0; i < 5; ++i)
    entries.push_back(tensor_entry("model.layers." + std::to_string(i) + ".w", filled({16}, float(i))));
  entries.push_back(tensor_entry("lm_head.weight", filled({8, 8}, -1.f)));
  entries.push_back(tensor_entry("model.norm.weight", Tensor<bf16>::from({2}, {bf16(1.f), bf16(2.f)})));
  const auto files = write_safetensors_sharded(dir, entries, 150, {{"note", "sharded"}});

  // Sorted by name: lm_head (256) | layers.0, layers.1 (128) | layers.2, layers.3 (128) | layers.4, norm (68).
  REQUIRE(files.size() == 5);
  CHECK(files[0].filename() == "model-00001-of-00004.safetensors");
  CHECK(files[3].filename() == "model-00004-of-00004.safetensors");
  CHECK(files[4].filename() == kSafetensorsIndexFile);
  CHECK_FALSE(std::filesystem::exists(dir / kSafetensorsSingleFile));
  const auto index = read_json(dir / kSafetensorsIndexFile);
  CHECK(index["metadata"]["total_size"] == 5 * 64 + 256 + 4);
  CHECK(index["weight_map"]["lm_head.weight"] == "model-00001-of-00004.safetensors");
  CHECK(index["weight_map"]["model.layers.1.w"] == "model-00002-of-00004.safetensors");
  CHECK(index["weight_map"]["model.norm.weight"] == "model-00004-of-00004.safetensors");

  const auto ckpt = SafetensorsCheckpoint::open(dir);
  CHECK(ckpt.num_files() == 4);
  CHECK(ckpt.names().size() == 7);
  CHECK(ckpt.metadata()["total_size"] == 580);
  CHECK(ckpt.get<float>("model.layers.3.w")[15] == 3.f);
  CHECK(ckpt.get<float>("lm_head.weight").at({7, 7}) == -1.f);
  CHECK(ckpt.get<float>("model.norm.weight")[1] == 2.f);  // bf16 -> float across a shard
  CHECK(ckpt.info("model.norm.weight").dtype == DType::bf16);
  CHECK(ckpt.file_of("model.layers.4.w").metadata().at("note") == "sharded");
  auto zc = ckpt.get<float>("model.layers.0.w");
  CHECK(ckpt.file_of("model.layers.0.w").mapping()->contains(zc.data()));
  Tensor<float> dst({16});
  ckpt.get_into("model.layers.2.w", dst);
  CHECK(dst[0] == 2.f);
  error_of([&] { ckpt.get_into("model.layers.2.w", Tensor<float>({4, 4})); },
           {"model-00003-of-00004.safetensors", "'model.layers.2.w'", "(16,)", "(4, 4)"});
  error_of([&] { ckpt.get<float>("model.layers.9.w"); }, {kSafetensorsIndexFile, "'model.layers.9.w'"});
  std::set<std::string> expected;
  for (const auto& e : entries) expected.insert(e.name);
  CHECK_NOTHROW(ckpt.check_names(expected));
  expected.erase("lm_head.weight");
  expected.insert("model.embed_tokens.weight");
  error_of([&] { ckpt.check_names(expected); },
           {kSafetensorsIndexFile, "missing", "'model.embed_tokens.weight'", "unexpected", "'lm_head.weight'"});

  // Saving again as one file removes the shards and the index, which would otherwise shadow it.
  const auto single = write_safetensors_sharded(dir, entries, 1 << 20);
  REQUIRE(single.size() == 1);
  CHECK(single[0].filename() == kSafetensorsSingleFile);
  CHECK(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator()) == 1);
  const auto one = SafetensorsCheckpoint::open(dir);
  CHECK(one.num_files() == 1);
  CHECK(one.get<float>("model.layers.4.w")[0] == 4.f);
  CHECK(one.metadata()["format"] == "pt");
  // A single file opens directly too.
  CHECK(SafetensorsCheckpoint::open(dir / kSafetensorsSingleFile).names().size() == 7);

  // And sharding again removes the single file (left sharded for tools/make_io_golden.py --check-pmc).
  CHECK(write_safetensors_sharded(dir, entries, 150).size() == 5);
  CHECK_FALSE(std::filesystem::exists(dir / kSafetensorsSingleFile));
  CHECK(SafetensorsCheckpoint::open(dir).num_files() == 4);
}

TEST_CASE("a checkpoint sharded by huggingface_hub reads") {
  const auto dir = pmc::test::source_dir() / "tests/golden/io/hf_sharded";
  const auto ckpt = SafetensorsCheckpoint::open(dir);
  CHECK(ckpt.num_files() == 2);
  CHECK(ckpt.names() == std::vector<std::string>{"lm_head.weight", "model.embed_tokens.weight", "model.norm.weight"});
  auto emb = ckpt.get<float>("model.embed_tokens.weight");
  CHECK(emb.shape() == Shape{8, 4});
  for (std::int64_t i = 0; i < 32; ++i) CHECK(emb[i] == float(i));
  auto head = ckpt.get<float>("lm_head.weight");
  CHECK(head.at({7, 3}) == -31.f);
  CHECK(ckpt.get<float>("model.norm.weight").to_vector() == std::vector<float>{1, 1, 1, 1});
  CHECK(ckpt.file_of("lm_head.weight").path().filename() == "model-00002-of-00002.safetensors");
}

TEST_CASE("broken checkpoint folders are rejected, naming the file") {
  const auto dir = scratch("sharded_errors");
  error_of([&] { SafetensorsCheckpoint::open(dir); }, {"sharded_errors", kSafetensorsIndexFile, kSafetensorsSingleFile});

  std::vector<SafetensorsEntry> entries = {tensor_entry("a", filled({64}, 1)), tensor_entry("b", filled({64}, 2))};
  write_safetensors_sharded(dir, entries, 256);
  const auto index_path = dir / kSafetensorsIndexFile;
  auto index = read_json(index_path);

  auto rewrite = [&](const nlohmann::json& j) { write_file_atomic(index_path, j.dump()); };
  auto broken = index;
  broken["weight_map"]["b"] = "model-00001-of-00002.safetensors";  // the wrong shard
  rewrite(broken);
  error_of([&] { SafetensorsCheckpoint::open(dir); },
           {kSafetensorsIndexFile, "'b'", "model-00001-of-00002.safetensors", "does not hold it"});

  broken = index;
  broken["weight_map"]["c"] = "model-00009-of-00009.safetensors";  // a shard that is not there
  rewrite(broken);
  error_of([&] { SafetensorsCheckpoint::open(dir); }, {"model-00009-of-00009.safetensors", "no such file"});

  broken = index;
  broken["weight_map"]["c"] = "../escape.safetensors";
  rewrite(broken);
  error_of([&] { SafetensorsCheckpoint::open(dir); }, {kSafetensorsIndexFile, "../escape.safetensors"});

  broken = index;
  broken.erase("weight_map");
  rewrite(broken);
  error_of([&] { SafetensorsCheckpoint::open(dir); }, {kSafetensorsIndexFile, "weight_map"});

  write_file_atomic(index_path, "{\"weight_map\": {");
  error_of([&] { SafetensorsCheckpoint::open(dir); }, {kSafetensorsIndexFile, "malformed JSON"});

  // A shard truncated on disk: the error names the shard.
  rewrite(index);
  const auto shard = dir / "model-00002-of-00002.safetensors";
  std::filesystem::resize_file(shard, std::filesystem::file_size(shard) - 1);
  error_of([&] { SafetensorsCheckpoint::open(dir); }, {"model-00002-of-00002.safetensors", "truncated"});
}

}  // namespace sharded_test

// SPDX-License-Identifier: MIT
// Tests of HF LLaMA config.json reading and writing.
#include <doctest/doctest.h>

#include <string>

#include <nlohmann/json.hpp>

#include <pmc/io/hf_config.hpp>

#include "io/io_test_util.hpp"

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace hf_config_test {

using namespace pmc;
using namespace pmc::io;
using pmc::test::io::error_of;
using pmc::test::io::scratch;

namespace {

HfLlamaConfig tiny() {
  HfLlamaConfig c;
  c.hidden_size = 64;
  c.intermediate_size = 172;
  c.num_hidden_layers = 5;
  c.num_attention_heads = 8;
  c.num_key_value_heads = 4;
  c.vocab_size = 512;
  c.max_position_embeddings = 512;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 500000.0;
  c.tie_word_embeddings = true;
  c.torch_dtype = "bfloat16";
  return c;
}

nlohmann::json minimal() {
  return {{"hidden_size", 64}, {"intermediate_size", 172}, {"num_hidden_layers", 2},
          {"num_attention_heads", 8}, {"vocab_size", 100}, {"rms_norm_eps", 1e-6}};
}

}  // namespace

TEST_CASE("config.json round trip") {
  const auto dir = scratch("hf_config");
  const auto c = tiny();
  const auto file = write_hf_config(dir, c);
  CHECK(file == dir / "config.json");
  CHECK(read_hf_config(dir) == c);
  CHECK(read_hf_config(file) == c);
  const auto j = to_json(c);
  CHECK(j["architectures"] == nlohmann::json::array({"LlamaForCausalLM"}));
  CHECK(j["model_type"] == "llama");
  CHECK(j["hidden_act"] == "silu");
  CHECK(j["rope_scaling"].is_null());
  CHECK(j["head_dim"] == 8);
  CHECK(j["rope_parameters"]["rope_theta"] == 500000.0);
}

TEST_CASE("config.json written by transformers reads") {
  const auto c = read_hf_config(pmc::test::source_dir() / "tests/golden/io/hf_llama_config.json");
  CHECK(c.hidden_size == 64);
  CHECK(c.intermediate_size == 172);
  CHECK(c.num_hidden_layers == 5);
  CHECK(c.num_attention_heads == 8);
  CHECK(c.num_key_value_heads == 4);
  CHECK(c.vocab_size == 512);
  CHECK(c.max_position_embeddings == 512);
  CHECK(c.rms_norm_eps == 1e-5);
  CHECK(c.rope_theta == 10000.0);  // from transformers 5's rope_parameters
  CHECK(c.tie_word_embeddings);
  CHECK(c.bos_token_id == 1);
  CHECK(c.eos_token_ids == std::vector<int>{2});
  CHECK(c.head_dim() == 8);
}

TEST_CASE("head_dim: kept when it is not hidden_size / heads, dropped when it is, and written back") {
  auto j = minimal();
  j["head_dim"] = j["hidden_size"].get<int>() / j["num_attention_heads"].get<int>();  // the default spelled out
  CHECK(parse_hf_config(j).head_dim_explicit == 0);
  CHECK(parse_hf_config(j) == parse_hf_config(minimal()));
  j["head_dim"] = 6;
  const auto c = parse_hf_config(j);
  CHECK(c.head_dim_explicit == 6);
  CHECK(c.head_dim() == 6);
  CHECK(to_json(c)["head_dim"] == 6);
  CHECK(parse_hf_config(to_json(c)) == c);
}

TEST_CASE("rope scaling: both spellings, the context as llama3's default original length, written back") {
  auto j = minimal();
  j["rope_theta"] = 5e5;
  j["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};  // transformers 4
  auto c = parse_hf_config(j);
  CHECK(c.rope_theta == 5e5);
  CHECK(c.rope_scaling.type == "linear");
  CHECK(c.rope_scaling.factor == 2.0);
  j = minimal();
  j["max_position_embeddings"] = 8192;
  j["rope_parameters"] = {{"rope_type", "llama3"}, {"rope_theta", 5e5}, {"factor", 8.0},
                          {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0}};  // no original length
  c = parse_hf_config(j);
  CHECK(c.rope_scaling.type == "llama3");
  CHECK(c.rope_scaling.original_max_position_embeddings == 8192);
  const auto out = to_json(c);
  CHECK(out["rope_parameters"]["rope_type"] == "llama3");
  CHECK(out["rope_parameters"]["original_max_position_embeddings"] == 8192);
  CHECK(out["rope_scaling"]["factor"] == 8.0);
  CHECK(parse_hf_config(out) == c);
  j = minimal();
  j["rope_parameters"] = {{"rope_type", "yarn"}, {"rope_theta", 1e6}, {"factor", 4.0},
                          {"original_max_position_embeddings", 32768}, {"mscale", 0.707}, {"mscale_all_dim", 0.707}};
  c = parse_hf_config(j);
  CHECK(c.rope_scaling.mscale == doctest::Approx(0.707));
  CHECK(parse_hf_config(to_json(c)) == c);
  // dynamic NTK (transformers 4 spelling): scales from max_position_embeddings on, written back with its factor only
  j = minimal();
  j["max_position_embeddings"] = 4096;
  j["rope_scaling"] = {{"type", "dynamic"}, {"factor", 2.0}};
  c = parse_hf_config(j);
  CHECK(c.rope_scaling.type == "dynamic");
  CHECK(c.rope_scaling.factor == 2.0);
  CHECK(c.rope_scaling.original_max_position_embeddings == 4096);
  const auto dyn = to_json(c);
  CHECK(dyn["rope_parameters"] == nlohmann::json{{"rope_type", "dynamic"}, {"rope_theta", 10000.0}, {"factor", 2.0}});
  CHECK(dyn["max_position_embeddings"] == 4096);
  CHECK(parse_hf_config(dyn) == c);
  j["num_attention_heads"] = 32;  // head dimension 2: the exponent d/(d-2) has no value
  error_of([&] { (void)parse_hf_config(j); }, {"config.json", "dynamic RoPE scaling needs a head dimension above 2"});
}

TEST_CASE("families: Llama-3's list of EOS ids, LLaMA biases, Mistral's window, Qwen2, written back") {
  auto j = minimal();
  j["eos_token_id"] = {128001, 128008, 128009};
  j["attention_bias"] = true;
  j["mlp_bias"] = true;
  auto c = parse_hf_config(j);
  CHECK(c.eos_token_ids == std::vector<int>{128001, 128008, 128009});
  CHECK(c.attention_bias);
  CHECK(c.mlp_bias);
  CHECK(to_json(c)["eos_token_id"] == nlohmann::json({128001, 128008, 128009}));
  CHECK(parse_hf_config(to_json(c)) == c);
  j = minimal();
  j["model_type"] = "mistral";
  j["sliding_window"] = 4096;
  c = parse_hf_config(j);
  CHECK(c.sliding_window == 4096);
  CHECK(to_json(c)["architectures"][0] == "MistralForCausalLM");
  CHECK(parse_hf_config(to_json(c)) == c);
  j = minimal();
  j["model_type"] = "qwen2";
  j["sliding_window"] = 4096;  // Qwen2 writes it, but uses it only with use_sliding_window
  j["use_sliding_window"] = false;
  c = parse_hf_config(j);
  CHECK(c.sliding_window == 0);
  CHECK(to_json(c)["architectures"][0] == "Qwen2ForCausalLM");
  CHECK(parse_hf_config(to_json(c)) == c);
}

TEST_CASE("defaults and the transformers 4 spelling") {
  auto j = minimal();
  auto c = parse_hf_config(j);
  CHECK(c.num_key_value_heads == 8);  // missing: as many KV heads as heads
  CHECK(c.kv_heads() == 8);
  CHECK(c.rope_theta == 10000.0);
  CHECK(c.max_position_embeddings == 2048);
  CHECK_FALSE(c.tie_word_embeddings);
  CHECK(c.torch_dtype == "float32");
  j["rope_theta"] = 1e6;
  j["rope_scaling"] = nullptr;
  j["torch_dtype"] = "float16";
  j["num_key_value_heads"] = 2;
  j["eos_token_id"] = nullptr;
  c = parse_hf_config(j);
  CHECK(c.rope_theta == 1e6);
  CHECK(c.torch_dtype == "float16");
  CHECK(c.num_key_value_heads == 2);
  CHECK(c.eos_token_ids.empty());
  j["dtype"] = "bfloat16";  // transformers 5's key wins when both are present
  CHECK(parse_hf_config(j).torch_dtype == "bfloat16");
}

TEST_CASE("config.json errors name the file and the key") {
  const auto dir = scratch("hf_config_errors");
  const auto path = dir / "config.json";
  auto read_with = [&](const nlohmann::json& j) {
    write_file_atomic(path, j.dump());
    return [&] { read_hf_config(path); };
  };
  error_of([&] { read_hf_config(dir / "missing.json"); }, {"missing.json", "no such file"});
  error_of([&] { read_hf_config(scratch("hf_config_empty")); }, {"config.json", "no such file"});
  write_file_atomic(path, "{\"hidden_size\": 64,");
  error_of([&] { read_hf_config(path); }, {"config.json", "malformed JSON"});

  auto j = minimal();
  j.erase("vocab_size");
  error_of(read_with(j), {"config.json", "missing required key \"vocab_size\""});
  j = minimal();
  j["hidden_size"] = "64";
  error_of(read_with(j), {"config.json", "\"hidden_size\"", "must be an integer", "string"});
  j = minimal();
  j["hidden_size"] = 64.5;
  error_of(read_with(j), {"config.json", "\"hidden_size\"", "must be an integer"});
  j = minimal();
  j["rms_norm_eps"] = "small";
  error_of(read_with(j), {"config.json", "\"rms_norm_eps\"", "must be a number"});
  j = minimal();
  j["tie_word_embeddings"] = 1;
  error_of(read_with(j), {"config.json", "tie_word_embeddings", "boolean"});
  j = minimal();
  j["rope_scaling"] = {{"type", "longrope"}, {"factor", 2.0}};
  error_of(read_with(j), {"config.json rope_scaling", "rope_type \"longrope\" is not supported", "dynamic, llama3"});
  j = minimal();  // dynamic takes its original length from max_position_embeddings, never from its dict
  j["rope_parameters"] = {{"rope_type", "dynamic"}, {"factor", 2.0}, {"original_max_position_embeddings", 512}};
  error_of(read_with(j), {"config.json rope_parameters",
                          "\"original_max_position_embeddings\" is not supported for rope_type \"dynamic\""});
  j = minimal();
  j["rope_parameters"] = {{"rope_type", "llama3"}, {"rope_theta", 5e5}, {"factor", 8.0}, {"beta_fast", 3}};
  error_of(read_with(j), {"config.json rope_parameters", "\"beta_fast\" is not supported for rope_type \"llama3\""});
  j = minimal();
  j["rope_parameters"] = {{"rope_type", "linear"}, {"rope_theta", 5e5}};
  error_of(read_with(j), {"config.json rope_parameters", "needs a \"factor\""});
  j = minimal();
  j["rope_parameters"] = {{"rope_type", "yarn"}, {"factor", 0.5}};
  error_of(read_with(j), {"config.json rope_parameters", "factor must be at least 1"});
  j = minimal();
  j["model_type"] = "gemma";
  error_of(read_with(j), {"config.json", "gemma", "not supported"});
  j = minimal();
  j["attention_bias"] = "yes";
  error_of(read_with(j), {"config.json", "attention_bias", "must be a boolean"});
  j = minimal();
  j["eos_token_id"] = {128001, "x"};
  error_of(read_with(j), {"config.json", "eos_token_id", "non-negative integer ids"});
  j = minimal();
  j["model_type"] = "qwen2";
  j["use_sliding_window"] = true;
  error_of(read_with(j), {"config.json", "use_sliding_window", "not supported for qwen2"});
  j = minimal();
  j["model_type"] = "mistral";
  j["sliding_window"] = 0;
  error_of(read_with(j), {"config.json", "sliding_window must be positive"});
  j = minimal();
  j["model_type"] = "mistral";
  j["mlp_bias"] = true;
  error_of(read_with(j), {"config.json", "mlp_bias = true is not supported for model_type \"mistral\""});
  j = minimal();
  j["num_key_value_heads"] = 3;
  error_of(read_with(j), {"config.json", "num_key_value_heads 3"});
  j = minimal();
  j["num_attention_heads"] = 7;
  error_of(read_with(j), {"config.json", "not divisible by num_attention_heads 7"});
  j = minimal();
  j["head_dim"] = 0;
  error_of(read_with(j), {"config.json", "head_dim must be positive"});
  j = minimal();
  j["head_dim"] = 7;  // independent of hidden / heads, but RoPE needs pairs
  error_of(read_with(j), {"config.json", "head dimension 7 must be even"});
  j = minimal();
  j["num_hidden_layers"] = 0;
  error_of(read_with(j), {"config.json", "num_hidden_layers must be positive"});
  error_of(read_with(nlohmann::json::array()), {"config.json", "expected a JSON object"});

  auto bad = tiny();
  bad.torch_dtype = "int8";
  error_of([&] { write_hf_config(dir, bad); }, {"torch_dtype 'int8'"});
}

}  // namespace hf_config_test

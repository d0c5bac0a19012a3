// SPDX-License-Identifier: MIT
// The table of named Configs ("llama_7b", "demo", ...), and the mapping between Configs and HF config.json fields.
#pragma once

#include <array>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <pmc/core/error.hpp>
#include <pmc/io/hf_config.hpp>
#include <pmc/models/llama/config.hpp>

namespace pmc::llama {

/// The embedded pipeline demo's model (about 1M parameters; trains in minutes on two cores).
inline constexpr Config demo{.dim = 128, .n_layers = 4, .n_heads = 4, .n_kv_heads = 2, .ffn_dim = 344,
                             .vocab_size = 768, .max_seq_len = 256, .norm_eps = 1e-5f, .rope_theta = 1e4f};

struct NamedConfig {
  std::string_view name;
  Config config;
};

/// The named configurations: the real models and the small ones of the examples and the demo (shapes that only
/// tests use live in tests/support/test_configs.hpp). `--config NAME` of the pmc program looks names up here; the
/// program itself runs any architecture (Model<dynamic>), so a checkpoint needs no entry; a program that wants a
/// config's sizes fixed at compile time names it: Model<llama_7b, bf16>.
inline constexpr std::array kConfigs{
    NamedConfig{"llama_7b", llama_7b},       NamedConfig{"llama_13b", llama_13b},
    NamedConfig{"llama2_7b", llama2_7b},     NamedConfig{"llama2_13b", llama2_13b},
    NamedConfig{"stories260k", stories260k}, NamedConfig{"tiny", tiny},
    NamedConfig{"small_20m", small_20m},     NamedConfig{"llama_1b", llama_1b},
    NamedConfig{"demo", demo},
};

/// "llama_7b, llama_13b, ...".
inline std::string supported_config_names() {
  std::string s;
  for (const auto& c : kConfigs) s += (s.empty() ? "" : ", ") + std::string(c.name);
  return s;
}

/// The config named `name`, or a pmc::Error listing the supported names.
inline Config config_by_name(std::string_view name) {
  for (const auto& c : kConfigs)
    if (c.name == name) return c.config;
  fail("unknown model config '", name, "'; supported: ", supported_config_names());
}

/// The RoPE scaling of a config.json's rope dict; YaRN's attention_factor resolved as transformers does
/// (given, else 0.1·ln(factor) + 1, or the ratio of that with mscale and mscale_all_dim when both are given);
/// dynamic's original length is the config's max_position_embeddings (read_hf_config puts it in the dict).
inline ops::RopeScaling rope_scaling_from_hf(const io::HfRopeScaling& h) {
  ops::RopeScaling s;
  if (!h.scaled()) return s;
  s.type = h.type == "linear"    ? ops::RopeScalingType::linear
           : h.type == "llama3"  ? ops::RopeScalingType::llama3
           : h.type == "dynamic" ? ops::RopeScalingType::dynamic
                                 : ops::RopeScalingType::yarn;
  s.factor = h.factor;
  s.low_freq_factor = h.low_freq_factor;
  s.high_freq_factor = h.high_freq_factor;
  s.original_max_position = h.original_max_position_embeddings;
  s.beta_fast = h.beta_fast;
  s.beta_slow = h.beta_slow;
  s.truncate = h.truncate;
  if (s.type == ops::RopeScalingType::yarn) {
    auto mscale = [](double scale, double m) { return scale <= 1 ? 1.0 : 0.1 * m * std::log(scale) + 1.0; };
    double af = h.attention_factor;
    if (!(af > 0))
      af = h.mscale > 0 && h.mscale_all_dim > 0 ? mscale(h.factor, h.mscale) / mscale(h.factor, h.mscale_all_dim)
                                                : mscale(h.factor, 1.0);
    s.attention_factor = af;
  }
  return s;
}

/// The config.json rope dict of a RoPE scaling (attention_factor written out, so it reads back the same).
inline io::HfRopeScaling hf_rope_scaling(const ops::RopeScaling& s) {
  io::HfRopeScaling h;
  switch (s.type) {
    case ops::RopeScalingType::none: return h;
    case ops::RopeScalingType::linear: h.type = "linear"; break;
    case ops::RopeScalingType::llama3: h.type = "llama3"; break;
    case ops::RopeScalingType::yarn: h.type = "yarn"; break;
    case ops::RopeScalingType::dynamic: h.type = "dynamic"; break;
  }
  h.factor = s.factor;
  h.low_freq_factor = s.low_freq_factor;
  h.high_freq_factor = s.high_freq_factor;
  h.original_max_position_embeddings = s.original_max_position;
  h.beta_fast = s.beta_fast;
  h.beta_slow = s.beta_slow;
  h.truncate = s.truncate;
  if (s.type == ops::RopeScalingType::yarn) h.attention_factor = s.attention_factor;
  return h;
}

/// The architecture described by a Hugging Face config.json (max_seq_len from max_position_embeddings; with
/// dynamic NTK scaling, which starts there, factor times it: what transformers means a factor to reach).
inline Config config_from_hf(const io::HfLlamaConfig& h) {
  Config c;
  c.dim = h.hidden_size;
  c.n_layers = h.num_hidden_layers;
  c.n_heads = h.num_attention_heads;
  c.n_kv_heads = h.kv_heads();
  c.ffn_dim = h.intermediate_size;
  c.vocab_size = h.vocab_size;
  c.max_seq_len = h.max_position_embeddings;
  c.norm_eps = static_cast<float>(h.rms_norm_eps);
  c.rope_theta = static_cast<float>(h.rope_theta);
  c.tied_embeddings = h.tie_word_embeddings;
  c.head_dim_override = h.head_dim_explicit;
  c.rope_scaling = rope_scaling_from_hf(h.rope_scaling);
  if (c.rope_scaling.type == ops::RopeScalingType::dynamic) {
    const double context = std::floor(c.rope_scaling.factor * h.max_position_embeddings);
    PMC_CHECK(context <= std::numeric_limits<int>::max(), "config.json: dynamic rope scaling's factor ",
              c.rope_scaling.factor, " times max_position_embeddings ", h.max_position_embeddings,
              " overflows the context length");
    c.max_seq_len = static_cast<int>(context);
  }
  c.family = h.model_type == "mistral" ? Family::mistral : h.model_type == "qwen2" ? Family::qwen2 : Family::llama;
  c.qkv_bias = h.attention_bias || c.family == Family::qwen2;
  c.o_bias = h.attention_bias;
  c.mlp_bias = h.mlp_bias;
  c.sliding_window = h.sliding_window;
  return c;
}

/// The HF config.json fields of a compiled config. With dynamic NTK scaling max_position_embeddings is its original
/// length (where the scaling starts), so the context read back is factor times that, whatever max_seq_len was.
inline io::HfLlamaConfig hf_from_config(const Config& c, std::string torch_dtype = "float32") {
  io::HfLlamaConfig h;
  h.hidden_size = c.dim;
  h.intermediate_size = c.ffn_dim;
  h.num_hidden_layers = c.n_layers;
  h.num_attention_heads = c.n_heads;
  h.num_key_value_heads = c.n_kv_heads;
  h.vocab_size = c.vocab_size;
  h.max_position_embeddings = c.max_seq_len;
  h.rms_norm_eps = c.norm_eps;
  h.rope_theta = c.rope_theta;
  h.tie_word_embeddings = c.tied_embeddings;
  h.head_dim_explicit = c.head_dim_override;
  h.rope_scaling = hf_rope_scaling(c.rope_scaling);
  if (c.rope_scaling.type == ops::RopeScalingType::dynamic)
    h.max_position_embeddings = c.rope_scaling.original_max_position;
  h.model_type = c.family == Family::mistral ? "mistral" : c.family == Family::qwen2 ? "qwen2" : "llama";
  h.attention_bias = c.family == Family::llama && c.o_bias;
  h.mlp_bias = c.mlp_bias;
  h.sliding_window = c.sliding_window;
  h.torch_dtype = std::move(torch_dtype);
  return h;
}

/// The name of the table's config equal to `c`, if one is.
inline std::optional<std::string_view> config_name_of(const Config& c) {
  for (const auto& n : kConfigs)
    if (n.config == c) return n.name;
  return std::nullopt;
}

/// "llama_7b", or the architecture in words for a config the table does not name.
inline std::string config_label(const Config& c) {
  const auto name = config_name_of(c);
  return name ? std::string(*name) : describe(c);
}

}  // namespace pmc::llama

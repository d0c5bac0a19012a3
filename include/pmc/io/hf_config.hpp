// SPDX-License-Identifier: MIT
// HfLlamaConfig: reading and writing a Hugging Face LLaMA `config.json` (as LlamaConfig writes and reads it).
#pragma once

#include <cstdint>
#include <filesystem>
#include <limits>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <pmc/core/error.hpp>
#include <pmc/io/atomic_file.hpp>
#include <pmc/io/mapped_file.hpp>

namespace pmc::io {

/// A rope_parameters (transformers 5) or rope_scaling (4) dict: how RoPE is stretched beyond the training context.
struct HfRopeScaling {
  std::string type = "default";  ///< default, linear, dynamic, llama3 or yarn (what pmc implements)
  double factor = 1.0;
  double low_freq_factor = 1.0, high_freq_factor = 4.0;  ///< llama3
  int original_max_position_embeddings = 0;              ///< llama3, yarn (0: max_position_embeddings); dynamic:
                                                         ///< max_position_embeddings, never in the dict
  double beta_fast = 32.0, beta_slow = 1.0;              ///< yarn
  double attention_factor = 0.0;                         ///< yarn; 0: from factor (and mscale, mscale_all_dim)
  double mscale = 0.0, mscale_all_dim = 0.0;             ///< yarn (DeepSeek-style), 0 when absent
  bool truncate = true;                                  ///< yarn

  bool scaled() const { return type != "default"; }
  friend bool operator==(const HfRopeScaling&, const HfRopeScaling&) = default;
};

/// The fields of HF's LlamaConfig (and of the LLaMA-shaped MistralConfig and Qwen2Config) that pmc's LLaMA uses.
/// Defaults are LlamaConfig's.
struct HfLlamaConfig {
  std::string model_type = "llama";  ///< llama, mistral or qwen2 (same weights' names; qwen2 has q/k/v biases)
  int hidden_size = 0;
  int intermediate_size = 0;
  int num_hidden_layers = 0;
  int num_attention_heads = 0;
  int num_key_value_heads = 0;  ///< 0 = same as num_attention_heads (how HF reads a missing key)
  int vocab_size = 0;
  int max_position_embeddings = 2048;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  bool tie_word_embeddings = false;
  std::string torch_dtype = "float32";  ///< the dtype of the stored weights: float32, bfloat16, float16
  int bos_token_id = 1;                 ///< -1 when the config says null
  std::vector<int> eos_token_ids{2};    ///< empty when the config says null; several for Llama-3 (end of text, of turn)
  bool attention_bias = false;          ///< llama: biases on q, k, v and o (qwen2 has q, k, v biases whatever this says)
  bool mlp_bias = false;                ///< llama: biases on gate, up and down
  int sliding_window = 0;               ///< mistral: each query sees this many latest keys (itself included); 0: all
  /// head_dim when it is not hidden_size / num_attention_heads (Gemma-style and some Qwen/Mistral configs:
  /// q_proj is (heads·head_dim, hidden)); 0 when it is.
  int head_dim_explicit = 0;
  HfRopeScaling rope_scaling{};

  int kv_heads() const { return num_key_value_heads > 0 ? num_key_value_heads : num_attention_heads; }
  int head_dim() const {
    if (head_dim_explicit > 0) return head_dim_explicit;
    return num_attention_heads > 0 ? hidden_size / num_attention_heads : 0;
  }

  /// Throws pmc::Error, prefixed with `where`, unless the sizes describe a buildable model.
  void validate(std::string_view where = "HfLlamaConfig") const {
    auto positive = [&](int v, const char* key) { PMC_CHECK(v > 0, where, ": ", key, " must be positive, got ", v); };
    positive(hidden_size, "hidden_size");
    positive(intermediate_size, "intermediate_size");
    positive(num_hidden_layers, "num_hidden_layers");
    positive(num_attention_heads, "num_attention_heads");
    positive(kv_heads(), "num_key_value_heads");
    positive(vocab_size, "vocab_size");
    positive(max_position_embeddings, "max_position_embeddings");
    PMC_CHECK(rms_norm_eps > 0, where, ": rms_norm_eps must be positive, got ", rms_norm_eps);
    PMC_CHECK(rope_theta > 0, where, ": rope_theta must be positive, got ", rope_theta);
    PMC_CHECK(head_dim_explicit >= 0, where, ": head_dim must be positive, got ", head_dim_explicit);
    PMC_CHECK(head_dim_explicit > 0 || hidden_size % num_attention_heads == 0, where, ": hidden_size ", hidden_size,
              " is not divisible by num_attention_heads ", num_attention_heads, " (and no head_dim is given)");
    PMC_CHECK(num_attention_heads % kv_heads() == 0, where, ": num_attention_heads ", num_attention_heads,
              " is not divisible by num_key_value_heads ", kv_heads());
    PMC_CHECK(head_dim() % 2 == 0, where, ": head dimension ", head_dim(), " must be even for RoPE");
    PMC_CHECK(rope_scaling.type != "dynamic" || head_dim() > 2, where,
              ": dynamic RoPE scaling needs a head dimension above 2 (its exponent is d/(d-2)), got ", head_dim());
    PMC_CHECK(model_type == "llama" || model_type == "mistral" || model_type == "qwen2", where, ": model_type '",
              model_type, "' is not one of llama, mistral, qwen2");
    PMC_CHECK(sliding_window >= 0, where, ": sliding_window must not be negative, got ", sliding_window);
    for (int id : eos_token_ids) PMC_CHECK(id >= 0, where, ": eos_token_id ", id, " is negative");
    PMC_CHECK(torch_dtype == "float32" || torch_dtype == "bfloat16" || torch_dtype == "float16", where,
              ": torch_dtype '", torch_dtype, "' is not one of float32, bfloat16, float16");
  }

  friend bool operator==(const HfLlamaConfig&, const HfLlamaConfig&) = default;
};

namespace detail {

inline const nlohmann::json* find_key(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

inline int config_int(const nlohmann::json& j, const char* key, std::string_view where, const int* fallback) {
  const auto* v = find_key(j, key);
  if (v == nullptr) {
    if (fallback == nullptr) fail(where, ": missing required key \"", key, "\"");
    return *fallback;
  }
  if (!v->is_number_integer())
    fail(where, ": key \"", key, "\" must be an integer, got ", v->type_name(), " ", v->dump());
  const auto x = v->get<std::int64_t>();
  if (x < std::numeric_limits<int>::min() || x > std::numeric_limits<int>::max())
    fail(where, ": key \"", key, "\" = ", x, " is out of range");
  return static_cast<int>(x);
}

inline double config_number(const nlohmann::json& j, const char* key, std::string_view where, const double* fallback) {
  const auto* v = find_key(j, key);
  if (v == nullptr) {
    if (fallback == nullptr) fail(where, ": missing required key \"", key, "\"");
    return *fallback;
  }
  if (!v->is_number()) fail(where, ": key \"", key, "\" must be a number, got ", v->type_name(), " ", v->dump());
  return v->get<double>();
}

/// A bos id: an integer, or null (no such token: -1).
inline int config_token_id(const nlohmann::json& j, const char* key, std::string_view where, int fallback) {
  const auto* v = find_key(j, key);
  if (v == nullptr) return fallback;
  if (v->is_null()) return -1;
  if (v->is_array()) fail(where, ": key \"", key, "\" lists several ids ", v->dump(), "; one is expected");
  return config_int(j, key, where, nullptr);
}

/// eos ids: an integer, a list of them (Llama-3: end of text and end of turn), or null (none).
inline std::vector<int> config_token_ids(const nlohmann::json& j, const char* key, std::string_view where,
                                         const std::vector<int>& fallback) {
  const auto* v = find_key(j, key);
  if (v == nullptr) return fallback;
  if (v->is_null()) return {};
  if (!v->is_array()) return {config_int(j, key, where, nullptr)};
  std::vector<int> ids;
  for (const auto& e : *v) {
    if (!e.is_number_integer() || e.get<std::int64_t>() < 0 || e.get<std::int64_t>() > std::numeric_limits<int>::max())
      fail(where, ": key \"", key, "\" must list non-negative integer ids, got ", v->dump());
    ids.push_back(e.get<int>());
  }
  return ids;
}

/// The scaling part of a RoPE dict (rope_type or type, factor, ...); unknown keys and types are errors.
inline HfRopeScaling parse_rope_scaling(const nlohmann::json& rp, std::string_view w) {
  HfRopeScaling s;
  for (const char* key : {"type", "rope_type"}) {  // transformers 4 wrote "type"
    const auto* t = find_key(rp, key);
    if (t == nullptr || t->is_null()) continue;
    if (!t->is_string()) fail(w, ": key \"", key, "\" must be a string, got ", t->dump());
    s.type = t->get<std::string>();
  }
  if (s.type != "default" && s.type != "linear" && s.type != "dynamic" && s.type != "llama3" && s.type != "yarn")
    fail(w, ": rope_type \"", s.type,
         "\" is not supported (pmc implements default, linear, dynamic, llama3 and yarn)");
  const HfRopeScaling d;
  auto number = [&](const char* key, double fallback) {
    const auto* v = find_key(rp, key);
    return v == nullptr || v->is_null() ? fallback : config_number(rp, key, w, &fallback);
  };
  const std::set<std::string> common{"type", "rope_type", "rope_theta"};
  std::set<std::string> allowed = common;
  if (s.type == "linear" || s.type == "dynamic") allowed.insert("factor");  // dynamic: as transformers validates it
  if (s.type == "llama3") allowed.insert({"factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"});
  if (s.type == "yarn")
    allowed.insert({"factor", "original_max_position_embeddings", "beta_fast", "beta_slow", "attention_factor", "mscale",
                    "mscale_all_dim", "truncate"});
  for (auto& [k, v] : rp.items()) {
    if (k == "partial_rotary_factor" && v.is_number() && v.get<double>() == 1.0) continue;
    if (!allowed.count(k)) fail(w, ": key \"", k, "\" is not supported for rope_type \"", s.type, "\"");
  }
  if (s.type == "default") return s;
  PMC_CHECK(find_key(rp, "factor") != nullptr, w, ": rope_type \"", s.type, "\" needs a \"factor\"");
  s.factor = number("factor", d.factor);
  PMC_CHECK(s.factor >= 1, w, ": factor must be at least 1, got ", s.factor);
  s.low_freq_factor = number("low_freq_factor", d.low_freq_factor);
  s.high_freq_factor = number("high_freq_factor", d.high_freq_factor);
  if (const auto* o = find_key(rp, "original_max_position_embeddings"); o && !o->is_null())
    s.original_max_position_embeddings = config_int(rp, "original_max_position_embeddings", w, nullptr);
  s.beta_fast = number("beta_fast", d.beta_fast);
  s.beta_slow = number("beta_slow", d.beta_slow);
  s.attention_factor = number("attention_factor", d.attention_factor);
  s.mscale = number("mscale", d.mscale);
  s.mscale_all_dim = number("mscale_all_dim", d.mscale_all_dim);
  if (const auto* t = find_key(rp, "truncate"); t && !t->is_null()) {
    if (!t->is_boolean()) fail(w, ": key \"truncate\" must be a boolean, got ", t->dump());
    s.truncate = t->get<bool>();
  }
  return s;
}

/// The RoPE dict written for `s` (rope_type, rope_theta and the type's own keys).
inline nlohmann::json rope_json(double theta, const HfRopeScaling& s) {
  nlohmann::json j{{"rope_theta", theta}, {"rope_type", s.type}};
  if (s.type == "default") return j;
  j["factor"] = s.factor;
  if (s.type == "llama3") {
    j["low_freq_factor"] = s.low_freq_factor;
    j["high_freq_factor"] = s.high_freq_factor;
    j["original_max_position_embeddings"] = s.original_max_position_embeddings;
  }
  if (s.type == "yarn") {
    j["original_max_position_embeddings"] = s.original_max_position_embeddings;
    j["beta_fast"] = s.beta_fast;
    j["beta_slow"] = s.beta_slow;
    j["truncate"] = s.truncate;
    if (s.attention_factor > 0) j["attention_factor"] = s.attention_factor;
    if (s.mscale > 0) j["mscale"] = s.mscale;
    if (s.mscale_all_dim > 0) j["mscale_all_dim"] = s.mscale_all_dim;
  }
  return j;
}

}  // namespace detail

/// Parses a config.json object; `where` (the file name) prefixes every error. Required: hidden_size,
/// intermediate_size, num_hidden_layers, num_attention_heads, vocab_size, rms_norm_eps. Accepts both the
/// transformers 4 spelling (rope_theta, rope_scaling, torch_dtype) and the 5 one (rope_parameters, dtype).
/// RoPE scaling: default, linear, dynamic, llama3 and yarn. Refuses what pmc's LLaMA does not implement: other RoPE
/// types, biases, another model_type or activation.
inline HfLlamaConfig parse_hf_config(const nlohmann::json& j, std::string_view where = "config.json") {
  using detail::find_key;
  if (!j.is_object()) fail(where, ": expected a JSON object, got ", j.type_name());
  HfLlamaConfig c;
  if (const auto* mt = find_key(j, "model_type")) {
    if (!mt->is_string() || (*mt != "llama" && *mt != "mistral" && *mt != "qwen2"))
      fail(where, ": model_type ", mt->dump(), " is not supported (pmc reads \"llama\", \"mistral\" and \"qwen2\")");
    c.model_type = mt->get<std::string>();
  }
  if (const auto* act = find_key(j, "hidden_act"); act && *act != "silu")
    fail(where, ": hidden_act ", act->dump(), " is not supported (LLaMA uses \"silu\")");
  for (const char* key : {"attention_bias", "mlp_bias"}) {
    const auto* b = find_key(j, key);
    if (b == nullptr || b->is_null()) continue;
    if (!b->is_boolean()) fail(where, ": key \"", key, "\" must be a boolean, got ", b->dump());
    if (c.model_type != "llama" && b->get<bool>())
      fail(where, ": ", key, " = true is not supported for model_type \"", c.model_type, "\"");
    (std::string_view(key) == "attention_bias" ? c.attention_bias : c.mlp_bias) = b->get<bool>();
  }
  // sliding-window attention: Mistral's sliding_window; Qwen2's only when use_sliding_window (then per layer)
  if (c.model_type == "qwen2") {
    if (const auto* u = find_key(j, "use_sliding_window"); u && u->is_boolean() && u->get<bool>())
      fail(where, ": use_sliding_window = true is not supported for qwen2 (its per-layer windows)");
  } else if (const auto* w = find_key(j, "sliding_window"); w && !w->is_null()) {
    if (c.model_type != "mistral") fail(where, ": sliding_window is only read for model_type \"mistral\"");
    c.sliding_window = detail::config_int(j, "sliding_window", where, nullptr);
    PMC_CHECK(c.sliding_window > 0, where, ": sliding_window must be positive or null, got ", c.sliding_window);
  }

  const HfLlamaConfig d;  // defaults
  c.hidden_size = detail::config_int(j, "hidden_size", where, nullptr);
  c.intermediate_size = detail::config_int(j, "intermediate_size", where, nullptr);
  c.num_hidden_layers = detail::config_int(j, "num_hidden_layers", where, nullptr);
  c.num_attention_heads = detail::config_int(j, "num_attention_heads", where, nullptr);
  if (const auto* kv = find_key(j, "num_key_value_heads"); kv && kv->is_null())
    c.num_key_value_heads = c.num_attention_heads;  // HF reads null as "no grouping"
  else
    c.num_key_value_heads = detail::config_int(j, "num_key_value_heads", where, &c.num_attention_heads);
  c.vocab_size = detail::config_int(j, "vocab_size", where, nullptr);
  c.max_position_embeddings = detail::config_int(j, "max_position_embeddings", where, &d.max_position_embeddings);
  c.rms_norm_eps = detail::config_number(j, "rms_norm_eps", where, nullptr);
  c.rope_theta = detail::config_number(j, "rope_theta", where, &d.rope_theta);
  // RoPE: rope_parameters (transformers 5) wins over rope_scaling (4), which holds only the scaling
  for (const char* key : {"rope_scaling", "rope_parameters"}) {
    const auto* rp = find_key(j, key);
    if (rp == nullptr || rp->is_null()) continue;
    const std::string w = std::string(where) + " " + key;
    if (!rp->is_object()) fail(w, ": expected an object, got ", rp->dump());
    c.rope_theta = detail::config_number(*rp, "rope_theta", w, &c.rope_theta);
    c.rope_scaling = detail::parse_rope_scaling(*rp, w);
  }
  if (c.rope_scaling.type == "llama3" || c.rope_scaling.type == "yarn") {
    if (c.rope_scaling.original_max_position_embeddings == 0)  // as transformers: the top-level key, else the context
      c.rope_scaling.original_max_position_embeddings =
          detail::config_int(j, "original_max_position_embeddings", where, &c.max_position_embeddings);
  }
  // dynamic NTK scales beyond max_position_embeddings itself (transformers' _compute_dynamic_ntk_parameters)
  if (c.rope_scaling.type == "dynamic") c.rope_scaling.original_max_position_embeddings = c.max_position_embeddings;
  if (const auto* t = find_key(j, "tie_word_embeddings")) {
    if (!t->is_boolean()) fail(where, ": key \"tie_word_embeddings\" must be a boolean, got ", t->dump());
    c.tie_word_embeddings = t->get<bool>();
  }
  for (const char* key : {"torch_dtype", "dtype"}) {  // transformers 5 writes "dtype"
    const auto* t = find_key(j, key);
    if (t == nullptr || t->is_null()) continue;
    if (!t->is_string()) fail(where, ": key \"", key, "\" must be a string, got ", t->dump());
    c.torch_dtype = t->get<std::string>();
  }
  if (const auto* hd = find_key(j, "head_dim"); hd && !hd->is_null()) {
    const int h = detail::config_int(j, "head_dim", where, nullptr);
    PMC_CHECK(h > 0, where, ": head_dim must be positive, got ", h);
    // kept only when it differs, so that a config spelling out the default equals one that leaves it out
    if (!(c.num_attention_heads > 0 && h * c.num_attention_heads == c.hidden_size)) c.head_dim_explicit = h;
  }
  c.bos_token_id = detail::config_token_id(j, "bos_token_id", where, d.bos_token_id);
  c.eos_token_ids = detail::config_token_ids(j, "eos_token_id", where, d.eos_token_ids);
  c.validate(where);
  return c;
}

/// Reads `path`: a config.json, or a folder holding one.
inline HfLlamaConfig read_hf_config(const std::filesystem::path& path) {
  const auto file = std::filesystem::is_directory(path) ? path / "config.json" : path;
  return parse_hf_config(read_json_file(file), file.string());
}

/// The config.json object transformers' LlamaConfig / LlamaForCausalLM.from_pretrained accepts, with the
/// fields it would write itself (so a round trip through transformers changes nothing that matters).
/// RoPE is spelled both ways: rope_theta + rope_scaling null (transformers 4) and rope_parameters (5).
inline nlohmann::json to_json(const HfLlamaConfig& c) {
  c.validate();
  auto token = [](int id) { return id < 0 ? nlohmann::json(nullptr) : nlohmann::json(id); };
  nlohmann::json eos = nullptr;
  if (c.eos_token_ids.size() == 1) eos = c.eos_token_ids[0];
  if (c.eos_token_ids.size() > 1) eos = c.eos_token_ids;
  const char* architecture = c.model_type == "mistral" ? "MistralForCausalLM"
                             : c.model_type == "qwen2" ? "Qwen2ForCausalLM"
                                                       : "LlamaForCausalLM";
  nlohmann::json j{
      {"architectures", {architecture}},
      {"attention_dropout", 0.0},
      {"bos_token_id", token(c.bos_token_id)},
      {"eos_token_id", eos},
      {"head_dim", c.head_dim()},
      {"hidden_act", "silu"},
      {"hidden_size", c.hidden_size},
      {"initializer_range", 0.02},
      {"intermediate_size", c.intermediate_size},
      {"max_position_embeddings", c.max_position_embeddings},
      {"model_type", c.model_type},
      {"num_attention_heads", c.num_attention_heads},
      {"num_hidden_layers", c.num_hidden_layers},
      {"num_key_value_heads", c.kv_heads()},
      {"rms_norm_eps", c.rms_norm_eps},
      {"rope_parameters", detail::rope_json(c.rope_theta, c.rope_scaling)},
      {"rope_scaling", c.rope_scaling.scaled() ? detail::rope_json(c.rope_theta, c.rope_scaling) : nlohmann::json(nullptr)},
      {"rope_theta", c.rope_theta},
      {"tie_word_embeddings", c.tie_word_embeddings},
      {"torch_dtype", c.torch_dtype},
      {"use_cache", true},
      {"vocab_size", c.vocab_size},
  };
  if (c.model_type == "llama") {
    j["attention_bias"] = c.attention_bias;
    j["mlp_bias"] = c.mlp_bias;
    j["pretraining_tp"] = 1;
  }
  if (c.model_type == "mistral") j["sliding_window"] = c.sliding_window > 0 ? nlohmann::json(c.sliding_window) : nlohmann::json(nullptr);
  if (c.model_type == "qwen2") {
    j["use_sliding_window"] = false;
    j["sliding_window"] = nullptr;
  }
  return j;
}

/// Writes `path` (a config.json path, or a folder to put one in) atomically; returns the file written.
inline std::filesystem::path write_hf_config(const std::filesystem::path& path, const HfLlamaConfig& c) {
  const auto file = std::filesystem::is_directory(path) ? path / "config.json" : path;
  write_file_atomic(file, to_json(c).dump(2) + "\n");
  return file;
}

}  // namespace pmc::io

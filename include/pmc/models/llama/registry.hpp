// SPDX-License-Identifier: MIT
// The one table from config names (and checkpoint configs) to compiled Configs, and dispatch over it.
#pragma once

#include <array>
#include <optional>
#include <type_traits>
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

/// Every compiled configuration, by name: the real models and the small ones of the examples and the demo (shapes
/// that only tests use live in tests/support/test_configs.hpp). The pmc program is built for each of them
/// (with_config). Extending pmc to a new architecture adds one line here.
inline constexpr std::array kConfigs{
    NamedConfig{"llama_7b", llama_7b},       NamedConfig{"llama_13b", llama_13b},
    NamedConfig{"llama2_7b", llama2_7b},     NamedConfig{"llama2_13b", llama2_13b},
    NamedConfig{"stories260k", stories260k}, NamedConfig{"tiny", tiny},
    NamedConfig{"small_20m", small_20m},     NamedConfig{"llama_1b", llama_1b},
    NamedConfig{"demo", demo},
};

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

/// The architecture described by a Hugging Face config.json (max_seq_len from max_position_embeddings).
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
  return c;
}

/// The HF config.json fields of a compiled config.
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
  h.torch_dtype = std::move(torch_dtype);
  return h;
}

inline std::string describe(const Config& c) {
  return detail::concat("dim ", c.dim, ", layers ", c.n_layers, ", heads ", c.n_heads, ", kv heads ", c.n_kv_heads,
                        ", ffn ", c.ffn_dim, ", vocab ", c.vocab_size, ", max_seq_len ", c.max_seq_len, ", eps ",
                        c.norm_eps, ", rope theta ", c.rope_theta, c.tied_embeddings ? ", tied head" : "");
}

/// The name of the compiled config equal to `c`, or a pmc::Error (naming `where`) listing what is supported.
inline std::string_view config_name_of(const Config& c, std::string_view where) {
  for (const auto& n : kConfigs)
    if (n.config == c) return n.name;
  fail(where, ": no compiled config matches this architecture (", describe(c), "); supported: ",
       supported_config_names());
}

/// Calls `f.template operator()<C>()` for the compiled config named `name`, choosing among `Cs...` only
/// (each listed config instantiates the caller's code; list what a program needs).
template <Config... Cs, class F>
  requires(sizeof...(Cs) > 0)
decltype(auto) dispatch_config(std::string_view name, F&& f) {
  const Config wanted = config_by_name(name);
  constexpr Config first = std::array<Config, sizeof...(Cs)>{Cs...}[0];
  using R = decltype(f.template operator()<first>());
  if constexpr (std::is_void_v<R>) {
    bool done = ((wanted == Cs ? (f.template operator()<Cs>(), true) : false) || ...);
    PMC_CHECK(done, "model config '", name, "' is not built into this program");
  } else {
    std::optional<R> result;
    ((wanted == Cs ? (result.emplace(f.template operator()<Cs>()), true) : false) || ...);
    PMC_CHECK(result.has_value(), "model config '", name, "' is not built into this program");
    return R(std::move(*result));  // a prvalue: decltype(auto) must deduce R, not a reference to the local
  }
}

}  // namespace pmc::llama

namespace pmc::llama {

/// dispatch_config over every config of kConfigs.
template <class F>
decltype(auto) with_config(std::string_view name, F&& f) {
  return [&]<std::size_t... I>(std::index_sequence<I...>) -> decltype(auto) {
    return dispatch_config<kConfigs[I].config...>(name, std::forward<F>(f));
  }(std::make_index_sequence<kConfigs.size()>{});
}

}  // namespace pmc::llama

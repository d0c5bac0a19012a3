// SPDX-License-Identifier: MIT
// Compile-time LLaMA configurations: the named table (7B, 13B, their 4k-context LLaMA-2 variants, tiny ones),
// validity rules checked at compile time, and exact parameter counts.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <pmc/config.hpp>
#include <pmc/core/error.hpp>
#include <pmc/ops/rope.hpp>

namespace pmc::llama {

/// The model families with LLaMA's shape that config.json names (model_type): their weights share LLaMA's names;
/// Qwen2 has biases on q, k and v; Mistral may have a sliding attention window.
enum class Family : std::uint8_t { llama, mistral, qwen2 };

/// A LLaMA architecture. A structural type, so it is a template argument: Model<llama_7b, bf16, Cuda> fixes the
/// sizes at compile time; Model<dynamic, bf16, Cuda> takes them at run time (from a checkpoint's config.json).
struct Config {
  int dim = 0;          // D: model width
  int n_layers = 0;     // L
  int n_heads = 0;      // H: query heads
  int n_kv_heads = 0;   // Hkv: key/value heads (grouped-query attention when < H)
  int ffn_dim = 0;      // F: SwiGLU hidden width
  int vocab_size = 0;   // V
  int max_seq_len = 0;  // longest sequence (positions) the model is used with
  float norm_eps = 1e-5f;
  float rope_theta = 10000.f;
  bool tied_embeddings = false;  // output head shares the token embedding
  int head_dim_override = 0;     // Dh when it is not D / H (0: D / H)
  ops::RopeScaling rope_scaling{};  // RoPE stretched beyond the training context (linear, llama3, yarn, dynamic)
  Family family = Family::llama;  // what config.json calls it
  bool qkv_bias = false;          // biases on the q, k and v projections (Qwen2; LLaMA's attention_bias)
  bool o_bias = false;            // a bias on the o projection (LLaMA's attention_bias)
  bool mlp_bias = false;          // biases on gate, up and down (LLaMA's mlp_bias)
  int sliding_window = 0;         // each query sees only this many latest keys, itself included (Mistral); 0: all

  PMC_HOST_DEVICE constexpr int head_dim() const { return head_dim_override ? head_dim_override : dim / n_heads; }
  PMC_HOST_DEVICE constexpr int q_dim() const { return n_heads * head_dim(); }
  PMC_HOST_DEVICE constexpr int kv_dim() const { return n_kv_heads * head_dim(); }
  constexpr ops::RopeParams rope() const { return {rope_theta, rope_scaling}; }

  /// Parameters of one transformer block: q, k, v, o projections, gate/up/down, two norms, and biases if any.
  constexpr std::int64_t block_parameters() const {
    const std::int64_t d = dim, q = q_dim(), kv = kv_dim(), f = ffn_dim;
    return d * q + 2 * d * kv + q * d + 3 * d * f + 2 * d + (qkv_bias ? q + 2 * kv : 0) + (o_bias ? d : 0) +
           (mlp_bias ? 2 * f + d : 0);
  }
  /// Every parameter: embedding, blocks, final norm, and the head unless tied.
  constexpr std::int64_t parameters() const {
    const std::int64_t emb = std::int64_t{vocab_size} * dim;
    return emb + n_layers * block_parameters() + dim + (tied_embeddings ? 0 : emb);
  }
  friend constexpr bool operator==(const Config&, const Config&) = default;
};

/// The rules every configuration must satisfy: heads divide the width (unless the head size is explicit),
/// KV heads divide heads, the head size is even (RoPE rotates pairs). nullptr when `c` keeps them all, else the
/// rule it breaks.
constexpr const char* config_problem(const Config& c) {
  if (c.dim <= 0 || c.n_layers <= 0 || c.n_heads <= 0 || c.n_kv_heads <= 0 || c.ffn_dim <= 0 || c.vocab_size <= 0 ||
      c.max_seq_len <= 0 || c.head_dim_override < 0)
    return "every size must be positive";
  if (c.head_dim_override == 0 && c.dim % c.n_heads != 0) return "the heads must divide the width";
  if (c.n_heads % c.n_kv_heads != 0) return "the key/value heads must divide the query heads";
  if (c.head_dim() % 2 != 0) return "the head size must be even (RoPE rotates pairs)";
  if (!(c.norm_eps > 0) || !(c.rope_theta > 0)) return "norm_eps and rope_theta must be positive";
  if (c.sliding_window < 0) return "sliding_window must not be negative";
  if (c.family == Family::qwen2 && !(c.qkv_bias && !c.o_bias && !c.mlp_bias))
    return "qwen2 has biases on q, k and v only";
  if (c.family == Family::mistral && (c.qkv_bias || c.o_bias || c.mlp_bias)) return "mistral has no biases";
  if (c.family == Family::llama && c.qkv_bias != c.o_bias)
    return "llama's attention_bias puts biases on all of q, k, v and o";
  if (c.family != Family::mistral && c.sliding_window != 0) return "only mistral has a sliding window here";
  if (c.rope_scaling.type != ops::RopeScalingType::none) {
    const auto& s = c.rope_scaling;
    if (!(s.factor >= 1)) return "rope_scaling's factor must be at least 1";
    if (s.type != ops::RopeScalingType::linear && s.original_max_position <= 0)
      return "rope_scaling needs original_max_position_embeddings";
    if (s.type == ops::RopeScalingType::llama3 && !(s.high_freq_factor > s.low_freq_factor && s.low_freq_factor > 0))
      return "llama3 rope_scaling needs high_freq_factor > low_freq_factor > 0";
    if (s.type == ops::RopeScalingType::yarn && !(s.beta_fast > 0 && s.beta_slow > 0 && s.attention_factor > 0))
      return "yarn rope_scaling needs positive beta_fast, beta_slow and attention_factor";
    if (s.type == ops::RopeScalingType::dynamic && c.head_dim() <= 2)
      return "dynamic rope_scaling needs a head size above 2 (its exponent is Dh/(Dh-2))";
  }
  return nullptr;
}
consteval bool is_valid(Config c) { return config_problem(c) == nullptr; }

/// The sizes of Model<dynamic, T, D> are known only at run time: the model holds its Config as a member,
/// checked when the model is made. Every other Config fixes the sizes at compile time.
inline constexpr Config dynamic{};
constexpr bool is_dynamic(const Config& c) { return c == dynamic; }

/// ", rope scaling llama3 x8 (original 8192)" or "" when RoPE is not scaled.
inline std::string rope_scaling_words(const ops::RopeScaling& s) {
  switch (s.type) {
    case ops::RopeScalingType::none: return "";
    case ops::RopeScalingType::linear: return detail::concat(", rope scaling linear x", s.factor);
    case ops::RopeScalingType::llama3:
      return detail::concat(", rope scaling llama3 x", s.factor, " (original ", s.original_max_position, ")");
    case ops::RopeScalingType::yarn:
      return detail::concat(", rope scaling yarn x", s.factor, " (original ", s.original_max_position, ")");
    case ops::RopeScalingType::dynamic:
      return detail::concat(", rope scaling dynamic x", s.factor, " (original ", s.original_max_position, ")");
  }
  return "";
}

/// "dim 64, layers 2, heads 4, ...": the architecture in words, for messages.
inline std::string describe(const Config& c) {
  return detail::concat("dim ", c.dim, ", layers ", c.n_layers, ", heads ", c.n_heads, ", kv heads ", c.n_kv_heads,
                        c.head_dim_override ? detail::concat(", head_dim ", c.head_dim_override) : std::string(),
                        ", ffn ", c.ffn_dim, ", vocab ", c.vocab_size, ", max_seq_len ", c.max_seq_len, ", eps ",
                        c.norm_eps, ", rope theta ", c.rope_theta, rope_scaling_words(c.rope_scaling),
                        c.tied_embeddings ? ", tied head" : "", c.qkv_bias ? ", q/k/v biases" : "",
                        c.o_bias ? ", o bias" : "", c.mlp_bias ? ", mlp biases" : "",
                        c.sliding_window ? detail::concat(", sliding window ", c.sliding_window) : std::string(),
                        c.family == Family::mistral ? " (mistral)" : c.family == Family::qwen2 ? " (qwen2)" : "");
}

/// Throws a pmc::Error naming `where`, the architecture and the broken rule when `c` is not a valid config.
inline void check_config(const Config& c, std::string_view where) {
  if (const char* problem = config_problem(c)) fail(where, ": invalid architecture (", describe(c), "): ", problem);
}

// ---- the named configurations ----
inline constexpr Config llama_7b{.dim = 4096, .n_layers = 32, .n_heads = 32, .n_kv_heads = 32, .ffn_dim = 11008,
                                 .vocab_size = 32000, .max_seq_len = 2048, .norm_eps = 1e-6f, .rope_theta = 1e4f};
inline constexpr Config llama_13b{.dim = 5120, .n_layers = 40, .n_heads = 40, .n_kv_heads = 40, .ffn_dim = 13824,
                                  .vocab_size = 32000, .max_seq_len = 2048, .norm_eps = 1e-6f, .rope_theta = 1e4f};
/// LLaMA-2 shapes: the same weights' layout with a 4096-token context and eps 1e-5.
inline constexpr Config llama2_7b{.dim = 4096, .n_layers = 32, .n_heads = 32, .n_kv_heads = 32, .ffn_dim = 11008,
                                  .vocab_size = 32000, .max_seq_len = 4096, .norm_eps = 1e-5f, .rope_theta = 1e4f};
inline constexpr Config llama2_13b{.dim = 5120, .n_layers = 40, .n_heads = 40, .n_kv_heads = 40, .ffn_dim = 13824,
                                   .vocab_size = 32000, .max_seq_len = 4096, .norm_eps = 1e-5f, .rope_theta = 1e4f};
/// The real 260K-parameter TinyStories model of llama2.c (tests).
inline constexpr Config stories260k{.dim = 64, .n_layers = 5, .n_heads = 8, .n_kv_heads = 4, .ffn_dim = 172,
                                    .vocab_size = 512, .max_seq_len = 512, .norm_eps = 1e-5f, .rope_theta = 1e4f,
                                    .tied_embeddings = true};
/// Tiny configurations for tests and the demo.
inline constexpr Config tiny{.dim = 64, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .ffn_dim = 172,
                             .vocab_size = 256, .max_seq_len = 128, .norm_eps = 1e-5f, .rope_theta = 1e4f};
/// ~20M parameters: the CPU training benchmark's model.
inline constexpr Config small_20m{.dim = 384, .n_layers = 8, .n_heads = 6, .n_kv_heads = 6, .ffn_dim = 1024,
                                  .vocab_size = 8000, .max_seq_len = 512, .norm_eps = 1e-5f, .rope_theta = 1e4f};
/// ~1.1B parameters with grouped-query attention (TinyLlama-1.1B's shape): the GPU training-step benchmark's model.
inline constexpr Config llama_1b{.dim = 2048, .n_layers = 22, .n_heads = 32, .n_kv_heads = 4, .ffn_dim = 5632,
                                 .vocab_size = 32000, .max_seq_len = 2048, .norm_eps = 1e-5f, .rope_theta = 1e4f};

static_assert(is_valid(llama_7b) && is_valid(llama_13b) && is_valid(llama2_7b) && is_valid(llama2_13b));
static_assert(is_valid(llama_1b) && llama_1b.parameters() == 1'100'048'384);
static_assert(llama_7b.parameters() == 6'738'415'616);
static_assert(llama_13b.parameters() == 13'015'864'320);

}  // namespace pmc::llama

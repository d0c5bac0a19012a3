// SPDX-License-Identifier: MIT
// Compile-time LLaMA configurations: the named table (7B, 13B, their 4k-context LLaMA-2 variants, tiny ones),
// validity rules checked at compile time, and exact parameter counts.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <pmc/config.hpp>

namespace pmc::llama {

/// A LLaMA architecture. A structural type, so it is a template argument: Model<llama_7b, bf16, Cuda>.
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

  PMC_HOST_DEVICE constexpr int head_dim() const { return head_dim_override ? head_dim_override : dim / n_heads; }
  PMC_HOST_DEVICE constexpr int q_dim() const { return n_heads * head_dim(); }
  PMC_HOST_DEVICE constexpr int kv_dim() const { return n_kv_heads * head_dim(); }

  /// Parameters of one transformer block: q, k, v, o projections, gate/up/down, two norms.
  constexpr std::int64_t block_parameters() const {
    const std::int64_t d = dim, q = q_dim(), kv = kv_dim(), f = ffn_dim;
    return d * q + 2 * d * kv + q * d + 3 * d * f + 2 * d;
  }
  /// Every parameter: embedding, blocks, final norm, and the head unless tied.
  constexpr std::int64_t parameters() const {
    const std::int64_t emb = std::int64_t{vocab_size} * dim;
    return emb + n_layers * block_parameters() + dim + (tied_embeddings ? 0 : emb);
  }
  friend constexpr bool operator==(const Config&, const Config&) = default;
};

/// The rules every configuration must satisfy: heads divide the width (unless the head size is explicit),
/// KV heads divide heads, the head size is even (RoPE rotates pairs).
consteval bool is_valid(Config c) {
  return c.dim > 0 && c.n_layers > 0 && c.n_heads > 0 && c.n_kv_heads > 0 && c.ffn_dim > 0 && c.vocab_size > 0 &&
         c.max_seq_len > 0 && (c.head_dim_override != 0 || c.dim % c.n_heads == 0) &&
         c.n_heads % c.n_kv_heads == 0 && c.head_dim() % 2 == 0 && c.norm_eps > 0 && c.rope_theta > 0;
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

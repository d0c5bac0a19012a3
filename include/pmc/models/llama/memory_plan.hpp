// SPDX-License-Identifier: MIT
// How many bytes training or running a Config takes, before anything is allocated: weights, gradients,
// optimizer state and the activations pmc's autograd keeps alive between forward and backward.
#pragma once

#include <cstdint>
#include <string>

#include <pmc/core/error.hpp>
#include <pmc/models/llama/config.hpp>

namespace pmc::llama {

enum class PlanDtype { fp32, bf16 };      // bf16: bf16 weights/activations with fp32 master weights
enum class PlanOptimizer { none, sgd, adamw };

struct PlanOptions {
  PlanDtype dtype = PlanDtype::fp32;
  std::int64_t batch = 1;
  std::int64_t seq = 512;
  PlanOptimizer optimizer = PlanOptimizer::adamw;
  bool training = true;  // false: inference only (no gradients, optimizer or saved activations)
};

struct MemoryPlan {
  std::int64_t parameters = 0;
  std::int64_t weight_bytes = 0;     // the model's weights in the compute dtype
  std::int64_t master_bytes = 0;     // fp32 master copy (bf16 mixed precision)
  std::int64_t gradient_bytes = 0;   // one gradient per parameter, in the compute dtype
  std::int64_t optimizer_bytes = 0;  // AdamW: m and v in fp32; SGD: momentum in fp32
  std::int64_t activation_bytes = 0; // tensors the tape keeps for backward (or, for inference, one step's)
  std::int64_t total_bytes() const {
    return weight_bytes + master_bytes + gradient_bytes + optimizer_bytes + activation_bytes;
  }
};

/// Activations kept by pmc's tape per transformer block, in elements of the compute dtype (N = B·T):
/// the block input, both norm outputs, q/k/v projections and their rotated copies, the attention output,
/// o-projection and residual, gate, up and SwiGLU outputs, down-projection and residual; plus float
/// attention probabilities (B, H, T, T) and two rstd vectors (N).
constexpr std::int64_t block_activation_elements(const Config& c, std::int64_t B, std::int64_t T) {
  const std::int64_t N = B * T;
  return N * (6 * std::int64_t{c.dim} + 3 * c.q_dim() + 3 * c.kv_dim() + 3 * std::int64_t{c.ffn_dim});
}

inline MemoryPlan plan_memory(const Config& c, const PlanOptions& o) {
  PMC_CHECK(o.batch > 0 && o.seq > 0, "plan: batch and seq must be positive");
  PMC_CHECK(o.seq <= c.max_seq_len, "plan: seq ", o.seq, " exceeds the config's max_seq_len ", c.max_seq_len);
  MemoryPlan p;
  p.parameters = c.parameters();
  const std::int64_t elt = o.dtype == PlanDtype::bf16 ? 2 : 4;
  p.weight_bytes = p.parameters * elt;
  const std::int64_t N = o.batch * o.seq;
  if (!o.training) {
    // one forward under NoGrad: the KV cache, the widest intermediates of a block and the logits
    const std::int64_t cache = 2 * std::int64_t{c.n_layers} * N * c.kv_dim() * elt;
    const std::int64_t block = (N * (2 * std::int64_t{c.dim} + c.q_dim() + 2 * c.kv_dim() + 3 * std::int64_t{c.ffn_dim})) * elt +
                               o.batch * c.n_heads * o.seq * o.seq * 4;
    p.activation_bytes = cache + block + N * std::int64_t{c.vocab_size} * elt;
    return p;
  }
  if (o.dtype == PlanDtype::bf16) p.master_bytes = p.parameters * 4;
  p.gradient_bytes = p.parameters * elt;
  const std::int64_t states = o.optimizer == PlanOptimizer::adamw ? 2 : o.optimizer == PlanOptimizer::sgd ? 1 : 0;
  p.optimizer_bytes = p.parameters * 4 * states;
  const std::int64_t per_block = block_activation_elements(c, o.batch, o.seq) * elt +
                                 o.batch * c.n_heads * o.seq * o.seq * 4 + 2 * N * 4;
  const std::int64_t outside = (2 * N * std::int64_t{c.dim} + N * std::int64_t{c.vocab_size}) * elt + 2 * N * 4;
  p.activation_bytes = c.n_layers * per_block + outside;
  return p;
}

}  // namespace pmc::llama

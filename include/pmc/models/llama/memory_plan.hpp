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
  bool recompute = false;  // activation recompute per block (Model::set_recompute): keep block inputs only
};

struct MemoryPlan {
  std::int64_t parameters = 0;
  std::int64_t weight_bytes = 0;     // the model's weights in the compute dtype
  std::int64_t master_bytes = 0;     // fp32 master copy (bf16 mixed precision)
  std::int64_t gradient_bytes = 0;   // one gradient per parameter in the compute dtype (+ fp32 master grads)
  std::int64_t optimizer_bytes = 0;  // AdamW: m and v in fp32; SGD: momentum in fp32
  std::int64_t activation_bytes = 0; // the peak of a training step's other tensors (or one inference step's)
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

/// The most bytes a training forward + backward holds at once beyond weights, gradient buffers and the batch,
/// following what pmc's tape keeps and frees (E bytes per activation element; rstd, log-sum-exp and attention
/// probabilities in float; N = B·T):
///   outside the blocks: embedding output, final norm output and rstd, logits, log-sum-exp;
///   without recompute every block keeps block_activation_elements + probabilities + 2 rstd; with it, each
///   block keeps only its output (N·dim);
/// and the peak is the larger of two moments of the backward:
///   at the output head: everything kept, plus dlogits (N·V) and the final norm output's gradient (N·dim);
///   in the last block's SwiGLU backward: the blocks' saved tensors and the residual gradient, plus the
///   gradients of the SwiGLU output, gate and up projections (3·N·ffn). Without recompute the block's output
///   and the down projection (2·N·dim) are freed by then; with it, the recomputed block's activations are
///   alive again, with the gradients of the block's input and output.
/// tests/train/recompute_test.cpp checks this against the allocator's measured peak.
constexpr std::int64_t training_activation_bytes(const Config& c, std::int64_t B, std::int64_t T, std::int64_t elt,
                                                 bool recompute) {
  const std::int64_t N = B * T, L = c.n_layers, dim = c.dim, ffn = c.ffn_dim, V = c.vocab_size;
  const std::int64_t block_kept =
      block_activation_elements(c, B, T) * elt + B * std::int64_t{c.n_heads} * T * T * 4 + 2 * N * 4;
  const std::int64_t outside = 2 * N * dim * elt + N * 4 + N * V * elt + N * 4;
  const std::int64_t blocks = recompute ? L * N * dim * elt : L * block_kept;
  const std::int64_t head_peak = blocks + outside + N * V * elt + N * dim * elt;
  const std::int64_t swiglu_peak =
      recompute ? blocks + N * dim * elt /* embedding output */ + 2 * N * dim * elt + block_kept + 3 * N * ffn * elt
                : blocks + N * dim * elt /* embedding output */ + N * dim * elt + 3 * N * ffn * elt - 2 * N * dim * elt;
  return head_peak > swiglu_peak ? head_peak : swiglu_peak;
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
  // bf16 mixed precision: the model's bf16 grads of a micro-batch and the fp32 master grads they add into
  p.gradient_bytes = p.parameters * elt + (o.dtype == PlanDtype::bf16 ? p.parameters * 4 : 0);
  const std::int64_t states = o.optimizer == PlanOptimizer::adamw ? 2 : o.optimizer == PlanOptimizer::sgd ? 1 : 0;
  p.optimizer_bytes = p.parameters * 4 * states;
  p.activation_bytes = training_activation_bytes(c, o.batch, o.seq, elt, o.recompute);
  return p;
}

}  // namespace pmc::llama

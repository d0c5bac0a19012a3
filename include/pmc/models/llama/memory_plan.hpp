// SPDX-License-Identifier: MIT
// How many bytes training or running a Config takes, before anything is allocated: weights, gradients,
// optimizer state and the activations pmc's autograd keeps alive between forward and backward; for full
// training, or LoRA on a frozen base (in the compute dtype, int8 or NF4: QLoRA); per rank of data-parallel
// training, replicated or with ZeRO-style sharding of the optimizer state and gradients.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <utility>
#include <string>

#include <pmc/core/error.hpp>
#include <pmc/models/llama/config.hpp>
#include <pmc/models/llama/lora_config.hpp>

namespace pmc::llama {

enum class PlanDtype { fp32, bf16 };      // bf16: bf16 weights/activations with fp32 master weights
enum class PlanOptimizer { none, sgd, adamw };
/// How data-parallel training spreads its state over the ranks (the trainer's --shard; the models layer does not
/// include dist/, so the plan has its own names): none replicates everything (plain data parallelism); optimizer
/// (ZeRO-1) gives each rank a shard of the fp32 masters and the optimizer state; gradients (ZeRO-2) also of the
/// fp32 gradient accumulator; full (ZeRO-3) also of the weights, gathered block by block. Shards are per parameter
/// tensor (as PyTorch's FSDP2): a tensor of n elements is cut in chunks of ceil(n / ranks), rank r owning
/// [r·c, min((r+1)·c, n)); rank 0 holds the largest share.
enum class PlanShard { none, optimizer, gradients, full };

constexpr const char* plan_shard_name(PlanShard s) {
  switch (s) {
    case PlanShard::none: return "none";
    case PlanShard::optimizer: return "optimizer";
    case PlanShard::gradients: return "gradients";
    case PlanShard::full: return "full";
  }
  return "?";
}

/// The most ranks a plan takes.
inline constexpr std::int64_t kMaxPlanRanks = std::int64_t{1} << 20;

/// Up to this many rows (batch · seq) a forward multiplies int8 / nf4 weights straight from their blocks
/// (autograd::linear's kQuantizedMatmulMaxRows, checked equal in tests/models/inference_plan_test.cpp); above, it
/// dequantizes them. q8_0 / q4_0 are always multiplied from the blocks (autograd::fused_quantized_rows).
inline constexpr std::int64_t kPlanFusedQuantizedRows = 256;

struct PlanOptions {
  PlanDtype dtype = PlanDtype::fp32;
  std::int64_t batch = 1;
  std::int64_t seq = 512;
  PlanOptimizer optimizer = PlanOptimizer::adamw;
  bool training = true;  // false: inference only (no gradients, optimizer or saved activations)
  bool recompute = false;  // activation recompute per block (Model::set_recompute): keep block inputs only
  std::optional<LoraConfig> lora;  // LoRA: a frozen base, only the adapters train (Model::add_lora)
  /// The seven projections of every block as stored: under LoRA the frozen base's (compute dtype, int8 or nf4);
  /// for inference (!training) weight-only quantization (pmc eval|generate --weights q8_0|q4_0)
  BaseQuant base_quant = BaseQuant::none;
  std::int64_t ranks = 1;                  // data-parallel ranks (1 to kMaxPlanRanks); the plan is one rank's
  PlanShard shard = PlanShard::none;       // what the ranks shard (training only)
};

struct MemoryPlan {
  std::int64_t parameters = 0;       // the base model's
  std::int64_t trainable = 0;        // what the optimizer updates: every parameter, or LoRA's adapters
  std::int64_t weight_bytes = 0;     // the model's weights in the compute dtype (a quantized base: see plan_memory)
  std::int64_t master_bytes = 0;     // fp32 master copy (bf16 mixed precision; the rank's shard when sharded)
  std::int64_t gradient_bytes = 0;   // one per parameter in the compute dtype + fp32 master grads (whole or sharded)
  std::int64_t optimizer_bytes = 0;  // AdamW: m and v in fp32; SGD: momentum in fp32 (the rank's shard if sharded)
  std::int64_t activation_bytes = 0; // the peak of a training step's other tensors (or one inference step's)
  std::int64_t communication_bytes = 0;  // sharded training: the largest reduce-scatter / all-gather buffers
  std::int64_t shard_trainable = 0;  // rank 0's share of the trainable parameters (= trainable when not sharded)
  std::int64_t total_bytes() const {
    // the collectives' buffers live after the backward (the reduce-scatter of a micro-batch's gradients, the
    // all-gather of the updated weights), when the activations are freed: the larger of the two
    return weight_bytes + master_bytes + gradient_bytes + optimizer_bytes + std::max(activation_bytes, communication_bytes);
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

/// (out, in) of a block's projection.
constexpr std::pair<std::int64_t, std::int64_t> projection_shape(const Config& c, Projection p) {
  switch (p) {
    case Projection::q: return {c.q_dim(), c.dim};
    case Projection::k:
    case Projection::v: return {c.kv_dim(), c.dim};
    case Projection::o: return {c.dim, c.q_dim()};
    case Projection::gate:
    case Projection::up: return {c.ffn_dim, c.dim};
    case Projection::down: return {c.dim, c.ffn_dim};
  }
  return {0, 0};
}

/// LoRA's trainable parameters: r·(in + out) per targeted projection per layer (A: (r, in), B: (out, r)),
/// what Model::lora_parameters() holds after add_lora.
inline std::int64_t lora_parameter_count(const Config& c, const LoraConfig& lora) {
  std::int64_t per_layer = 0;
  for (auto p : lora.targets) {
    const auto [out, in] = projection_shape(c, p);
    per_layer += std::int64_t{lora.rank} * (in + out);
  }
  return per_layer * c.n_layers;
}

/// Bytes of one frozen projection weight of `elements` elements stored as `q` (ops/quantize.hpp), blocks of 64
/// over the flattened weight: int8 = 1 byte an element + an fp32 scale a block; nf4 = half a byte an element +
/// an 8-bit absmax code a block + an fp32 scale per 256 blocks + one fp32 offset (QLoRA's double quantization);
/// q8_0 / q4_0 = 34 / 18 bytes per block of 32 (llama.cpp).
/// `elt` is the compute dtype's size (BaseQuant::none).
constexpr std::int64_t quantized_weight_bytes(std::int64_t elements, BaseQuant q, std::int64_t elt) {
  const std::int64_t blocks = (elements + 63) / 64;
  switch (q) {
    case BaseQuant::none: return elements * elt;
    case BaseQuant::int8: return elements + blocks * 4;
    case BaseQuant::nf4: return (elements + 1) / 2 + blocks + (blocks + 255) / 256 * 4 + 4;
    case BaseQuant::q8_0: return (elements + 31) / 32 * 34;
    case BaseQuant::q4_0: return (elements + 31) / 32 * 18;
  }
  return 0;
}

/// LoRA's extra activations over full training's, in bytes (E bytes an element; N = B·T), per block:
/// each adapter of a projection (in → out) adds what its recorded closures keep alive in Model's `proj`:
/// linear(x, A)'s output (N·r), linear(·, B)'s output (N·out), scale's output (N·out) and add's output, the
/// projection's result (N·out); the base projection's output y stays kept (by add). With dropout > 0, also the
/// mask and the dropped input (2·N·in, mul's closure keeps both). `skip_down`: without the down projection's
/// adapter (freed when the backward reaches the block's SwiGLU).
inline std::int64_t lora_block_extra_bytes(const Config& c, const LoraConfig& lora, std::int64_t N, std::int64_t elt,
                                           bool skip_down = false) {
  std::int64_t e = 0;
  for (auto p : lora.targets) {
    if (skip_down && p == Projection::down) continue;
    const auto [out, in] = projection_shape(c, p);
    e += N * (std::int64_t{lora.rank} + 3 * out) + (lora.dropout > 0 ? 2 * N * in : 0);
  }
  return e * elt;
}

/// What block 0 keeps less under LoRA than a full-training block: its input (the frozen embedding's output)
/// does not require grad, so nothing before the first adapter is recorded. With an adapter on q, k or v: the
/// attention norm's rstd (N·4), the q and k projections' outputs when they have no adapter (rope's closure is not
/// recorded; its output is kept by attention), and, with dropout, the q, k, v adapters' masks (N·dim each: mul is
/// not recorded) and the attention norm's output (N·dim: the adapters keep their dropped copies, the base
/// projections nothing). With adapters only from o on, block 0's attention is not recorded at all: its
/// probabilities, q, k, their rotated copies, v, the attention output (3·q_dim + 3·kv_dim) and the norm's output
/// and rstd; without an adapter on o also the o projection, the embedding output and the ffn norm's rstd.
/// Exact for targets that include q, k or v (tests/models/lora_plan_test.cpp); for the others an upper bound.
inline std::int64_t lora_block0_saving_bytes(const Config& c, const LoraConfig& lora, std::int64_t B, std::int64_t T,
                                             std::int64_t elt) {
  const std::int64_t N = B * T;
  const bool qkv = lora.targets_projection(Projection::q) || lora.targets_projection(Projection::k) ||
                   lora.targets_projection(Projection::v);
  std::int64_t s = N * 4;
  if (!qkv) {
    s += N * (std::int64_t{c.dim} + 3 * c.q_dim() + 3 * c.kv_dim()) * elt + B * std::int64_t{c.n_heads} * T * T * 4;
    if (!lora.targets_projection(Projection::o)) s += N * 4 + 2 * N * std::int64_t{c.dim} * elt;
    return s;
  }
  if (!lora.targets_projection(Projection::q)) s += N * c.q_dim() * elt;
  if (!lora.targets_projection(Projection::k)) s += N * c.kv_dim() * elt;
  if (lora.dropout > 0) {
    s += N * c.dim * elt;
    for (auto p : {Projection::q, Projection::k, Projection::v})
      if (lora.targets_projection(p)) s += N * c.dim * elt;
  }
  return s;
}

/// The activation peak of a LoRA training step (frozen base), in bytes; training_activation_bytes's two
/// moments with the adapters' tensors added:
///   blocks: without recompute, L · (full block + lora_block_extra) − lora_block0_saving; with recompute,
///   every block keeps only its output (N·dim), as in full training;
///   at the output head: as in full training, with these blocks;
///   in the last block's SwiGLU backward: as in full training, plus the adapters the last block keeps then (all
///   but down's, whose tensors were freed when its backward ran) — with recompute, those of the recomputed block.
/// The base's weights get no gradient buffers (their matmul backwards compute only the input's gradient), and
/// the adapters' gradient buffers are the plan's gradient_bytes.
inline std::int64_t lora_training_activation_bytes(const Config& c, const LoraConfig& lora, std::int64_t B,
                                                   std::int64_t T, std::int64_t elt, bool recompute) {
  const std::int64_t N = B * T, L = c.n_layers, dim = c.dim, ffn = c.ffn_dim, V = c.vocab_size;
  const std::int64_t full_block =
      block_activation_elements(c, B, T) * elt + B * std::int64_t{c.n_heads} * T * T * 4 + 2 * N * 4;
  const std::int64_t extra = lora_block_extra_bytes(c, lora, N, elt);
  const std::int64_t outside = 2 * N * dim * elt + N * 4 + N * V * elt + N * 4;
  const std::int64_t blocks = recompute ? L * N * dim * elt
                                        : L * (full_block + extra) - lora_block0_saving_bytes(c, lora, B, T, elt);
  const std::int64_t head_peak = blocks + outside + N * V * elt + N * dim * elt;
  const std::int64_t last_block_extra = lora_block_extra_bytes(c, lora, N, elt, /*skip_down=*/true);
  const std::int64_t swiglu_peak =
      recompute ? blocks + N * dim * elt + 2 * N * dim * elt + full_block + last_block_extra + 3 * N * ffn * elt
                : blocks + N * dim * elt + N * dim * elt + 3 * N * ffn * elt - 2 * N * dim * elt -
                      (extra - last_block_extra);
  return std::max(head_peak, swiglu_peak);
}

/// The trainable parameter tensors' sizes under per-tensor sharding over `ranks`: `shard` = S, the sum of
/// ceil(n / ranks) over the tensors (rank 0's share, the largest), and `largest` = the largest tensor's n;
/// `outside_blocks` and `block`: the elements the weights' all-gathers hold whole (ceil(n / ranks) · ranks per
/// tensor) for the tensors outside the transformer blocks (embedding, final norm, head) and for one block.
struct ShardedParameters {
  std::int64_t shard = 0;
  std::int64_t largest = 0;
  std::int64_t outside_blocks = 0;
  std::int64_t block = 0;
};

/// ShardedParameters of the tensors Model::parameters_to_train() holds: every parameter (named_parameters():
/// embedding, per block the two norms, seven projections and their biases, final norm, head unless tied), or with
/// `lora` the adapters (lora_parameters(): A (r, in) and B (out, r) per targeted projection per block).
inline ShardedParameters sharded_trainable_parameters(const Config& c, const std::optional<LoraConfig>& lora,
                                                      std::int64_t ranks) {
  ShardedParameters s;
  const std::int64_t L = c.n_layers, d = c.dim;
  // a tensor of n elements, `times` of them; in_block: one in each block (times = L)
  const auto add = [&](std::int64_t n, std::int64_t times, bool in_block) {
    if (n <= 0) return;
    const std::int64_t chunk = (n + ranks - 1) / ranks;
    s.shard += chunk * times;
    s.largest = std::max(s.largest, n);
    if (in_block) s.block += chunk * ranks;
    else s.outside_blocks += chunk * ranks * times;
  };
  if (lora) {
    for (auto p : lora->targets) {
      const auto [out, in] = projection_shape(c, p);
      add(std::int64_t{lora->rank} * in, L, true);
      add(out * std::int64_t{lora->rank}, L, true);
    }
    return s;
  }
  const std::int64_t emb = std::int64_t{c.vocab_size} * d;
  add(emb, 1, false);
  add(d, L, true);  // the two norms of every block
  add(d, L, true);
  for (auto p : kAllProjections) {
    const auto [out, in] = projection_shape(c, p);
    add(out * in, L, true);
    const bool bias = (p == Projection::q || p == Projection::k || p == Projection::v)  ? c.qkv_bias
                      : p == Projection::o                                             ? c.o_bias
                                                                                       : c.mlp_bias;
    if (bias) add(out, L, true);
  }
  add(d, 1, false);  // the final norm
  if (!c.tied_embeddings) add(emb, 1, false);
  return s;
}

/// The plan of a training step (or, with !o.training, of a forward with a KV cache). With o.lora (LoRA on a
/// frozen base): trainable = lora_parameter_count; weights = the base (its seven projections per
/// quantized_weight_bytes, everything else in the compute dtype) + the adapters in the compute dtype; master
/// (bf16: fp32), gradient and optimizer bytes for the adapters only (the base gets no gradient buffers);
/// activations = lora_training_activation_bytes, plus with a quantized base one projection dequantized into the
/// compute dtype (the largest, transient: freed after its product, in forward and again in backward).
///
/// Data parallelism over o.ranks (every figure is one rank's; rank 0's, which holds the largest shares). N is the
/// trainable count, S = sharded_trainable_parameters(...).shard, c = ceil(largest trainable tensor / ranks), w the
/// compute dtype's bytes:
///   none: every rank holds the whole plan above (the gradients are all-reduced in place);
///   optimizer (ZeRO-1): the weights and the model's gradients stay whole (N·w, and in bf16 the fp32 accumulator
///     N·4, all-reduced whole); fp32 masters S·4 and optimizer state S·4 per moment; communication: the
///     all-gather of the updated weights, one tensor at a time: c·w sent + ranks·c·w received;
///   gradients (ZeRO-2): as optimizer, but the fp32 accumulator is the shard's: bf16 keeps the model's gradients
///     N·2 and fp32 shard gradients S·4 (each micro-batch reduce-scattered into them, one tensor at a time);
///     fp32 the model's gradients N·4 and shard gradients S·4 (reduce-scattered once a step); communication: the
///     larger of the reduce-scatter's buffers (ranks·c·4 in + c·4 out) and the all-gather's;
///   full (ZeRO-3, needs recompute; with LoRA the adapters', the frozen base whole): the weights are the shard's too (fp32: S·4 weights; bf16: the
///     S·4 masters, from which the bf16 weights are gathered), plus whole, in the compute dtype, the tensors
///     outside the blocks for a micro-batch and two blocks at a time (the one computing and the next one's
///     all-gather in flight; as gathered: ceil(n / ranks)·ranks each); gradients: fp32 shard gradients S·4 and,
///     whole in the compute dtype, those outside the blocks and of two blocks (one computing, one being
///     reduce-scattered);
///     communication: the reduce-scatter's buffers (ranks·c·4 in + c·4 out), one tensor at a time.
/// With LoRA the adapters are what is sharded; the frozen base is replicated.
inline MemoryPlan plan_memory(const Config& c, const PlanOptions& o) {
  PMC_CHECK(o.batch > 0 && o.seq > 0, "plan: batch and seq must be positive");
  PMC_CHECK(o.ranks >= 1 && o.ranks <= kMaxPlanRanks, "plan: ranks must be between 1 and ", kMaxPlanRanks,
            ", not ", o.ranks);
  PMC_CHECK(o.shard == PlanShard::none || o.training, "plan: sharding (", plan_shard_name(o.shard),
            ") spreads training state over the ranks; inference has none to shard");
  PMC_CHECK(o.shard != PlanShard::full || o.recompute, "plan: sharding the weights (full) needs activation ",
            "recompute (--recompute full), as training does");
  PMC_CHECK(o.seq <= c.max_seq_len, "plan: seq ", o.seq, " exceeds the config's max_seq_len ", c.max_seq_len);
  PMC_CHECK(o.base_quant == BaseQuant::none || !o.training || o.lora, "plan: a quantized base (",
            base_quant_name(o.base_quant), ") is LoRA's frozen base: give a LoRA config for training, or plan inference");
  if (o.lora) {
    const std::string problem = o.lora->problem();
    PMC_CHECK(problem.empty(), "plan: LoRA: ", problem);
  }
  MemoryPlan p;
  p.parameters = c.parameters();
  const std::int64_t elt = o.dtype == PlanDtype::bf16 ? 2 : 4;
  // one rank's share of the masters, the optimizer state and (gradients) the fp32 gradient accumulator, and the
  // communication buffers; a no-op without sharding
  const auto apply_sharding = [&](MemoryPlan& q) {
    const auto sh = sharded_trainable_parameters(c, o.lora, o.ranks);
    // one rank shards nothing (the trainer runs it unsharded)
    const bool sharded = o.shard != PlanShard::none && o.ranks > 1;
    q.shard_trainable = sharded ? sh.shard : q.trainable;
    if (!sharded) return;
    const std::int64_t n = q.trainable, s = sh.shard, chunk = (sh.largest + o.ranks - 1) / o.ranks;
    const std::int64_t states = o.optimizer == PlanOptimizer::adamw ? 2 : o.optimizer == PlanOptimizer::sgd ? 1 : 0;
    if (o.dtype == PlanDtype::bf16) q.master_bytes = s * 4;
    q.optimizer_bytes = s * 4 * states;
    const std::int64_t all_gather = chunk * elt + o.ranks * chunk * elt;
    if (o.shard == PlanShard::optimizer) {
      q.communication_bytes = all_gather;  // the gradients as unsharded: the model's, and bf16's fp32 accumulator
      return;
    }
    if (o.shard == PlanShard::full) {
      const std::int64_t gathered = sh.outside_blocks + 2 * sh.block;  // overlapped: two blocks at once
      const std::int64_t frozen = q.weight_bytes - n * elt;             // LoRA's base, whole; else 0
      q.weight_bytes = frozen + gathered * elt + (o.dtype == PlanDtype::bf16 ? 0 : s * 4);
      q.gradient_bytes = gathered * elt + s * 4;
      q.communication_bytes = o.ranks * chunk * 4 + chunk * 4;
      return;
    }
    q.gradient_bytes = n * elt + s * 4;  // the model's gradients and the shard's fp32 gradients
    q.communication_bytes = std::max(o.ranks * chunk * 4 + chunk * 4, all_gather);
  };
  p.weight_bytes = p.parameters * elt;
  p.trainable = p.parameters;
  const std::int64_t N = o.batch * o.seq;
  if (o.lora && o.training) {
    // the frozen base (its seven projections quantized or not; embeddings, norms and head in the compute dtype)
    // and the adapters in the compute dtype; gradients, masters and optimizer state for the adapters only
    const std::int64_t adapters = lora_parameter_count(c, *o.lora);
    p.trainable = adapters;
    std::int64_t projections = 0, largest = 0, quantized = 0;
    for (auto pr : kAllProjections) {
      const auto [out, in] = projection_shape(c, pr);
      projections += out * in * c.n_layers;
      quantized += quantized_weight_bytes(out * in, o.base_quant, elt) * c.n_layers;
      largest = std::max(largest, out * in);
    }
    // q8_0 / q4_0 bases hold an untied head of a width that is a multiple of 32 in q8_0 (Model::quantize_base)
    const std::int64_t head_elements = quantized_head_elements(c, o.base_quant);
    if (head_elements > 0) {
      quantized += quantized_weight_bytes(head_elements, BaseQuant::q8_0, elt);
      largest = std::max(largest, head_elements);
    }
    p.weight_bytes = (p.parameters - projections - head_elements) * elt + quantized + adapters * elt;
    if (o.dtype == PlanDtype::bf16) p.master_bytes = adapters * 4;
    p.gradient_bytes = adapters * elt + (o.dtype == PlanDtype::bf16 ? adapters * 4 : 0);
    const std::int64_t states = o.optimizer == PlanOptimizer::adamw ? 2 : o.optimizer == PlanOptimizer::sgd ? 1 : 0;
    p.optimizer_bytes = adapters * 4 * states;
    p.activation_bytes = lora_training_activation_bytes(c, *o.lora, o.batch, o.seq, elt, o.recompute);
    // a quantized base: one projection dequantized into the compute dtype at a time, in forward and backward
    if (o.base_quant != BaseQuant::none) p.activation_bytes += largest * elt;
    apply_sharding(p);
    return p;
  }
  if (!o.training) {
    // one forward under NoGrad with a KV cache of batch × seq positions: the cache, plus the largest of three
    // moments (what Model::block_forward's locals hold; N = batch · seq):
    //   attention: the block's input, the norm output, q, k, v, the attention output (N·(2·dim + 2·q_dim +
    //     2·kv_dim)) and the float probabilities (batch, heads, seq, seq);
    //   the up projection: those but the probabilities, the residual after attention, the second norm output, the
    //     gate and up outputs (N·(4·dim + 2·q_dim + 2·kv_dim + 2·ffn)), and with int8 / nf4 weights above
    //     kPlanFusedQuantizedRows rows up's weight dequantized into the compute dtype;
    //   the down projection: as up's, plus the SwiGLU output and the down projection's output (N·(5·dim + 2·q_dim +
    //     2·kv_dim + 3·ffn)), and down's weight dequantized (int8 / nf4 above that many rows);
    //   the head: the last block's output, the final norm output and the logits (N·(2·dim + vocab)).
    // tests/models/inference_plan_test.cpp checks plan against the allocator's measured peak.
    const std::int64_t dim = c.dim, qd = c.q_dim(), kvd = c.kv_dim(), ffn = c.ffn_dim, V = c.vocab_size;
    const std::int64_t cache = 2 * std::int64_t{c.n_layers} * N * kvd * elt;
    const std::int64_t attention = N * (2 * dim + 2 * qd + 2 * kvd) * elt + o.batch * c.n_heads * o.seq * o.seq * 4;
    const std::int64_t up = N * (4 * dim + 2 * qd + 2 * kvd + 2 * ffn) * elt;
    const std::int64_t down = N * (5 * dim + 2 * qd + 2 * kvd + 3 * ffn) * elt;
    const std::int64_t head = N * (2 * dim + V) * elt;
    std::int64_t up_dequantized = 0, down_dequantized = 0;  // int8 / nf4 weights: set below
    if (o.base_quant != BaseQuant::none) {
      // weight-only quantization (Model::quantize_base): the projections as stored, except those q8_0 / q4_0
      // cannot block (an input width not a multiple of 32: kept in the compute dtype); embeddings, norms and biases
      // in the compute dtype. int8 / nf4 above kPlanFusedQuantizedRows rows: a product dequantizes its weight
      // into the compute dtype, one projection at a time (the largest: transient); q8_0 / q4_0 never do
      const bool ggml = o.base_quant == BaseQuant::q8_0 || o.base_quant == BaseQuant::q4_0;
      std::int64_t projections = 0, stored = 0;
      const bool dequantizes = !ggml && N > kPlanFusedQuantizedRows;
      for (auto pr : kAllProjections) {
        const auto [out, in] = projection_shape(c, pr);
        projections += out * in * c.n_layers;
        const bool blockable = !ggml || in % 32 == 0;
        stored += (blockable ? quantized_weight_bytes(out * in, o.base_quant, elt) : out * in * elt) * c.n_layers;
        if (blockable && dequantizes && pr == Projection::up) up_dequantized = out * in * elt;
        if (blockable && dequantizes && pr == Projection::down) down_dequantized = out * in * elt;
      }
      // q8_0 / q4_0 hold an untied head of a width that is a multiple of 32 in q8_0 (Model::quantize_base)
      const std::int64_t head_elements = quantized_head_elements(c, o.base_quant);
      stored += quantized_weight_bytes(head_elements, BaseQuant::q8_0, elt);
      p.weight_bytes = (p.parameters - projections - head_elements) * elt + stored;
    }
    p.activation_bytes =
        cache + std::max({attention, up + up_dequantized, down + down_dequantized, head});
    p.shard_trainable = p.trainable;
    return p;
  }
  if (o.dtype == PlanDtype::bf16) p.master_bytes = p.parameters * 4;
  // bf16 mixed precision: the model's bf16 grads of a micro-batch and the fp32 master grads they add into
  p.gradient_bytes = p.parameters * elt + (o.dtype == PlanDtype::bf16 ? p.parameters * 4 : 0);
  const std::int64_t states = o.optimizer == PlanOptimizer::adamw ? 2 : o.optimizer == PlanOptimizer::sgd ? 1 : 0;
  p.optimizer_bytes = p.parameters * 4 * states;
  p.activation_bytes = training_activation_bytes(c, o.batch, o.seq, elt, o.recompute);
  apply_sharding(p);
  return p;
}

}  // namespace pmc::llama

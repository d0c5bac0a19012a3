// SPDX-License-Identifier: MIT
// Sharded data parallelism: ZeRO stages 1 to 3, each parameter tensor sharded on its own (as PyTorch's FSDP2
// does) so that any rank count works. With R ranks a parameter of n elements is flattened and cut in chunks of
// ⌈n / R⌉ (dist::shard_range); rank r owns chunk r of every parameter: its fp32 masters (mixed precision), its
// AdamW moments and, from the gradients level on, its gradients.
//   ShardLevel::optimizer  (ZeRO-1) gradients all-reduced whole; each rank updates its chunks; the updated
//                          chunks all-gathered into every rank's weights
//   ShardLevel::gradients  (ZeRO-2) as optimizer, but each rank receives only the sum of its chunks of the
//                          gradients (reduce-scatter): in bf16 mixed precision after every micro-batch, so no rank
//                          holds a whole fp32 gradient; in fp32 once per step, from the model's gradients
//   ShardLevel::full       (ZeRO-3) as gradients, and the weights are sharded too: between uses a parameter holds
//                          no memory on any rank; each transformer block's parameters are all-gathered just before
//                          the block runs (forward, and the recomputed forward of its backward: activation
//                          recompute is required) and freed after, and its gradients are reduce-scattered into the
//                          shard gradients as soon as its backward is done (llama::BlockHooks). The parameters
//                          outside the blocks (embedding, final norm, head) are gathered for a whole micro-batch.
//                          With `overlap` (and a communicator another thread may drive, dist::CommThread) the
//                          collectives run on a background thread: the next block's all-gather is in flight while
//                          this one computes (block l + 1 in forward, l - 1 in backward), and each block's
//                          reduce-scatter while the backward goes on; the same collectives in the same order on
//                          every rank, so the same bits as without overlap.
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <pmc/core/dtype.hpp>
#include <pmc/core/error.hpp>
#include <pmc/core/tensor.hpp>
#include <pmc/core/transfer.hpp>
#include <pmc/dist/comm_thread.hpp>
#include <pmc/dist/communicator.hpp>
#include <pmc/models/llama/model.hpp>
#include <pmc/ops/optimizer.hpp>
#include <pmc/optim/param.hpp>

namespace pmc::train {

/// What data-parallel ranks shard (`--shard`): nothing (every rank a whole replica), the optimizer state and
/// fp32 masters (ZeRO-1), those and the gradients (ZeRO-2), or those and the weights (ZeRO-3).
enum class ShardLevel { none, optimizer, gradients, full };

constexpr std::string_view shard_level_name(ShardLevel level) {
  switch (level) {
    case ShardLevel::optimizer: return "optimizer";
    case ShardLevel::gradients: return "gradients";
    case ShardLevel::full: return "full";
    default: return "none";
  }
}

/// "none", "optimizer", "gradients" or "full"; `where` names the flag or key in the error.
inline ShardLevel parse_shard_level(std::string_view text, std::string_view where) {
  for (ShardLevel l : {ShardLevel::none, ShardLevel::optimizer, ShardLevel::gradients, ShardLevel::full})
    if (text == shard_level_name(l)) return l;
  fail(where, ": '", text, "' is not a shard level (none, optimizer, gradients or full)");
}

/// One rank's chunks of a model's trainable parameters and the collectives that keep the ranks consistent.
/// T is the model's element type; the chunks are in the optimizer's type (fp32 masters for bf16).
///
///   ZeroShards<bf16> shards(model_params, comm, ShardLevel::gradients);   // groups already assigned
///   shards.zero_grads();
///   for each micro-batch k: backward ...; shards.reduce_micro_batch(n_k / N);   // gradients level, bf16
///   shards.reduce_gradients();                      // all-reduce (optimizer) or reduce-scatter (fp32, gradients)
///   double norm = shards.grad_norm();  optim::clip_grads_with_norm(shards.params(), 1.0, norm);
///   adamw.step(shards.params(), lr);
///   shards.gather_weights();                        // every rank's weights = the updated chunks of all ranks
///
/// At the full level (ZeRO-3) the shards also take the parameters' Vars and the block each belongs to (-1: the
/// embedding, final norm and head), free the Vars' memory, and are the model's BlockHooks:
///   ZeroShards<bf16> shards(model_params, comm, ShardLevel::full, vars, blocks);  model.set_block_hooks(&shards);
///   shards.zero_grads();
///   for each micro-batch k: shards.begin_micro_batch(n_k / N); backward(model.loss(...)); shards.end_micro_batch();
///                           (a rank without targets in it: shards.idle_micro_batch(n_layers))
///   norm, clipping and AdamW as above; the weights stay sharded (gather_weights has nothing to do)
///   shards.gather_all();                            // at the end: every rank's model whole again
template <class T, Device D = Cpu>
class ZeroShards final : public llama::BlockHooks {
 public:
  static constexpr bool kMixed = std::is_same_v<T, bf16>;
  using master_t = std::conditional_t<kMixed, float, T>;

  ZeroShards(std::span<const optim::Param<T, D>> model, dist::Communicator* comm, ShardLevel level,
             std::vector<autograd::Var<T, D>> vars = {}, std::vector<int> blocks = {}, bool overlap = true)
      : comm_(comm), level_(level), ranks_(dist::size_of(comm)), rank_(dist::rank_of(comm)),
        model_(model.begin(), model.end()), vars_(std::move(vars)) {
    PMC_CHECK(level != ShardLevel::none, "ZeroShards: a shard level other than none");
    const bool full = level == ShardLevel::full;
    PMC_CHECK(!full || (vars_.size() == model_.size() && blocks.size() == model_.size()),
              "ZeroShards: the full level needs every parameter's Var and block");
    std::int64_t most = 0;
    for (std::size_t i = 0; i < model_.size(); ++i) {
      const auto& p = model_[i];
      PMC_CHECK(p.value.is_contiguous() && (full || (p.grad.defined() && p.grad.is_contiguous())),
                "ZeroShards: parameter '", p.name, "' needs a contiguous value and gradient");
      const std::int64_t n = p.value.numel();
      const dist::ShardRange range = dist::shard_range(n, ranks_, rank_);
      ranges_.push_back(range);
      most = std::max(most, range.chunk);
      const auto flat_value = p.value.reshape(Shape{n});
      Tensor<master_t, D> value, grad;
      if constexpr (kMixed) {
        value = Tensor<master_t, D>(Shape{range.size()});
        ops::ParamOps<D>::convert(flat_value.data() + range.begin, value.data(), range.size());  // exact widening
      } else if (full) {
        value = Tensor<master_t, D>(Shape{range.size()});  // the only copy: the Var's memory is freed below
        pmc::copy(flat_value.slice(0, range.begin, range.end), value);
      } else {
        value = flat_value.slice(0, range.begin, range.end);
      }
      if (level == ShardLevel::gradients || full) {
        shard_grads_.emplace_back(Shape{range.chunk});
        grad = shard_grads_.back().slice(0, 0, range.size());
      } else if constexpr (kMixed) {
        whole_grads_.push_back(optim::Param<float, D>{.name = p.name, .value = {}, .grad = Tensor<float, D>(p.value.shape()),
                                               .group = p.group});
        grad = whole_grads_.back().grad.reshape(Shape{n}).slice(0, range.begin, range.end);
      } else {
        grad = p.grad.reshape(Shape{n}).slice(0, range.begin, range.end);
      }
      piece_index_.push_back(range.size() == 0 ? -1 : static_cast<std::int64_t>(pieces_.size()));
      if (range.size() == 0) continue;  // a short parameter: nothing of it on this rank
      pieces_.push_back(optim::Param<master_t, D>{.name = p.name, .value = value, .grad = grad, .group = p.group});
      piece_of_.push_back(i);
    }
    most_chunk_ = most;
    if (full) {
      int last = -1;
      for (int b : blocks) last = std::max(last, b);
      members_.resize(static_cast<std::size_t>(last + 2));  // [0]: outside the blocks; [l + 1]: block l
      for (std::size_t i = 0; i < model_.size(); ++i) {
        PMC_CHECK(blocks[i] >= -1, "ZeroShards: parameter '", model_[i].name, "' has block ", blocks[i]);
        members_[static_cast<std::size_t>(blocks[i] + 1)].push_back(i);
        // nothing whole stays: the Var, and this copy of the parameter, keep only the shape
        model_[i].value = Tensor<T, D>::wrap(nullptr, model_[i].value.shape());
        model_[i].grad = Tensor<T, D>();
        vars_[i].set_value(model_[i].value);
        vars_[i].reset_grad();
      }
      pending_.assign(members_.size(), 0);
      if (overlap && ranks_ > 1 && comm_->callable_from_any_thread()) worker_ = std::make_unique<dist::CommThread>();
    }
  }

  /// Whether the full level's collectives run on a background thread, overlapping the computation.
  bool overlaps() const { return worker_ != nullptr; }

  ShardLevel level() const { return level_; }
  /// This rank's chunks as the optimizer's parameters (the parameters' names; 1-D, of the chunk's length).
  std::span<optim::Param<master_t, D>> params() { return pieces_; }
  std::span<const optim::Param<master_t, D>> params() const { return pieces_; }
  /// The model parameter that chunk j belongs to, and the chunk's range in it (flattened).
  std::size_t parameter_of(std::size_t j) const { return piece_of_[j]; }
  dist::ShardRange range_of(std::size_t j) const { return ranges_[piece_of_[j]]; }

  /// bf16 at the optimizer level: the whole fp32 gradients the micro-batches accumulate into (GradAccumulator),
  /// all-reduced by reduce_gradients; empty otherwise.
  std::span<optim::Param<float, D>> accumulators() { return whole_grads_; }

  /// Zeroes this rank's shard gradients (gradients level, before a step's micro-batches).
  void zero_grads() {
    for (auto& g : shard_grads_) ops::ParamOps<D>::fill(g.data(), g.numel(), master_t(0));
  }

  /// bf16 at the gradients level, after a micro-batch's backward: every rank's `weight` · (its bf16
  /// gradients), widened to fp32, summed over the ranks chunk by chunk into this rank's shard gradients. Every
  /// rank calls it for every micro-batch (one without targets with zeroed gradients), as collectives require.
  void reduce_micro_batch(double weight) {
    static_assert(kMixed, "reduce_micro_batch: fp32 runs reduce once per step (reduce_gradients)");
    PMC_CHECK(level_ == ShardLevel::gradients, "ZeroShards::reduce_micro_batch: only at the gradients level");
    Tensor<float, D> send(Shape{most_chunk_ * ranks_}), received(Shape{most_chunk_});
    for (std::size_t i = 0; i < model_.size(); ++i)
      reduce_into_shard(i, model_[i].grad, static_cast<float>(weight), send, received);
  }

  // ---- the full level (ZeRO-3) ------------------------------------------------------------------------------

  /// Before a micro-batch's forward: gathers the parameters outside the blocks (embedding, final norm, head) for
  /// the whole micro-batch; `weight` (its share of the batch's targets) scales its gradients in the sums.
  void begin_micro_batch(double weight) {
    weight_ = weight;
    gathered(0);
    prefetch(1);  // block 0
  }
  /// After its backward: reduce-scatters the gradients of the parameters outside the blocks (the blocks' were,
  /// as each block's backward finished) and frees them; returns when every collective of the micro-batch is done.
  void end_micro_batch() {
    in_order([this] { reduce_members(0); });
    if (worker_) worker_->drain();
  }
  /// A micro-batch in which this rank has no targets: the collectives the others run, in their order (each block
  /// gathered for its forward and its backward, every gradient reduce-scattered), with zero gradients from this
  /// rank. Called in grad mode, as training is.
  void idle_micro_batch(int blocks) {
    PMC_CHECK(autograd::grad_enabled(), "ZeroShards::idle_micro_batch: call it in grad mode, as training runs");
    begin_micro_batch(0);
    {
      autograd::NoGrad forward;  // as the first pass of a recomputed block
      for (int l = 0; l < blocks; ++l) gather(l), release(l);
    }
    for (int l = blocks - 1; l >= 0; --l) gather(l), backward_done(l);
    end_micro_batch();
  }
  /// For a forward without grad (an evaluation loss): the parameters outside the blocks gathered, then freed.
  void gather_outside_blocks() {
    gathered(0);
    prefetch(1);
  }
  void release_outside_blocks() {
    if (worker_) worker_->drain();
    release_members(0);
  }
  /// Every parameter whole on every rank (at the end of training, to save or use the model).
  void gather_all() {
    if (worker_) worker_->drain();
    for (std::size_t u = 0; u < members_.size(); ++u) gather_members(u);
    whole_ = true;
  }
  /// Back from gather_all: every parameter's memory freed (the chunks are what training updates).
  void release_all() {
    for (std::size_t u = 0; u < members_.size(); ++u) release_members(u);
    whole_ = false;
  }
  /// Whether gather_all left every parameter whole.
  bool whole() const { return whole_; }

  /// Block l's parameters whole (waiting for a prefetched all-gather); the next block's gather started: l + 1 in a
  /// forward (without grad, as a recomputed block's first pass), l - 1 in a backward (the recomputed forward).
  void gather(int block) override {
    const auto u = static_cast<std::size_t>(block + 1);
    gathered(u);
    if (autograd::grad_enabled()) {
      if (block > 0) prefetch(u - 1);
    } else if (u + 1 < members_.size()) {
      prefetch(u + 1);
    }
  }
  void release(int block) override { release_members(static_cast<std::size_t>(block + 1)); }
  /// Block l's gradients reduce-scattered (in the background when overlapping), then freed with its weights.
  void backward_done(int block) override {
    const auto u = static_cast<std::size_t>(block + 1);
    in_order([this, u] { reduce_members(u); });
  }

  /// After the micro-batches: the optimizer level all-reduces the whole gradients (the model's, or the fp32
  /// accumulators in bf16); the gradients level in fp32 reduce-scatters the model's gradients into the shard
  /// gradients (in bf16 reduce_micro_batch already did).
  void reduce_gradients() {
    if (level_ == ShardLevel::full) return;  // reduced block by block (reduce_members)
    if (level_ == ShardLevel::optimizer) {
      std::vector<Tensor<master_t, D>> grads;
      if constexpr (kMixed)
        for (const auto& p : whole_grads_) grads.push_back(p.grad);
      else
        for (const auto& p : model_) grads.push_back(p.grad);
      dist::allreduce_sum<master_t, D>(comm_, grads);
      return;
    }
    if constexpr (!kMixed) {
      Tensor<master_t, D> send(Shape{most_chunk_ * ranks_});
      for (std::size_t i = 0; i < model_.size(); ++i) {
        const std::int64_t n = model_[i].grad.numel(), c = ranges_[i].chunk;
        ops::ParamOps<D>::fill(send.data() + n, c * ranks_ - n, master_t(0));
        pmc::copy(model_[i].grad.reshape(Shape{n}), send.slice(0, 0, n));
        dist::reduce_scatter_sum(comm_, send.slice(0, 0, c * ranks_), shard_grads_[i]);
      }
    }
  }

  /// ‖g‖₂ of the whole gradient: every rank's Σ g² over its chunks (in double), summed over the ranks; the same
  /// bits on every rank.
  double grad_norm() {
    double sum = 0;
    for (const auto& p : pieces_) sum += ops::ParamOps<D>::sum_squares(p.grad.data(), p.grad.numel());
    if (ranks_ > 1) comm_->allreduce_sum(std::span<double>(&sum, 1));
    return std::sqrt(sum);
  }

  /// After the optimizer step: each rank's updated chunks (rounded to bf16 in mixed precision) all-gathered into
  /// every rank's weights, which stay equal to the bit.
  void gather_weights() {
    if (level_ == ShardLevel::full) return;  // gathered block by block when used
    Tensor<T, D> send(Shape{most_chunk_}), received(Shape{most_chunk_ * ranks_});
    for (std::size_t i = 0; i < model_.size(); ++i) {
      const dist::ShardRange r = ranges_[i];
      const std::int64_t n = model_[i].value.numel();
      write_own_chunk(i, send.slice(0, 0, r.chunk));
      dist::all_gather(comm_, send.slice(0, 0, r.chunk), received.slice(0, 0, r.chunk * ranks_));
      pmc::copy(received.slice(0, 0, n), model_[i].value.reshape(Shape{n}));
    }
  }

 private:
  /// dst (the chunk's c elements) = this rank's updated chunk of parameter i, rounded to T (RNE in mixed
  /// precision), zero-padded: what it sends to an all-gather of the weights.
  void write_own_chunk(std::size_t i, const Tensor<T, D>& dst) {
    const dist::ShardRange r = ranges_[i];
    ops::ParamOps<D>::fill(dst.data() + r.size(), r.chunk - r.size(), T(0));
    if (const std::int64_t j = piece_index_[i]; j >= 0) {
      const auto& piece = pieces_[static_cast<std::size_t>(j)];
      if constexpr (kMixed) ops::ParamOps<D>::convert(piece.value.data(), dst.data(), r.size());
      else pmc::copy(piece.value, dst.slice(0, 0, r.size()));
    }
  }
  /// Parameter i's shard gradient += Σ over the ranks of w · their `grad` (widened to master_t; undefined: zeros),
  /// this rank's chunk of it; send and received: buffers of at least R·c and c elements.
  void reduce_into_shard(std::size_t i, const Tensor<T, D>& grad, master_t w, const Tensor<master_t, D>& send,
                         const Tensor<master_t, D>& received) {
    const std::int64_t n = model_[i].value.numel(), c = ranges_[i].chunk;
    ops::ParamOps<D>::fill(send.data(), c * ranks_, master_t(0));
    if (grad.defined()) ops::ParamOps<D>::axpy(grad.data(), send.data(), n, w);  // w · g, zero-padded
    dist::reduce_scatter_sum(comm_, send.slice(0, 0, c * ranks_), received.slice(0, 0, c));
    ops::ParamOps<D>::axpy(received.data(), shard_grads_[i].data(), c, master_t(1));
  }

  /// Runs a collective now, or queues it on the background thread (after those queued before).
  void in_order(std::function<void()> collective) {
    if (worker_) worker_->submit(std::move(collective));
    else collective();
  }
  /// Starts unit u's all-gather in the background (overlapping only).
  void prefetch(std::size_t u) {
    if (worker_ && pending_[u] == 0) pending_[u] = worker_->submit([this, u] { gather_members(u); });
  }
  /// Unit u gathered: its prefetch waited for, or its all-gather run (queued after the others) now.
  void gathered(std::size_t u) {
    if (!worker_) return gather_members(u);
    prefetch(u);
    worker_->wait(pending_[u]);
    pending_[u] = 0;
  }

  /// Full level: the parameters of unit u (0: outside the blocks; l + 1: block l) given their whole values,
  /// all-gathered from every rank's chunk (rounded to bf16 in mixed precision) into one buffer of R·c elements,
  /// this rank's block of it sent in place.
  void gather_members(std::size_t u) {
    for (std::size_t i : members_[u]) {
      const std::int64_t c = ranges_[i].chunk;
      auto whole = Tensor<T, D>::empty(Shape{c * ranks_});
      auto mine = whole.slice(0, rank_ * c, (rank_ + 1) * c);
      write_own_chunk(i, mine);
      dist::all_gather(comm_, mine, whole);
      vars_[i].set_value(whole.slice(0, 0, model_[i].value.numel()).reshape(model_[i].value.shape()));
    }
  }
  void release_members(std::size_t u) {
    for (std::size_t i : members_[u]) vars_[i].set_value(model_[i].value);  // shape only
  }
  /// Full level: unit u's gradients, times the micro-batch's weight, summed over the ranks into each rank's
  /// shard gradients (an undefined gradient, where the backward did not reach, counts as zeros); the whole
  /// gradients and values are then freed.
  void reduce_members(std::size_t u) {
    const auto w = static_cast<master_t>(weight_);
    for (std::size_t i : members_[u]) {
      const std::int64_t c = ranges_[i].chunk;
      reduce_into_shard(i, vars_[i].grad(), w, Tensor<master_t, D>::empty(Shape{c * ranks_}),
                        Tensor<master_t, D>::empty(Shape{c}));
      vars_[i].reset_grad();
    }
    release_members(u);
  }

  dist::Communicator* comm_;
  ShardLevel level_;
  int ranks_, rank_;
  std::vector<optim::Param<T, D>> model_;       // the model's parameters (shared tensors)
  std::vector<dist::ShardRange> ranges_;        // this rank's range of each
  std::vector<optim::Param<master_t, D>> pieces_;  // this rank's non-empty chunks, for the optimizer
  std::vector<std::size_t> piece_of_;           // the model parameter of each piece
  std::vector<Tensor<master_t, D>> shard_grads_;  // gradients level: the chunk's summed gradient, padded
  std::vector<optim::Param<float, D>> whole_grads_;    // bf16 at the optimizer level: whole fp32 accumulators
  std::int64_t most_chunk_ = 0;
  // the full level
  std::vector<autograd::Var<T, D>> vars_;                  // the model's parameters
  std::vector<std::int64_t> piece_index_;        // each parameter's piece, or -1
  std::vector<std::vector<std::size_t>> members_;  // the parameters of each unit: [0] outside the blocks, [l + 1]
  double weight_ = 1;                            // the current micro-batch's share
  bool whole_ = false;                           // gather_all ran (and release_all did not since)
  std::vector<dist::CommThread::Ticket> pending_;  // each unit's all-gather in flight, or 0
  std::unique_ptr<dist::CommThread> worker_;     // overlapping: the collectives' thread (last: stopped first)
};

}  // namespace pmc::train

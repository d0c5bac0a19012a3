// SPDX-License-Identifier: MIT
// Sharded data parallelism: ZeRO stages 1 and 2, each parameter tensor sharded on its own (as PyTorch's FSDP2
// does) so that any rank count works. With R ranks a parameter of n elements is flattened and cut in chunks of
// ⌈n / R⌉ (dist::shard_range); rank r owns chunk r of every parameter: its fp32 masters (mixed precision), its
// AdamW moments and, at the gradients level, its gradients. The weights themselves stay whole on every rank.
//   ShardLevel::optimizer  (ZeRO-1) gradients all-reduced whole; each rank updates its chunks; the updated
//                          chunks all-gathered into every rank's weights
//   ShardLevel::gradients  (ZeRO-2) as optimizer, but each rank receives only the sum of its chunks of the
//                          gradients (reduce-scatter): in bf16 mixed precision after every micro-batch, so no rank
//                          holds a whole fp32 gradient; in fp32 once per step, from the model's gradients
// ZeRO-3 (the weights sharded too, gathered block by block) is not built.
#pragma once

#include <algorithm>
#include <cmath>
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
#include <pmc/dist/communicator.hpp>
#include <pmc/ops/optimizer.hpp>
#include <pmc/optim/param.hpp>

namespace pmc::train {

/// What data-parallel ranks shard (`--shard`): nothing (every rank a whole replica), the optimizer state and
/// fp32 masters (ZeRO-1), or those and the gradients (ZeRO-2).
enum class ShardLevel { none, optimizer, gradients };

constexpr std::string_view shard_level_name(ShardLevel level) {
  switch (level) {
    case ShardLevel::optimizer: return "optimizer";
    case ShardLevel::gradients: return "gradients";
    default: return "none";
  }
}

/// "none", "optimizer" or "gradients"; `where` names the flag or key in the error.
inline ShardLevel parse_shard_level(std::string_view text, std::string_view where) {
  for (ShardLevel l : {ShardLevel::none, ShardLevel::optimizer, ShardLevel::gradients})
    if (text == shard_level_name(l)) return l;
  PMC_CHECK(text != "full", where, ": 'full' (ZeRO-3: the weights sharded too) is not built yet; use 'optimizer' or ",
            "'gradients'");
  fail(where, ": '", text, "' is not a shard level (none, optimizer or gradients)");
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
template <class T, Device D = Cpu>
class ZeroShards {
 public:
  static constexpr bool kMixed = std::is_same_v<T, bf16>;
  using master_t = std::conditional_t<kMixed, float, T>;

  ZeroShards(std::span<const optim::Param<T, D>> model, dist::Communicator* comm, ShardLevel level)
      : comm_(comm), level_(level), ranks_(dist::size_of(comm)), rank_(dist::rank_of(comm)),
        model_(model.begin(), model.end()) {
    PMC_CHECK(level != ShardLevel::none, "ZeroShards: a shard level other than none");
    std::int64_t most = 0;
    for (std::size_t i = 0; i < model_.size(); ++i) {
      const auto& p = model_[i];
      PMC_CHECK(p.value.is_contiguous() && p.grad.defined() && p.grad.is_contiguous(), "ZeroShards: parameter '",
                p.name, "' needs a contiguous value and gradient");
      const std::int64_t n = p.value.numel();
      const dist::ShardRange range = dist::shard_range(n, ranks_, rank_);
      ranges_.push_back(range);
      most = std::max(most, range.chunk);
      const auto flat_value = p.value.reshape(Shape{n});
      const auto flat_grad = p.grad.reshape(Shape{n});
      Tensor<master_t, D> value, grad;
      if constexpr (kMixed) {
        value = Tensor<master_t, D>(Shape{range.size()});
        ops::ParamOps<D>::convert(flat_value.data() + range.begin, value.data(), range.size());  // exact widening
      } else {
        value = flat_value.slice(0, range.begin, range.end);
      }
      if (level == ShardLevel::gradients) {
        shard_grads_.emplace_back(Shape{range.chunk});
        grad = shard_grads_.back().slice(0, 0, range.size());
      } else if constexpr (kMixed) {
        full_.push_back(optim::Param<float, D>{.name = p.name, .value = {}, .grad = Tensor<float, D>(p.value.shape()),
                                               .group = p.group});
        grad = full_.back().grad.reshape(Shape{n}).slice(0, range.begin, range.end);
      } else {
        grad = flat_grad.slice(0, range.begin, range.end);
      }
      if (range.size() == 0) continue;  // a short parameter: nothing of it on this rank
      pieces_.push_back(optim::Param<master_t, D>{.name = p.name, .value = value, .grad = grad, .group = p.group});
      piece_of_.push_back(i);
    }
    most_chunk_ = most;
  }

  ShardLevel level() const { return level_; }
  /// This rank's chunks as the optimizer's parameters (the parameters' names; 1-D, of the chunk's length).
  std::span<optim::Param<master_t, D>> params() { return pieces_; }
  std::span<const optim::Param<master_t, D>> params() const { return pieces_; }
  /// The model parameter that chunk j belongs to, and the chunk's range in it (flattened).
  std::size_t parameter_of(std::size_t j) const { return piece_of_[j]; }
  dist::ShardRange range_of(std::size_t j) const { return ranges_[piece_of_[j]]; }

  /// bf16 at the optimizer level: the whole fp32 gradients the micro-batches accumulate into (GradAccumulator),
  /// all-reduced by reduce_gradients; empty otherwise.
  std::span<optim::Param<float, D>> accumulators() { return full_; }

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
    const auto w = static_cast<float>(weight);
    Tensor<float, D> send(Shape{most_chunk_ * ranks_}), received(Shape{most_chunk_});
    for (std::size_t i = 0; i < model_.size(); ++i) {
      const std::int64_t n = model_[i].grad.numel(), c = ranges_[i].chunk;
      ops::ParamOps<D>::fill(send.data(), c * ranks_, 0.0f);
      ops::ParamOps<D>::axpy(model_[i].grad.data(), send.data(), n, w);  // send = w · fp32(g), zero-padded
      dist::reduce_scatter_sum(comm_, send.slice(0, 0, c * ranks_), received.slice(0, 0, c));
      ops::ParamOps<D>::axpy(received.data(), shard_grads_[i].data(), c, 1.0f);
    }
  }

  /// After the micro-batches: the optimizer level all-reduces the whole gradients (the model's, or the fp32
  /// accumulators in bf16); the gradients level in fp32 reduce-scatters the model's gradients into the shard
  /// gradients (in bf16 reduce_micro_batch already did).
  void reduce_gradients() {
    if (level_ == ShardLevel::optimizer) {
      std::vector<Tensor<master_t, D>> grads;
      if constexpr (kMixed)
        for (const auto& p : full_) grads.push_back(p.grad);
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
    Tensor<T, D> send(Shape{most_chunk_}), received(Shape{most_chunk_ * ranks_});
    std::size_t j = 0;
    for (std::size_t i = 0; i < model_.size(); ++i) {
      const dist::ShardRange r = ranges_[i];
      const std::int64_t n = model_[i].value.numel();
      ops::ParamOps<D>::fill(send.data() + r.size(), r.chunk - r.size(), T(0));
      if (r.size() > 0) {
        const auto& piece = pieces_[j++];
        if constexpr (kMixed) ops::ParamOps<D>::convert(piece.value.data(), send.data(), r.size());  // RNE
        else pmc::copy(piece.value, send.slice(0, 0, r.size()));
      }
      dist::all_gather(comm_, send.slice(0, 0, r.chunk), received.slice(0, 0, r.chunk * ranks_));
      pmc::copy(received.slice(0, 0, n), model_[i].value.reshape(Shape{n}));
    }
  }

 private:
  dist::Communicator* comm_;
  ShardLevel level_;
  int ranks_, rank_;
  std::vector<optim::Param<T, D>> model_;       // the model's parameters (shared tensors)
  std::vector<dist::ShardRange> ranges_;        // this rank's range of each
  std::vector<optim::Param<master_t, D>> pieces_;  // this rank's non-empty chunks, for the optimizer
  std::vector<std::size_t> piece_of_;           // the model parameter of each piece
  std::vector<Tensor<master_t, D>> shard_grads_;  // gradients level: the chunk's summed gradient, padded
  std::vector<optim::Param<float, D>> full_;    // bf16 at the optimizer level: whole fp32 accumulators
  std::int64_t most_chunk_ = 0;
};

}  // namespace pmc::train

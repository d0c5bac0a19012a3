// SPDX-License-Identifier: MIT
// GradAccumulator: sums the gradients of K micro-batches into the optimizer's grads so that they equal the
// gradient of the whole batch's token-mean loss.
#pragma once

#include <concepts>
#include <cstdint>
#include <ranges>
#include <span>
#include <type_traits>

#include <pmc/core/device.hpp>
#include <pmc/core/error.hpp>
#include <pmc/core/tensor.hpp>
#include <pmc/ops/optimizer.hpp>
#include <pmc/optim/param.hpp>

namespace pmc::optim {

/// The convention: the loss of a batch is the mean over the N target tokens of the whole batch (all its
/// micro-batches), and the model reports for micro-batch k the mean over its own n_k tokens, L_k. Since
///   L = (1/N) Σ_all l_i = Σ_k (n_k / N) · L_k,     ∇L = Σ_k (n_k / N) · ∇L_k,
/// each micro-batch's grads are added with weight n_k / N, and K micro-batches give exactly the one-batch
/// gradient (up to rounding) however the tokens are split — also when micro-batches hold different numbers
/// of (non-padding) tokens, where averaging the K micro-batch means would weight tokens unequally.
///
///   GradAccumulator<float> acc(masters.params());
///   acc.begin(tokens_in_batch);                                    // zeroes the grads
///   for (auto& mb : micro_batches) acc.add(model_grads(mb), mb.tokens);   // Tensor<G> or Param<G>, G = bf16/f16/float
///   acc.finish();                                                  // checks Σ n_k = N
///
/// The accumulation is in T (fp32 for training) whatever the micro-batch grads' type. The grads are summed
/// in micro-batch order, so the result is deterministic. `params` must outlive the accumulator.
template <std::floating_point T, Device D = Cpu>
class GradAccumulator {
 public:
  explicit GradAccumulator(std::span<Param<T, D>> params) : params_(params) {}

  /// Starts a batch of `batch_tokens` target tokens and zeroes the grads.
  void begin(std::int64_t batch_tokens) {
    PMC_CHECK(batch_tokens > 0, "GradAccumulator::begin: the batch must have > 0 tokens, got ", batch_tokens);
    for (auto& p : params_) {
      PMC_CHECK(p.grad.defined() && p.grad.is_contiguous(), "GradAccumulator: parameter '", p.name,
                "' has no contiguous grad");
      ops::ParamOps<D>::fill(p.grad.data(), p.grad.numel(), T(0));
    }
    batch_tokens_ = batch_tokens;
    tokens_ = 0;
    micro_batches_ = 0;
  }

  /// grad += (micro_tokens / batch_tokens) · extra_scale · micro_grad for every parameter. `micro_grads` is a
  /// range of Tensor<G, D> (index-aligned with the params) or of Param<G, D> (whose .grad is used and whose
  /// names must match). `extra_scale` folds in a loss scaler's 1/scale where the caller prefers that to
  /// DynamicLossScaler::unscale.
  template <std::ranges::sized_range R>
  void add(const R& micro_grads, std::int64_t micro_tokens, double extra_scale = 1.0) {
    PMC_CHECK(batch_tokens_ > 0, "GradAccumulator::add: call begin(batch_tokens) first");
    PMC_CHECK(micro_tokens >= 0, "GradAccumulator::add: negative token count ", micro_tokens);
    PMC_CHECK(tokens_ + micro_tokens <= batch_tokens_, "GradAccumulator::add: micro-batches hold ",
              tokens_ + micro_tokens, " tokens, more than the batch's ", batch_tokens_);
    PMC_CHECK(std::ranges::size(micro_grads) == params_.size(), "GradAccumulator::add: ",
              std::ranges::size(micro_grads), " micro-batch grads for ", params_.size(), " parameters");
    std::size_t i = 0;
    for (const auto& item : micro_grads) {  // check all before adding any
      const auto& g = grad_of(item);
      const auto& p = params_[i++];
      if constexpr (requires { item.name; })
        PMC_CHECK(item.name == p.name, "GradAccumulator::add: micro-batch grad ", i - 1, " is for '", item.name,
                  "' but parameter ", i - 1, " is '", p.name, "'");
      PMC_CHECK(g.shape() == p.grad.shape(), "GradAccumulator::add: grad for '", p.name, "' has shape ",
                g.shape().str(), " but the parameter has shape ", p.grad.shape().str());
      PMC_CHECK(g.is_contiguous(), "GradAccumulator::add: grad for '", p.name, "' is not contiguous");
    }
    const T w = static_cast<T>(static_cast<double>(micro_tokens) / static_cast<double>(batch_tokens_) * extra_scale);
    i = 0;
    for (const auto& item : micro_grads) {
      const auto& g = grad_of(item);
      auto& p = params_[i++];
      if (micro_tokens > 0) ops::ParamOps<D>::axpy(g.data(), p.grad.data(), p.grad.numel(), w);
    }
    tokens_ += micro_tokens;
    ++micro_batches_;
  }

  /// Ends the batch: throws unless the micro-batches' tokens add up to the batch's (a mismatch would silently
  /// rescale the gradient, i.e. the learning rate).
  void finish() {
    PMC_CHECK(tokens_ == batch_tokens_, "GradAccumulator::finish: the ", micro_batches_, " micro-batches hold ",
              tokens_, " tokens but the batch was declared with ", batch_tokens_);
    batch_tokens_ = 0;
  }

  /// Ends this process's share of a batch split over data-parallel ranks (begin() was given the tokens of all
  /// ranks): throws unless its micro-batches hold `share_tokens`, the tokens of its share.
  void finish_share(std::int64_t share_tokens) {
    PMC_CHECK(tokens_ == share_tokens, "GradAccumulator::finish_share: the ", micro_batches_, " micro-batches hold ",
              tokens_, " tokens but this share of the batch has ", share_tokens);
    batch_tokens_ = 0;
  }

  std::int64_t tokens_added() const { return tokens_; }
  int micro_batches() const { return micro_batches_; }

 private:
  template <class G>
  static const Tensor<G, D>& grad_of(const Tensor<G, D>& t) { return t; }
  template <class G>
  static const Tensor<G, D>& grad_of(const Param<G, D>& p) { return p.grad; }

  std::span<Param<T, D>> params_;
  std::int64_t batch_tokens_ = 0;
  std::int64_t tokens_ = 0;
  int micro_batches_ = 0;
};

}  // namespace pmc::optim

// SPDX-License-Identifier: MIT
// Precision policies as types (Fp32, Bf16Mixed, Fp16Mixed), MasterWeights (fp32 masters for 16-bit models)
// and DynamicLossScaler (fp16 only: combinations that make no sense do not compile).
#pragma once

#include <cmath>
#include <concepts>
#include <cstdint>
#include <limits>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <pmc/core/device.hpp>
#include <pmc/core/dtype.hpp>
#include <pmc/core/error.hpp>
#include <pmc/core/tensor.hpp>
#include <pmc/ops/optimizer.hpp>
#include <pmc/optim/param.hpp>

namespace pmc::optim {

/// Everything in float: model params, grads, optimizer state. The optimizer updates the model's tensors.
struct Fp32 {
  using model_t = float;   // the model's parameters (what forward/backward read)
  using master_t = float;  // the optimizer's parameters, grads and state
  static constexpr std::string_view name = "fp32";
};

/// PMC-LLaMA's recipe: bf16 model params; fp32 master weights, fp32 grads (micro-batch grads, bf16 or fp32,
/// are accumulated in fp32) and fp32 optimizer state; after each step the master is rounded to nearest even
/// into the bf16 params. No loss scaling: bf16 has fp32's exponent range, so grads do not underflow.
struct Bf16Mixed {
  using model_t = bf16;
  using master_t = float;
  static constexpr std::string_view name = "bf16-mixed";
};

/// fp16 model params with fp32 masters, grads and state, as Bf16Mixed; fp16's 5-bit exponent flushes small
/// grads to zero, so the loss must be scaled: use DynamicLossScaler<Fp16Mixed>.
struct Fp16Mixed {
  using model_t = f16;
  using master_t = float;
  static constexpr std::string_view name = "fp16-mixed";
};

/// A precision policy: the model's element type and an fp32 master type.
template <class P>
concept PrecisionPolicy = requires {
  typename P::model_t;
  typename P::master_t;
  { P::name } -> std::convertible_to<std::string_view>;
} && std::same_as<typename P::master_t, float> && Floating<typename P::model_t>;

/// Whether the model keeps its own 16-bit copy of the weights beside the fp32 masters.
template <PrecisionPolicy P>
inline constexpr bool has_master_copy = !std::same_as<typename P::model_t, typename P::master_t>;

/// Loss scaling exists for fp16's narrow exponent range; with fp32 or bf16 it would only risk overflow.
template <class P>
concept NeedsLossScaling = PrecisionPolicy<P> && std::same_as<typename P::model_t, f16>;

// ---- master weights ---------------------------------------------------------------------------------------

/// The optimizer's view of a model under policy P: one fp32 Param per model parameter, same name and group.
/// With a master copy (Bf16Mixed, Fp16Mixed) each master is an fp32 copy of the model's value (exact: bf16
/// and f16 widen exactly) and write_back() rounds the masters into the model; with Fp32 the masters *are*
/// the model's value tensors (shared) and write_back() does nothing. Master grads are fp32 buffers of their
/// own, filled by GradAccumulator from the model's micro-batch grads.
///
///   optim::MasterWeights<optim::Bf16Mixed> mw(model_params);      // std::vector<Param<bf16>>: name, value, group
///   optim::GradAccumulator<float> acc(mw.params());
///   ... acc.begin(N); acc.add(micro_grads, n_k); acc.finish();
///   optim::clip_grad_norm(mw.params(), 1.0);
///   opt.step(mw.params(), lr);
///   mw.write_back();                                               // bf16 params = RNE(fp32 masters)
template <PrecisionPolicy P, Device D = Cpu>
class MasterWeights {
 public:
  using model_t = typename P::model_t;
  using master_t = typename P::master_t;

  /// `model`: the model's parameters; their value tensors are kept (shared, not copied) and their grads ignored.
  explicit MasterWeights(std::span<const Param<model_t, D>> model) {
    model_.reserve(model.size());
    masters_.reserve(model.size());
    for (const auto& p : model) {
      PMC_CHECK(p.value.defined() && p.value.is_contiguous(), "MasterWeights: parameter '", p.name,
                "' has no contiguous value tensor");
      model_.push_back(p.value);
      Param<master_t, D> m{.name = p.name, .value = {}, .grad = Tensor<master_t, D>(p.value.shape()),
                           .group = p.group};
      if constexpr (has_master_copy<P>) m.value = Tensor<master_t, D>(p.value.shape());
      else m.value = p.value;
      ops::ParamOps<D>::fill(m.grad.data(), m.grad.numel(), master_t(0));
      masters_.push_back(std::move(m));
    }
    read_from_model();
  }
  explicit MasterWeights(const std::vector<Param<model_t, D>>& model)
      : MasterWeights(std::span<const Param<model_t, D>>(model)) {}

  /// The fp32 master parameters: for the optimizer, clipping, the accumulator and checkpoints (with a master
  /// copy, a bit-exact resume needs the masters saved, not the rounded model weights).
  std::span<Param<master_t, D>> params() { return masters_; }
  std::span<const Param<master_t, D>> params() const { return masters_; }
  /// The model's value tensors, in order.
  const std::vector<Tensor<model_t, D>>& model_values() const { return model_; }

  /// model ← round_to_nearest_even(master) (after every optimizer step); nothing to do for Fp32.
  void write_back() {
    if constexpr (has_master_copy<P>)
      for (std::size_t i = 0; i < masters_.size(); ++i)
        ops::ParamOps<D>::convert(masters_[i].value.data(), model_[i].data(), model_[i].numel());
  }

  /// master ← model (exact widening), e.g. after the model's weights were loaded from a 16-bit checkpoint.
  void read_from_model() {
    if constexpr (has_master_copy<P>)
      for (std::size_t i = 0; i < masters_.size(); ++i)
        ops::ParamOps<D>::convert(model_[i].data(), masters_[i].value.data(), model_[i].numel());
  }

 private:
  std::vector<Tensor<model_t, D>> model_;
  std::vector<Param<master_t, D>> masters_;
};

// ---- loss scaling -----------------------------------------------------------------------------------------

struct LossScalerOptions {
  double init_scale = 65536;      // 2^16
  double growth_factor = 2;       // after growth_interval consecutive finite steps
  double backoff_factor = 0.5;    // on a step with inf/NaN grads (which is skipped)
  std::int64_t growth_interval = 2000;
};

/// What a checkpoint keeps of a DynamicLossScaler.
struct LossScalerState {
  double scale = 65536;
  std::int64_t growth_tracker = 0;
};

/// Dynamic loss scaling, as torch.cuda.amp.GradScaler, for fp16 mixed precision only (a scaler for Fp32 or
/// Bf16Mixed does not compile). The loss is multiplied by scale() before backward; the fp32 master grads are
/// unscaled; a step whose grads hold inf/NaN is skipped and the scale multiplied by backoff_factor; after
/// growth_interval consecutive good steps the scale is multiplied by growth_factor (unless that overflows
/// float). The scale is a float, as GradScaler's.
///
///   optim::DynamicLossScaler<optim::Fp16Mixed> scaler;
///   backward(loss * scaler.scale());  ...accumulate into mw.params()...
///   bool stepped = scaler.step(mw.params(), [&] { clip_grad_norm(mw.params(), 1.0); opt.step(mw.params(), lr); });
template <class P>
  requires NeedsLossScaling<P>
class DynamicLossScaler {
 public:
  explicit DynamicLossScaler(LossScalerOptions options = {})
      : options_(options), scale_(static_cast<float>(options.init_scale)) {
    PMC_CHECK(options.init_scale > 0 && std::isfinite(static_cast<float>(options.init_scale)),
              "DynamicLossScaler: init_scale must be a positive float, got ", options.init_scale);
    PMC_CHECK(options.growth_factor > 1, "DynamicLossScaler: growth_factor must be > 1, got ",
              options.growth_factor);
    PMC_CHECK(options.backoff_factor > 0 && options.backoff_factor < 1,
              "DynamicLossScaler: backoff_factor must be in (0, 1), got ", options.backoff_factor);
    PMC_CHECK(options.growth_interval > 0, "DynamicLossScaler: growth_interval must be > 0");
  }

  /// Multiply the loss (the backward seed) by this.
  float scale() const { return scale_; }

  /// grads ← grads / scale, in their own type, and whether every grad is finite (GradScaler.unscale_). With
  /// a non-finite grad nothing is scaled: the step is to be skipped and the grads zeroed anyway.
  template <std::floating_point T, Device D>
  bool unscale(std::span<Param<T, D>> params) const {
    // 1/scale rounded to float once, as GradScaler does (exact for the power-of-two scales of the defaults)
    const auto inv = static_cast<T>(static_cast<float>(1.0 / static_cast<double>(scale_)));
    if constexpr (ops::MultiTensorParamOps<D>) {  // the GPU: one check (one read-back) and one scale launch
      std::vector<T*> grads;
      std::vector<std::int64_t> sizes;
      for (auto& p : params) {
        grads.push_back(p.grad.data());
        sizes.push_back(p.grad.numel());
      }
      const std::vector<const T*> cgrads(grads.begin(), grads.end());
      if (!ops::ParamOps<D>::all_finite_multi(std::span<const T* const>(cgrads), std::span<const std::int64_t>(sizes)))
        return false;
      if (detail::all_distinct(grads)) {
        ops::ParamOps<D>::scale_multi(std::span<T* const>(grads), std::span<const std::int64_t>(sizes), inv);
      } else {  // a grad buffer shared by two parameters is scaled twice, as by the per-parameter loop
        for (auto& p : params) ops::ParamOps<D>::scale(p.grad.data(), p.grad.numel(), inv);
      }
      return true;
    } else {
      for (const auto& p : params)
        if (!ops::ParamOps<D>::all_finite(p.grad.data(), p.grad.numel())) return false;
      for (auto& p : params) ops::ParamOps<D>::scale(p.grad.data(), p.grad.numel(), inv);
      return true;
    }
  }
  template <std::floating_point T, Device D>
  bool unscale(std::vector<Param<T, D>>& params) const {
    return unscale(std::span<Param<T, D>>(params));
  }

  /// Adjusts the scale after a step (GradScaler.update): backoff and reset the count on a non-finite step,
  /// else count it and grow every growth_interval good steps.
  void update(bool found_inf) {
    if (found_inf) {
      scale_ = static_cast<float>(static_cast<double>(scale_) * options_.backoff_factor);
      growth_tracker_ = 0;
      ++skipped_;
      return;
    }
    if (++growth_tracker_ == options_.growth_interval) {
      const auto grown = static_cast<float>(static_cast<double>(scale_) * options_.growth_factor);
      if (std::isfinite(grown)) scale_ = grown;
      growth_tracker_ = 0;
    }
  }

  /// unscale(params); if all grads are finite, calls optimizer_step(); then update(). Returns whether it stepped.
  template <std::floating_point T, Device D, class F>
  bool step(std::span<Param<T, D>> params, F&& optimizer_step) {
    const bool finite = unscale(params);
    if (finite) std::forward<F>(optimizer_step)();
    update(!finite);
    return finite;
  }
  template <std::floating_point T, Device D, class F>
  bool step(std::vector<Param<T, D>>& params, F&& optimizer_step) {
    return step(std::span<Param<T, D>>(params), std::forward<F>(optimizer_step));
  }

  std::int64_t growth_tracker() const { return growth_tracker_; }
  /// Steps skipped for non-finite grads since construction (not saved in the state).
  std::int64_t skipped_steps() const { return skipped_; }
  const LossScalerOptions& options() const { return options_; }

  LossScalerState state() const { return {.scale = scale_, .growth_tracker = growth_tracker_}; }
  void load_state(const LossScalerState& s) {
    PMC_CHECK(s.scale > 0 && std::isfinite(static_cast<float>(s.scale)) && s.growth_tracker >= 0 &&
                  s.growth_tracker < options_.growth_interval,
              "DynamicLossScaler::load_state: invalid state (scale ", s.scale, ", growth tracker ", s.growth_tracker,
              ")");
    scale_ = static_cast<float>(s.scale);
    growth_tracker_ = s.growth_tracker;
  }

 private:
  LossScalerOptions options_;
  float scale_;
  std::int64_t growth_tracker_ = 0;
  std::int64_t skipped_ = 0;
};

/// The scaler of policies that need none: scale 1, nothing to unscale, never skips. Lets a trainer be written
/// once for every policy through loss_scaler_for<P>.
struct NoLossScaler {
  float scale() const { return 1.0f; }
  template <class Params>
  bool unscale(Params&&) const { return true; }
  void update(bool) {}
  template <class Params, class F>
  bool step(Params&&, F&& optimizer_step) {
    std::forward<F>(optimizer_step)();
    return true;
  }
};

namespace detail {
template <class P>
struct LossScalerFor {
  using type = NoLossScaler;
};
template <class P>
  requires NeedsLossScaling<P>
struct LossScalerFor<P> {
  using type = DynamicLossScaler<P>;
};
}  // namespace detail

/// DynamicLossScaler<P> for fp16 mixed precision, NoLossScaler otherwise.
template <PrecisionPolicy P>
using loss_scaler_for = typename detail::LossScalerFor<P>::type;

}  // namespace pmc::optim

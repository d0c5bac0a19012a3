// SPDX-License-Identifier: MIT
// AdamW<T, D>: Adam with decoupled weight decay (torch.optim.AdamW), per-parameter-name state, state_dict.
#pragma once

#include <cmath>
#include <concepts>
#include <cstdint>
#include <map>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <pmc/core/device.hpp>
#include <pmc/core/error.hpp>
#include <pmc/core/tensor.hpp>
#include <pmc/ops/optimizer.hpp>
#include <pmc/optim/param.hpp>
#include <pmc/optim/state.hpp>

namespace pmc::optim {

/// AdamW hyperparameters (torch's defaults except weight_decay, which is 0 as in PMC-LLaMA):
///   AdamW<float> opt({.beta2 = 0.95, .weight_decay = 0.1});
struct AdamWOptions {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0;  // used only when no parameter groups are given: then one group {1, weight_decay}
};

/// AdamW exactly as torch.optim.AdamW (amsgrad off, maximize off). For each parameter, at its t-th update
/// (t from 1), with lr_p = lr · lr_scale and wd = weight_decay of its group:
///   p ← p · (1 - lr_p·wd)                                (decoupled weight decay, before the Adam step)
///   m ← β1·m + (1-β1)·g          v ← β2·v + (1-β2)·g²
///   p ← p - lr_p · m̂ / (sqrt(v̂) + eps),   m̂ = m/(1-β1^t),  v̂ = v/(1-β2^t)
/// (evaluated as p - (lr_p/(1-β1^t))·m / (sqrt(v)/sqrt(1-β2^t) + eps), torch's form). m and v are zeros before
/// a parameter's first update. State is kept per parameter name, so the parameter list may be rebuilt or
/// reordered between steps. T is the master/optimizer type: float, or double for tests.
///
///   optim::AdamW<float> opt;                       // or opt({.weight_decay = 0.1}, groups)
///   opt.step(params, schedule.lr(step));
template <std::floating_point T, Device D = Cpu>
class AdamW {
 public:
  explicit AdamW(AdamWOptions options = {}, std::vector<ParamGroup> groups = {})
      : options_(options), groups_(std::move(groups)) {
    PMC_CHECK(options_.beta1 >= 0 && options_.beta1 < 1, "AdamW: beta1 must be in [0, 1), got ", options_.beta1);
    PMC_CHECK(options_.beta2 >= 0 && options_.beta2 < 1, "AdamW: beta2 must be in [0, 1), got ", options_.beta2);
    PMC_CHECK(options_.eps >= 0, "AdamW: eps must be >= 0, got ", options_.eps);
    if (groups_.empty()) groups_.push_back(ParamGroup{.lr_scale = 1, .weight_decay = options_.weight_decay});
    for (std::size_t i = 0; i < groups_.size(); ++i)
      PMC_CHECK(groups_[i].weight_decay >= 0 && groups_[i].lr_scale >= 0, "AdamW: group ", i,
                " has negative weight_decay or lr_scale");
  }

  /// One update of every parameter with learning rate `lr` (scaled per group). All parameters are checked
  /// before any is changed, so a bad list leaves the parameters and the state untouched.
  void step(std::span<Param<T, D>> params, double lr) {
    PMC_CHECK(std::isfinite(lr) && lr >= 0, "AdamW::step: learning rate must be finite and >= 0, got ", lr);
    detail::check_unique_names(std::span<const Param<T, D>>(params), "AdamW::step");
    for (const auto& p : params) {
      detail::check_param(p, groups_.size(), "AdamW::step");
      auto it = state_.find(p.name);
      if (it != state_.end())
        PMC_CHECK(it->second.m.shape() == p.value.shape(), "AdamW::step: parameter '", p.name, "' has shape ",
                  p.value.shape().str(), " but its optimizer state has shape ", it->second.m.shape().str());
    }
    ++step_;
    // A device with a multi-tensor AdamW (ops::MultiTensorAdamW: the GPU) gets the whole list in one call; the
    // others (the CPU) update parameter by parameter, as always.
    [[maybe_unused]] std::vector<ops::AdamWBuffer<T>> buffers;
    if constexpr (ops::MultiTensorAdamW<D>) buffers.reserve(params.size());
    for (auto& p : params) {
      Slot& s = slot(p);
      const ParamGroup& g = groups_[static_cast<std::size_t>(p.group)];
      const double lr_p = lr * g.lr_scale;
      const auto t = static_cast<double>(++s.step);
      const ops::AdamWCoefficients c{.decay = 1 - lr_p * g.weight_decay,
                                     .one_minus_beta1 = 1 - options_.beta1,
                                     .beta2 = options_.beta2,
                                     .one_minus_beta2 = 1 - options_.beta2,
                                     .step_size = lr_p / (1 - std::pow(options_.beta1, t)),
                                     .bc2_sqrt = std::sqrt(1 - std::pow(options_.beta2, t)),
                                     .eps = options_.eps};
      if constexpr (ops::MultiTensorAdamW<D>)
        buffers.push_back({p.value.data(), p.grad.data(), s.m.data(), s.v.data(), p.value.numel(), c});
      else
        ops::AdamWKernel<D>::step(p.value.data(), p.grad.data(), s.m.data(), s.v.data(), p.value.numel(), c);
    }
    if constexpr (ops::MultiTensorAdamW<D>) {
      std::vector<T*> values;
      for (const auto& b : buffers) values.push_back(b.p);
      if (detail::all_distinct(std::move(values))) {
        ops::AdamWKernel<D>::step_multi(std::span<const ops::AdamWBuffer<T>>(buffers));
      } else {  // one tensor under two names: update in turn, as the per-parameter loop
        for (const auto& b : buffers) ops::AdamWKernel<D>::step(b.p, b.g, b.m, b.v, b.n, b.c);
      }
    }
  }

  /// step() calls so far.
  std::int64_t step_count() const { return step_; }
  const AdamWOptions& options() const { return options_; }
  const std::vector<ParamGroup>& groups() const { return groups_; }

  /// "m.<name>", "v.<name>" (views of the live state: save before the next step) and the step counts.
  OptimizerState<T, D> state_dict() const {
    OptimizerState<T, D> out;
    out.step = step_;
    for (const auto& [name, s] : state_) {
      out.tensors.emplace("m." + name, s.m);
      out.tensors.emplace("v." + name, s.v);
      out.steps.emplace(name, s.step);
    }
    return out;
  }

  /// Replaces the state by a copy of `state`, which must hold exactly the entries of `params`: a missing,
  /// unexpected or mis-shaped entry throws pmc::Error naming the parameter (and both shapes), and leaves
  /// this optimizer unchanged. A parameter absent from `params` but present in `state` is an error too.
  void load_state_dict(const OptimizerState<T, D>& state, std::span<const Param<T, D>> params) {
    detail::check_unique_names(params, "AdamW::load_state_dict");
    std::set<std::string> used;
    for (const auto& p : params) {
      detail::state_tensor(state, "m." + p.name, p, "AdamW");
      detail::state_tensor(state, "v." + p.name, p, "AdamW");
      auto it = state.steps.find(p.name);
      PMC_CHECK(it != state.steps.end(), "AdamW::load_state_dict: no step count for parameter '", p.name, "'");
      PMC_CHECK(it->second >= 0, "AdamW::load_state_dict: negative step count for parameter '", p.name, "'");
      used.insert("m." + p.name);
      used.insert("v." + p.name);
    }
    detail::check_no_unexpected(state, used, params, "AdamW");
    PMC_CHECK(state.step >= 0, "AdamW::load_state_dict: negative step count ", state.step);
    std::map<std::string, Slot> fresh;
    for (const auto& p : params) {
      Slot s{.m = copy_of(state.tensors.at("m." + p.name)), .v = copy_of(state.tensors.at("v." + p.name)),
             .step = state.steps.at(p.name)};
      fresh.emplace(p.name, std::move(s));
    }
    state_ = std::move(fresh);
    step_ = state.step;
  }

 private:
  struct Slot {
    Tensor<T, D> m, v;
    std::int64_t step = 0;  // this parameter's updates: t of the bias correction
  };

  Slot& slot(const Param<T, D>& p) {
    auto it = state_.find(p.name);
    if (it != state_.end()) return it->second;
    Slot s{.m = Tensor<T, D>(p.value.shape()), .v = Tensor<T, D>(p.value.shape()), .step = 0};
    // zeroed explicitly: not every device's allocator promises zero-filled memory
    ops::ParamOps<D>::fill(s.m.data(), s.m.numel(), T(0));
    ops::ParamOps<D>::fill(s.v.data(), s.v.numel(), T(0));
    return state_.emplace(p.name, std::move(s)).first->second;
  }

  static Tensor<T, D> copy_of(const Tensor<T, D>& src) {
    Tensor<T, D> dst(src.shape());
    ops::ParamOps<D>::convert(src.data(), dst.data(), src.numel());
    return dst;
  }

  AdamWOptions options_;
  std::vector<ParamGroup> groups_;
  std::map<std::string, Slot> state_;
  std::int64_t step_ = 0;
};

}  // namespace pmc::optim

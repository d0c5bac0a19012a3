// SPDX-License-Identifier: MIT
// Sgd<T, D>: stochastic gradient descent with momentum, dampening, Nesterov and L2 weight decay (torch.optim.SGD).
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

/// SGD hyperparameters, torch's defaults: Sgd<float> opt({.momentum = 0.9, .nesterov = true});
struct SgdOptions {
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;  // used only when no parameter groups are given: then one group {1, weight_decay}
  bool nesterov = false;    // requires momentum > 0 and dampening = 0, as in torch
};

/// SGD exactly as torch.optim.SGD (maximize off). Per parameter, with lr_p = lr · lr_scale and wd of its group:
///   d ← g + wd·p                                           (L2 weight decay: through the gradient)
///   buf ← d at the first update, else μ·buf + (1-dampening)·d      (if μ > 0)
///   d ← d + μ·buf if nesterov, else buf                           (if μ > 0)
///   p ← p - lr_p·d
/// The momentum buffer is kept per parameter name ("momentum_buffer.<name>" in state_dict()).
template <std::floating_point T, Device D = Cpu>
class Sgd {
 public:
  explicit Sgd(SgdOptions options = {}, std::vector<ParamGroup> groups = {})
      : options_(options), groups_(std::move(groups)) {
    PMC_CHECK(options_.momentum >= 0, "Sgd: momentum must be >= 0, got ", options_.momentum);
    PMC_CHECK(!options_.nesterov || (options_.momentum > 0 && options_.dampening == 0),
              "Sgd: Nesterov momentum requires momentum > 0 and dampening = 0");
    if (groups_.empty()) groups_.push_back(ParamGroup{.lr_scale = 1, .weight_decay = options_.weight_decay});
    for (std::size_t i = 0; i < groups_.size(); ++i)
      PMC_CHECK(groups_[i].weight_decay >= 0 && groups_[i].lr_scale >= 0, "Sgd: group ", i,
                " has negative weight_decay or lr_scale");
  }

  /// One update of every parameter with learning rate `lr` (scaled per group); checks everything first.
  void step(std::span<Param<T, D>> params, double lr) {
    PMC_CHECK(std::isfinite(lr) && lr >= 0, "Sgd::step: learning rate must be finite and >= 0, got ", lr);
    detail::check_unique_names(std::span<const Param<T, D>>(params), "Sgd::step");
    for (const auto& p : params) {
      detail::check_param(p, groups_.size(), "Sgd::step");
      auto it = buffers_.find(p.name);
      if (it != buffers_.end())
        PMC_CHECK(it->second.shape() == p.value.shape(), "Sgd::step: parameter '", p.name, "' has shape ",
                  p.value.shape().str(), " but its momentum buffer has shape ", it->second.shape().str());
    }
    ++step_;
    const bool has_momentum = options_.momentum != 0;
    for (auto& p : params) {
      const ParamGroup& g = groups_[static_cast<std::size_t>(p.group)];
      bool first = false;
      T* buf = nullptr;
      if (has_momentum) {
        auto it = buffers_.find(p.name);
        if (it == buffers_.end()) {
          it = buffers_.emplace(p.name, Tensor<T, D>(p.value.shape())).first;
          first = true;  // the kernel writes the whole buffer, no zeroing needed
        }
        buf = it->second.data();
      }
      const ops::SgdCoefficients c{.lr = lr * g.lr_scale, .momentum = options_.momentum,
                                   .dampening = options_.dampening, .weight_decay = g.weight_decay,
                                   .nesterov = options_.nesterov, .first_step = first};
      ops::SgdKernel<D>::step(p.value.data(), p.grad.data(), buf, p.value.numel(), c);
    }
  }

  std::int64_t step_count() const { return step_; }
  const SgdOptions& options() const { return options_; }
  const std::vector<ParamGroup>& groups() const { return groups_; }

  /// "momentum_buffer.<name>" for every parameter updated so far with momentum (views of the live state).
  OptimizerState<T, D> state_dict() const {
    OptimizerState<T, D> out;
    out.step = step_;
    for (const auto& [name, b] : buffers_) out.tensors.emplace("momentum_buffer." + name, b);
    return out;
  }

  /// Replaces the state by a copy of `state`. With momentum, every parameter needs its buffer once the
  /// optimizer has stepped (state.step > 0); errors name the parameter and both shapes, and change nothing.
  void load_state_dict(const OptimizerState<T, D>& state, std::span<const Param<T, D>> params) {
    detail::check_unique_names(params, "Sgd::load_state_dict");
    PMC_CHECK(state.step >= 0, "Sgd::load_state_dict: negative step count ", state.step);
    std::set<std::string> used;
    const bool need = options_.momentum != 0 && state.step > 0;
    for (const auto& p : params) {
      const std::string key = "momentum_buffer." + p.name;
      if (need || state.tensors.count(key)) {
        detail::state_tensor(state, key, p, "Sgd");
        used.insert(key);
      }
    }
    detail::check_no_unexpected(state, used, params, "Sgd");
    std::map<std::string, Tensor<T, D>> fresh;
    for (const auto& p : params) {
      auto it = state.tensors.find("momentum_buffer." + p.name);
      if (it == state.tensors.end()) continue;
      Tensor<T, D> b(it->second.shape());
      ops::ParamOps<D>::convert(it->second.data(), b.data(), b.numel());
      fresh.emplace(p.name, std::move(b));
    }
    buffers_ = std::move(fresh);
    step_ = state.step;
  }

 private:
  SgdOptions options_;
  std::vector<ParamGroup> groups_;
  std::map<std::string, Tensor<T, D>> buffers_;
  std::int64_t step_ = 0;
};

}  // namespace pmc::optim

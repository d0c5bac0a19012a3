// SPDX-License-Identifier: MIT
// Param (a named value + grad the optimizers update), ParamGroup (per-group lr scale and weight decay) and
// the rules that assign parameters to groups.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <pmc/core/device.hpp>
#include <pmc/core/error.hpp>
#include <pmc/core/tensor.hpp>

namespace pmc::optim {

/// One trainable tensor as the optimizers see it. Optimizers know nothing of autograd: they get a list of
/// these, read `grad` and update `value` in place (Tensor is a handle, so the model sees the update).
///
///   std::vector<Param<float>> ps{{.name = "model.norm.weight", .value = w, .grad = dw, .group = 1}};
///
/// T is the optimizer's type (float; double in tests). Both tensors must be contiguous and of one shape.
template <class T, Device D = Cpu>
struct Param {
  std::string name;     // Hugging Face name; the key of this parameter's optimizer state in checkpoints
  Tensor<T, D> value;   // updated in place
  Tensor<T, D> grad;    // read; clip_grad_norm and the loss scaler may scale it in place
  int group = 0;        // index into the optimizer's parameter groups
};

/// Per-group hyperparameters. The learning rate used for a parameter is `lr * lr_scale` of its group, so one
/// schedule drives every group (torch keeps an absolute lr per group; a scale is what schedules compose with).
/// Double, not float: 0.1f is not 0.1, and the optimizers must reproduce torch's float64 runs to 1e-12.
struct ParamGroup {
  double lr_scale = 1;
  double weight_decay = 0;
};

namespace detail {
/// Whether no buffer appears twice in `ptrs`: a multi-tensor launch updating one buffer from two table entries
/// would race, where the per-parameter loop applies the updates in turn (optim:: then keeps that loop).
template <class P>
bool all_distinct(std::vector<P*> ptrs) {
  std::sort(ptrs.begin(), ptrs.end());
  return std::adjacent_find(ptrs.begin(), ptrs.end()) == ptrs.end();
}

template <class T, Device D>
void check_param(const Param<T, D>& p, std::size_t n_groups, std::string_view who) {
  PMC_CHECK(p.value.defined(), who, ": parameter '", p.name, "' has no value tensor");
  PMC_CHECK(p.grad.defined(), who, ": parameter '", p.name, "' has no grad tensor");
  PMC_CHECK(p.value.shape() == p.grad.shape(), who, ": parameter '", p.name, "' has value of shape ",
            p.value.shape().str(), " but grad of shape ", p.grad.shape().str());
  // the kernels run over flat buffers; a strided view would update the wrong elements
  PMC_CHECK(p.value.is_contiguous() && p.grad.is_contiguous(), who, ": parameter '", p.name,
            "' is not contiguous (value and grad must be)");
  PMC_CHECK(p.group >= 0 && static_cast<std::size_t>(p.group) < n_groups, who, ": parameter '", p.name,
            "' is in group ", p.group, " but there are ", n_groups, " parameter groups");
}
}  // namespace detail

/// Sets `p.group = rule(p)` for every parameter; `rule` is any callable (const Param<T, D>&) -> int.
template <class T, Device D, class Rule>
void assign_groups(std::span<Param<T, D>> params, Rule&& rule) {
  for (auto& p : params) p.group = static_cast<int>(rule(std::as_const(p)));
}

/// The usual "no weight decay for norms, biases and embeddings" rule: true for names containing "norm" or
/// "embed_tokens", and for 1-D tensors (norm weights, biases).
template <class T, Device D>
bool is_no_decay(const Param<T, D>& p) {
  return p.name.find("norm") != std::string::npos || p.name.find("embed_tokens") != std::string::npos ||
         p.value.rank() == 1;
}

/// Puts decayed parameters in group 0 and `is_no_decay` ones in group 1, and returns the matching groups
/// {{1, weight_decay}, {1, 0}}, ready for an optimizer's constructor:
///
///   auto groups = optim::no_decay_for_norms_and_embeddings<float, Cpu>(params, 0.1);
///   optim::AdamW<float> opt({.beta2 = 0.95}, groups);
template <class T, Device D>
std::vector<ParamGroup> no_decay_for_norms_and_embeddings(std::span<Param<T, D>> params, double weight_decay) {
  assign_groups(params, [](const Param<T, D>& p) { return is_no_decay(p) ? 1 : 0; });
  return {ParamGroup{.lr_scale = 1, .weight_decay = weight_decay}, ParamGroup{.lr_scale = 1, .weight_decay = 0}};
}

// Overloads for a std::vector of parameters (a span parameter does not deduce T and D from a vector).
template <class T, Device D, class Rule>
void assign_groups(std::vector<Param<T, D>>& params, Rule&& rule) {
  assign_groups(std::span<Param<T, D>>(params), std::forward<Rule>(rule));
}
template <class T, Device D>
std::vector<ParamGroup> no_decay_for_norms_and_embeddings(std::vector<Param<T, D>>& params, double weight_decay) {
  return no_decay_for_norms_and_embeddings(std::span<Param<T, D>>(params), weight_decay);
}

}  // namespace pmc::optim

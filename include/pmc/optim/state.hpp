// SPDX-License-Identifier: MIT
// OptimizerState: what an optimizer saves in a checkpoint (named tensors + step counts), and the checks its
// load_state_dict makes (missing, unexpected and mis-shaped entries are errors that name the parameter).
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>

#include <pmc/core/device.hpp>
#include <pmc/core/error.hpp>
#include <pmc/core/tensor.hpp>
#include <pmc/optim/param.hpp>

namespace pmc::optim {

/// An optimizer's state, keyed by parameter name so that a checkpoint survives reordering of the model's
/// parameter list:
///   tensors: "m.<name>", "v.<name>" (AdamW); "momentum_buffer.<name>" (SGD with momentum)
///   steps:   "<name>" → the updates that parameter has received (AdamW's bias-correction t)
///   step:    the optimizer's step() calls
/// The tensors returned by state_dict() are views of the live state (a 7B model's m and v are 56 GB: no copy);
/// write them out before the next step(). load_state_dict copies, so the loaded tensors may be freed after.
template <class T, Device D = Cpu>
struct OptimizerState {
  std::int64_t step = 0;
  std::map<std::string, Tensor<T, D>> tensors;
  std::map<std::string, std::int64_t> steps;
};

namespace detail {

/// The tensor `key` of `state`, checked against the parameter's shape; errors name the optimizer, the
/// parameter and both shapes.
template <class T, Device D>
const Tensor<T, D>& state_tensor(const OptimizerState<T, D>& state, const std::string& key, const Param<T, D>& p,
                                 std::string_view who) {
  auto it = state.tensors.find(key);
  PMC_CHECK(it != state.tensors.end(), who, "::load_state_dict: no entry '", key, "' for parameter '", p.name,
            "' of shape ", p.value.shape().str());
  PMC_CHECK(it->second.shape() == p.value.shape(), who, "::load_state_dict: entry '", key, "' has shape ",
            it->second.shape().str(), " but parameter '", p.name, "' has shape ", p.value.shape().str());
  PMC_CHECK(it->second.is_contiguous(), who, "::load_state_dict: entry '", key, "' is not contiguous");
  return it->second;
}

/// Throws if `state` holds a tensor or step entry that `expected` (the keys load_state_dict consumed) lacks:
/// such an entry belongs to a parameter the model no longer has, which usually means the wrong checkpoint.
template <class T, Device D>
void check_no_unexpected(const OptimizerState<T, D>& state, const std::set<std::string>& expected_tensors,
                         std::span<const Param<T, D>> params, std::string_view who) {
  for (const auto& [key, t] : state.tensors)
    PMC_CHECK(expected_tensors.count(key), who, "::load_state_dict: unexpected entry '", key, "' of shape ",
              t.shape().str(), " (no such parameter among the ", params.size(), " given)");
  std::set<std::string> names;
  for (const auto& p : params) names.insert(p.name);
  for (const auto& [name, s] : state.steps)
    PMC_CHECK(names.count(name), who, "::load_state_dict: unexpected step count for parameter '", name, "'");
}

template <class T, Device D>
void check_unique_names(std::span<const Param<T, D>> params, std::string_view who) {
  std::set<std::string_view> seen;
  for (const auto& p : params)
    PMC_CHECK(seen.insert(p.name).second, who, ": parameter name '", p.name,
              "' appears twice (optimizer state is keyed by name)");
}

}  // namespace detail
}  // namespace pmc::optim

// SPDX-License-Identifier: MIT
// Global-L2-norm gradient clipping (torch.nn.utils.clip_grad_norm_) and the global gradient norm.
#pragma once

#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include <pmc/core/device.hpp>
#include <pmc/core/error.hpp>
#include <pmc/ops/optimizer.hpp>
#include <pmc/optim/param.hpp>

namespace pmc::optim {

/// ‖g‖₂ over the grads of all parameters, as one vector: sqrt(Σ_params Σ_i g_i²), accumulated in double.
/// Deterministic for a given parameter order and any thread count (the sum follows the parameter order).
/// On a device with multi-tensor ParamOps (ops::MultiTensorParamOps: the GPU) the squares of every grad are
/// summed by one reduction (deterministic too, but in the device's order) with one read-back.
template <class T, Device D>
double grad_norm(std::span<const Param<T, D>> params) {
  if constexpr (ops::MultiTensorParamOps<D>) {
    std::vector<const T*> grads;
    std::vector<std::int64_t> sizes;
    grads.reserve(params.size());
    sizes.reserve(params.size());
    for (const auto& p : params) {
      PMC_CHECK(p.grad.defined() && p.grad.is_contiguous(), "grad_norm: parameter '", p.name,
                "' has no contiguous grad");
      grads.push_back(p.grad.data());
      sizes.push_back(p.grad.numel());
    }
    return std::sqrt(ops::ParamOps<D>::sum_squares_multi(std::span<const T* const>(grads),
                                                         std::span<const std::int64_t>(sizes)));
  } else {
    double sum = 0;
    for (const auto& p : params) {
      PMC_CHECK(p.grad.defined() && p.grad.is_contiguous(), "grad_norm: parameter '", p.name,
                "' has no contiguous grad");
      sum += ops::ParamOps<D>::sum_squares(p.grad.data(), p.grad.numel());
    }
    return std::sqrt(sum);
  }
}

struct ClipOptions {
  /// Throw pmc::Error when the norm is inf or NaN (torch's error_if_nonfinite). Off: return it and let the
  /// caller decide (e.g. skip the step); the grads are left untouched either way.
  bool error_if_nonfinite = false;
};

/// Scales the grads by c = max_norm / (norm + 1e-6) when c < 1, `norm` being their global norm computed by the
/// caller (sharded training sums the squares of every rank's shard): clip_grad_norm's second half.
template <class T, Device D>
void clip_grads_with_norm(std::span<Param<T, D>> params, double max_norm, double norm) {
  const double coef = max_norm / (norm + 1e-6);
  if (coef < 1) {
    if constexpr (ops::MultiTensorParamOps<D>) {  // one launch for every grad (the GPU)
      std::vector<T*> grads;
      std::vector<std::int64_t> sizes;
      grads.reserve(params.size());
      sizes.reserve(params.size());
      for (auto& p : params) {
        grads.push_back(p.grad.data());
        sizes.push_back(p.grad.numel());
      }
      if (detail::all_distinct(grads)) {
        ops::ParamOps<D>::scale_multi(std::span<T* const>(grads), std::span<const std::int64_t>(sizes),
                                      static_cast<T>(coef));
      } else {  // a grad buffer shared by two parameters is scaled twice, as by the per-parameter loop
        for (auto& p : params) ops::ParamOps<D>::scale(p.grad.data(), p.grad.numel(), static_cast<T>(coef));
      }
    } else {
      for (auto& p : params) ops::ParamOps<D>::scale(p.grad.data(), p.grad.numel(), static_cast<T>(coef));
    }
  }
}

/// Clips the global gradient norm, as torch.nn.utils.clip_grad_norm_:
///   norm = ‖g‖₂ (all grads, in double);  c = max_norm / (norm + 1e-6);  if c < 1: g ← g·c
/// so grads are scaled when norm > max_norm - 1e-6, to a norm just under max_norm. Returns the norm before
/// clipping. A non-finite norm is returned without touching the grads (torch would multiply them by NaN/0),
/// or throws with ClipOptions{.error_if_nonfinite = true}.
///
///   double norm = optim::clip_grad_norm(masters, 1.0);
///   if (!std::isfinite(norm)) skip_step();
template <class T, Device D>
double clip_grad_norm(std::span<Param<T, D>> params, double max_norm, ClipOptions options = {}) {
  PMC_CHECK(max_norm > 0, "clip_grad_norm: max_norm must be > 0, got ", max_norm);
  const double norm = grad_norm(std::span<const Param<T, D>>(params));
  if (!std::isfinite(norm)) {
    PMC_CHECK(!options.error_if_nonfinite, "clip_grad_norm: the total norm of the gradients is ", norm,
              " (non-finite); not clipping");
    return norm;
  }
  clip_grads_with_norm(params, max_norm, norm);
  return norm;
}

// Overloads for a std::vector of parameters (a span parameter does not deduce T and D from a vector).
template <class T, Device D>
double grad_norm(const std::vector<Param<T, D>>& params) {
  return grad_norm(std::span<const Param<T, D>>(params));
}
template <class T, Device D>
double clip_grad_norm(std::vector<Param<T, D>>& params, double max_norm, ClipOptions options = {}) {
  return clip_grad_norm(std::span<Param<T, D>>(params), max_norm, options);
}

}  // namespace pmc::optim

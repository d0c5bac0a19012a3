// SPDX-License-Identifier: MIT
// The per-device part of the optimizers: AdamWKernel<D>, SgdKernel<D>, ParamOps<D> over flat buffers.
// Everything device-independent (hyperparameters, bias correction, state, checks) stays in optim/*.hpp,
// so a device only supplies these loops. The CPU specializations are in backends/cpu/{adamw,sgd,param_ops}.hpp.
#pragma once

#include <concepts>
#include <cstdint>
#include <span>

#include <pmc/core/device.hpp>
#include <pmc/core/dtype.hpp>

namespace pmc::ops {

/// The scalars of one AdamW update, computed in double by optim::AdamW::step exactly as torch.optim.AdamW does
/// (single-tensor path); the kernel casts them to T.
struct AdamWCoefficients {
  double decay;            // 1 - lr·weight_decay
  double one_minus_beta1;  // 1 - β1
  double beta2;            // β2
  double one_minus_beta2;  // 1 - β2
  double step_size;        // lr / (1 - β1^t)
  double bc2_sqrt;         // sqrt(1 - β2^t)
  double eps;
};

/// AdamW on n contiguous elements, per element, in this order (torch's order, so float64 agrees to ~1 ulp):
///   p ← p·decay
///   m ← m + (1-β1)·(g - m)                       (= β1·m + (1-β1)·g; torch's lerp)
///   v ← v·β2 + (1-β2)·g·g
///   p ← p + (-step_size·m) / (sqrt(v)/bc2_sqrt + eps)
/// Specialized per device:
///   template <std::floating_point T>
///   static void step(T* p, const T* g, T* m, T* v, std::int64_t n, const AdamWCoefficients& c);
template <Device D>
struct AdamWKernel;

/// One parameter of a multi-tensor AdamW step: n contiguous elements of p, g, m, v and their coefficients.
template <class T>
struct AdamWBuffer {
  T* p;
  const T* g;
  T* m;
  T* v;
  std::int64_t n;
  AdamWCoefficients c;
};

/// The scalars of one SGD update (torch.optim.SGD, single-tensor path).
struct SgdCoefficients {
  double lr;
  double momentum;      // 0: no momentum buffer
  double dampening;
  double weight_decay;  // L2: added to the gradient, not decoupled
  bool nesterov;
  bool first_step;      // the momentum buffer starts as a copy of the (decayed) gradient, as in torch
};

/// SGD on n contiguous elements, per element:
///   d ← g + wd·p
///   buf ← first_step ? d : buf·μ + (1-dampening)·d          (momentum μ > 0 only)
///   d ← nesterov ? d + μ·buf : buf                            (momentum μ > 0 only)
///   p ← p - lr·d
/// Specialized per device:
///   template <std::floating_point T>
///   static void step(T* p, const T* g, T* buf, std::int64_t n, const SgdCoefficients& c);  // buf unused if μ = 0
template <Device D>
struct SgdKernel;

/// Flat-buffer helpers for clipping, accumulation, loss scaling and master weights. Specialized per device:
///   template <class T> static double sum_squares(const T* x, std::int64_t n);  // Σ x², accumulated in double,
///                                                                            // deterministic for any thread count
///   template <class T> static void scale(T* x, std::int64_t n, T factor);     // x ← x·factor
///   template <class T> static bool all_finite(const T* x, std::int64_t n);
///   template <class G, class T> static void axpy(const G* x, T* y, std::int64_t n, T alpha);  // y ← y + alpha·T(x)
///   template <class S, class T> static void convert(const S* src, T* dst, std::int64_t n);    // dst ← T(src), RNE
///                                                                                     // (S = T: a copy)
///   template <class T> static void fill(T* x, std::int64_t n, T value);
template <Device D>
struct ParamOps;

/// Optional multi-tensor forms, for a device where a launch or a host round trip per parameter is what costs
/// (a GPU: ~290 parameters for LLaMA-7B). A device opts in by declaring `static constexpr bool multi_tensor =
/// true` in its AdamWKernel<D> or ParamOps<D>; optim:: then makes one call per step for the whole list instead
/// of one per parameter. The results equal the per-buffer calls' up to the order of the sums (a device that
/// does not opt in, as the CPU, keeps its per-parameter loop and its bits):
///   AdamWKernel<D>:  template <class T> static void step_multi(std::span<const AdamWBuffer<T>> buffers);
///   ParamOps<D>:     template <class T> static double sum_squares_multi(std::span<const T* const> xs,
///                                                                       std::span<const std::int64_t> ns);
///                    template <class T> static void scale_multi(std::span<T* const> xs,
///                                                               std::span<const std::int64_t> ns, T factor);
///                    template <class T> static bool all_finite_multi(std::span<const T* const> xs,
///                                                                    std::span<const std::int64_t> ns);
template <class D>
concept MultiTensorAdamW = requires { requires AdamWKernel<D>::multi_tensor; };
template <class D>
concept MultiTensorParamOps = requires { requires ParamOps<D>::multi_tensor; };

/// D specializes the contracts (T = float stands for every T; bf16 for the 16-bit sides of axpy and convert).
template <class D>
concept ImplementsAdamWKernel = Device<D> && requires(float* p, const float* g, std::int64_t n,
                                                      const AdamWCoefficients& c) {
  AdamWKernel<D>::step(p, g, p, p, n, c);
};
template <class D>
concept ImplementsSgdKernel = Device<D> && requires(float* p, const float* g, std::int64_t n,
                                                    const SgdCoefficients& c) {
  SgdKernel<D>::step(p, g, p, n, c);
};
template <class D>
concept ImplementsParamOps = Device<D> && requires(float* x, const float* cx, bf16* h, const bf16* ch,
                                                   std::int64_t n, float a) {
  { ParamOps<D>::sum_squares(cx, n) } -> std::same_as<double>;
  ParamOps<D>::scale(x, n, a);
  { ParamOps<D>::all_finite(cx, n) } -> std::same_as<bool>;
  ParamOps<D>::axpy(ch, x, n, a);
  ParamOps<D>::convert(cx, h, n);
  ParamOps<D>::fill(x, n, a);
};

}  // namespace pmc::ops

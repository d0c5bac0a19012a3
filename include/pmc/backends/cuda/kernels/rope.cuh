// SPDX-License-Identifier: MIT
// Rotary position embedding kernel, both pair layouts, forward (R(θ)) and accumulating backward (R(−θ)).
// grid: (T, B); block: (Dh/2, heads-per-block). A thread computes the angle of its (t, i) once, in double
// (p·θ_i reaches ~2·10³ rad at long contexts, where float angles lose ~10⁻⁴), then rotates that pair in
// every head it covers.
#pragma once

#include <pmc/backends/cuda/kernels/common.cuh>
#include <pmc/ops/rope.hpp>

namespace pmc::cuda::kernels {

/// forward:  y = m·R(θ) x;   backward (inverse = true): y += m·R(−θ) x.   x, y: (B, T, H, Dh); y may alias x.
/// θ_i = (pos0 + t)·f_i with f_i and m as ops::rope_inv_freq and ops::rope_amplitude (the CPU's formulas), f_i for
/// a call of positions pos0..pos0 + t_len - 1.
template <class T, bool Inverse>
__global__ void rope_kernel(const T* x, T* y, std::int64_t t_len, std::int64_t heads, std::int64_t dh,
                            std::int64_t pos0, ops::RopeParams rope, bool interleaved) {
  using C = compute_t<T>;
  const std::int64_t t = blockIdx.x, b = blockIdx.y, i = threadIdx.x, half = dh / 2;
  if (i >= half) return;
  const double inv_freq = ops::rope_inv_freq(rope, i, dh, pos0 + t_len), m = ops::rope_amplitude(rope);
  double sn = 0, cs = 0;
  sincos(static_cast<double>(pos0 + t) * inv_freq, &sn, &cs);
  const C c = static_cast<C>(m * cs), s = static_cast<C>(m * sn);
  const std::int64_t ia = interleaved ? 2 * i : i, ib = interleaved ? 2 * i + 1 : i + half;
  for (std::int64_t h = threadIdx.y; h < heads; h += blockDim.y) {
    const std::int64_t off = ((b * t_len + t) * heads + h) * dh;
    const C xa = load(x[off + ia]), xb = load(x[off + ib]);
    if constexpr (!Inverse) {
      y[off + ia] = store<T>(xa * c - xb * s);
      y[off + ib] = store<T>(xa * s + xb * c);
    } else {
      y[off + ia] = store<T>(load(y[off + ia]) + (xa * c + xb * s));
      y[off + ib] = store<T>(load(y[off + ib]) + (xb * c - xa * s));
    }
  }
}

}  // namespace pmc::cuda::kernels

// SPDX-License-Identifier: MIT
// Rotary position embedding. Head vector x ∈ R^Dh at absolute position p is rotated pairwise:
//   (x_a, x_b) ← m·(x_a cos θ_i − x_b sin θ_i,  x_a sin θ_i + x_b cos θ_i),   θ_i = p · f_i,  i < Dh/2
// where f_i = theta^(−2i/Dh), rescaled for long contexts as the checkpoint's rope_scaling says (rope_inv_freq;
// dynamic NTK scaling also reads the call's length pos0 + T),
// m is 1 except for YaRN (its attention_factor), and the pair (a, b) is (2i, 2i+1) in Meta's interleaved layout
// (llama2.c, the original checkpoints) or (i, i + Dh/2) in Hugging Face's rotate-half layout (whose q/k weights
// are permuted accordingly).
//   x, y: (B, T, H, Dh); the token at t has position pos0 + t. y may alias x (in place).
//   backward: the transposed rotation of dy, accumulated: dx += m·R(−θ) dy.
//   packed windows (ops::Segments, pos0 = 0; a device that takes them: the CPU): the token at (b, t) has position
//   position[b·T + t] (restarting at each example's start) instead of t; the frequencies still take the call's T.
#pragma once

#include <cmath>
#include <cstdint>

#include <pmc/config.hpp>
#include <pmc/core/device.hpp>
#include <pmc/core/tensor.hpp>
#include <pmc/ops/checks.hpp>

namespace pmc::ops {

enum class RopeLayout : std::uint8_t { interleaved, rotate_half };

/// Hugging Face's rope_type: how a checkpoint stretches RoPE beyond the context it was trained on.
///   linear (position interpolation): f_i / factor;
///   llama3: wavelengths 2π/f_i longer than original/low_freq_factor divided by factor, shorter than
///           original/high_freq_factor kept, a linear blend in 1/wavelength between;
///   yarn:   f_i/factor blended into f_i over the pairs [low, high] where the rotations beta_fast and beta_slow
///           fall within the original context (floored/ceiled when `truncate`), and cos/sin scaled by
///           attention_factor;
///   dynamic (dynamic NTK): for a call whose positions end at S = pos0 + T (its largest position + 1), as
///           transformers' max(position_ids) + 1, the base grows once S exceeds the original context O:
///             f_i = theta'^(−2i/Dh),  theta' = theta·(factor·S/O − (factor − 1))^(Dh/(Dh − 2))  when S > O,
///           and f_i is unscaled when S ≤ O. O is config.json's max_position_embeddings (transformers ignores any
///           original_max_position_embeddings for this type). The frequencies thus depend on the call: with a KV
///           cache each decoding step rotates its new token's q and k with the frequencies of its own call
///           (S = its position + 1) while the cached keys keep the ones they were rotated with, so cached decoding
///           past O differs from one full forward over the same tokens (rotated with S = T); transformers does the
///           same. One difference: transformers keeps the frequencies of its longest call so far until a call
///           shorter than O resets them, so a call with O ≤ S < that longest S reuses them; pmc always uses S.
enum class RopeScalingType : std::uint8_t { none, linear, llama3, yarn, dynamic };

/// Doubles, as the config.json numbers are: YaRN's attention_factor (1 + 0.1·ln factor) is not a float.
struct RopeScaling {
  RopeScalingType type = RopeScalingType::none;
  double factor = 1.0;
  double low_freq_factor = 1.0;  // llama3
  double high_freq_factor = 4.0; // llama3
  int original_max_position = 0; // llama3, yarn, dynamic: the context the model was trained on (dynamic: HF's
                                 // max_position_embeddings, beyond which it scales)
  double beta_fast = 32.0;       // yarn
  double beta_slow = 1.0;        // yarn
  double attention_factor = 1.0; // yarn: the scale m of cos and sin (resolved from factor/mscale when read)
  bool truncate = true;          // yarn
  friend constexpr bool operator==(const RopeScaling&, const RopeScaling&) = default;
};

/// RoPE's frequencies: the base theta and the scaling. Made implicitly from a plain theta (no scaling).
struct RopeParams {
  float theta = 1e4f;
  RopeScaling scaling{};
  PMC_HOST_DEVICE constexpr RopeParams(float theta_ = 1e4f, RopeScaling scaling_ = {})  // NOLINT: implicit
      : theta(theta_), scaling(scaling_) {}
  friend constexpr bool operator==(const RopeParams&, const RopeParams&) = default;
};

/// f_i, the angle per position of pair i < Dh/2, in double (see RopeScalingType), for a call whose positions end
/// at seq_len = pos0 + T (read only by dynamic scaling; the Rope kernels pass their own pos0 + T).
PMC_HOST_DEVICE inline double rope_inv_freq(const RopeParams& r, std::int64_t i, std::int64_t dh,
                                            std::int64_t seq_len) {
  const double f = pow(static_cast<double>(r.theta), -2.0 * static_cast<double>(i) / static_cast<double>(dh));
  const RopeScaling& s = r.scaling;
  switch (s.type) {
    case RopeScalingType::none: break;
    case RopeScalingType::linear: return f / s.factor;
    case RopeScalingType::llama3: {
      const double wavelength = 2.0 * 3.141592653589793 / f;
      const double original = s.original_max_position;
      if (wavelength < original / s.high_freq_factor) return f;
      if (wavelength > original / s.low_freq_factor) return f / s.factor;
      const double smooth = (original / wavelength - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
      return (1.0 - smooth) * f / s.factor + smooth * f;
    }
    case RopeScalingType::yarn: {
      // the pair index at which `rotations` full turns fit in the original context
      auto pair_of = [&](double rotations) {
        return static_cast<double>(dh) * log(s.original_max_position / (rotations * 2.0 * 3.141592653589793)) /
               (2.0 * log(static_cast<double>(r.theta)));
      };
      double low = pair_of(s.beta_fast), high = pair_of(s.beta_slow);
      if (s.truncate) low = floor(low), high = ceil(high);
      low = fmax(low, 0.0);
      high = fmin(high, static_cast<double>(dh - 1));
      if (low == high) high += 0.001;
      const double ramp = fmin(fmax((static_cast<double>(i) - low) / (high - low), 0.0), 1.0);
      return f / s.factor * ramp + f * (1.0 - ramp);  // ramp 0: extrapolate (keep f_i); 1: interpolate
    }
    case RopeScalingType::dynamic: {
      if (seq_len <= s.original_max_position) return f;
      const double d = static_cast<double>(dh);
      const double base = static_cast<double>(r.theta) *
                          pow(s.factor * static_cast<double>(seq_len) / s.original_max_position - (s.factor - 1.0),
                              d / (d - 2.0));
      return pow(base, -2.0 * static_cast<double>(i) / d);
    }
  }
  return f;
}

/// m, the scale of cos and sin: YaRN's attention_factor, else 1.
PMC_HOST_DEVICE inline double rope_amplitude(const RopeParams& r) {
  return r.scaling.type == RopeScalingType::yarn ? r.scaling.attention_factor : 1.0;
}

/// Specialized per device:
///   template <class T> static void forward(const Tensor<T, D>& x, std::int64_t pos0, const RopeParams& rope,
///                                          RopeLayout layout, const Tensor<T, D>& y);
///   template <class T> static void backward(const Tensor<T, D>& dy, std::int64_t pos0, const RopeParams& rope,
///                                           RopeLayout layout, const Tensor<T, D>& dx);
/// Both take the call's length for rope_inv_freq as pos0 + T of x (of dy, the same T, in backward).
/// A device that takes packed windows adds to both a last parameter `const Segments* segments = nullptr`
/// (ops/segments.hpp; autograd::supports_packing<D>).
template <Device D>
struct Rope;

/// D specializes the contract (T = float stands for every T).
template <class D>
concept ImplementsRope = Device<D> && requires(const Tensor<float, D>& t, std::int64_t pos0, const RopeParams& rope,
                                               RopeLayout layout) {
  Rope<D>::forward(t, pos0, rope, layout, t);
  Rope<D>::backward(t, pos0, rope, layout, t);
};

namespace detail {
template <class T, Device D>
void check_rope(const Tensor<T, D>& src, const char* src_name, const Tensor<T, D>& dst, const char* dst_name,
                std::int64_t pos0, const char* op) {
  check_defined(src, op, src_name);
  PMC_CHECK(src.rank() == 4, op, ": ", src_name, " must be (B, T, H, Dh), got ", src.shape().str());
  check_shape_of(dst, dst_name, src, src_name, op);
  PMC_CHECK(src.size(3) % 2 == 0, op, ": head dimension ", src.size(3), " of ", src.shape().str(), " is odd");
  PMC_CHECK(pos0 >= 0, op, ": negative start position ", pos0);
}
}  // namespace detail

/// The forward's checks: x is (B, T, H, Dh) with Dh even, y has its shape, pos0 ≥ 0. Layouts are the backend's.
template <class T, Device D>
void check_rope_args(const Tensor<T, D>& x, const Tensor<T, D>& y, std::int64_t pos0) {
  detail::check_rope(x, "x", y, "y", pos0, "rope");
}

/// The backward's checks: as forward's, for dy and dx.
template <class T, Device D>
void check_rope_backward_args(const Tensor<T, D>& dy, const Tensor<T, D>& dx, std::int64_t pos0) {
  detail::check_rope(dy, "dy", dx, "dx", pos0, "rope backward");
}

}  // namespace pmc::ops

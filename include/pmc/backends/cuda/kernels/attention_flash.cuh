// SPDX-License-Identifier: MIT
// Fused causal GQA attention that never materializes the T x S scores (FlashAttention-2's schedule, SIMT):
// forward with an online softmax saving the log-sum-exp; backward recomputes P from it, with one kernel for
// dq (per query rows) and one for dk, dv (per key rows, looping over the G query heads of their KV head), so
// every output element has a single writer: no atomics, deterministic.
//
// Work layout (all kernels): a block of kWarps warps; each warp owns kRows rows (queries, or keys for
// dk/dv). The other side streams through shared memory in tiles of 32 (one per lane): lane j computes the
// score of its tile row with a full dot product over Dh (tile rows padded to Dh + 1 floats, so that the 32
// lanes hit 32 different banks), then the warp folds the 32 results into its accumulators (each lane owns
// Dh/32 columns) through shuffles. Math is fp32 on CUDA cores: memory-efficient and exact enough for parity,
// not tensor-core fast (a wgmma/mma.sync version is future work).
#pragma once

#include <pmc/backends/cuda/kernels/common.cuh>

namespace pmc::cuda::kernels::flash {

inline constexpr int kWarps = 4;   // warps per block
inline constexpr int kRows = 4;    // rows per warp: a block owns kWarps·kRows = 16 rows
inline constexpr int kTile = 32;   // streamed rows per tile: one per lane
inline constexpr int kBlockRows = kWarps * kRows;

template <int Dh>
inline constexpr int kPerLane = Dh >= 32 ? Dh / 32 : 1;  // columns a lane owns: lane + 32·e

template <int Dh>
__device__ __forceinline__ float dot(const float* a, const float* b) {
  float s = 0.f;
#pragma unroll 16
  for (int d = 0; d < Dh; ++d) s = fmaf(a[d], b[d], s);
  return s;
}

/// Shared-memory bytes of each kernel.
template <int Dh>
constexpr std::size_t forward_smem() {
  return (2 * kTile * (Dh + 1) + kBlockRows * Dh) * sizeof(float);
}
template <int Dh>
constexpr std::size_t dq_smem() {
  return (2 * kTile * (Dh + 1) + 2 * kBlockRows * Dh) * sizeof(float);
}
template <int Dh>
constexpr std::size_t dkdv_smem() {
  return (2 * kTile * (Dh + 1) + 2 * kBlockRows * Dh + 2 * kTile) * sizeof(float);
}

/// out = softmax(q kᵀ·scale, causal) v,  lse[b, h, t] = log Σ_s exp(score).
/// q, out: (B, T, H, Dh)   k, v: (B, S, Hkv, Dh)   lse: (B, H, T)   grid: (ceil(T/16), B·H)
template <class T, int Dh>
__global__ void __launch_bounds__(kWarps * 32) forward_kernel(const T* q, const T* k, const T* v, T* out, float* lse,
                                                              std::int64_t t_len, std::int64_t s_len, int heads,
                                                              int kv_heads, std::int64_t pos0, float scale) {
  constexpr int P = Dh + 1, E = kPerLane<Dh>;
  extern __shared__ float smem[];
  float* ks = smem;                 // [kTile][P]
  float* vs = ks + kTile * P;       // [kTile][P]
  float* qs = vs + kTile * P;       // [kBlockRows][Dh]
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const std::int64_t b = blockIdx.y / heads;
  const int h = static_cast<int>(blockIdx.y % heads), kvh = h / (heads / kv_heads);
  const std::int64_t t0 = static_cast<std::int64_t>(blockIdx.x) * kBlockRows;

  for (int i = threadIdx.x; i < kBlockRows * Dh; i += blockDim.x) {
    const std::int64_t t = t0 + i / Dh;
    qs[i] = t < t_len ? static_cast<float>(load(q[((b * t_len + t) * heads + h) * Dh + i % Dh])) : 0.f;
  }
  float m[kRows], l[kRows], o[kRows][E];
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    m[r] = -INFINITY;
    l[r] = 0.f;
#pragma unroll
    for (int e = 0; e < E; ++e) o[r][e] = 0.f;
  }
  const std::int64_t t_last = min(t_len, t0 + kBlockRows) - 1;
  const std::int64_t s_end = min(s_len, pos0 + t_last + 1);  // keys any row of the block can see
  for (std::int64_t s0 = 0; s0 < s_end; s0 += kTile) {
    __syncthreads();  // the previous tile is consumed (and, the first time, qs is written)
    for (int i = threadIdx.x; i < kTile * Dh; i += blockDim.x) {
      const int j = i / Dh, d = i % Dh;
      const std::int64_t s = s0 + j;
      const std::int64_t off = ((b * s_len + s) * kv_heads + kvh) * Dh + d;
      ks[j * P + d] = s < s_len ? static_cast<float>(load(k[off])) : 0.f;
      vs[j * P + d] = s < s_len ? static_cast<float>(load(v[off])) : 0.f;
    }
    __syncthreads();
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const std::int64_t t = t0 + warp * kRows + r;
      if (t >= t_len) break;  // warp-uniform
      const std::int64_t s = s0 + lane;
      const bool visible = s < s_len && s <= pos0 + t;
      const float sc = visible ? dot<Dh>(qs + (warp * kRows + r) * Dh, ks + lane * P) * scale : -INFINITY;
      const float m_new = fmaxf(m[r], warp_max(sc));
      if (m_new == -INFINITY) continue;  // warp-uniform: nothing visible yet
      const float p = visible ? expf(sc - m_new) : 0.f;
      const float corr = expf(m[r] - m_new);  // 0 on the first visible tile (m = -inf)
      l[r] = l[r] * corr + warp_sum(p);
#pragma unroll
      for (int e = 0; e < E; ++e) o[r][e] *= corr;
#pragma unroll 8
      for (int j = 0; j < kTile; ++j) {
        const float pj = __shfl_sync(0xffffffffu, p, j);
#pragma unroll
        for (int e = 0; e < E; ++e) {
          const int d = lane + 32 * e;
          if (d < Dh) o[r][e] = fmaf(pj, vs[j * P + d], o[r][e]);
        }
      }
      m[r] = m_new;
    }
  }
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    const std::int64_t t = t0 + warp * kRows + r;
    if (t >= t_len) break;
    const float inv = 1.f / l[r];
#pragma unroll
    for (int e = 0; e < E; ++e) {
      const int d = lane + 32 * e;
      if (d < Dh) out[((b * t_len + t) * heads + h) * Dh + d] = store<T>(o[r][e] * inv);
    }
    if (lane == 0) lse[(b * heads + h) * t_len + t] = m[r] + logf(l[r]);
  }
}

/// delta[b, h, t] = Σ_d dout · out (the Σ_s P ⊙ dP of the softmax backward).   grid: ceil(B·T·H / 4), 128 threads
template <class T, int Dh>
__global__ void __launch_bounds__(kWarps * 32) delta_kernel(const T* out, const T* dout, float* delta,
                                                            std::int64_t t_len, int heads, std::int64_t rows) {
  const std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32;  // (b, t, h)
  if (row >= rows) return;
  const int lane = threadIdx.x % 32;
  float acc = 0.f;
  for (int d = lane; d < Dh; d += 32) acc += static_cast<float>(load(out[row * Dh + d])) * static_cast<float>(load(dout[row * Dh + d]));
  acc = warp_sum(acc);
  const std::int64_t h = row % heads, bt = row / heads, t = bt % t_len, b = bt / t_len;
  if (lane == 0) delta[(b * heads + h) * t_len + t] = acc;
}

/// dq += scale · Σ_s dS[t, s] k[s],  dS = P ⊙ (dP − delta),  P = exp(score − lse),  dP = dout · v.
/// grid: (ceil(T/16), B·H)
template <class T, int Dh>
__global__ void __launch_bounds__(kWarps * 32) dq_kernel(const T* q, const T* k, const T* v, const T* dout,
                                                         const float* lse, const float* delta, T* dq,
                                                         std::int64_t t_len, std::int64_t s_len, int heads,
                                                         int kv_heads, std::int64_t pos0, float scale) {
  constexpr int P = Dh + 1, E = kPerLane<Dh>;
  extern __shared__ float smem[];
  float* ks = smem;                   // [kTile][P]
  float* vs = ks + kTile * P;         // [kTile][P]
  float* qs = vs + kTile * P;         // [kBlockRows][Dh]
  float* dos = qs + kBlockRows * Dh;  // [kBlockRows][Dh]
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const std::int64_t b = blockIdx.y / heads;
  const int h = static_cast<int>(blockIdx.y % heads), kvh = h / (heads / kv_heads);
  const std::int64_t t0 = static_cast<std::int64_t>(blockIdx.x) * kBlockRows;

  for (int i = threadIdx.x; i < kBlockRows * Dh; i += blockDim.x) {
    const std::int64_t t = t0 + i / Dh;
    const std::int64_t off = ((b * t_len + t) * heads + h) * Dh + i % Dh;
    qs[i] = t < t_len ? static_cast<float>(load(q[off])) : 0.f;
    dos[i] = t < t_len ? static_cast<float>(load(dout[off])) : 0.f;
  }
  float lse_r[kRows], delta_r[kRows], acc[kRows][E];
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    const std::int64_t t = min(t0 + warp * kRows + r, t_len - 1);
    lse_r[r] = lse[(b * heads + h) * t_len + t];
    delta_r[r] = delta[(b * heads + h) * t_len + t];
#pragma unroll
    for (int e = 0; e < E; ++e) acc[r][e] = 0.f;
  }
  const std::int64_t t_last = min(t_len, t0 + kBlockRows) - 1;
  const std::int64_t s_end = min(s_len, pos0 + t_last + 1);
  for (std::int64_t s0 = 0; s0 < s_end; s0 += kTile) {
    __syncthreads();
    for (int i = threadIdx.x; i < kTile * Dh; i += blockDim.x) {
      const int j = i / Dh, d = i % Dh;
      const std::int64_t s = s0 + j;
      const std::int64_t off = ((b * s_len + s) * kv_heads + kvh) * Dh + d;
      ks[j * P + d] = s < s_len ? static_cast<float>(load(k[off])) : 0.f;
      vs[j * P + d] = s < s_len ? static_cast<float>(load(v[off])) : 0.f;
    }
    __syncthreads();
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const std::int64_t t = t0 + warp * kRows + r;
      if (t >= t_len) break;
      const std::int64_t s = s0 + lane;
      const bool visible = s < s_len && s <= pos0 + t;
      float ds = 0.f;
      if (visible) {
        const float p = expf(dot<Dh>(qs + (warp * kRows + r) * Dh, ks + lane * P) * scale - lse_r[r]);
        const float dp = dot<Dh>(dos + (warp * kRows + r) * Dh, vs + lane * P);
        ds = p * (dp - delta_r[r]);
      }
#pragma unroll 8
      for (int j = 0; j < kTile; ++j) {
        const float dsj = __shfl_sync(0xffffffffu, ds, j);
#pragma unroll
        for (int e = 0; e < E; ++e) {
          const int d = lane + 32 * e;
          if (d < Dh) acc[r][e] = fmaf(dsj, ks[j * P + d], acc[r][e]);
        }
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    const std::int64_t t = t0 + warp * kRows + r;
    if (t >= t_len) break;
#pragma unroll
    for (int e = 0; e < E; ++e) {
      const int d = lane + 32 * e;
      if (d < Dh) {
        T* dst = dq + ((b * t_len + t) * heads + h) * Dh + d;
        *dst = store<T>(static_cast<float>(load(*dst)) + scale * acc[r][e]);
      }
    }
  }
}

/// dk[s] += scale · Σ_{g, t} dS[t, s] q[t],  dv[s] += Σ_{g, t} P[t, s] dout[t], over the G query heads
/// h = kvh·G + g of KV head kvh and the queries t ≥ s − pos0 that see key s.   grid: (ceil(S/16), B·Hkv)
template <class T, int Dh>
__global__ void __launch_bounds__(kWarps * 32) dkdv_kernel(const T* q, const T* k, const T* v, const T* dout,
                                                           const float* lse, const float* delta, T* dk, T* dv,
                                                           std::int64_t t_len, std::int64_t s_len, int heads,
                                                           int kv_heads, std::int64_t pos0, float scale) {
  constexpr int P = Dh + 1, E = kPerLane<Dh>;
  extern __shared__ float smem[];
  float* qs = smem;                       // [kTile][P]: query tile, lane j <-> query t0 + j
  float* dos = qs + kTile * P;            // [kTile][P]
  float* ks = dos + kTile * P;            // [kBlockRows][Dh]: this block's keys
  float* vs = ks + kBlockRows * Dh;       // [kBlockRows][Dh]
  float* lse_s = vs + kBlockRows * Dh;    // [kTile]
  float* delta_s = lse_s + kTile;         // [kTile]
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const std::int64_t b = blockIdx.y / kv_heads;
  const int kvh = static_cast<int>(blockIdx.y % kv_heads), g_count = heads / kv_heads;
  const std::int64_t s0 = static_cast<std::int64_t>(blockIdx.x) * kBlockRows;

  for (int i = threadIdx.x; i < kBlockRows * Dh; i += blockDim.x) {
    const std::int64_t s = s0 + i / Dh;
    const std::int64_t off = ((b * s_len + s) * kv_heads + kvh) * Dh + i % Dh;
    ks[i] = s < s_len ? static_cast<float>(load(k[off])) : 0.f;
    vs[i] = s < s_len ? static_cast<float>(load(v[off])) : 0.f;
  }
  float dk_acc[kRows][E], dv_acc[kRows][E];
#pragma unroll
  for (int r = 0; r < kRows; ++r)
#pragma unroll
    for (int e = 0; e < E; ++e) dk_acc[r][e] = dv_acc[r][e] = 0.f;

  const std::int64_t t_begin = max(std::int64_t{0}, s0 - pos0);  // earlier queries see none of these keys
  for (int g = 0; g < g_count; ++g) {
    const int h = kvh * g_count + g;
    for (std::int64_t t0 = t_begin; t0 < t_len; t0 += kTile) {
      __syncthreads();
      for (int i = threadIdx.x; i < kTile * Dh; i += blockDim.x) {
        const int j = i / Dh, d = i % Dh;
        const std::int64_t t = t0 + j;
        const std::int64_t off = ((b * t_len + t) * heads + h) * Dh + d;
        qs[j * P + d] = t < t_len ? static_cast<float>(load(q[off])) : 0.f;
        dos[j * P + d] = t < t_len ? static_cast<float>(load(dout[off])) : 0.f;
      }
      if (threadIdx.x < kTile) {
        const std::int64_t t = t0 + threadIdx.x;
        lse_s[threadIdx.x] = t < t_len ? lse[(b * heads + h) * t_len + t] : 0.f;
        delta_s[threadIdx.x] = t < t_len ? delta[(b * heads + h) * t_len + t] : 0.f;
      }
      __syncthreads();
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        const std::int64_t s = s0 + warp * kRows + r;
        if (s >= s_len) break;
        const std::int64_t t = t0 + lane;
        const bool visible = t < t_len && s <= pos0 + t;
        float p = 0.f, ds = 0.f;
        if (visible) {
          p = expf(dot<Dh>(qs + lane * P, ks + (warp * kRows + r) * Dh) * scale - lse_s[lane]);
          const float dp = dot<Dh>(dos + lane * P, vs + (warp * kRows + r) * Dh);
          ds = p * (dp - delta_s[lane]);
        }
#pragma unroll 8
        for (int j = 0; j < kTile; ++j) {
          const float pj = __shfl_sync(0xffffffffu, p, j), dsj = __shfl_sync(0xffffffffu, ds, j);
#pragma unroll
          for (int e = 0; e < E; ++e) {
            const int d = lane + 32 * e;
            if (d < Dh) {
              dv_acc[r][e] = fmaf(pj, dos[j * P + d], dv_acc[r][e]);
              dk_acc[r][e] = fmaf(dsj, qs[j * P + d], dk_acc[r][e]);
            }
          }
        }
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    const std::int64_t s = s0 + warp * kRows + r;
    if (s >= s_len) break;
#pragma unroll
    for (int e = 0; e < E; ++e) {
      const int d = lane + 32 * e;
      if (d < Dh) {
        const std::int64_t off = ((b * s_len + s) * kv_heads + kvh) * Dh + d;
        dk[off] = store<T>(static_cast<float>(load(dk[off])) + scale * dk_acc[r][e]);
        dv[off] = store<T>(static_cast<float>(load(dv[off])) + dv_acc[r][e]);
      }
    }
  }
}

}  // namespace pmc::cuda::kernels::flash

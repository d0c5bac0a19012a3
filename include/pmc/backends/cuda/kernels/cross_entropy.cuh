// SPDX-License-Identifier: MIT
// Cross-entropy kernels: a one-pass online softmax over the vocabulary per row (block per row) that saves the
// log-sum-exp, a deterministic loss reduction, and the backward that recomputes softmax from the saved lse.
#pragma once

#include <pmc/backends/cuda/kernels/common.cuh>
#include <pmc/backends/cuda/kernels/embedding.cuh>

namespace pmc::cuda::kernels {

/// lse[n] = log Σ_v exp(z[n, v]);  row_loss[n] = lse[n] − z[n, y[n]] (0 for ignored rows);  counted[n] ∈ {0, 1}.
/// grid: N blocks.
template <class T>
__global__ void __launch_bounds__(1024) cross_entropy_forward_kernel(const T* z, const std::int32_t* y, compute_t<T>* lse, double* row_loss,
                                             int* counted, std::int64_t v, std::int32_t ignore, BadIndex* bad) {
  using C = compute_t<T>;
  __shared__ C scratch[32];
  const T* zr = z + blockIdx.x * v;
  C m = C(-INFINITY), s = 0;
  bool saw_nan = false;  // a NaN logit makes the row's lse NaN, as on the CPU (comparisons would skip it)
  for (std::int64_t i = threadIdx.x; i < v; i += blockDim.x) {
    const C x = load(zr[i]);
    saw_nan |= x != x;
    if (x > m) {
      s = s * exp(m - x) + C(1);  // exp(-inf) = 0 on the first element
      m = x;
    } else if (x > C(-INFINITY)) {  // -inf logits (masked classes) add nothing
      s += exp(x - m);
    }
  }
  const C mx = block_max(m, scratch);
  const C part = m == C(-INFINITY) ? C(0) : s * exp(m - mx);
  const C total = block_sum(part, scratch);
  const bool row_nan = block_max(saw_nan ? C(1) : C(0), scratch) > C(0);
  const C l = row_nan ? C(NAN) : mx + log(total);
  if (threadIdx.x == 0) {
    lse[blockIdx.x] = l;
    const std::int32_t t = y[blockIdx.x];
    if (t == ignore) {
      row_loss[blockIdx.x] = 0;
      counted[blockIdx.x] = 0;
    } else if (t < 0 || t >= v) {
      report_bad(bad, t);
      row_loss[blockIdx.x] = 0;
      counted[blockIdx.x] = 0;
    } else {
      row_loss[blockIdx.x] = static_cast<double>(l) - static_cast<double>(load(zr[t]));
      counted[blockIdx.x] = 1;
    }
  }
}

/// out = {Σ row_loss, Σ counted} in a fixed order (one block).
struct LossSum {
  double loss;
  long long count;
};

template <int Threads>
__global__ void __launch_bounds__(Threads) cross_entropy_reduce_kernel(const double* row_loss, const int* counted,
                                                                       std::int64_t n, LossSum* out) {
  __shared__ double scratch[32];
  __shared__ long long cscratch[32];
  double acc = 0;
  long long cnt = 0;
  for (std::int64_t i = threadIdx.x; i < n; i += Threads) {
    acc += row_loss[i];
    cnt += counted[i];
  }
  acc = block_sum(acc, scratch);
  cnt = block_sum(cnt, cscratch);
  if (threadIdx.x == 0) *out = LossSum{acc, cnt};
}

/// dz[n, v] += scale · (exp(z[n, v] − lse[n]) − [v = y[n]]) for counted rows.   grid: N blocks
template <class T>
__global__ void __launch_bounds__(1024) cross_entropy_backward_kernel(const T* z, const std::int32_t* y, const compute_t<T>* lse, T* dz,
                                              std::int64_t v, std::int32_t ignore, compute_t<T> scale, BadIndex* bad) {
  using C = compute_t<T>;
  const std::int32_t t = y[blockIdx.x];
  if (t == ignore) return;
  if (t < 0 || t >= v) {
    if (threadIdx.x == 0) report_bad(bad, t);
    return;
  }
  const std::int64_t off = blockIdx.x * v;
  const C l = lse[blockIdx.x];
  for (std::int64_t i = threadIdx.x; i < v; i += blockDim.x) {
    const C p = exp(load(z[off + i]) - l);
    dz[off + i] = store<T>(load(dz[off + i]) + scale * (p - (i == t ? C(1) : C(0))));
  }
}

}  // namespace pmc::cuda::kernels

// SPDX-License-Identifier: MIT
// CrossEntropy<Cuda> (see pmc/ops/cross_entropy.hpp): softmax over the vocabulary fused with the loss (one
// pass, lse saved); backward recomputes the softmax from lse, so probabilities are never stored.
#pragma once

#include <pmc/backends/cuda/elementwise.cuh>
#include <pmc/backends/cuda/embedding.cuh>
#include <pmc/backends/cuda/kernels/cross_entropy.cuh>
#include <pmc/ops/cross_entropy.hpp>

namespace pmc::ops {

template <>
struct CrossEntropy<Cuda> {
  struct Result {
    double loss;
    std::int64_t count;
  };

  /// Returns the mean loss over counted rows and their count; waits for the current stream (the loss is a
  /// host value). Deterministic: per-row terms are summed in double in a fixed order.
  template <class T>
  static Result forward(const Tensor<T, Cuda>& logits, const Tensor<std::int32_t, Cuda>& targets,
                        const Tensor<compute_t<T>, Cuda>& lse, std::int32_t ignore = kIgnoreIndex) {
    const auto [n, v] = check(logits, targets, lse, "CrossEntropy<Cuda>::forward");
    if (n == 0) return {0.0, 0};
    const auto stream = cuda::current_stream();
    auto row_loss = cuda::allocate_uninitialized(static_cast<std::size_t>(n) * sizeof(double));
    auto counted = cuda::allocate_uninitialized(static_cast<std::size_t>(n) * sizeof(int));
    auto sum = cuda::allocate_uninitialized(sizeof(cuda::kernels::LossSum));
    cuda::detail::BadIndexSlot bad;
    cuda::kernels::cross_entropy_forward_kernel<<<static_cast<unsigned>(n), cuda::kernels::threads_for_row(v, 1024),
                                                  0, stream>>>(logits.data(), targets.data(), lse.data(),
                                                               static_cast<double*>(row_loss.get()),
                                                               static_cast<int*>(counted.get()), v, ignore, bad.get());
    PMC_CUDA_CHECK_LAUNCH();
    cuda::kernels::cross_entropy_reduce_kernel<1024><<<1, 1024, 0, stream>>>(
        static_cast<const double*>(row_loss.get()), static_cast<const int*>(counted.get()), n,
        static_cast<cuda::kernels::LossSum*>(sum.get()));
    PMC_CUDA_CHECK_LAUNCH();
    cuda::kernels::LossSum h{};
    PMC_CUDA_CHECK(cudaMemcpyAsync(&h, sum.get(), sizeof(h), cudaMemcpyDeviceToHost, stream));
    const auto b = bad.read();  // synchronizes the stream, so h is valid too
    PMC_CHECK(b.flag == 0, "CrossEntropy<Cuda>::forward: target ", b.value, " is out of range for ", v,
              " classes (and is not the ignore index ", ignore, ")");
    return {h.count > 0 ? h.loss / static_cast<double>(h.count) : 0.0, static_cast<std::int64_t>(h.count)};
  }

  /// dlogits += dloss / count · (softmax(z) − onehot(y)) on counted rows.
  template <class T>
  static void backward(const Tensor<T, Cuda>& logits, const Tensor<std::int32_t, Cuda>& targets,
                       const Tensor<compute_t<T>, Cuda>& lse, double dloss, std::int64_t count,
                       const Tensor<T, Cuda>& dlogits, std::int32_t ignore = kIgnoreIndex) {
    const auto [n, v] = check(logits, targets, lse, "CrossEntropy<Cuda>::backward");
    cuda::detail::check_same(logits, dlogits, "CrossEntropy<Cuda>::backward dlogits");
    if (n == 0 || count == 0) return;
    cuda::detail::BadIndexSlot bad;
    const auto scale = static_cast<compute_t<T>>(dloss / static_cast<double>(count));
    cuda::kernels::cross_entropy_backward_kernel<<<static_cast<unsigned>(n), cuda::kernels::threads_for_row(v, 1024),
                                                   0, cuda::current_stream()>>>(
        logits.data(), targets.data(), lse.data(), dlogits.data(), v, ignore, scale, bad.get());
    PMC_CUDA_CHECK_LAUNCH();
    const auto b = bad.read();
    PMC_CHECK(b.flag == 0, "CrossEntropy<Cuda>::backward: target ", b.value, " is out of range for ", v, " classes");
  }

 private:
  template <class T>
  static std::pair<std::int64_t, std::int64_t> check(const Tensor<T, Cuda>& z, const Tensor<std::int32_t, Cuda>& y,
                                                     const Tensor<compute_t<T>, Cuda>& lse, const char* what) {
    PMC_CHECK(z.rank() == 2, what, ": logits must be (N, V), got ", z.shape().str());
    const std::int64_t n = z.size(0), v = z.size(1);
    expect_shape(y, Shape{n}, what);
    expect_shape(lse, Shape{n}, what);
    PMC_CHECK(z.is_contiguous() && y.is_contiguous() && lse.is_contiguous(), what, ": tensors must be contiguous");
    PMC_CHECK(n < (std::int64_t{1} << 31), what, ": ", n, " rows exceed the grid limit");
    return {n, v};
  }
};

}  // namespace pmc::ops

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
  /// Returns the mean loss over counted rows and their count; waits for the current stream (the loss is a
  /// host value). Deterministic: per-row terms are summed in double in a fixed order.
  template <class T>
  static CrossEntropyResult forward(const Tensor<T, Cuda>& logits, const Tensor<std::int32_t, Cuda>& targets,
                                    const Tensor<compute_t<T>, Cuda>& lse, std::int32_t ignore = kIgnoreIndex) {
    const auto [n, v] = check_cross_entropy_args(logits, targets, lse);
    check_device_limits(logits, n, "cross_entropy");
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
    if (b.flag != 0) check_target(b.value, -1, v, ignore, "cross_entropy");
    return {h.count > 0 ? h.loss / static_cast<double>(h.count) : 0.0, static_cast<std::int64_t>(h.count)};
  }

  /// dlogits += dloss / count · (softmax(z) − onehot(y)) on counted rows.
  template <class T>
  static void backward(const Tensor<T, Cuda>& logits, const Tensor<std::int32_t, Cuda>& targets,
                       const Tensor<compute_t<T>, Cuda>& lse, double dloss, std::int64_t count,
                       const Tensor<T, Cuda>& dlogits, std::int32_t ignore = kIgnoreIndex) {
    if (!dlogits.defined()) return;
    const auto [n, v] = check_cross_entropy_backward_args(logits, targets, lse, dlogits);
    check_device_limits(logits, n, "cross_entropy backward");
    cuda::detail::check_contiguous_all("cross_entropy backward", dlogits, "dlogits");
    if (n == 0 || count == 0) return;
    cuda::detail::BadIndexSlot bad;
    const auto scale = static_cast<compute_t<T>>(dloss / static_cast<double>(count));
    cuda::kernels::cross_entropy_backward_kernel<<<static_cast<unsigned>(n), cuda::kernels::threads_for_row(v, 1024),
                                                   0, cuda::current_stream()>>>(
        logits.data(), targets.data(), lse.data(), dlogits.data(), v, ignore, scale, bad.get());
    PMC_CUDA_CHECK_LAUNCH();
    const auto b = bad.read();
    if (b.flag != 0) check_target(b.value, -1, v, ignore, "cross_entropy backward");
  }

 private:
  /// The GPU's needs beyond the contract: contiguous logits, one block per row within the grid.
  template <class T>
  static void check_device_limits(const Tensor<T, Cuda>& logits, std::int64_t n, const char* op) {
    cuda::detail::check_contiguous_all(op, logits, "logits");
    PMC_CHECK(n < (std::int64_t{1} << 31), op, ": ", n, " rows exceed the grid limit");
  }
};

}  // namespace pmc::ops

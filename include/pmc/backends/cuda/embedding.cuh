// SPDX-License-Identifier: MIT
// Embedding<Cuda> (see pmc/ops/embedding.hpp). Backward is deterministic without sorting or atomics
// (vocabulary buckets, kernels/embedding.cuh). Both directions check the tokens on the device and report the
// first bad one as a pmc::Error, which costs one small device-to-host read (a stream synchronization) per call.
#pragma once

#include <pmc/backends/cuda/elementwise.cuh>
#include <pmc/backends/cuda/kernels/embedding.cuh>
#include <pmc/ops/embedding.hpp>

namespace pmc::cuda::detail {

/// A zeroed device BadIndex for one launch; read() waits for the stream and returns it.
class BadIndexSlot {
 public:
  BadIndexSlot() : mem_(allocate_uninitialized(sizeof(kernels::BadIndex))) {
    PMC_CUDA_CHECK(cudaMemsetAsync(mem_.get(), 0, sizeof(kernels::BadIndex), current_stream()));
  }
  kernels::BadIndex* get() const { return static_cast<kernels::BadIndex*>(mem_.get()); }
  kernels::BadIndex read() const {
    kernels::BadIndex h{};
    PMC_CUDA_CHECK(cudaMemcpyAsync(&h, mem_.get(), sizeof(h), cudaMemcpyDeviceToHost, current_stream()));
    PMC_CUDA_CHECK(cudaStreamSynchronize(current_stream()));
    return h;
  }

 private:
  std::shared_ptr<void> mem_;
};

}  // namespace pmc::cuda::detail

namespace pmc::ops {

template <>
struct Embedding<Cuda> {
  template <class T>
  static void forward(const Tensor<T, Cuda>& weight, const Tensor<std::int32_t, Cuda>& tokens,
                      const Tensor<T, Cuda>& out) {
    const auto [n, v, d] = check_embedding_args(weight, tokens, out);
    cuda::detail::check_contiguous_all("embedding", weight, "weight", out, "out");
    if (n == 0) return;
    cuda::detail::BadIndexSlot bad;
    const unsigned blocks = static_cast<unsigned>(std::min<std::int64_t>(n, 65535 * 16));
    cuda::kernels::embedding_forward_kernel<<<blocks, cuda::kernels::threads_for_row(d, 256), 0,
                                              cuda::current_stream()>>>(weight.data(), tokens.data(), out.data(), n,
                                                                        d, v, bad.get());
    PMC_CUDA_CHECK_LAUNCH();
    report(bad, v, "embedding");
  }

  /// dweight[tokens[n], :] += dout[n, :], deterministic.
  template <class T>
  static void backward(const Tensor<std::int32_t, Cuda>& tokens, const Tensor<T, Cuda>& dout,
                       const Tensor<T, Cuda>& dweight) {
    if (!dweight.defined()) return;
    const auto [n, v, d] = check_embedding_backward_args(tokens, dout, dweight);
    cuda::detail::check_contiguous_all("embedding backward", dweight, "dweight", dout, "dout");
    if (n == 0) return;
    cuda::detail::BadIndexSlot bad;
    const std::int64_t col_blocks = (d + 31) / 32, buckets = (v + cuda::kernels::kEmbeddingBucket - 1) /
                                                             cuda::kernels::kEmbeddingBucket;
    PMC_CHECK(buckets < 65536, "embedding backward: vocabulary of ", v, " exceeds the grid limit");
    cuda::kernels::embedding_backward_kernel<<<dim3(static_cast<unsigned>(col_blocks), static_cast<unsigned>(buckets)),
                                               32, 0, cuda::current_stream()>>>(tokens.data(), dout.data(),
                                                                                dweight.data(), n, d, v, bad.get());
    PMC_CUDA_CHECK_LAUNCH();
    report(bad, v, "embedding backward");
  }

 private:
  /// The first bad token the kernel met (its position is not recorded), in the contract's wording.
  static void report(const cuda::detail::BadIndexSlot& bad, std::int64_t v, const char* op) {
    const auto h = bad.read();
    if (h.flag != 0) check_token(h.value, -1, v, op);
  }
};

}  // namespace pmc::ops

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
    const auto [n, v, d] = check(weight, tokens, out, "Embedding<Cuda>::forward");
    if (n == 0) return;
    cuda::detail::BadIndexSlot bad;
    const unsigned blocks = static_cast<unsigned>(std::min<std::int64_t>(n, 65535 * 16));
    cuda::kernels::embedding_forward_kernel<<<blocks, cuda::kernels::threads_for_row(d, 256), 0,
                                              cuda::current_stream()>>>(weight.data(), tokens.data(), out.data(), n,
                                                                        d, v, bad.get());
    PMC_CUDA_CHECK_LAUNCH();
    report(bad, v, "Embedding<Cuda>::forward");
  }

  /// dweight[tokens[n], :] += dout[n, :], deterministic.
  template <class T>
  static void backward(const Tensor<std::int32_t, Cuda>& tokens, const Tensor<T, Cuda>& dout,
                       const Tensor<T, Cuda>& dweight) {
    const auto [n, v, d] = check(dweight, tokens, dout, "Embedding<Cuda>::backward");
    if (n == 0) return;
    cuda::detail::BadIndexSlot bad;
    const std::int64_t col_blocks = (d + 31) / 32, buckets = (v + cuda::kernels::kEmbeddingBucket - 1) /
                                                             cuda::kernels::kEmbeddingBucket;
    PMC_CHECK(buckets < 65536, "Embedding<Cuda>::backward: vocabulary of ", v, " exceeds the grid limit");
    cuda::kernels::embedding_backward_kernel<<<dim3(static_cast<unsigned>(col_blocks), static_cast<unsigned>(buckets)),
                                               32, 0, cuda::current_stream()>>>(tokens.data(), dout.data(),
                                                                                dweight.data(), n, d, v, bad.get());
    PMC_CUDA_CHECK_LAUNCH();
    report(bad, v, "Embedding<Cuda>::backward");
  }

 private:
  template <class T>
  static std::tuple<std::int64_t, std::int64_t, std::int64_t> check(const Tensor<T, Cuda>& w,
                                                                    const Tensor<std::int32_t, Cuda>& tokens,
                                                                    const Tensor<T, Cuda>& rows, const char* what) {
    PMC_CHECK(w.rank() == 2 && tokens.rank() == 1, what, ": expected W (V, D) and tokens (N), got ", w.shape().str(),
              " and ", tokens.shape().str());
    const std::int64_t n = tokens.size(0), v = w.size(0), d = w.size(1);
    expect_shape(rows, Shape{n, d}, what);
    PMC_CHECK(w.is_contiguous() && tokens.is_contiguous() && rows.is_contiguous(), what,
              ": tensors must be contiguous");
    return {n, v, d};
  }
  static void report(const cuda::detail::BadIndexSlot& bad, std::int64_t v, const char* what) {
    const auto h = bad.read();
    PMC_CHECK(h.flag == 0, what, ": token ", h.value, " is out of range for a vocabulary of ", v);
  }
};

}  // namespace pmc::ops

// SPDX-License-Identifier: MIT
// The device runtime: the caching allocator (reuse, zero fill, statistics, empty_cache) and host/device
// copies of contiguous and strided tensors.
#include "parity.hpp"

namespace pmc::test {

TEST_CASE("allocator/reuse, zero fill, statistics") {
  cuda::synchronize();
  cuda::empty_cache();
  const auto s0 = cuda::allocator_stats();
  void* first = nullptr;
  {
    Tensor<float, Cuda> a({1000});
    first = a.data();
    CHECK(cuda::allocator_stats().in_use == s0.in_use + cuda::CachingAllocator::round_size(4000));
    auto h = cuda::to_host(a);
    for (float x : h.span()) REQUIRE(x == 0.f);
    cuda::zero(a);
    ops::Elementwise<Cuda>::scale(a, 2.f, a);
  }
  CHECK(cuda::allocator_stats().in_use == s0.in_use);
  const auto mallocs = cuda::allocator_stats().cuda_mallocs;
  {
    Tensor<float, Cuda> b({990});  // the same size class: the cached block comes back, zeroed again
    CHECK(b.data() == first);
    CHECK(cuda::allocator_stats().cuda_mallocs == mallocs);
    auto h = cuda::to_host(b);
    for (float x : h.span()) REQUIRE(x == 0.f);
  }
  CHECK(cuda::allocator_stats().peak_in_use >= cuda::CachingAllocator::round_size(4000));
  Allocator<Cuda>::empty_cache();
  const auto s1 = Allocator<Cuda>::stats();
  CHECK(s1.reserved == s1.in_use);  // nothing cached after empty_cache
  static_assert(cuda::CachingAllocator::round_size(1) == 512);
  static_assert(cuda::CachingAllocator::round_size(1536 * 1024) == 1536 * 1024);
  static_assert(cuda::CachingAllocator::round_size(1536 * 1024 + 1) == 1792 * 1024);
}

TEST_CASE("copy/round trips of contiguous and strided tensors") {
  std::mt19937 rng(50);
  auto x = rnd<float>({4, 5, 6}, rng);
  CHECK(max_abs_diff(cuda::to_host(dev(x)), x) == 0.0);
  auto xt = x.transpose(0, 2);  // strided host view -> contiguous device copy
  CHECK(max_abs_diff(cuda::to_host(dev(xt)), xt) == 0.0);
  auto xd = dev(x);
  auto view = xd.transpose(0, 2).slice(1, 1, 4);  // strided device view -> host
  CHECK(max_abs_diff(cuda::to_host(view), x.transpose(0, 2).slice(1, 1, 4)) == 0.0);
  auto packed = cuda::contiguous(view);  // gathered on the GPU
  CHECK(packed.is_contiguous());
  CHECK(max_abs_diff(cuda::to_host(packed), x.transpose(0, 2).slice(1, 1, 4)) == 0.0);
  Tensor<bf16, Cuda> xb(x.shape());
  cuda::convert(xd, xb);
  CHECK(max_abs_diff(cuda::to_host(xb), x.to<bf16>()) == 0.0);
}

}  // namespace pmc::test

// SPDX-License-Identifier: MIT
// The device runtime: the caching allocator (reuse, zero fill, statistics, empty_cache, what a destroyed
// cuda::Stream leaves cached) and host/device copies of contiguous and strided tensors.
#include "parity.hpp"

namespace pmc::test {
namespace {
/// cuBLASLt workspaces this thread's context holds for `stream`.
std::size_t detail_workspaces(cudaStream_t stream) { return cuda::detail::LtContext::get().workspaces_for(stream); }
}  // namespace

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

TEST_CASE("allocator/a destroyed Stream's cached blocks and cuBLASLt workspace are released") {
  std::mt19937 rng(51);
  auto a = rnd<float>({64, 48}, rng), b = rnd<float>({48, 32}, rng);
  auto ad = dev(a), bd = dev(b);
  cuda::synchronize();
  cuda::empty_cache();
  const auto s0 = cuda::allocator_stats();
  Tensor<float> c_ref({64, 32});
  ops::Matmul<pmc::Cpu>::forward(a, b, c_ref, false, false);
  cudaStream_t handle = nullptr;
  Tensor<float, Cuda> survivor;  // allocated on the stream, still alive when it is destroyed
  {
    cuda::Stream stream;
    handle = stream.get();
    {
      cuda::StreamGuard guard(handle);
      Tensor<float, Cuda> scratch({1000});                     // freed into the stream's bin below
      Tensor<float, Cuda> c({64, 32});
      ops::Matmul<Cuda>::forward(ad, bd, c, false, false);  // a cuBLASLt workspace for (device, stream)
      survivor = Tensor<float, Cuda>({3000});
      stream.synchronize();
      CHECK(max_rel_diff(cuda::to_host(c), c_ref) <= 1e-5);
    }
    CHECK(cuda::cached_bytes(handle) >= cuda::CachingAllocator::round_size(4000));
    CHECK(detail_workspaces(handle) <= 1);
  }
  // the stream is gone: nothing cached under its handle, its workspace dropped and freed
  CHECK(cuda::cached_bytes(handle) == 0);
  CHECK(detail_workspaces(handle) == 0);
  const auto s1 = cuda::allocator_stats();
  CHECK(s1.reserved == s1.in_use);  // no cached block anywhere (empty_cache above, the stream's freed)
  CHECK(s1.in_use == s0.in_use + cuda::CachingAllocator::round_size(12000));  // only the survivor
  // The survivor dies after its stream: it retires instead of going to the old handle's bin, so a new stream
  // (which may get the same handle) does not inherit it.
  survivor = Tensor<float, Cuda>();
  CHECK(cuda::cached_bytes(handle) == 0);
  {
    cuda::Stream again;
    cuda::StreamGuard guard(again.get());
    const auto mallocs = cuda::allocator_stats().cuda_mallocs;
    Tensor<float, Cuda> x({3000});
    CHECK(cuda::allocator_stats().cuda_mallocs == mallocs + 1);  // a fresh block, not the survivor's
    Tensor<float, Cuda> c({64, 32});
    ops::Matmul<Cuda>::forward(ad, bd, c, false, false);
    again.synchronize();
    CHECK(max_rel_diff(cuda::to_host(c), c_ref) <= 1e-5);
  }
  cuda::empty_cache();  // frees the retired block too
  const auto s2 = cuda::allocator_stats();
  CHECK(s2.reserved == s2.in_use);
  CHECK(s2.in_use == s0.in_use);
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

// SPDX-License-Identifier: MIT
// dist::NcclCommunicator on a group of one (one process, one GPU; the id bootstrapped over a ThreadGroup of
// one): allreduce_sum, reduce_scatter_sum, all_gather (also in place), broadcast and barrier on device buffers,
// checked against what the host expects; bad arguments are pmc::Error; the node-local rank from the launchers'
// variables. Built as pmc_nccl_tests (with cuda_main.cu: exit 77 without a GPU) when CMake found NCCL.
#include <doctest/doctest.h>

#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include <pmc/dist/nccl.hpp>

namespace {

using pmc::dist::NcclCommunicator;

/// A device copy of a host vector, freed with the object.
template <class T>
struct DeviceBuffer {
  T* ptr = nullptr;
  std::size_t n = 0;
  explicit DeviceBuffer(const std::vector<T>& host) : n(host.size()) {
    pmc::dist::detail::check_cuda(cudaMalloc(&ptr, std::max<std::size_t>(1, n) * sizeof(T)), "cudaMalloc");
    if (n) pmc::dist::detail::check_cuda(cudaMemcpy(ptr, host.data(), n * sizeof(T), cudaMemcpyHostToDevice), "copy");
  }
  explicit DeviceBuffer(std::size_t count, T fill) : DeviceBuffer(std::vector<T>(count, fill)) {}
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { cudaFree(ptr); }
  std::span<T> span() { return {ptr, n}; }
  std::span<const T> cspan() const { return {ptr, n}; }
  std::vector<T> host() const {
    std::vector<T> h(n);
    if (n) pmc::dist::detail::check_cuda(cudaMemcpy(h.data(), ptr, n * sizeof(T), cudaMemcpyDeviceToHost), "copy");
    return h;
  }
};

template <class T>
std::vector<T> ramp(std::size_t n, double scale) {
  std::vector<T> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<T>((static_cast<double>(i) - n / 3.0) * scale);
  return v;
}

/// A host-memory communicator of one rank that claims device memory: refused as a bootstrap.
struct DeviceClaimingComm final : pmc::dist::Communicator {
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void allreduce_sum(std::span<float>) override {}
  void allreduce_sum(std::span<double>) override {}
  void reduce_scatter_sum(std::span<const float>, std::span<float>) override {}
  void reduce_scatter_sum(std::span<const double>, std::span<double>) override {}
  void all_gather(std::span<const std::byte>, std::span<std::byte>) override {}
  void broadcast(std::span<std::byte>, int) override {}
  void barrier() override {}
  std::string name() const override { return "fake"; }
  bool device_memory() const override { return true; }
};

}  // namespace

TEST_CASE("nccl/collectives of a group of one on device buffers") {
  pmc::dist::ThreadGroup host(1);
  NcclCommunicator comm(host.rank(0), 0);
  CHECK(comm.rank() == 0);
  CHECK(comm.size() == 1);
  CHECK(comm.device() == 0);
  CHECK(comm.device_memory());
  CHECK(comm.name() == "nccl");

  for (const std::size_t n : {std::size_t{1}, std::size_t{7}, std::size_t{4099}}) {
    CAPTURE(n);
    // allreduce_sum over one rank: the values themselves, bit for bit
    const auto f = ramp<float>(n, 0.37);
    DeviceBuffer<float> df(f);
    comm.allreduce_sum(df.span());
    CHECK(df.host() == f);
    const auto d = ramp<double>(n, 1e-3);
    DeviceBuffer<double> dd(d);
    comm.allreduce_sum(dd.span());
    CHECK(dd.host() == d);

    // reduce_scatter_sum: one block of n
    DeviceBuffer<float> rs_out(n, -1.f);
    comm.reduce_scatter_sum(df.cspan(), rs_out.span());
    CHECK(rs_out.host() == f);
    DeviceBuffer<double> rs_out_d(n, -1.0);
    comm.reduce_scatter_sum(dd.cspan(), rs_out_d.span());
    CHECK(rs_out_d.host() == d);

    // all_gather of an odd number of bytes, and in place
    std::vector<std::byte> bytes(2 * n + 1);
    for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::byte>((i * 29 + 3) & 0xFF);
    DeviceBuffer<std::byte> in(bytes);
    DeviceBuffer<std::byte> out(bytes.size(), std::byte{0xEE});
    comm.all_gather(in.cspan(), out.span());
    CHECK(out.host() == bytes);
    comm.all_gather(std::span<const std::byte>(in.ptr, in.n), in.span());  // in place
    CHECK(in.host() == bytes);

    // broadcast from the only root
    comm.broadcast(in.span(), 0);
    CHECK(in.host() == bytes);
    comm.barrier();
  }
}

TEST_CASE("nccl/bad arguments are pmc::Error") {
  pmc::dist::ThreadGroup host(1);
  NcclCommunicator comm(host.rank(0));
  DeviceBuffer<float> in(5, 1.f), out(4, 0.f);
  CHECK_THROWS_WITH_AS(comm.reduce_scatter_sum(in.cspan(), out.span()),
                       doctest::Contains("in must hold size() blocks"), pmc::Error);
  DeviceBuffer<std::byte> b(3, std::byte{1}), g(4, std::byte{0});
  CHECK_THROWS_WITH_AS(comm.all_gather(b.cspan(), g.span()), doctest::Contains("out must hold size() blocks"),
                       pmc::Error);
  CHECK_THROWS_WITH_AS(comm.broadcast(b.span(), 1), doctest::Contains("broadcast from rank 1 of 1"), pmc::Error);
  DeviceClaimingComm fake;
  CHECK_THROWS_WITH_AS(NcclCommunicator{fake}, doctest::Contains("must move host memory"), pmc::Error);
}

TEST_CASE("nccl/the node-local rank from the launchers' variables") {
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID"}) unsetenv(name);
  CHECK(pmc::dist::node_local_rank() == -1);
  setenv("SLURM_LOCALID", "3", 1);
  CHECK(pmc::dist::node_local_rank() == 3);
  setenv("OMPI_COMM_WORLD_LOCAL_RANK", "1", 1);  // Open MPI's is read first
  CHECK(pmc::dist::node_local_rank() == 1);
  setenv("OMPI_COMM_WORLD_LOCAL_RANK", "x", 1);  // not a number: the next one
  CHECK(pmc::dist::node_local_rank() == 3);
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID"}) unsetenv(name);
  int devices = 0;
  REQUIRE(cudaGetDeviceCount(&devices) == cudaSuccess);
  CHECK(pmc::dist::device_for_rank(devices + 1) == 1 % devices);
}

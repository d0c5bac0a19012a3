// SPDX-License-Identifier: MIT
// Data-parallel ranks as one GPU per process over NCCL: dist::Communicator whose spans are DEVICE memory
// (device_memory() is true; dist::allreduce_sum of tensors passes device tensors straight through). The one
// dist header that needs CUDA and NCCL: link pmc::nccl (CMake builds it with the CUDA component when it finds
// libnccl and nccl.h, in the CUDA toolkit or the system), which defines PMC_WITH_NCCL. Started like MPI, with a
// host communicator of the same ranks to bootstrap from:
//   pmc::dist::MpiSession mpi(argc, argv);
//   pmc::dist::MpiCommunicator host;                 // rank 0's ncclUniqueId travels over it
//   pmc::dist::NcclCommunicator comm(host);          // GPU: the node-local rank's (or rank % devices)
// Every collective is enqueued on the communicator's own CUDA stream and waited for before it returns (the
// caller's device buffers are complete on return; work of the caller's other streams must be complete before
// the call). Errors are pmc::Error with NCCL's or CUDA's words. Sums are NCCL's: the same bits on every rank,
// but not promised in rank order, nor equal between allreduce_sum and reduce_scatter_sum (unlike ThreadGroup).
#pragma once

#include <cuda_runtime.h>
#include <nccl.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>

#include <pmc/core/error.hpp>
#include <pmc/dist/communicator.hpp>

namespace pmc::dist {

namespace detail {
inline void check_cuda(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return;
  fail("CUDA: ", what, " failed: ", cudaGetErrorName(e), " (", cudaGetErrorString(e), ")");
}
inline void check_nccl(ncclResult_t r, const char* what, ncclComm_t comm = nullptr) {
  if (r == ncclSuccess) return;
  std::string detail;
#if defined(NCCL_VERSION_CODE) && NCCL_VERSION_CODE >= 21300
  if (const char* last = ncclGetLastError(comm); last && *last) detail = std::string(": ") + last;
#else
  (void)comm;
#endif
  fail("NCCL: ", what, " failed: ", ncclGetErrorString(r), detail);
}
}  // namespace detail

/// This process's rank on its node as a launcher says it (Open MPI's OMPI_COMM_WORLD_LOCAL_RANK, Slurm's
/// SLURM_LOCALID, MPICH's MPI_LOCALRANKID), or -1 when none does.
inline int node_local_rank() {
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID"}) {
    const char* value = std::getenv(name);
    if (value == nullptr || *value == '\0') continue;
    char* end = nullptr;
    const long n = std::strtol(value, &end, 10);
    if (*end == '\0' && n >= 0) return static_cast<int>(n);
  }
  return -1;
}

/// The GPU of the process of rank `rank`: its node-local rank (node_local_rank()) modulo the number of
/// devices, or without a launcher's word, rank modulo the number of devices.
inline int device_for_rank(int rank) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    fail("NcclCommunicator: no usable CUDA device (", cudaGetErrorString(e), ")");
  }
  PMC_CHECK(count > 0, "NcclCommunicator: no CUDA device on this machine");
  const int local = node_local_rank();
  return (local >= 0 ? local : rank) % count;
}

/// One rank of an NCCL communicator: one process, one GPU. Not copyable; destroys the NCCL communicator and
/// its stream on destruction.
class NcclCommunicator final : public Communicator {
 public:
  /// A communicator of bootstrap's ranks (the same rank and size) on GPU `device` (-1: device_for_rank). Every
  /// rank constructs it at the same time: rank 0 makes the ncclUniqueId and broadcasts it over `bootstrap`
  /// (a host-memory communicator: MpiCommunicator, or a ThreadGroup's rank for a group of one).
  explicit NcclCommunicator(Communicator& bootstrap, int device = -1)
      : rank_(bootstrap.rank()), size_(bootstrap.size()) {
    PMC_CHECK(!bootstrap.device_memory(), "NcclCommunicator: the bootstrap communicator (", bootstrap.name(),
              ") must move host memory");
    // rank 0's id, with whether it could make one: the others must not wait for an id that never comes
    struct Offer {
      int ok = 0;
      ncclUniqueId id{};
    } offer;
    ncclResult_t made = ncclSuccess;
    if (rank_ == 0) {
      made = ncclGetUniqueId(&offer.id);
      offer.ok = made == ncclSuccess ? 1 : 0;
    }
    bootstrap.broadcast(std::as_writable_bytes(std::span<Offer>(&offer, 1)), 0);
    if (rank_ == 0) detail::check_nccl(made, "ncclGetUniqueId");
    PMC_CHECK(offer.ok == 1, "NcclCommunicator: rank 0 could not make the NCCL id (see rank 0's error)");

    device_ = device >= 0 ? device : device_for_rank(rank_);
    detail::check_cuda(cudaSetDevice(device_), "cudaSetDevice");
    detail::check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
    try {
      detail::check_cuda(cudaMalloc(&scratch_, sizeof(float)), "cudaMalloc");
      detail::check_cuda(cudaMemset(scratch_, 0, sizeof(float)), "cudaMemset");
      detail::check_nccl(ncclCommInitRank(&comm_, size_, offer.id, rank_), "ncclCommInitRank");
    } catch (...) {
      release();
      throw;
    }
  }
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;
  ~NcclCommunicator() override { release(); }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  /// The GPU this rank's buffers live on.
  int device() const { return device_; }
  /// The stream the collectives run on.
  cudaStream_t stream() const { return stream_; }
  bool device_memory() const override { return true; }
  /// Not yet: NCCL calls from a background thread would need that thread to own the CUDA stream (not built).
  bool callable_from_any_thread() const override { return false; }
  std::string name() const override { return "nccl"; }

  void allreduce_sum(std::span<float> data) override {
    run(ncclAllReduce(data.data(), data.data(), data.size(), ncclFloat32, ncclSum, comm_, begin()), "ncclAllReduce");
  }
  void allreduce_sum(std::span<double> data) override {
    run(ncclAllReduce(data.data(), data.data(), data.size(), ncclFloat64, ncclSum, comm_, begin()), "ncclAllReduce");
  }
  void reduce_scatter_sum(std::span<const float> in, std::span<float> out) override {
    check_blocks(in.size(), out.size());
    run(ncclReduceScatter(in.data(), out.data(), out.size(), ncclFloat32, ncclSum, comm_, begin()),
        "ncclReduceScatter");
  }
  void reduce_scatter_sum(std::span<const double> in, std::span<double> out) override {
    check_blocks(in.size(), out.size());
    run(ncclReduceScatter(in.data(), out.data(), out.size(), ncclFloat64, ncclSum, comm_, begin()),
        "ncclReduceScatter");
  }
  void all_gather(std::span<const std::byte> in, std::span<std::byte> out) override {
    PMC_CHECK(out.size() == in.size() * static_cast<std::size_t>(size_), "NCCL all_gather: ", in.size(),
              " bytes into ", out.size(), " on ", size_, " ranks (out must hold size() blocks)");
    // in place when in is this rank's block of out (NCCL's own rule for in-place all-gather)
    run(ncclAllGather(in.data(), out.data(), in.size(), ncclUint8, comm_, begin()), "ncclAllGather");
  }
  void broadcast(std::span<std::byte> data, int root) override {
    PMC_CHECK(root >= 0 && root < size_, "NCCL broadcast from rank ", root, " of ", size_);
    run(ncclBroadcast(data.data(), data.data(), data.size(), ncclUint8, root, comm_, begin()), "ncclBroadcast");
  }
  /// An all-reduce of one value, waited for.
  void barrier() override {
    run(ncclAllReduce(scratch_, scratch_, 1, ncclFloat32, ncclSum, comm_, begin()), "ncclAllReduce (barrier)");
  }

 private:
  // Makes this rank's device current (the calling thread may have another) and returns the stream.
  cudaStream_t begin() const {
    detail::check_cuda(cudaSetDevice(device_), "cudaSetDevice");
    return stream_;
  }
  // Checks an enqueued collective and waits for it.
  void run(ncclResult_t r, const char* what) const {
    detail::check_nccl(r, what, comm_);
    detail::check_cuda(cudaStreamSynchronize(stream_), what);
  }
  void check_blocks(std::size_t in, std::size_t n) const {
    PMC_CHECK(in == n * static_cast<std::size_t>(size_), "NCCL reduce_scatter_sum of ", in, " values into blocks of ",
              n, " on ", size_, " ranks (in must hold size() blocks)");
  }
  void release() noexcept {
    if (stream_) (void)cudaSetDevice(device_);
    if (comm_) ncclCommDestroy(comm_);
    if (scratch_) cudaFree(scratch_);
    if (stream_) cudaStreamDestroy(stream_);
    comm_ = nullptr;
    scratch_ = nullptr;
    stream_ = nullptr;
  }

  int rank_ = 0, size_ = 1, device_ = 0;
  cudaStream_t stream_ = nullptr;
  ncclComm_t comm_ = nullptr;
  void* scratch_ = nullptr;
};

}  // namespace pmc::dist

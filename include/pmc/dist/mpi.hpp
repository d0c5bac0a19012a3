// SPDX-License-Identifier: MIT
// Data-parallel ranks as MPI processes: dist::Communicator over MPI_COMM_WORLD. Needs an MPI library: link
// pmc::mpi (CMake component `mpi`, found when an MPI such as Debian's libopenmpi-dev is installed), which
// defines PMC_WITH_MPI. Start the program with `mpirun -np N program ...`:
//   pmc::dist::MpiSession mpi(argc, argv);                 // MPI_Init ... MPI_Finalize
//   pmc::dist::MpiCommunicator comm;                       // rank(), size(), allreduce_sum()
//   options.comm = comm.size() > 1 ? &comm : nullptr;      // train::TrainOptions
#pragma once

#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <vector>
#include <span>
#include <string>

#include <pmc/core/error.hpp>
#include <pmc/dist/communicator.hpp>

namespace pmc::dist {

namespace detail {
inline void check_mpi(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  fail("MPI: ", what, " failed: ", std::string(text, static_cast<std::size_t>(length)));
}
}  // namespace detail

/// MPI_Init_thread on construction (unless MPI is already initialized), asking for MPI_THREAD_SERIALIZED (any thread
/// may call MPI, one at a time: the collectives of dist::CommThread), MPI_Finalize on destruction (if it
/// initialized MPI). Errors are returned to the caller (MPI_ERRORS_RETURN) and thrown as pmc::Error.
class MpiSession {
 public:
  MpiSession(int& argc, char**& argv) { init(&argc, &argv); }
  /// Without the command line (MPI-2 allows it).
  MpiSession() { init(nullptr, nullptr); }
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
  ~MpiSession() {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (owner_ && !finalized) MPI_Finalize();
  }

 private:
  void init(int* argc, char*** argv) {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      detail::check_mpi(MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided), "MPI_Init_thread");
      owner_ = true;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  }

  bool owner_ = false;
};

/// This process's rank of MPI_COMM_WORLD (MPI must be initialized: MpiSession). Sums add the ranks' values in
/// rank order, as ThreadGroup does, so they have ThreadGroup's bits whatever MPI's algorithms (MPI_SUM's order
/// depends on the implementation, the message size and the number of ranks, and would differ between an
/// all-reduce and a reduce-scatter of the same values): each rank receives every rank's piece of the block it
/// owns (MPI_Alltoall[v]) and adds them in rank order; an all-reduce then gathers the blocks (MPI_Allgatherv).
/// The same traffic as a ring all-reduce or reduce-scatter; sums go in pieces of at most kSumChunk elements
/// (the buffers they need), every other call in pieces of at most max_count elements counting all ranks' (MPI
/// counts are int).
class MpiCommunicator final : public Communicator {
 public:
  static constexpr std::size_t kMaxCount = INT_MAX / 2;
  /// The most elements of a sum handled at once (all ranks' pieces together): 64 MiB of floats of buffers.
  static constexpr std::size_t kSumChunk = std::size_t{1} << 24;
  /// max_count: the most elements one MPI call moves (tests lower it to reach the chunked paths cheaply).
  explicit MpiCommunicator(std::size_t max_count = kMaxCount) : max_count_(max_count) {
    PMC_CHECK(max_count >= 1 && max_count <= kMaxCount, "MpiCommunicator: max_count ", max_count,
              " is not in [1, ", kMaxCount, "]");
    int initialized = 0;
    MPI_Initialized(&initialized);
    PMC_CHECK(initialized, "MpiCommunicator: MPI is not initialized (create a pmc::dist::MpiSession first)");
    detail::check_mpi(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
    detail::check_mpi(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  bool callable_from_any_thread() const override {
    int level = MPI_THREAD_SINGLE;
    MPI_Query_thread(&level);
    return level >= MPI_THREAD_SERIALIZED;
  }
  void allreduce_sum(std::span<float> data) override { sum(data, MPI_FLOAT); }
  void allreduce_sum(std::span<double> data) override { sum(data, MPI_DOUBLE); }
  void reduce_scatter_sum(std::span<const float> in, std::span<float> out) override {
    reduce_scatter(in, out, MPI_FLOAT);
  }
  void reduce_scatter_sum(std::span<const double> in, std::span<double> out) override {
    reduce_scatter(in, out, MPI_DOUBLE);
  }
  void all_gather(std::span<const std::byte> in, std::span<std::byte> out) override {
    PMC_CHECK(out.size() == in.size() * static_cast<std::size_t>(size_), "MPI all_gather: ", in.size(),
              " bytes into ", out.size(), " on ", size_, " ranks (out must hold size() blocks)");
    std::byte* const own = out.data() + static_cast<std::size_t>(rank_) * in.size();
    const bool in_place = in.data() == own;  // MPI forbids aliasing the buffers: MPI_IN_PLACE says it
    if (out.size() <= max_count_) {
      const int n = static_cast<int>(in.size());
      detail::check_mpi(MPI_Allgather(in_place ? MPI_IN_PLACE : in.data(), n, MPI_BYTE, out.data(), n, MPI_BYTE,
                                      MPI_COMM_WORLD),
                        "MPI_Allgather");
      return;
    }
    // blocks over MPI's int counts (counting all ranks'): one broadcast per rank, in pieces
    for (int r = 0; r < size_; ++r) {
      std::byte* block = out.data() + static_cast<std::size_t>(r) * in.size();
      if (r == rank_ && !in_place) std::copy(in.begin(), in.end(), block);
      broadcast(std::span<std::byte>(block, in.size()), r);
    }
  }
  void broadcast(std::span<std::byte> data, int root) override {
    PMC_CHECK(root >= 0 && root < size_, "MPI broadcast from rank ", root, " of ", size_);
    for (std::size_t done = 0; done < data.size();) {
      const int n = static_cast<int>(std::min(data.size() - done, max_count_));
      detail::check_mpi(MPI_Bcast(data.data() + done, n, MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
      done += static_cast<std::size_t>(n);
    }
  }
  void barrier() override { detail::check_mpi(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }
  std::string name() const override { return "mpi"; }

 private:
  std::size_t sum_chunk() const { return std::min(max_count_, kSumChunk); }

  // In pieces of m values: rank r owns [m·r/size, m·(r+1)/size) of each piece; it receives every rank's values
  // of its block, adds them in rank order and sends the sum to every rank.
  template <class T>
  void sum(std::span<T> data, MPI_Datatype type) const {
    if (size_ == 1) return;
    const auto ranks = static_cast<std::size_t>(size_);
    std::vector<int> counts(ranks), displs(ranks), mine_counts(ranks), mine_displs(ranks);
    std::vector<T> received;
    for (std::size_t done = 0; done < data.size();) {
      const std::size_t m = std::min(data.size() - done, sum_chunk());
      for (std::size_t r = 0; r < ranks; ++r) {
        displs[r] = static_cast<int>(m * r / ranks);
        counts[r] = static_cast<int>(m * (r + 1) / ranks) - displs[r];
      }
      const auto mine = static_cast<std::size_t>(counts[static_cast<std::size_t>(rank_)]);
      for (std::size_t r = 0; r < ranks; ++r) {
        mine_counts[r] = static_cast<int>(mine);
        mine_displs[r] = static_cast<int>(r * mine);
      }
      received.resize(mine * ranks);
      T* piece = data.data() + done;
      detail::check_mpi(MPI_Alltoallv(piece, counts.data(), displs.data(), type, received.data(),
                                      mine_counts.data(), mine_displs.data(), type, MPI_COMM_WORLD),
                        "MPI_Alltoallv");
      add_in_rank_order(received.data(), mine, piece + displs[static_cast<std::size_t>(rank_)]);
      detail::check_mpi(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, piece, counts.data(), displs.data(),
                                       type, MPI_COMM_WORLD),
                        "MPI_Allgatherv");
      done += m;
    }
  }

  // out = Σ over ranks r, in rank order, of received[r·n .. r·n + n)
  template <class T>
  void add_in_rank_order(const T* received, std::size_t n, T* out) const {
    std::vector<T> total(n, T(0));
    for (std::size_t r = 0; r < static_cast<std::size_t>(size_); ++r)
      for (std::size_t i = 0; i < n; ++i) total[i] += received[r * n + i];
    std::copy(total.begin(), total.end(), out);
  }

  // In pieces of m values of each block: every rank's piece of block r goes to rank r (MPI_Alltoall, from a
  // packed copy unless the piece is the whole block), which adds them in rank order.
  template <class T>
  void reduce_scatter(std::span<const T> in, std::span<T> out, MPI_Datatype type) const {
    const std::size_t n = out.size();
    const auto ranks = static_cast<std::size_t>(size_);
    PMC_CHECK(in.size() == n * ranks, "MPI reduce_scatter_sum of ", in.size(), " values into blocks of ", n,
              " on ", size_, " ranks (in must hold size() blocks)");
    const std::size_t chunk = std::max<std::size_t>(1, sum_chunk() / ranks);
    std::vector<T> packed, received(std::min(chunk, n) * ranks);
    for (std::size_t done = 0; done < n;) {
      const std::size_t m = std::min(chunk, n - done);
      const T* send = in.data();
      if (m != n) {
        packed.resize(m * ranks);
        for (std::size_t r = 0; r < ranks; ++r)
          std::copy_n(in.data() + r * n + done, m, packed.data() + r * m);
        send = packed.data();
      }
      detail::check_mpi(MPI_Alltoall(send, static_cast<int>(m), type, received.data(), static_cast<int>(m), type,
                                     MPI_COMM_WORLD),
                        "MPI_Alltoall");
      add_in_rank_order(received.data(), m, out.data() + done);
      done += m;
    }
  }

  int rank_ = 0, size_ = 1;
  std::size_t max_count_ = kMaxCount;
};

}  // namespace pmc::dist

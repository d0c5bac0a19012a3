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
#include <cstring>
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

/// MPI_Init on construction (unless MPI is already initialized), MPI_Finalize on destruction (if it
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
      detail::check_mpi(MPI_Init(argc, argv), "MPI_Init");
      owner_ = true;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  }

  bool owner_ = false;
};

/// This process's rank of MPI_COMM_WORLD (MPI must be initialized: MpiSession). Sums are MPI_Allreduce with
/// MPI_SUM, in chunks of at most INT_MAX / 2 elements (MPI counts are int).
class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    PMC_CHECK(initialized, "MpiCommunicator: MPI is not initialized (create a pmc::dist::MpiSession first)");
    detail::check_mpi(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
    detail::check_mpi(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void allreduce_sum(std::span<float> data) override { sum(data.data(), data.size(), MPI_FLOAT); }
  void allreduce_sum(std::span<double> data) override { sum(data.data(), data.size(), MPI_DOUBLE); }
  void reduce_scatter_sum(std::span<const float> in, std::span<float> out) override {
    reduce_scatter(in.data(), in.size(), out.data(), out.size(), MPI_FLOAT);
  }
  void reduce_scatter_sum(std::span<const double> in, std::span<double> out) override {
    reduce_scatter(in.data(), in.size(), out.data(), out.size(), MPI_DOUBLE);
  }
  void all_gather(std::span<const std::byte> in, std::span<std::byte> out) override {
    PMC_CHECK(out.size() == in.size() * static_cast<std::size_t>(size_), "MPI all_gather: ", in.size(),
              " bytes into ", out.size(), " on ", size_, " ranks (out must hold size() blocks)");
    if (in.size() <= static_cast<std::size_t>(INT_MAX / 2)) {
      detail::check_mpi(MPI_Allgather(in.data(), static_cast<int>(in.size()), MPI_BYTE, out.data(),
                                      static_cast<int>(in.size()), MPI_BYTE, MPI_COMM_WORLD),
                        "MPI_Allgather");
      return;
    }
    // blocks over MPI's int counts: one broadcast per rank, in pieces
    for (int r = 0; r < size_; ++r) {
      std::byte* block = out.data() + static_cast<std::size_t>(r) * in.size();
      if (r == rank_) std::copy(in.begin(), in.end(), block);
      broadcast(std::span<std::byte>(block, in.size()), r);
    }
  }
  void broadcast(std::span<std::byte> data, int root) override {
    PMC_CHECK(root >= 0 && root < size_, "MPI broadcast from rank ", root, " of ", size_);
    for (std::size_t done = 0; done < data.size();) {
      const int n = static_cast<int>(std::min<std::size_t>(data.size() - done, INT_MAX / 2));
      detail::check_mpi(MPI_Bcast(data.data() + done, n, MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
      done += static_cast<std::size_t>(n);
    }
  }
  void barrier() override { detail::check_mpi(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }
  std::string name() const override { return "mpi"; }

 private:
  static void sum(void* data, std::size_t count, MPI_Datatype type) {
    int bytes = 0;
    MPI_Type_size(type, &bytes);
    auto* p = static_cast<char*>(data);
    for (std::size_t done = 0; done < count;) {
      const int n = static_cast<int>(std::min<std::size_t>(count - done, INT_MAX / 2));
      detail::check_mpi(MPI_Allreduce(MPI_IN_PLACE, p + done * static_cast<std::size_t>(bytes), n, type, MPI_SUM,
                                      MPI_COMM_WORLD),
                        "MPI_Allreduce");
      done += static_cast<std::size_t>(n);
    }
  }

  // MPI_Reduce_scatter_block, in chunks of each block when a block exceeds MPI's int counts (each chunk a
  // strided gather of the ranks' pieces into a contiguous buffer)
  void reduce_scatter(const void* in, std::size_t in_count, void* out, std::size_t n, MPI_Datatype type) const {
    PMC_CHECK(in_count == n * static_cast<std::size_t>(size_), "MPI reduce_scatter_sum of ", in_count,
              " values into blocks of ", n, " on ", size_, " ranks (in must hold size() blocks)");
    int bytes = 0;
    MPI_Type_size(type, &bytes);
    const auto elt = static_cast<std::size_t>(bytes);
    if (n <= static_cast<std::size_t>(INT_MAX / 2)) {
      detail::check_mpi(MPI_Reduce_scatter_block(in, out, static_cast<int>(n), type, MPI_SUM, MPI_COMM_WORLD),
                        "MPI_Reduce_scatter_block");
      return;
    }
    const std::size_t chunk = INT_MAX / 2 / static_cast<std::size_t>(size_);
    std::vector<std::byte> packed(chunk * static_cast<std::size_t>(size_) * elt);
    for (std::size_t done = 0; done < n; done += chunk) {
      const std::size_t m = std::min(chunk, n - done);
      for (int r = 0; r < size_; ++r)
        std::memcpy(packed.data() + static_cast<std::size_t>(r) * m * elt,
                    static_cast<const std::byte*>(in) + (static_cast<std::size_t>(r) * n + done) * elt, m * elt);
      detail::check_mpi(MPI_Reduce_scatter_block(packed.data(), static_cast<std::byte*>(out) + done * elt,
                                                 static_cast<int>(m), type, MPI_SUM, MPI_COMM_WORLD),
                        "MPI_Reduce_scatter_block");
    }
  }

  int rank_ = 0, size_ = 1;
};

}  // namespace pmc::dist

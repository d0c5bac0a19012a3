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

  int rank_ = 0, size_ = 1;
};

}  // namespace pmc::dist

// SPDX-License-Identifier: MIT
// dist::MpiCommunicator's collectives on real MPI processes (`mpirun -np 2|3 pmc_dist_mpi_tests`): the checks
// of collective_checks.hpp, which ThreadGroup passes in collectives_test.cpp, once with MPI's own counts and
// once with every MPI call cut to a few elements (max_count), so that the chunked paths of large buffers
// (allreduce in pieces, reduce-scatter of strided pieces, all-gather as broadcasts) run on small ones.
// MpiCommunicator adds in rank order like ThreadGroup (MPI_SUM's order is the implementation's: with Open MPI
// and 3 ranks, MPI_Reduce_scatter_block and MPI_Allreduce give different bits), so the bits are checked
// against the rank-order sum as for ThreadGroup.
// Each rank prints "rank R of N: ok" or its failures; exits 1 if any rank failed.
#include <cstdio>
#include <exception>

#include <pmc/dist/mpi.hpp>

#include "dist/collective_checks.hpp"

namespace checks = pmc::test::dist_checks;

int main(int argc, char** argv) {
  pmc::dist::MpiSession session(argc, argv);
  int failed = 0;
  try {
    pmc::dist::MpiCommunicator comm;
    auto f = checks::check_all(comm, /*rank_order=*/true, {0, 1, 7, 1000, 40001});
    // the chunked paths: at most 5 elements per MPI call
    pmc::dist::MpiCommunicator small(5);
    auto g = checks::check_all(small, /*rank_order=*/true, {0, 1, 2, 3, 7, 11});
    for (const auto& line : f.lines) std::printf("FAILED %s\n", line.c_str());
    for (const auto& line : g.lines) std::printf("FAILED (max_count 5) %s\n", line.c_str());
    failed = f.ok() && g.ok() ? 0 : 1;
    // every rank exits alike
    double any = failed;
    comm.allreduce_sum(std::span<double>(&any, 1));
    if (any == 0) std::printf("pmc_dist_mpi_tests: rank %d of %d: ok\n", comm.rank(), comm.size());
    failed = any == 0 ? 0 : 1;
    try {
      pmc::dist::MpiCommunicator zero(0);
      std::printf("FAILED: max_count 0 was accepted\n");
      failed = 1;
    } catch (const pmc::Error&) {
    }
  } catch (const std::exception& e) {
    std::printf("FAILED: %s\n", e.what());
    std::fflush(stdout);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  std::fflush(stdout);
  return failed;
}

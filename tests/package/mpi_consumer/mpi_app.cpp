// SPDX-License-Identifier: MIT
// Sums each rank's (rank + 1) over the ranks with pmc::dist::MpiCommunicator: n(n+1)/2 on every rank.
#include <cstdio>
#include <vector>

#include <pmc/dist/mpi.hpp>

int main(int argc, char** argv) {
  pmc::dist::MpiSession session(argc, argv);
  pmc::dist::MpiCommunicator comm;
  std::vector<double> x{static_cast<double>(comm.rank() + 1)};
  comm.allreduce_sum(x);
  const double expected = comm.size() * (comm.size() + 1) / 2.0;
  std::printf("pmc-mpi-consumer rank %d of %d: sum %g, %s\n", comm.rank(), comm.size(), x[0],
              x[0] == expected ? "ok" : "FAILED");
  return x[0] == expected ? 0 : 1;
}

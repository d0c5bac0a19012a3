// SPDX-License-Identifier: MIT
// The data-parallel group `pmc pretrain` and `pmc instruct` train in: the MPI processes they were started as
// (`mpirun -np N pmc pretrain ...`, in a pmc built with the MPI component), or none.
#pragma once

#include <string>

#include <pmc/core/error.hpp>
#include <pmc/dist/communicator.hpp>
#if defined(PMC_WITH_MPI)
#include <pmc/dist/mpi.hpp>
#endif

namespace pmc::cli {

using dist::launched_ranks;

/// This process's data-parallel group: MPI_COMM_WORLD when started by an MPI launcher with more than one
/// process, else nullptr (one process). Without the MPI component, several processes are an error: each would
/// otherwise train alone and all would write the same run folder.
inline dist::Communicator* launched_group() {
  if (launched_ranks() == 1) return nullptr;
#if defined(PMC_WITH_MPI)
  static dist::MpiSession session;
  static dist::MpiCommunicator comm;
  return &comm;
#else
  fail("started as ", launched_ranks(), " processes (mpirun), but this pmc was built without MPI: install an MPI ",
       "(Debian: apt-get install libopenmpi-dev) and rebuild, or run one process");
#endif
}

/// After an error in one process of a data-parallel group: ends every process of it (MPI_Abort), which would
/// otherwise wait forever in the next collective. Nothing without a group.
inline void abort_group() {
#if defined(PMC_WITH_MPI)
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized && launched_ranks() > 1) MPI_Abort(MPI_COMM_WORLD, 1);
#endif
}

}  // namespace pmc::cli

# SPDX-License-Identifier: MIT
# shard_bench runs as MPI processes (mpirun -np 2) when the pmc::mpi component is built; alone otherwise.
if(TARGET pmc_mpi)
  target_link_libraries(${PMC_BENCH_TARGET} PRIVATE pmc::mpi)
endif()

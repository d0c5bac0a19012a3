# SPDX-License-Identifier: MIT
# tests/dist: the collectives on ThreadGroup (pmc_dist_tests, from *_test.cpp); with the MPI component and an
# mpiexec, the same checks on MpiCommunicator over 2 and 3 processes (pmc_dist_mpi_tests, mpi_collectives.cpp).
if(PMC_HAS_MPI AND MPIEXEC_EXECUTABLE)
  add_executable(pmc_dist_mpi_tests ${CMAKE_CURRENT_LIST_DIR}/mpi_collectives.cpp)
  target_link_libraries(pmc_dist_mpi_tests PRIVATE pmc::mpi pmc_program_flags)
  target_include_directories(pmc_dist_mpi_tests PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  # Open MPI refuses more processes than cores (this machine may have 2) without --oversubscribe, and root
  # without the ALLOW_RUN_AS_ROOT variables; other launchers (MPICH's) take neither flag.
  execute_process(COMMAND ${MPIEXEC_EXECUTABLE} --version OUTPUT_VARIABLE pmc_mpiexec_version ERROR_QUIET)
  set(pmc_mpiexec_flags)
  if(pmc_mpiexec_version MATCHES "Open MPI|OpenRTE")
    set(pmc_mpiexec_flags --oversubscribe)
  endif()
  foreach(ranks 2 3)
    add_test(NAME dist/mpi_${ranks}_ranks
             COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${ranks} ${pmc_mpiexec_flags} ${MPIEXEC_PREFLAGS}
                     $<TARGET_FILE:pmc_dist_mpi_tests> ${MPIEXEC_POSTFLAGS})
    set_tests_properties(dist/mpi_${ranks}_ranks PROPERTIES
      LABELS "cpu;dist;mpi" TIMEOUT 120 RESOURCE_LOCK cpu_cores
      ENVIRONMENT "OMP_NUM_THREADS=1;OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1"
      PASS_REGULAR_EXPRESSION "rank 0 of ${ranks}: ok"
      FAIL_REGULAR_EXPRESSION "FAILED")
  endforeach()
endif()

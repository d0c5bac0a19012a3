# SPDX-License-Identifier: MIT
# Package tests (label `package`): a small consumer project is built
#   - against an installed copy of pmc (fixture package/install stages `cmake --install` into the build tree,
#     then `ctest --build-and-test` builds tests/package/consumer with find_package(pmc 0.1) and runs it), and
#   - through add_subdirectory(<pmc source>) (tests/package/subdir_consumer).
# With the CUDA component, a third consumer checks find_package(pmc COMPONENTS cuda) and pmc::cuda; with the MPI
# component, a fourth builds against pmc::mpi and runs on 2 MPI ranks.
# Included from tests/CMakeLists.txt.
set(pmc_pkg_dir ${CMAKE_CURRENT_LIST_DIR})
set(pmc_pkg_bin ${PROJECT_BINARY_DIR}/package)
set(pmc_pkg_stage ${pmc_pkg_bin}/stage)

# Options every consumer configure gets: this build's compiler and generator, and no user/system registry.
set(pmc_pkg_build_args
  --build-generator ${CMAKE_GENERATOR}
  --build-makeprogram ${CMAKE_MAKE_PROGRAM}
  --build-options
    -DCMAKE_BUILD_TYPE=$<CONFIG>
    -DCMAKE_CXX_COMPILER=${CMAKE_CXX_COMPILER}
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)

add_test(NAME package/install
  COMMAND ${CMAKE_COMMAND} -DBUILD_DIR=${PROJECT_BINARY_DIR} -DSTAGE=${pmc_pkg_stage} -DCONFIG=$<CONFIG>
          -P ${pmc_pkg_dir}/stage_install.cmake)
set_tests_properties(package/install PROPERTIES FIXTURES_SETUP pmc_installed LABELS "package;cpu")

add_test(NAME package/find_package
  COMMAND ${CMAKE_CTEST_COMMAND} --build-and-test ${pmc_pkg_dir}/consumer ${pmc_pkg_bin}/consumer
          ${pmc_pkg_build_args} -DCMAKE_PREFIX_PATH=${pmc_pkg_stage}
          --test-command app)
set_tests_properties(package/find_package PROPERTIES
  FIXTURES_REQUIRED pmc_installed LABELS "package;cpu" TIMEOUT 600
  PASS_REGULAR_EXPRESSION "pmc-consumer: ok" FAIL_REGULAR_EXPRESSION "pmc-consumer: FAILED")

add_test(NAME package/add_subdirectory
  COMMAND ${CMAKE_CTEST_COMMAND} --build-and-test ${pmc_pkg_dir}/subdir_consumer ${pmc_pkg_bin}/subdir_consumer
          ${pmc_pkg_build_args} -DPMC_SOURCE_DIR=${PROJECT_SOURCE_DIR} -DPMC_ENABLE_CUDA=OFF
          --test-command app)
set_tests_properties(package/add_subdirectory PROPERTIES
  LABELS "package;cpu" TIMEOUT 600
  PASS_REGULAR_EXPRESSION "pmc-consumer: ok" FAIL_REGULAR_EXPRESSION "pmc-consumer: FAILED")

if(PMC_HAS_CUDA)
  # Configures (and, once include/pmc/cuda.hpp exists, compiles without running) a pmc::cuda consumer.
  list(GET CMAKE_CUDA_ARCHITECTURES 0 pmc_pkg_cuda_arch)
  add_test(NAME package/find_package_cuda
    COMMAND ${CMAKE_CTEST_COMMAND} --build-and-test ${pmc_pkg_dir}/cuda_consumer ${pmc_pkg_bin}/cuda_consumer
            ${pmc_pkg_build_args} -DCMAKE_PREFIX_PATH=${pmc_pkg_stage}
            -DCMAKE_CUDA_COMPILER=${CMAKE_CUDA_COMPILER} -DCMAKE_CUDA_ARCHITECTURES=${pmc_pkg_cuda_arch})
  set_tests_properties(package/find_package_cuda PROPERTIES
    FIXTURES_REQUIRED pmc_installed LABELS "package;cpu;cuda" TIMEOUT 600
    PASS_REGULAR_EXPRESSION "pmc_cuda_consumer: found pmc")
endif()

if(PMC_HAS_MPI AND MPIEXEC_EXECUTABLE)
  add_test(NAME package/find_package_mpi
    COMMAND ${CMAKE_CTEST_COMMAND} --build-and-test ${pmc_pkg_dir}/mpi_consumer ${pmc_pkg_bin}/mpi_consumer
            ${pmc_pkg_build_args} -DCMAKE_PREFIX_PATH=${pmc_pkg_stage}
            --test-command ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 2 mpi_app)
  set_tests_properties(package/find_package_mpi PROPERTIES
    FIXTURES_REQUIRED pmc_installed LABELS "package;cpu;mpi" TIMEOUT 600
    ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1"
    PASS_REGULAR_EXPRESSION "rank [01] of 2: sum 3, ok.*rank [01] of 2: sum 3, ok"
    FAIL_REGULAR_EXPRESSION "FAILED")
endif()

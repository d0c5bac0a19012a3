# SPDX-License-Identifier: MIT
# cmake -DBUILD_DIR=<pmc build> -DSTAGE=<prefix> [-DCONFIG=<cfg>] -P stage_install.cmake
# Installs pmc's development component (headers + CMake package) from BUILD_DIR into a fresh STAGE.
foreach(var BUILD_DIR STAGE)
  if(NOT ${var})
    message(FATAL_ERROR "stage_install.cmake: ${var} is not set")
  endif()
endforeach()
file(REMOVE_RECURSE "${STAGE}")
set(config_args)
if(CONFIG)
  set(config_args --config "${CONFIG}")
endif()
execute_process(
  COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${STAGE}" --component pmc_Development ${config_args}
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install failed (${rc})")
endif()
foreach(f include/pmc/pmc.hpp share/cmake/pmc/pmc-config.cmake share/cmake/pmc/pmc-config-version.cmake
          share/cmake/pmc/pmc-targets.cmake)
  if(NOT EXISTS "${STAGE}/${f}")
    message(FATAL_ERROR "installed tree lacks ${f}")
  endif()
endforeach()
message(STATUS "pmc installed into ${STAGE}")

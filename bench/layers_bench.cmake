# SPDX-License-Identifier: MIT
# layers_bench: built for this CPU (-march=native) so that Eigen's GEMM uses its widest FMA, which the
# benchmark's own FMA peak loop measures in the same binary. layers_bench_generic is the same source with the
# library's default flags (what a program linking pmc gets without -march), for comparison.
# (g++ 12 warns falsely about uninitialized values inside its own AVX-512 intrinsics that Eigen uses.)
target_compile_options(${PMC_BENCH_TARGET} PRIVATE -march=native -Wno-uninitialized -Wno-maybe-uninitialized)
add_executable(${PMC_BENCH_TARGET}_generic ${CMAKE_CURRENT_SOURCE_DIR}/layers_bench.cpp)
set_target_properties(${PMC_BENCH_TARGET}_generic PROPERTIES OUTPUT_NAME layers_bench_generic
  RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bench)
target_link_libraries(${PMC_BENCH_TARGET}_generic PRIVATE pmc::pmc benchmark::benchmark)

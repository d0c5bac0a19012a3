# SPDX-License-Identifier: MIT
# The tokenizer benchmark runs libsentencepiece (Debian's libsentencepiece-dev) beside pmc on the same text.
find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  pkg_check_modules(SENTENCEPIECE IMPORTED_TARGET sentencepiece)
endif()
if(SENTENCEPIECE_FOUND)
  target_link_libraries(${PMC_BENCH_TARGET} PRIVATE PkgConfig::SENTENCEPIECE)
  target_compile_definitions(${PMC_BENCH_TARGET} PRIVATE PMC_HAVE_SENTENCEPIECE=1)
endif()

# SPDX-License-Identifier: MIT
# Tokenizer tests: libsentencepiece (Debian's libsentencepiece-dev) is the independent reference that pmc's
# encodings are compared with; without it those comparisons compile out and skip. nlohmann_json reads vectors.
find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  pkg_check_modules(SENTENCEPIECE IMPORTED_TARGET sentencepiece)
endif()
if(SENTENCEPIECE_FOUND)
  target_link_libraries(${PMC_TEST_TARGET} PRIVATE PkgConfig::SENTENCEPIECE)
  target_compile_definitions(${PMC_TEST_TARGET} PRIVATE PMC_HAVE_SENTENCEPIECE=1)
else()
  message(STATUS "pmc: libsentencepiece not found; tokenizer comparison tests will skip")
endif()
find_package(nlohmann_json 3 REQUIRED)
target_link_libraries(${PMC_TEST_TARGET} PRIVATE nlohmann_json::nlohmann_json)

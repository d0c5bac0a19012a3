# SPDX-License-Identifier: MIT
# tests/optim reads its torch golden file (tests/golden/optim/optim_golden.json) with nlohmann_json.
find_package(nlohmann_json 3 REQUIRED)
target_link_libraries(${PMC_TEST_TARGET} PRIVATE nlohmann_json::nlohmann_json)

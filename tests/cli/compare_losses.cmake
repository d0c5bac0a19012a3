# SPDX-License-Identifier: MIT
# cmake -DA=run_a/metrics.jsonl -DB=run_b/metrics.jsonl -DTOL=1e-6 -P compare_losses.cmake
# Fails unless both runs logged the same steps with losses within a relative TOL (data-parallel vs one process).
file(STRINGS "${A}" lines_a)
file(STRINGS "${B}" lines_b)
list(LENGTH lines_a na)
list(LENGTH lines_b nb)
if(NOT na EQUAL nb OR na EQUAL 0)
  message(FATAL_ERROR "${A} has ${na} lines but ${B} has ${nb}")
endif()
math(EXPR last "${na} - 1")
foreach(i RANGE ${last})
  list(GET lines_a ${i} la)
  list(GET lines_b ${i} lb)
  string(JSON loss_a GET "${la}" loss)
  string(JSON loss_b GET "${lb}" loss)
  # |a - b| <= TOL * |b|, in integer micro-units of the difference ratio (CMake has no float compare)
  execute_process(COMMAND awk "BEGIN { d = ${loss_a} - ${loss_b}; if (d < 0) d = -d; exit !(d <= ${TOL} * ${loss_b}) }"
                  RESULT_VARIABLE far)
  if(far)
    message(FATAL_ERROR "step ${i}: loss ${loss_a} in ${A} but ${loss_b} in ${B} (relative tolerance ${TOL})")
  endif()
endforeach()
message(STATUS "${na} steps agree within ${TOL}")

# SPDX-License-Identifier: MIT
# cmake -DCMD="pmc;ARG;..." -DREGEX=... -P expect_failure.cmake: runs CMD and passes when it exits non-zero and
# its output (stdout + stderr) matches REGEX.
execute_process(COMMAND ${CMD} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(rc EQUAL 0)
  message(FATAL_ERROR "expected a non-zero exit status, got 0")
endif()
if(NOT "${out}${err}" MATCHES "${REGEX}")
  message(FATAL_ERROR "the output does not match '${REGEX}'")
endif()
message("exit status ${rc}, output matches '${REGEX}'")

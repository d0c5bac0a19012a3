# SPDX-License-Identifier: MIT
# The `pmc` program end to end (label `cli`): plan's parameter counts, and a short pipeline run on the
# embedded demo that must write its report and, run again, find every stage done.
if(NOT TARGET pmc_cli)
  return()
endif()
add_test(NAME cli/plan_7b COMMAND pmc_cli plan --model llama_7b --json)
set_tests_properties(cli/plan_7b PROPERTIES LABELS "cpu;cli" PASS_REGULAR_EXPRESSION "\"parameters\": 6738415616")
add_test(NAME cli/plan_unknown_config COMMAND pmc_cli plan --model llama_65b)
set_tests_properties(cli/plan_unknown_config PROPERTIES LABELS "cpu;cli" WILL_FAIL TRUE)
set(pipeline_out ${CMAKE_CURRENT_BINARY_DIR}/tmp/cli_pipeline)
add_test(NAME cli/pipeline_setup COMMAND ${CMAKE_COMMAND} -E rm -rf ${pipeline_out})
add_test(NAME cli/pipeline COMMAND pmc_cli pipeline --config ${CMAKE_CURRENT_SOURCE_DIR}/cli/pipeline_quick.json
                                   --out ${pipeline_out})
add_test(NAME cli/pipeline_again COMMAND pmc_cli pipeline --config ${CMAKE_CURRENT_SOURCE_DIR}/cli/pipeline_quick.json
                                         --out ${pipeline_out})
set_tests_properties(cli/pipeline_setup PROPERTIES FIXTURES_SETUP cli_pipeline LABELS "cpu;cli")
set_tests_properties(cli/pipeline PROPERTIES FIXTURES_REQUIRED cli_pipeline FIXTURES_SETUP cli_pipeline_done
  LABELS "cpu;cli" ENVIRONMENT OMP_NUM_THREADS=1
  PASS_REGULAR_EXPRESSION "report: .*index.html")
set_tests_properties(cli/pipeline_again PROPERTIES FIXTURES_REQUIRED cli_pipeline_done LABELS "cpu;cli"
  ENVIRONMENT OMP_NUM_THREADS=1 PASS_REGULAR_EXPRESSION "inject_tune: already done.*report: ")

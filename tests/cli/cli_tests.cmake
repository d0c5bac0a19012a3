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
add_test(NAME cli/plan_recompute COMMAND pmc_cli plan --model llama_7b --dtype bf16 --batch 4 --seq 512
                                         --recompute full --json)
set_tests_properties(cli/plan_recompute PROPERTIES LABELS "cpu;cli" PASS_REGULAR_EXPRESSION "\"recompute\": \"full\"")
# knowledge injection in bf16 mixed precision with activation recompute, on the pipeline's tokenizer and corpus
set(pretrain_out ${CMAKE_CURRENT_BINARY_DIR}/tmp/cli_pretrain_bf16)
add_test(NAME cli/pretrain_setup COMMAND ${CMAKE_COMMAND} -E rm -rf ${pretrain_out})
set_tests_properties(cli/pretrain_setup PROPERTIES FIXTURES_SETUP cli_pretrain LABELS "cpu;cli")
add_test(NAME cli/pretrain_bf16_recompute
  COMMAND ${CMAKE_COMMAND} -E env OMP_NUM_THREADS=1
          $<TARGET_FILE:pmc_cli> pretrain --config demo --tokenizer ${pipeline_out}/tokenizer.model
          --corpus ${pipeline_out}/data/corpus.txt --seq-len 64 --batch 4 --grad-accum 2 --steps 4 --lr 1e-3
          --precision bf16 --recompute --out ${pretrain_out})
set_tests_properties(cli/pretrain_bf16_recompute PROPERTIES FIXTURES_REQUIRED "cli_pipeline_done;cli_pretrain"
  LABELS "cpu;cli"
  PASS_REGULAR_EXPRESSION "4 steps, bf16-mixed, activation recompute")
# --device cuda says why it cannot run: no CUDA in this build, or no GPU on this machine
add_test(NAME cli/pretrain_device_cuda
  COMMAND pmc_cli pretrain --config demo --tokenizer ${pipeline_out}/tokenizer.model
          --corpus ${pipeline_out}/data/corpus.txt --steps 1 --device cuda --out ${pretrain_out}_cuda)
set_tests_properties(cli/pretrain_device_cuda PROPERTIES FIXTURES_REQUIRED cli_pipeline_done LABELS "cpu;cli"
  PASS_REGULAR_EXPRESSION "built without CUDA|no CUDA device")

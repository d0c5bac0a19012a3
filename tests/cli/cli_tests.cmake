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
  FIXTURES_SETUP cli_pretrain_done LABELS "cpu;cli"
  PASS_REGULAR_EXPRESSION "4 steps, bf16-mixed, activation recompute")
# --device cuda says why it cannot run: no CUDA in this build, or no GPU on this machine
add_test(NAME cli/pretrain_device_cuda
  COMMAND pmc_cli pretrain --config demo --tokenizer ${pipeline_out}/tokenizer.model
          --corpus ${pipeline_out}/data/corpus.txt --steps 1 --device cuda --out ${pretrain_out}_cuda)
set_tests_properties(cli/pretrain_device_cuda PROPERTIES FIXTURES_REQUIRED cli_pipeline_done LABELS "cpu;cli"
  PASS_REGULAR_EXPRESSION "built without CUDA|no CUDA device")
# pmc eval and pmc generate on the pipeline's instruction-tuned model and held-out questions
set(eval_model ${pipeline_out}/inject_tune)
set(eval_args --model ${eval_model} --tokenizer ${pipeline_out}/tokenizer.model --benchmark mcq
              --data ${pipeline_out}/data/heldout_mcq.jsonl)
add_test(NAME cli/eval_likelihood COMMAND pmc_cli eval ${eval_args} --choice mean
                                          --out ${CMAKE_CURRENT_BINARY_DIR}/tmp/cli_eval.json)
set_tests_properties(cli/eval_likelihood PROPERTIES FIXTURES_REQUIRED cli_pipeline_done LABELS "cpu;cli"
  PASS_REGULAR_EXPRESSION "total +24 ")
add_test(NAME cli/eval_generate COMMAND pmc_cli eval ${eval_args} --scorer generate --limit 3 --max-new-tokens 8)
set_tests_properties(cli/eval_generate PROPERTIES FIXTURES_REQUIRED cli_pipeline_done LABELS "cpu;cli"
  PASS_REGULAR_EXPRESSION "scorer generate.*total +3 ")
add_test(NAME cli/generate COMMAND pmc_cli generate --model ${eval_model} --tokenizer ${pipeline_out}/tokenizer.model
                                  --prompt "Vitamin C deficiency causes" --max-new-tokens 6 --print-ids)
set_tests_properties(cli/generate PROPERTIES FIXTURES_REQUIRED cli_pipeline_done LABELS "cpu;cli"
  PASS_REGULAR_EXPRESSION "pmc generate: [0-6] tokens on cpu")
# bf16 weights are for the GPU; --device cuda says why it cannot run (no CUDA in this build, or no GPU here)
add_test(NAME cli/eval_bf16_cpu COMMAND pmc_cli eval ${eval_args} --precision bf16)
set_tests_properties(cli/eval_bf16_cpu PROPERTIES FIXTURES_REQUIRED cli_pipeline_done LABELS "cpu;cli"
  PASS_REGULAR_EXPRESSION "on the CPU pmc runs models in fp32")
add_test(NAME cli/eval_device_cuda COMMAND pmc_cli eval ${eval_args} --device cuda --precision bf16)
add_test(NAME cli/generate_device_cuda COMMAND pmc_cli generate --model ${eval_model}
                                               --tokenizer ${pipeline_out}/tokenizer.model --prompt "x" --device cuda)
set_tests_properties(cli/eval_device_cuda cli/generate_device_cuda PROPERTIES FIXTURES_REQUIRED cli_pipeline_done
  LABELS "cpu;cli" PASS_REGULAR_EXPRESSION "built without CUDA|no CUDA device")
add_test(NAME cli/pipeline_device_cuda COMMAND pmc_cli pipeline --config ${CMAKE_CURRENT_SOURCE_DIR}/cli/pipeline_quick.json
                                               --device cuda --out ${CMAKE_CURRENT_BINARY_DIR}/tmp/cli_pipeline_cuda)
set_tests_properties(cli/pipeline_device_cuda PROPERTIES LABELS "cpu;cli"
  PASS_REGULAR_EXPRESSION "built without CUDA|no CUDA device")
# `pmc plot`: the pipeline's three training runs in one SVG; a run folder that is not there; and the loss.svg
# that `pmc pretrain` leaves in its run folder
add_test(NAME cli/plot_runs COMMAND pmc_cli plot ${pipeline_out}/inject ${pipeline_out}/inject_tune
                                    ${pipeline_out}/tune_only --smooth 2 -o ${pipeline_out}/plot_loss.svg)
set_tests_properties(cli/plot_runs PROPERTIES FIXTURES_REQUIRED cli_pipeline_done LABELS "cpu;cli"
  PASS_REGULAR_EXPRESSION "loss of 3 runs:.*inject \\(mean of 2\\) +[0-9]+ points.*tune_only .*wrote .*plot_loss.svg")
add_test(NAME cli/plot_missing_run COMMAND pmc_cli plot ${pipeline_out}/no_such_run)
set_tests_properties(cli/plot_missing_run PROPERTIES FIXTURES_REQUIRED cli_pipeline_done LABELS "cpu;cli"
  PASS_REGULAR_EXPRESSION "no_such_run: no such metrics file")
add_test(NAME cli/pretrain_loss_svg COMMAND ${CMAKE_COMMAND} -E cat ${pretrain_out}/loss.svg)
set_tests_properties(cli/pretrain_loss_svg PROPERTIES FIXTURES_REQUIRED cli_pretrain_done LABELS "cpu;cli"
  PASS_REGULAR_EXPRESSION "<svg .*cli_pretrain_bf16: loss.*<polyline")
# data parallelism over 2 MPI processes (a pmc built with the MPI component, Open MPI's mpiexec): the same loss
# curve as one process on the whole batch
if(PMC_HAS_MPI AND MPIEXEC_EXECUTABLE)
  set(mpi_out ${CMAKE_CURRENT_BINARY_DIR}/tmp/cli_pretrain_mpi)
  set(mpi_env "OMP_NUM_THREADS=1;OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1")
  set(mpi_train_args --config demo --tokenizer ${pipeline_out}/tokenizer.model --corpus ${pipeline_out}/data/corpus.txt
      --seq-len 64 --batch 4 --grad-accum 2 --steps 4 --save-every 2 --lr 1e-3 --seed 3)
  add_test(NAME cli/pretrain_mpi_setup COMMAND ${CMAKE_COMMAND} -E rm -rf ${mpi_out}_2 ${mpi_out}_1)
  set_tests_properties(cli/pretrain_mpi_setup PROPERTIES FIXTURES_SETUP cli_mpi LABELS "cpu;cli;mpi")
  add_test(NAME cli/pretrain_mpi_2_ranks COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 2 $<TARGET_FILE:pmc_cli>
           pretrain ${mpi_train_args} --out ${mpi_out}_2)
  add_test(NAME cli/pretrain_mpi_1_process COMMAND pmc_cli pretrain ${mpi_train_args} --out ${mpi_out}_1)
  set_tests_properties(cli/pretrain_mpi_2_ranks PROPERTIES FIXTURES_REQUIRED "cli_pipeline_done;cli_mpi"
    FIXTURES_SETUP cli_mpi_done LABELS "cpu;cli;mpi" ENVIRONMENT "${mpi_env}" RESOURCE_LOCK cpu_cores
    PASS_REGULAR_EXPRESSION "data parallel over 2 mpi ranks, 2 of the 4 windows")
  set_tests_properties(cli/pretrain_mpi_1_process PROPERTIES FIXTURES_REQUIRED "cli_pipeline_done;cli_mpi"
    FIXTURES_SETUP cli_mpi_done LABELS "cpu;cli;mpi" ENVIRONMENT OMP_NUM_THREADS=1)
  add_test(NAME cli/pretrain_mpi_same_losses COMMAND ${CMAKE_COMMAND} -DA=${mpi_out}_2/metrics.jsonl
           -DB=${mpi_out}_1/metrics.jsonl -DTOL=1e-6 -P ${CMAKE_CURRENT_SOURCE_DIR}/cli/compare_losses.cmake)
  set_tests_properties(cli/pretrain_mpi_same_losses PROPERTIES FIXTURES_REQUIRED cli_mpi_done
    FIXTURES_SETUP cli_mpi_compared LABELS "cpu;cli;mpi")
  # as if the 2-rank run had stopped after step 2: both ranks resume from its checkpoint and end on the same curve
  add_test(NAME cli/pretrain_mpi_rewind COMMAND ${CMAKE_COMMAND} -DRUN=${mpi_out}_2 -DSTEP=step_00000002
           -P ${CMAKE_CURRENT_SOURCE_DIR}/cli/rewind_checkpoint.cmake)
  set_tests_properties(cli/pretrain_mpi_rewind PROPERTIES FIXTURES_REQUIRED cli_mpi_compared
    FIXTURES_SETUP cli_mpi_rewound LABELS "cpu;cli;mpi")
  add_test(NAME cli/pretrain_mpi_resume COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 2 $<TARGET_FILE:pmc_cli>
           pretrain ${mpi_train_args} --out ${mpi_out}_2)
  set_tests_properties(cli/pretrain_mpi_resume PROPERTIES FIXTURES_REQUIRED cli_mpi_rewound
    FIXTURES_SETUP cli_mpi_resumed LABELS "cpu;cli;mpi" ENVIRONMENT "${mpi_env}" RESOURCE_LOCK cpu_cores
    PASS_REGULAR_EXPRESSION "resuming at step 2")
  add_test(NAME cli/pretrain_mpi_resume_same_losses COMMAND ${CMAKE_COMMAND} -DA=${mpi_out}_2/metrics.jsonl
           -DB=${mpi_out}_1/metrics.jsonl -DTOL=1e-6 -P ${CMAKE_CURRENT_SOURCE_DIR}/cli/compare_losses.cmake)
  set_tests_properties(cli/pretrain_mpi_resume_same_losses PROPERTIES FIXTURES_REQUIRED cli_mpi_resumed
    LABELS "cpu;cli;mpi")
endif()
# `pmc pretrain` under faults, each in separate processes (training_faults.sh): SIGTERM and Ctrl-C save a
# checkpoint and resume; a second signal ends the process at once; a second process on one --out fails; a
# diverged run (--lr 1e30) exits non-zero keeping its last good checkpoint; a corrupt checkpoint and a bad
# trainer state are errors naming the file that leave metrics.jsonl as it was
find_program(PMC_BASH bash)
if(PMC_BASH)
  foreach(mode sigterm sigint double_signal lock diverge corrupt bad_state)
    add_test(NAME cli/pretrain_fault_${mode}
      COMMAND ${PMC_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/cli/training_faults.sh ${mode} $<TARGET_FILE:pmc_cli>
              ${CMAKE_CURRENT_BINARY_DIR}/tmp/cli_fault_${mode} ${pipeline_out}/tokenizer.model
              ${pipeline_out}/data/corpus.txt)
    set_tests_properties(cli/pretrain_fault_${mode} PROPERTIES FIXTURES_REQUIRED cli_pipeline_done LABELS "cpu;cli"
      PASS_REGULAR_EXPRESSION "PASS ${mode}" TIMEOUT 300)
  endforeach()
endif()

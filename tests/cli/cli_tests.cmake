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
# LoRA and QLoRA: the adapters are the trainable parameters; 13B QLoRA (nf4, rank 64 on all seven projections,
# bf16, 2048 tokens, recompute) plans under 16 GB (tests/models/lora_plan_test.cpp checks the figures)
add_test(NAME cli/plan_13b_qlora COMMAND pmc_cli plan --model llama_13b --dtype bf16 --seq 2048 --recompute full
                                         --lora-rank 64 --lora-targets all --base-quant nf4 --json)
set_tests_properties(cli/plan_13b_qlora PROPERTIES LABELS "cpu;cli"
  PASS_REGULAR_EXPRESSION "\"total_bytes\": 15[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9],.*\"trainable_parameters\": 250347520")
add_test(NAME cli/plan_7b_lora_table COMMAND pmc_cli plan --model llama_7b --dtype bf16 --lora-rank 8)
set_tests_properties(cli/plan_7b_lora_table PROPERTIES LABELS "cpu;cli"
  PASS_REGULAR_EXPRESSION "LoRA rank 8 on q_proj,v_proj, base bf16.*trainable +4194304 ")
# the configs a user may name are the registry's, without the shapes that only tests use
# inference with q8_0 projections (tests/models/inference_plan_test.cpp checks the figures against the allocator):
# a 13B in q8_0 with bf16 embeddings and head fits this 24 GiB machine
add_test(NAME cli/plan_13b_inference_q8_0 COMMAND pmc_cli plan --model llama_13b --inference --dtype bf16
  --weights q8_0 --seq 512 --device-memory 24GiB)
set_tests_properties(cli/plan_13b_inference_q8_0 PROPERTIES LABELS "cpu;cli"
  PASS_REGULAR_EXPRESSION "inference, projections in q8_0.*weights +13\\.[0-9]+ GiB.*fits")
add_test(NAME cli/plan_inference_weights_json COMMAND pmc_cli plan --model llama_7b --inference --weights q4_0 --json)
set_tests_properties(cli/plan_inference_weights_json PROPERTIES LABELS "cpu;cli"
  PASS_REGULAR_EXPRESSION "\"weights\": \"q4_0\"")
add_test(NAME cli/plan_help_configs COMMAND pmc_cli plan --help)
set_tests_properties(cli/plan_help_configs PROPERTIES LABELS "cpu;cli"
  PASS_REGULAR_EXPRESSION "llama_7b.*llama2_13b.*stories260k.*small_20m.*llama_1b.*demo" FAIL_REGULAR_EXPRESSION "hf_test")
# data parallelism per rank (--ranks, --shard; tests/models/shard_plan_test.cpp checks the figures): 7B in bf16 with
# recompute on 8 ranks, ZeRO-2, fits an 80 GiB device; replicated, it does not; the JSON's shard fields (the
# embedding's chunk of 32000·4096 / 8 elements: 9 chunks of fp32 reduce-scatter buffers)
add_test(NAME cli/plan_7b_shard_fits COMMAND pmc_cli plan --model llama_7b --dtype bf16 --seq 2048 --recompute full
                                             --ranks 8 --shard gradients --device-memory 80GiB)
set_tests_properties(cli/plan_7b_shard_fits PROPERTIES LABELS "cpu;cli"
  PASS_REGULAR_EXPRESSION "8 ranks, sharding gradients. per rank.*shard +842301952 .*communication +562.50 MiB.*device +80.00 GiB  fits: [0-9.]+ GiB to spare")
# ZeRO-3 on 8 ranks: 13B in bf16 at 2048 tokens with recompute fits 40 GiB (ZeRO-2 needs 74.75 GiB)
add_test(NAME cli/plan_13b_shard_full_fits COMMAND pmc_cli plan --model llama_13b --dtype bf16 --seq 2048 --recompute full
                                                   --ranks 8 --shard full --device-memory 40GiB)
set_tests_properties(cli/plan_13b_shard_full_fits PROPERTIES LABELS "cpu;cli"
  PASS_REGULAR_EXPRESSION "8 ranks, sharding full. per rank.*device +40.00 GiB  fits: [0-9.]+ GiB to spare")
add_test(NAME cli/plan_7b_replicated_does_not_fit COMMAND pmc_cli plan --model llama_7b --dtype bf16 --seq 2048
                                                         --recompute full --ranks 8 --device-memory 80GB)
set_tests_properties(cli/plan_7b_replicated_does_not_fit PROPERTIES LABELS "cpu;cli"
  PASS_REGULAR_EXPRESSION "8 ranks \\(replicated\\). per rank.*device +74.51 GiB  does not fit: [0-9.]+ GiB short"
  FAIL_REGULAR_EXPRESSION "communication")
add_test(NAME cli/plan_7b_shard_json COMMAND pmc_cli plan --model llama_7b --dtype bf16 --seq 2048 --recompute full
                                             --ranks 8 --shard gradients --device-memory 85899345920 --json)
set_tests_properties(cli/plan_7b_shard_json PROPERTIES LABELS "cpu;cli"
  PASS_REGULAR_EXPRESSION "\"communication_bytes\": 589824000,.*\"device_memory_bytes\": 85899345920,.*\"fits\": true,.*\"ranks\": 8,.*\"shard\": \"gradients\",.*\"shard_trainable_parameters\": 842301952")
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
  ENVIRONMENT OMP_NUM_THREADS=1
  PASS_REGULAR_EXPRESSION "\\[4/7\\] inject: already done.*\\[5/7\\] inject_tune: already done.*\\[6/7\\] tune_only: already done.*\\[7/7\\] evaluation.*report: ")
# the demo's report: every section, in order, and each figure as PNG
add_test(NAME cli/pipeline_report_sections COMMAND ${CMAKE_COMMAND} -E cat ${pipeline_out}/report/index.html)
set_tests_properties(cli/pipeline_report_sections PROPERTIES FIXTURES_REQUIRED cli_pipeline_done LABELS "cpu;cli"
  PASS_REGULAR_EXPRESSION "id=\"data\">.*embedded demo.*id=\"config\">.*id=\"provenance\">.*id=\"losses\">.*id=\"accuracy\">.*id=\"paired-tests\">.*id=\"examples\">.*[(]gold[)]")
add_test(NAME cli/pipeline_report_png COMMAND ${CMAKE_COMMAND} -E md5sum ${pipeline_out}/report/loss_injection.png
                                              ${pipeline_out}/report/loss_tuning.png ${pipeline_out}/report/loss.png)
set_tests_properties(cli/pipeline_report_png PROPERTIES FIXTURES_REQUIRED cli_pipeline_done LABELS "cpu;cli")
# "init" and "tokenizer": the stages start from an existing model (the demo's inject folder) with its tokenizer
# (paths relative to the working directory, here the demo's output folder)
add_test(NAME cli/pipeline_init_setup COMMAND ${CMAKE_COMMAND} -E rm -rf ${pipeline_out}_init)
set_tests_properties(cli/pipeline_init_setup PROPERTIES FIXTURES_SETUP cli_pinit_clean LABELS "cpu;cli")
add_test(NAME cli/pipeline_init COMMAND pmc_cli pipeline --config ${CMAKE_CURRENT_SOURCE_DIR}/cli/pipeline_init.json
                                        --out ${pipeline_out}_init WORKING_DIRECTORY ${pipeline_out})
set_tests_properties(cli/pipeline_init PROPERTIES FIXTURES_REQUIRED "cli_pipeline_done;cli_pinit_clean"
  LABELS "cpu;cli" ENVIRONMENT OMP_NUM_THREADS=1
  PASS_REGULAR_EXPRESSION "\\[3/7\\] base: inject \\([0-9]+ parameters\\).*base +the given model.*report: ")
# the real-data recipe, tiny (docs/recipes/pipeline_real_data.json with few steps and items): ../shared's PubMed
# abstracts and NIH passages, a seeded MedMCQA split for tuning and held-out evaluation, MedQA and PubMedQA test
# items; the report checked headless (pipeline_report_check.cmake). Skipped without ../shared.
add_test(NAME cli/pipeline_real_data COMMAND ${CMAKE_COMMAND} -DPMC=$<TARGET_FILE:pmc_cli>
  -DCONFIG=${CMAKE_CURRENT_SOURCE_DIR}/cli/pipeline_real_data_tiny.json -DOUT=${CMAKE_CURRENT_BINARY_DIR}/tmp/cli_pipeline_real
  -DSOURCE=${PROJECT_SOURCE_DIR} -DSHARED=${PMC_SHARED_DIR} -P ${CMAKE_CURRENT_SOURCE_DIR}/cli/pipeline_report_check.cmake)
set_tests_properties(cli/pipeline_real_data PROPERTIES LABELS "cpu;cli" ENVIRONMENT OMP_NUM_THREADS=1
  SKIP_REGULAR_EXPRESSION "\\[pmc-skip\\]" PASS_REGULAR_EXPRESSION "report checked: 7 sections")
# the pipeline evaluating its models with bf16 weights (eval_precision), recorded in metrics.json
add_test(NAME cli/pipeline_bf16_eval_setup COMMAND ${CMAKE_COMMAND} -E rm -rf ${pipeline_out}_bf16_eval)
set_tests_properties(cli/pipeline_bf16_eval_setup PROPERTIES FIXTURES_SETUP cli_pbf16_clean LABELS "cpu;cli")
add_test(NAME cli/pipeline_bf16_eval COMMAND ${CMAKE_COMMAND} -E env OMP_NUM_THREADS=1 $<TARGET_FILE:pmc_cli> pipeline
  --config ${CMAKE_CURRENT_SOURCE_DIR}/cli/pipeline_quick_bf16_eval.json --out ${pipeline_out}_bf16_eval)
set_tests_properties(cli/pipeline_bf16_eval PROPERTIES LABELS "cpu;cli" FIXTURES_REQUIRED cli_pbf16_clean
  FIXTURES_SETUP cli_pbf16 PASS_REGULAR_EXPRESSION "report: .*index.html")
add_test(NAME cli/pipeline_bf16_eval_recorded COMMAND ${CMAKE_COMMAND} -E cat ${pipeline_out}_bf16_eval/report/metrics.json)
set_tests_properties(cli/pipeline_bf16_eval_recorded PROPERTIES LABELS "cpu;cli" FIXTURES_REQUIRED cli_pbf16
  PASS_REGULAR_EXPRESSION "\"eval_precision\": \"bf16\"")
# every --help shows the defaults
add_test(NAME cli/help_shows_defaults COMMAND pmc_cli pretrain --help)
set_tests_properties(cli/help_shows_defaults PROPERTIES LABELS "cpu;cli"
  PASS_REGULAR_EXPRESSION "--seq-len INT[^\n]*=128[^0-9].*--lr FLOAT[^\n]*=0.0003[^0-9]")
add_test(NAME cli/plan_recompute COMMAND pmc_cli plan --model llama_7b --dtype bf16 --batch 4 --seq 512
                                         --recompute full --json)
set_tests_properties(cli/plan_recompute PROPERTIES LABELS "cpu;cli" PASS_REGULAR_EXPRESSION "\"recompute\": \"full\"")
# knowledge injection in bf16 mixed precision with activation recompute, on the pipeline's tokenizer and corpus
set(pretrain_out ${CMAKE_CURRENT_BINARY_DIR}/tmp/cli_pretrain_bf16)
add_test(NAME cli/pretrain_setup COMMAND ${CMAKE_COMMAND} -E rm -rf ${pretrain_out} ${pretrain_out}_tensorboard
                                         ${pretrain_out}_converted)
set_tests_properties(cli/pretrain_setup PROPERTIES FIXTURES_SETUP cli_pretrain LABELS "cpu;cli")
add_test(NAME cli/pretrain_bf16_recompute
  COMMAND ${CMAKE_COMMAND} -E env OMP_NUM_THREADS=1
          $<TARGET_FILE:pmc_cli> pretrain --config demo --tokenizer ${pipeline_out}/tokenizer.model
          --corpus ${pipeline_out}/data/corpus.txt --seq-len 64 --batch 4 --grad-accum 2 --steps 4 --lr 1e-3
          --precision bf16 --recompute --out ${pretrain_out})
set_tests_properties(cli/pretrain_bf16_recompute PROPERTIES FIXTURES_REQUIRED "cli_pipeline_done;cli_pretrain"
  FIXTURES_SETUP cli_pretrain_done LABELS "cpu;cli"
  PASS_REGULAR_EXPRESSION "4 steps, bf16-mixed, activation recompute")
# --tensorboard: the metrics also as TensorBoard event files
add_test(NAME cli/pretrain_tensorboard
  COMMAND pmc_cli pretrain --config demo --tokenizer ${pipeline_out}/tokenizer.model --corpus ${pipeline_out}/data/corpus.txt
          --seq-len 32 --batch 2 --steps 3 --eval-every 3 --eval-fraction 0.2 --out ${pretrain_out}_tensorboard
          --tensorboard ${pretrain_out}_tensorboard/tb)
set_tests_properties(cli/pretrain_tensorboard PROPERTIES FIXTURES_REQUIRED "cli_pipeline_done;cli_pretrain"
  FIXTURES_SETUP cli_tensorboard LABELS "cpu;cli" ENVIRONMENT OMP_NUM_THREADS=1)
add_test(NAME cli/pretrain_tensorboard_events COMMAND ${CMAKE_COMMAND} -DDIR=${pretrain_out}_tensorboard/tb
  -DTAGS=train/loss,train/lr,train/grad_norm,eval/loss -P ${CMAKE_CURRENT_SOURCE_DIR}/cli/check_tensorboard.cmake)
set_tests_properties(cli/pretrain_tensorboard_events PROPERTIES FIXTURES_REQUIRED cli_tensorboard LABELS "cpu;cli")
# determinism (docs/reliability.md): the same training in separate processes at 2 and 3 threads beside a busy
# process gives the same bits; runs SIGKILLed at random steps and resumed end on the uninterrupted loss log
foreach(check busy kill)
  add_test(NAME cli/pretrain_same_bits_${check}
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/determinism.sh ${check} $<TARGET_FILE:pmc_cli>
            ${pipeline_out}/tokenizer.model ${pipeline_out}/data/corpus.txt
            ${CMAKE_CURRENT_BINARY_DIR}/tmp/cli_same_bits_${check})
  set_tests_properties(cli/pretrain_same_bits_${check} PROPERTIES FIXTURES_REQUIRED cli_pipeline_done
    LABELS "cpu;cli" RESOURCE_LOCK cpu_cores TIMEOUT 300)
endforeach()
# the same for QLoRA with dropout (adapters, their masters and AdamW state in the checkpoint; masks from the step)
add_test(NAME cli/pretrain_same_bits_kill_qlora
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/determinism.sh kill $<TARGET_FILE:pmc_cli>
          ${pipeline_out}/tokenizer.model ${pipeline_out}/data/corpus.txt
          ${CMAKE_CURRENT_BINARY_DIR}/tmp/cli_same_bits_kill_qlora 2
          --lora-rank 4 --lora-dropout 0.1 --lora-targets all --base-quant nf4 --precision bf16)
set_tests_properties(cli/pretrain_same_bits_kill_qlora PROPERTIES FIXTURES_REQUIRED cli_pipeline_done
  LABELS "cpu;cli" RESOURCE_LOCK cpu_cores TIMEOUT 300)
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
  PASS_REGULAR_EXPRESSION "total +64 ")
add_test(NAME cli/eval_generate COMMAND pmc_cli eval ${eval_args} --scorer generate --limit 3 --max-new-tokens 8)
set_tests_properties(cli/eval_generate PROPERTIES FIXTURES_REQUIRED cli_pipeline_done LABELS "cpu;cli"
  PASS_REGULAR_EXPRESSION "scorer generate.*total +3 ")
add_test(NAME cli/generate COMMAND pmc_cli generate --model ${eval_model} --tokenizer ${pipeline_out}/tokenizer.model
                                  --prompt "Vitamin C deficiency causes" --max-new-tokens 6 --print-ids)
set_tests_properties(cli/generate PROPERTIES FIXTURES_REQUIRED cli_pipeline_done LABELS "cpu;cli"
  PASS_REGULAR_EXPRESSION "pmc generate: [0-6] tokens on cpu")
# bf16 weights on the CPU (half the memory): the evaluation runs and generation prints its peak memory beside the
# plan's; --device cuda says why it cannot run (no CUDA in this build, or no GPU here)
add_test(NAME cli/eval_bf16_cpu COMMAND pmc_cli eval ${eval_args} --precision bf16)
set_tests_properties(cli/eval_bf16_cpu PROPERTIES FIXTURES_REQUIRED cli_pipeline_done LABELS "cpu;cli"
  PASS_REGULAR_EXPRESSION "total +64 ")
add_test(NAME cli/generate_bf16_cpu COMMAND pmc_cli generate --model ${eval_model} --tokenizer ${pipeline_out}/tokenizer.model
                                          --prompt "Vitamin C deficiency causes" --max-new-tokens 6 --precision bf16)
set_tests_properties(cli/generate_bf16_cpu PROPERTIES FIXTURES_REQUIRED cli_pipeline_done LABELS "cpu;cli"
  PASS_REGULAR_EXPRESSION "tokens on cpu.*peak memory [0-9.]+ GiB. pmc plan --inference: [0-9.]+ GiB")
# weight-only quantized inference (llama.cpp's q8_0 / q4_0 blocks of the projections; the demo's down_proj, input
# 344, stays fp32): the evaluation runs and records the format; generation runs; a bad format is refused
add_test(NAME cli/eval_weights_q8_0 COMMAND pmc_cli eval ${eval_args} --weights q8_0
                                            --out ${CMAKE_CURRENT_BINARY_DIR}/tmp/cli_eval_q8_0.json)
set_tests_properties(cli/eval_weights_q8_0 PROPERTIES FIXTURES_REQUIRED cli_pipeline_done FIXTURES_SETUP cli_eval_q8_0
  LABELS "cpu;cli" PASS_REGULAR_EXPRESSION "total +64 ")
add_test(NAME cli/eval_weights_q8_0_recorded COMMAND ${CMAKE_COMMAND} -E cat ${CMAKE_CURRENT_BINARY_DIR}/tmp/cli_eval_q8_0.json)
set_tests_properties(cli/eval_weights_q8_0_recorded PROPERTIES FIXTURES_REQUIRED cli_eval_q8_0 LABELS "cpu;cli"
  PASS_REGULAR_EXPRESSION "\"weights\": \"q8_0\"")
add_test(NAME cli/eval_weights_q4_0 COMMAND pmc_cli eval ${eval_args} --weights q4_0)
set_tests_properties(cli/eval_weights_q4_0 PROPERTIES FIXTURES_REQUIRED cli_pipeline_done LABELS "cpu;cli"
  PASS_REGULAR_EXPRESSION "total +64 ")
add_test(NAME cli/generate_weights_q4_0 COMMAND pmc_cli generate --model ${eval_model}
  --tokenizer ${pipeline_out}/tokenizer.model --prompt "Vitamin C deficiency causes" --max-new-tokens 6 --weights q4_0)
set_tests_properties(cli/generate_weights_q4_0 PROPERTIES FIXTURES_REQUIRED cli_pipeline_done LABELS "cpu;cli"
  PASS_REGULAR_EXPRESSION "pmc generate: [0-6] tokens on cpu")
# where the CPU's weights live: copied when the checkpoint fits (auto, said with the sizes), or as --weight-memory
# says; a bad value is refused
set(gen_args --model ${eval_model} --tokenizer ${pipeline_out}/tokenizer.model --prompt "Vitamin C deficiency causes"
             --max-new-tokens 4)
add_test(NAME cli/generate_weight_memory_auto COMMAND pmc_cli generate ${gen_args})
add_test(NAME cli/generate_weight_memory_mapped COMMAND pmc_cli generate ${gen_args} --weight-memory mapped)
add_test(NAME cli/generate_weight_memory_copied COMMAND pmc_cli generate ${gen_args} --precision bf16
                                                        --weight-memory copied)
add_test(NAME cli/generate_weight_memory_bad COMMAND pmc_cli generate ${gen_args} --weight-memory swapped)
set_tests_properties(cli/generate_weight_memory_auto cli/generate_weight_memory_mapped
  cli/generate_weight_memory_copied cli/generate_weight_memory_bad PROPERTIES FIXTURES_REQUIRED cli_pipeline_done
  LABELS "cpu;cli")
set_tests_properties(cli/generate_weight_memory_auto PROPERTIES PASS_REGULAR_EXPRESSION
  "weights copied into memory: the checkpoint's [0-9.]+ GB fit in 3/4 of the [0-9.]+ GB available")
set_tests_properties(cli/generate_weight_memory_mapped PROPERTIES PASS_REGULAR_EXPRESSION
  "weights mapped from the file \\(--weight-memory mapped\\)")
set_tests_properties(cli/generate_weight_memory_copied PROPERTIES PASS_REGULAR_EXPRESSION
  "weights copied into memory \\(--weight-memory copied\\)")
set_tests_properties(cli/generate_weight_memory_bad PROPERTIES PASS_REGULAR_EXPRESSION
  "--weight-memory: swapped not in \\{auto,mapped,copied\\}")
# the activations of q8_0 / q4_0 products: int8 blocks by default, float on request, anything else an error
add_test(NAME cli/generate_weights_q8_0_float_activations COMMAND pmc_cli generate --model ${eval_model}
  --tokenizer ${pipeline_out}/tokenizer.model --prompt "Vitamin C deficiency causes" --max-new-tokens 4 --weights q8_0)
set_tests_properties(cli/generate_weights_q8_0_float_activations PROPERTIES FIXTURES_REQUIRED cli_pipeline_done
  LABELS "cpu;cli" ENVIRONMENT PMC_QUANT_ACTIVATIONS=float PASS_REGULAR_EXPRESSION "pmc generate: [0-4] tokens on cpu")
add_test(NAME cli/generate_quant_activations_bad COMMAND pmc_cli generate --model ${eval_model}
  --tokenizer ${pipeline_out}/tokenizer.model --prompt "Vitamin C deficiency causes" --max-new-tokens 4 --weights q8_0)
set_tests_properties(cli/generate_quant_activations_bad PROPERTIES FIXTURES_REQUIRED cli_pipeline_done
  LABELS "cpu;cli" ENVIRONMENT PMC_QUANT_ACTIVATIONS=fp8
  PASS_REGULAR_EXPRESSION "PMC_QUANT_ACTIVATIONS='fp8': expected 'int8'")
add_test(NAME cli/eval_weights_bad COMMAND pmc_cli eval ${eval_args} --weights q5_0)
set_tests_properties(cli/eval_weights_bad PROPERTIES FIXTURES_REQUIRED cli_pipeline_done LABELS "cpu;cli"
  WILL_FAIL TRUE)
add_test(NAME cli/eval_weights_bad_message COMMAND pmc_cli eval ${eval_args} --weights q5_0)
set_tests_properties(cli/eval_weights_bad_message PROPERTIES FIXTURES_REQUIRED cli_pipeline_done LABELS "cpu;cli"
  PASS_REGULAR_EXPRESSION "--weights: q5_0 not in \\{fp32,bf16,q8_0,q4_0\\}")
add_test(NAME cli/eval_device_cuda COMMAND pmc_cli eval ${eval_args} --device cuda --precision bf16)
add_test(NAME cli/generate_device_cuda COMMAND pmc_cli generate --model ${eval_model}
                                               --tokenizer ${pipeline_out}/tokenizer.model --prompt "x" --device cuda)
set_tests_properties(cli/eval_device_cuda cli/generate_device_cuda PROPERTIES FIXTURES_REQUIRED cli_pipeline_done
  LABELS "cpu;cli" PASS_REGULAR_EXPRESSION "built without CUDA|no CUDA device")
add_test(NAME cli/pipeline_device_cuda COMMAND pmc_cli pipeline --config ${CMAKE_CURRENT_SOURCE_DIR}/cli/pipeline_quick.json
                                               --device cuda --out ${CMAKE_CURRENT_BINARY_DIR}/tmp/cli_pipeline_cuda)
set_tests_properties(cli/pipeline_device_cuda PROPERTIES LABELS "cpu;cli"
  PASS_REGULAR_EXPRESSION "built without CUDA|no CUDA device")
# LoRA: the pipeline with LoRA tuning (both tuning stages end as PEFT adapter folders, evaluated on the model they
# were tuned from; the report says so); pmc eval and pmc generate with --adapter; pmc convert --adapter merges, and
# the merged model scores as the base with the adapter
set(lora_out ${CMAKE_CURRENT_BINARY_DIR}/tmp/cli_pipeline_lora)
add_test(NAME cli/pipeline_lora_setup COMMAND ${CMAKE_COMMAND} -E rm -rf ${lora_out})
set_tests_properties(cli/pipeline_lora_setup PROPERTIES FIXTURES_SETUP cli_plora_clean LABELS "cpu;cli")
add_test(NAME cli/pipeline_lora COMMAND pmc_cli pipeline --config ${CMAKE_CURRENT_SOURCE_DIR}/cli/pipeline_quick_lora.json
                                        --out ${lora_out})
set_tests_properties(cli/pipeline_lora PROPERTIES FIXTURES_REQUIRED cli_plora_clean FIXTURES_SETUP cli_plora
  LABELS "cpu;cli"
  PASS_REGULAR_EXPRESSION "inject_tune: LoRA rank 8.*inject_tune +injection . instruction tuning .LoRA.*instruction tuning: LoRA rank 8, alpha 16, dropout 0, targets all, base none .[0-9]+ trainable parameters")
add_test(NAME cli/pipeline_lora_report COMMAND ${CMAKE_COMMAND} -E cat ${lora_out}/report/index.html
                                               ${lora_out}/report/metrics.json ${lora_out}/inject_tune/adapter_config.json)
set_tests_properties(cli/pipeline_lora_report PROPERTIES FIXTURES_REQUIRED cli_plora LABELS "cpu;cli"
  PASS_REGULAR_EXPRESSION "Instruction tuning: LoRA rank 8, alpha 16.*\"method\": \"lora\".*\"peft_type\": \"LORA\"")
set(lora_eval_args --tokenizer ${lora_out}/tokenizer.model --benchmark mcq --data ${lora_out}/data/heldout_mcq.jsonl)
add_test(NAME cli/eval_adapter COMMAND pmc_cli eval --model ${lora_out}/inject --adapter ${lora_out}/inject_tune
                                       ${lora_eval_args} --out ${lora_out}/eval_adapter.json)
set_tests_properties(cli/eval_adapter PROPERTIES FIXTURES_REQUIRED cli_plora FIXTURES_SETUP cli_plora_eval_adapter
  LABELS "cpu;cli" PASS_REGULAR_EXPRESSION "LoRA adapter .*inject_tune on .*total +64 ")
add_test(NAME cli/eval_adapter_recorded COMMAND ${CMAKE_COMMAND} -E cat ${lora_out}/eval_adapter.json)
set_tests_properties(cli/eval_adapter_recorded PROPERTIES FIXTURES_REQUIRED cli_plora_eval_adapter LABELS "cpu;cli"
  PASS_REGULAR_EXPRESSION "\"adapter\": \"[^\"]*inject_tune\"")
add_test(NAME cli/generate_adapter COMMAND pmc_cli generate --model ${lora_out}/inject --adapter ${lora_out}/inject_tune
                                           --tokenizer ${lora_out}/tokenizer.model --prompt "Vitamin C deficiency causes"
                                           --max-new-tokens 6 --print-ids)
set_tests_properties(cli/generate_adapter PROPERTIES FIXTURES_REQUIRED cli_plora LABELS "cpu;cli"
  PASS_REGULAR_EXPRESSION "pmc generate: [0-6] tokens on cpu")
add_test(NAME cli/convert_adapter COMMAND pmc_cli convert --model ${lora_out}/inject --adapter ${lora_out}/inject_tune
                                          --out ${lora_out}/merged)
set_tests_properties(cli/convert_adapter PROPERTIES FIXTURES_REQUIRED cli_plora FIXTURES_SETUP cli_plora_merged
  LABELS "cpu;cli" PASS_REGULAR_EXPRESSION "merged LoRA adapter .*rank 8, alpha 16.*-> .*merged")
add_test(NAME cli/eval_merged COMMAND pmc_cli eval --model ${lora_out}/merged ${lora_eval_args}
                                      --out ${lora_out}/eval_merged.json)
set_tests_properties(cli/eval_merged PROPERTIES FIXTURES_REQUIRED cli_plora_merged FIXTURES_SETUP cli_plora_eval_merged
  LABELS "cpu;cli" PASS_REGULAR_EXPRESSION "total +64 ")
add_test(NAME cli/eval_merged_equals_adapter
  COMMAND ${CMAKE_COMMAND} -DA=${lora_out}/eval_adapter.json -DB=${lora_out}/eval_merged.json -DTOL=1e-4
          -P ${CMAKE_CURRENT_SOURCE_DIR}/cli/compare_eval.cmake)
set_tests_properties(cli/eval_merged_equals_adapter PROPERTIES LABELS "cpu;cli"
  FIXTURES_REQUIRED "cli_plora_eval_adapter;cli_plora_eval_merged")
# LoRA's bad inputs: a clear error and a non-zero exit status
function(pmc_cli_fails name regex)
  add_test(NAME cli/fails_${name} COMMAND ${CMAKE_COMMAND} "-DCMD=$<TARGET_FILE:pmc_cli>;${ARGN}" "-DREGEX=${regex}"
                                          -P ${CMAKE_CURRENT_SOURCE_DIR}/cli/expect_failure.cmake)
  set_tests_properties(cli/fails_${name} PROPERTIES LABELS "cpu;cli")
endfunction()
set(lora_bad_train instruct --config demo --tokenizer ${CMAKE_CURRENT_SOURCE_DIR}/cli/bad_inputs/tiny_bpe.model
    --data ${CMAKE_CURRENT_SOURCE_DIR}/cli/bad_inputs/instruction_overflow.jsonl --steps 1
    --out ${CMAKE_CURRENT_BINARY_DIR}/tmp/cli_lora_bad)
pmc_cli_fails(eval_adapter_missing "no_such_adapter[^ ]*: no such file .a PEFT adapter folder holds adapter_config.json"
  eval --model ${lora_out}/inject --adapter ${lora_out}/no_such_adapter ${lora_eval_args})
pmc_cli_fails(generate_adapter_missing "no_such_adapter[^ ]*: no such file .a PEFT adapter folder holds adapter_config.json"
  generate --model ${lora_out}/inject --adapter ${lora_out}/no_such_adapter --tokenizer ${lora_out}/tokenizer.model
  --prompt x)
pmc_cli_fails(convert_adapter_missing "no_such_adapter[^ ]*: no such file .a PEFT adapter folder holds adapter_config.json"
  convert --model ${lora_out}/inject --adapter ${lora_out}/no_such_adapter --out ${lora_out}/never)
pmc_cli_fails(lora_targets_lm_head "--lora-targets: 'lm_head' is not a projection" ${lora_bad_train} --lora-rank 4
  --lora-targets q,lm_head)
pmc_cli_fails(lora_rank_negative "--lora-rank: Value -1 not in range" ${lora_bad_train} --lora-rank -1)
pmc_cli_fails(base_quant_without_lora "--base-quant nf4 quantizes LoRA's frozen base: give --lora-rank"
  ${lora_bad_train} --base-quant nf4)
pmc_cli_fails(plan_base_quant_without_lora "--base-quant nf4 quantizes LoRA's frozen base: give --lora-rank"
  plan --model llama_7b --base-quant nf4)
pmc_cli_fails(plan_ranks_zero "--ranks: Value 0 not in range" plan --model llama_7b --ranks 0)
pmc_cli_fails(plan_shard_unknown "--shard: zero3 not in" plan --model llama_7b --ranks 8 --shard zero3)
pmc_cli_fails(plan_shard_full_needs_recompute "sharding the weights \\(full\\) needs activation recompute"
  plan --model llama_7b --ranks 8 --shard full)
pmc_cli_fails(plan_shard_inference "--shard optimizer shards training state. --inference has none"
  plan --model llama_7b --inference --ranks 8 --shard optimizer)
pmc_cli_fails(plan_weights_without_inference "--weights q8_0 plans inference .pmc eval.generate --weights.. add --inference"
  plan --model llama_13b --weights q8_0)
pmc_cli_fails(plan_weights_unknown "--weights: nf8 not in" plan --model llama_13b --inference --weights nf8)
pmc_cli_fails(plan_weights_fp32_bf16 "--weights fp32 contradicts --dtype bf16"
  plan --model llama_13b --inference --dtype bf16 --weights fp32)
pmc_cli_fails(plan_device_memory_unit "--device-memory: '80 GiBs' has an unknown unit 'GiBs'"
  plan --model llama_7b --device-memory "80 GiBs")
pmc_cli_fails(plan_device_memory_not_a_size "--device-memory: 'lots' is not a size"
  plan --model llama_7b --device-memory lots)
set_tests_properties(cli/fails_eval_adapter_missing cli/fails_generate_adapter_missing cli/fails_convert_adapter_missing
  PROPERTIES FIXTURES_REQUIRED cli_plora)
# `pmc convert --checkpoint`: the bf16 run's checkpoint (its fp32 masters) in bf16 is the run's final model, byte
# for byte; a LoRA run's checkpoint (adapters only) is refused, as are --model and --checkpoint together or neither
add_test(NAME cli/convert_checkpoint_bf16 COMMAND pmc_cli convert --checkpoint ${pretrain_out}/checkpoints --dtype bf16
                                                  --out ${pretrain_out}_converted)
set_tests_properties(cli/convert_checkpoint_bf16 PROPERTIES FIXTURES_REQUIRED cli_pretrain_done
  FIXTURES_SETUP cli_pretrain_converted LABELS "cpu;cli"
  PASS_REGULAR_EXPRESSION "checkpoint [^ ]*step_00000004 \\(step 4, 1 shard, bf16-mixed, rotate_half RoPE\\)")
add_test(NAME cli/convert_checkpoint_bf16_same_model COMMAND ${CMAKE_COMMAND} -E compare_files
         ${pretrain_out}/model.safetensors ${pretrain_out}_converted/model.safetensors)
set_tests_properties(cli/convert_checkpoint_bf16_same_model PROPERTIES FIXTURES_REQUIRED cli_pretrain_converted
  LABELS "cpu;cli")
pmc_cli_fails(convert_checkpoint_lora "the checkpoint of a LoRA run holds only its adapters.*pmc convert --model BASE --adapter DIR"
  convert --checkpoint ${lora_out}/inject_tune --out ${lora_out}/never)
set_tests_properties(cli/fails_convert_checkpoint_lora PROPERTIES FIXTURES_REQUIRED cli_plora)
pmc_cli_fails(convert_model_and_checkpoint "--model excludes --checkpoint"
  convert --model a --checkpoint b --out ${CMAKE_CURRENT_BINARY_DIR}/tmp/cli_convert_never)
pmc_cli_fails(convert_neither "give --model .a model to convert. or --checkpoint .a training checkpoint."
  convert --out ${CMAKE_CURRENT_BINARY_DIR}/tmp/cli_convert_never)
# `pmc convert --gguf`: the tuned demo model as a llama.cpp GGUF file with q8_0 matrices and its SentencePiece
# vocabulary; pmc eval reads it back with --weights q8_0 (the file's blocks run in place) and scores every item
add_test(NAME cli/convert_gguf_q8_0 COMMAND pmc_cli convert --model ${eval_model} --tokenizer ${pipeline_out}/tokenizer.model
                                            --gguf ${CMAKE_CURRENT_BINARY_DIR}/tmp/cli_demo_q8_0.gguf --gguf-type q8_0)
set_tests_properties(cli/convert_gguf_q8_0 PROPERTIES FIXTURES_REQUIRED cli_pipeline_done FIXTURES_SETUP cli_gguf_written
  LABELS "cpu;cli" PASS_REGULAR_EXPRESSION "cli_demo_q8_0.gguf .matrices q8_0, vocabulary of [0-9]+ from")
add_test(NAME cli/eval_gguf_q8_0 COMMAND pmc_cli eval --model ${CMAKE_CURRENT_BINARY_DIR}/tmp/cli_demo_q8_0.gguf
                                         --tokenizer ${pipeline_out}/tokenizer.model --benchmark mcq
                                         --data ${pipeline_out}/data/heldout_mcq.jsonl --weights q8_0)
set_tests_properties(cli/eval_gguf_q8_0 PROPERTIES FIXTURES_REQUIRED "cli_pipeline_done;cli_gguf_written"
  LABELS "cpu;cli" PASS_REGULAR_EXPRESSION "total +64 ")
pmc_cli_fails(convert_gguf_type "--gguf-type: q5_0 not in"
  convert --model a --gguf ${CMAKE_CURRENT_BINARY_DIR}/tmp/cli_never.gguf --gguf-type q5_0)
pmc_cli_fails(convert_gguf_and_out "--out excludes --gguf"
  convert --model a --gguf ${CMAKE_CURRENT_BINARY_DIR}/tmp/cli_never.gguf --out ${CMAKE_CURRENT_BINARY_DIR}/tmp/never)
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
  add_test(NAME cli/pretrain_mpi_setup COMMAND ${CMAKE_COMMAND} -E rm -rf ${mpi_out}_2 ${mpi_out}_1 ${mpi_out}_shard
           ${mpi_out}_shard_converted ${mpi_out}_shard_full ${mpi_out}_shard_optimizer)
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
  # sharded (ZeRO-2) over 2 processes: the curve of one process; one rank SIGKILLed mid-run leaves its last
  # checkpoint (a file pair per rank, manifest last) loadable, and the run resumes from it on 3 ranks
  add_test(NAME cli/pretrain_mpi_shard_2_ranks COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 2
           $<TARGET_FILE:pmc_cli> pretrain ${mpi_train_args} --shard gradients --out ${mpi_out}_shard)
  set_tests_properties(cli/pretrain_mpi_shard_2_ranks PROPERTIES FIXTURES_REQUIRED "cli_pipeline_done;cli_mpi_done"
    FIXTURES_SETUP cli_mpi_shard_done LABELS "cpu;cli;mpi" ENVIRONMENT "${mpi_env}" RESOURCE_LOCK cpu_cores
    PASS_REGULAR_EXPRESSION "data parallel over 2 mpi ranks.*sharding gradients")
  add_test(NAME cli/pretrain_mpi_shard_same_losses COMMAND ${CMAKE_COMMAND} -DA=${mpi_out}_shard/metrics.jsonl
           -DB=${mpi_out}_1/metrics.jsonl -DTOL=1e-6 -P ${CMAKE_CURRENT_SOURCE_DIR}/cli/compare_losses.cmake)
  set_tests_properties(cli/pretrain_mpi_shard_same_losses PROPERTIES FIXTURES_REQUIRED cli_mpi_shard_done
    LABELS "cpu;cli;mpi")
  # its latest checkpoint (a file pair per rank) written whole by `pmc convert --checkpoint`: the run's own final
  # model (fp32, written by rank 0), byte for byte
  add_test(NAME cli/convert_mpi_shard_checkpoint COMMAND pmc_cli convert --checkpoint ${mpi_out}_shard
                                                         --out ${mpi_out}_shard_converted)
  set_tests_properties(cli/convert_mpi_shard_checkpoint PROPERTIES FIXTURES_REQUIRED cli_mpi_shard_done
    FIXTURES_SETUP cli_mpi_shard_converted LABELS "cpu;cli;mpi"
    PASS_REGULAR_EXPRESSION "checkpoint [^ ]*step_00000004 \\(step 4, 2 shards, fp32, rotate_half RoPE\\) \\([^\n]* [0-9]+ parameters\\) -> ")
  foreach(file model.safetensors config.json)
    add_test(NAME cli/convert_mpi_shard_same_${file} COMMAND ${CMAKE_COMMAND} -E compare_files
             ${mpi_out}_shard/${file} ${mpi_out}_shard_converted/${file})
    set_tests_properties(cli/convert_mpi_shard_same_${file} PROPERTIES FIXTURES_REQUIRED cli_mpi_shard_converted
      LABELS "cpu;cli;mpi")
  endforeach()
  foreach(level gradients full)
    add_test(NAME cli/pretrain_mpi_shard_${level}_kill_resume COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/shard_kill.sh
             ${MPIEXEC_EXECUTABLE} $<TARGET_FILE:pmc_cli> ${pipeline_out}/tokenizer.model ${pipeline_out}/data/corpus.txt
             ${CMAKE_CURRENT_BINARY_DIR}/tmp/cli_shard_kill_${level} ${level})
    set_tests_properties(cli/pretrain_mpi_shard_${level}_kill_resume PROPERTIES FIXTURES_REQUIRED cli_pipeline_done
      LABELS "cpu;cli;mpi" RESOURCE_LOCK cpu_cores TIMEOUT 600
      PASS_REGULAR_EXPRESSION "resumed on 3 ranks from step_[0-9]+: 12 steps within 1e-6 of one process")
  endforeach()
  # ZeRO-1, and ZeRO-3 (the weights sharded too, with activation recompute), over 2 processes: the curve of one
  # process
  foreach(level optimizer full)
    set(extra)
    if(level STREQUAL "full")
      set(extra --recompute)
    endif()
    add_test(NAME cli/pretrain_mpi_shard_${level}_2_ranks COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 2
             $<TARGET_FILE:pmc_cli> pretrain ${mpi_train_args} --shard ${level} ${extra} --out ${mpi_out}_shard_${level})
    set_tests_properties(cli/pretrain_mpi_shard_${level}_2_ranks PROPERTIES
      FIXTURES_REQUIRED "cli_pipeline_done;cli_mpi_done" FIXTURES_SETUP cli_mpi_shard_${level}_done LABELS "cpu;cli;mpi"
      ENVIRONMENT "${mpi_env}" RESOURCE_LOCK cpu_cores PASS_REGULAR_EXPRESSION "data parallel over 2 mpi ranks.*sharding ${level}")
    add_test(NAME cli/pretrain_mpi_shard_${level}_same_losses COMMAND ${CMAKE_COMMAND}
             -DA=${mpi_out}_shard_${level}/metrics.jsonl -DB=${mpi_out}_1/metrics.jsonl -DTOL=1e-6
             -P ${CMAKE_CURRENT_SOURCE_DIR}/cli/compare_losses.cmake)
    set_tests_properties(cli/pretrain_mpi_shard_${level}_same_losses PROPERTIES
      FIXTURES_REQUIRED cli_mpi_shard_${level}_done LABELS "cpu;cli;mpi")
  endforeach()
endif()
# Bad input (docs/reliability.md, "Bad inputs"): each is refused naming the flag, or the file (and line or key) and
# the problem, as a pmc::Error ("pmc: error: ..."); none reaches the user as a raw library exception ("pmc:
# unexpected error: ..."). Flag checks run before any file is read, so an existing file stands in for the tokenizer
# and the corpus there.
set(bad_inputs ${CMAKE_CURRENT_SOURCE_DIR}/cli/bad_inputs)
set(any_file ${CMAKE_CURRENT_SOURCE_DIR}/cli/pipeline_quick.json)
set(bad_out ${CMAKE_CURRENT_BINARY_DIR}/tmp/cli_bad_input)
# pmc_cli_refuses(NAME REGEX ARGS...): `pmc ARGS...` prints REGEX (and does not run)
function(pmc_cli_refuses name regex)
  add_test(NAME cli/refuses_${name} COMMAND pmc_cli ${ARGN})
  set_tests_properties(cli/refuses_${name} PROPERTIES LABELS "cpu;cli" PASS_REGULAR_EXPRESSION "${regex}")
endfunction()
set(flag_pretrain pretrain --config demo --tokenizer ${any_file} --corpus ${any_file} --out ${bad_out}/flags)
pmc_cli_refuses(lr_nan "--lr: 'nan' is not a finite number in \\(0, inf\\)" ${flag_pretrain} --lr nan)
pmc_cli_refuses(lr_negative "--lr: '-1' is not a finite number in \\(0, inf\\)" ${flag_pretrain} --lr -1)
pmc_cli_refuses(min_lr_negative "--min-lr: '-1e-5' is not a finite number in \\[0, inf\\)" ${flag_pretrain} --min-lr -1e-5)
pmc_cli_refuses(eval_fraction_5 "--eval-fraction: '5' is not a finite number in \\[0, 0.5\\]" ${flag_pretrain} --eval-fraction 5)
pmc_cli_refuses(weight_decay_inf "--weight-decay: 'inf' is not a finite number" ${flag_pretrain} --weight-decay inf)
pmc_cli_refuses(clip_nan "--clip: 'nan' is not a finite number" ${flag_pretrain} --clip nan)
pmc_cli_refuses(init_std_nan "--init-std: 'nan' is not a finite number" ${flag_pretrain} --init-std nan)
pmc_cli_refuses(epochs_zero "--epochs: '0' is not a finite number in \\(0, inf\\)" ${flag_pretrain} --epochs 0)
pmc_cli_refuses(steps_zero "--steps: Value 0 not in range" ${flag_pretrain} --steps 0)
pmc_cli_refuses(batch_zero "--batch: Value 0 not in range" ${flag_pretrain} --batch 0)
pmc_cli_refuses(seq_len_negative "--seq-len: Value -3 not in range" ${flag_pretrain} --seq-len -3)
pmc_cli_refuses(grad_accum_zero "--grad-accum: Value 0 not in range" ${flag_pretrain} --grad-accum 0)
pmc_cli_refuses(warmup_negative "--warmup: Value -2 not in range" ${flag_pretrain} --warmup -2)
pmc_cli_refuses(save_every_negative "--save-every: Value -1 not in range" ${flag_pretrain} --save-every -1)
pmc_cli_refuses(eval_every_negative "--eval-every: Value -1 not in range" ${flag_pretrain} --eval-every -1)
pmc_cli_refuses(instruct_eval_fraction "--eval-fraction: '0.9' is not a finite number in \\[0, 0.5\\]"
  instruct --config demo --tokenizer ${any_file} --data ${any_file} --out ${bad_out}/flags --eval-fraction 0.9)
set(flag_generate generate --model ${any_file} --tokenizer ${any_file})
pmc_cli_refuses(temperature_nan "--temperature: 'nan' is not a finite number" ${flag_generate} --temperature nan)
pmc_cli_refuses(top_p_zero "--top-p: '0' is not a finite number in \\(0, 1\\]" ${flag_generate} --top-p 0)
pmc_cli_refuses(top_k_negative "--top-k: Value -1 not in range" ${flag_generate} --top-k -1)
pmc_cli_refuses(eval_limit_negative "--limit: Value -1 not in range"
  eval --model ${any_file} --tokenizer ${any_file} --benchmark mcq --data ${any_file} --limit -1)
pmc_cli_refuses(seed_negative "--seed: Value -1 not in range" ${flag_pretrain} --seed -1)
pmc_cli_refuses(pipeline_seed_negative "--seed: Value -1 not in range"
  pipeline --config ${any_file} --seed -1 --out ${bad_out}/p)
pmc_cli_refuses(generate_seed_negative "--seed: Value -1 not in range" ${flag_generate} --seed -1)
pmc_cli_refuses(character_coverage_nan "--character-coverage: 'nan' is not a finite number in \\[0.5, 1\\]"
  train-tokenizer --corpus ${any_file} --vocab-size 300 --out ${bad_out}/t.model --character-coverage nan)
pmc_cli_refuses(max_piece_length_zero "--max-piece-length: Value 0 not in range"
  train-tokenizer --corpus ${any_file} --vocab-size 300 --out ${bad_out}/t.model --max-piece-length 0)
# files: a folder as the tokenizer; numbers beyond double's range; a chat role that is a number
pmc_cli_refuses(tokenizer_folder "pmc: error: .*/cli: a folder without tokenizer.json or tokenizer.model"
  tokenize --tokenizer ${CMAKE_CURRENT_SOURCE_DIR}/cli)
pmc_cli_refuses(medqa_overflow "pmc: error: .*medqa_overflow.jsonl:1: a number out of range"
  eval --model ${any_file} --tokenizer ${any_file} --benchmark medqa --data ${bad_inputs}/medqa_overflow.jsonl)
# a 13-piece BPE model (tests/fuzz/make_seeds.py's bpe_small) that the demo model's embeddings fit: these runs
# load it and build the model, then fail on the data or the output folder
set(tok ${bad_inputs}/tiny_bpe.model)
pmc_cli_refuses(corpus_overflow "pmc: error: .*corpus_overflow.jsonl:2: a number out of range"
  pretrain --config demo --tokenizer ${tok} --corpus ${bad_inputs}/corpus_overflow.jsonl --steps 1 --out ${bad_out}/c)
pmc_cli_refuses(instruction_overflow "pmc: error: .*instruction_overflow.jsonl:1: a number out of range"
  instruct --config demo --tokenizer ${tok} --data ${bad_inputs}/instruction_overflow.jsonl --steps 1 --out ${bad_out}/i)
pmc_cli_refuses(chat_numeric_from "pmc: error: .*chat_numeric_from.jsonl:2: the turn's \"from\" must be a string, got number"
  instruct --config demo --tokenizer ${tok} --data ${bad_inputs}/chat_numeric_from.jsonl --steps 1 --out ${bad_out}/n)
# --out under a regular file
pmc_cli_refuses(pretrain_out_under_file "pmc: error: .*pipeline_quick.json/run/data: cannot create the folder: Not a directory"
  pretrain --config demo --tokenizer ${tok} --corpus ${any_file} --steps 1 --out ${any_file}/run)
pmc_cli_refuses(convert_out_under_file "pmc: error: .*pipeline_quick.json/hf: cannot create the folder: Not a directory"
  convert --model ${eval_model} --out ${any_file}/hf)
pmc_cli_refuses(eval_out_under_file "pmc: error: .*pipeline_quick.json/eval.json: cannot create temporary file"
  eval ${eval_args} --limit 1 --out ${any_file}/eval.json)
pmc_cli_refuses(pipeline_out_under_file "pmc: error: .*pipeline_quick.json/p: cannot create the folder: Not a directory"
  pipeline --config ${any_file} --out ${any_file}/p)
set_tests_properties(cli/refuses_convert_out_under_file cli/refuses_eval_out_under_file
  PROPERTIES FIXTURES_REQUIRED cli_pipeline_done ENVIRONMENT OMP_NUM_THREADS=1)
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
# Instruction examples longer than the window (3 of the 10 in instruct_overflow.jsonl, whose case report is long):
# counted and reported, their prompts truncated from the left, and the run trains
set(overflow_out ${CMAKE_CURRENT_BINARY_DIR}/tmp/cli_instruct_overflow)
add_test(NAME cli/instruct_overflow_setup COMMAND ${CMAKE_COMMAND} -E rm -rf ${overflow_out} ${overflow_out}_skip)
set_tests_properties(cli/instruct_overflow_setup PROPERTIES FIXTURES_SETUP cli_instruct_overflow LABELS "cpu;cli")
add_test(NAME cli/instruct_overflow
  COMMAND pmc_cli instruct --config demo --tokenizer ${pipeline_out}/tokenizer.model
          --data ${CMAKE_CURRENT_SOURCE_DIR}/cli/instruct_overflow.jsonl --seq-len 96 --batch 2 --steps 2
          --out ${overflow_out})
set_tests_properties(cli/instruct_overflow PROPERTIES FIXTURES_REQUIRED "cli_pipeline_done;cli_instruct_overflow"
  LABELS "cpu;cli" ENVIRONMENT OMP_NUM_THREADS=1
  PASS_REGULAR_EXPRESSION "3 of 10 examples are longer than the 97-token window: 3 had their prompt truncated from the left, 0 were skipped.*10 documents.*2 steps")
add_test(NAME cli/instruct_overflow_skip
  COMMAND pmc_cli instruct --config demo --tokenizer ${pipeline_out}/tokenizer.model
          --data ${CMAKE_CURRENT_SOURCE_DIR}/cli/instruct_overflow.jsonl --seq-len 96 --batch 2 --steps 2
          --overflow skip --out ${overflow_out}_skip)
set_tests_properties(cli/instruct_overflow_skip PROPERTIES FIXTURES_REQUIRED "cli_pipeline_done;cli_instruct_overflow"
  LABELS "cpu;cli" ENVIRONMENT OMP_NUM_THREADS=1
  PASS_REGULAR_EXPRESSION "0 had their prompt truncated from the left, 3 were skipped \\(--overflow skip\\)")
# Packing (--pack): the instruction examples several to a window (the pipeline's 69 examples of ~97 tokens in 35
# windows of 257 tokens, from 69 unpacked); the summary printed, the run trains, and a
# run rewound to its step-2 checkpoint and resumed ends on the uninterrupted run's loss log (the packed windows
# are written once, before training, and read back on resume)
set(pack_out ${CMAKE_CURRENT_BINARY_DIR}/tmp/cli_instruct_pack)
set(pack_args instruct --config demo --tokenizer ${pipeline_out}/tokenizer.model --data ${pipeline_out}/data/instruct.jsonl
    --seq-len 256 --batch 2 --steps 4 --save-every 2 --pack)
add_test(NAME cli/instruct_pack_setup COMMAND ${CMAKE_COMMAND} -E rm -rf ${pack_out} ${pack_out}_resumed)
set_tests_properties(cli/instruct_pack_setup PROPERTIES FIXTURES_SETUP cli_instruct_pack LABELS "cpu;cli")
add_test(NAME cli/instruct_pack COMMAND pmc_cli ${pack_args} --out ${pack_out})
add_test(NAME cli/instruct_pack_again COMMAND pmc_cli ${pack_args} --out ${pack_out}_resumed)
foreach(t instruct_pack instruct_pack_again)
  set_tests_properties(cli/${t} PROPERTIES FIXTURES_REQUIRED "cli_pipeline_done;cli_instruct_pack"
    FIXTURES_SETUP cli_instruct_pack_done LABELS "cpu;cli" ENVIRONMENT OMP_NUM_THREADS=1
    PASS_REGULAR_EXPRESSION "packed 183 examples into 92 windows of 257 tokens \\(fill 90.0%. unpacked: 183 windows\\).*21291 tokens in 92 documents.*4 steps.*model saved")
endforeach()
add_test(NAME cli/instruct_pack_rewind COMMAND ${CMAKE_COMMAND} -DRUN=${pack_out}_resumed -DSTEP=step_00000002
         -P ${CMAKE_CURRENT_SOURCE_DIR}/cli/rewind_checkpoint.cmake)
set_tests_properties(cli/instruct_pack_rewind PROPERTIES FIXTURES_REQUIRED cli_instruct_pack_done
  FIXTURES_SETUP cli_instruct_pack_rewound LABELS "cpu;cli")
add_test(NAME cli/instruct_pack_resume COMMAND pmc_cli ${pack_args} --out ${pack_out}_resumed)
set_tests_properties(cli/instruct_pack_resume PROPERTIES FIXTURES_REQUIRED cli_instruct_pack_rewound
  FIXTURES_SETUP cli_instruct_pack_resumed LABELS "cpu;cli" ENVIRONMENT OMP_NUM_THREADS=1
  PASS_REGULAR_EXPRESSION "resuming at step 2")
add_test(NAME cli/instruct_pack_resume_same_losses COMMAND ${CMAKE_COMMAND} -DA=${pack_out}_resumed/metrics.jsonl
         -DB=${pack_out}/metrics.jsonl -DTOL=0 -P ${CMAKE_CURRENT_SOURCE_DIR}/cli/compare_losses.cmake)
set_tests_properties(cli/instruct_pack_resume_same_losses PROPERTIES FIXTURES_REQUIRED cli_instruct_pack_resumed
  LABELS "cpu;cli")
# the pipeline config's "pack": for the tuning stages only, a boolean
pmc_cli_refuses(pipeline_pack_inject "inject: 'pack' packs instruction examples: it is for the tuning stages"
  pipeline --config ${CMAKE_CURRENT_SOURCE_DIR}/cli/bad_inputs/pipeline_pack_inject.json --out ${bad_out}/pack_inject)
pmc_cli_refuses(pipeline_pack_string "tune: pack must be true or false"
  pipeline --config ${CMAKE_CURRENT_SOURCE_DIR}/cli/bad_inputs/pipeline_pack_string.json --out ${bad_out}/pack_string)
# --seq-len beyond the model's context is refused before the tokenizer is even read
pmc_cli_refuses(seq_len_over_context "--seq-len 1000 exceeds the model's context of 256 positions"
  pretrain --config demo --tokenizer ${any_file} --corpus ${any_file} --seq-len 1000 --out ${bad_out}/ctx)
# --limit draws a seeded sample stratified by answer label, and says so
add_test(NAME cli/eval_limit_stratified COMMAND pmc_cli eval ${eval_args} --limit 6 --sample-seed 3)
set_tests_properties(cli/eval_limit_stratified PROPERTIES FIXTURES_REQUIRED cli_pipeline_done LABELS "cpu;cli"
  ENVIRONMENT OMP_NUM_THREADS=1
  PASS_REGULAR_EXPRESSION "a stratified sample of 6 of 64 items \\(seed 3. strata: answer label")
# any LLaMA shape, not only the registry's: a config.json that names no registry config (head_dim 24 with 4 heads
# of a 64-wide model) trains, saves, evaluates, generates, plans and converts; a model folder with it does too
set(runtime_cfg ${CMAKE_CURRENT_SOURCE_DIR}/cli/runtime_config.json)
set(runtime_out ${CMAKE_CURRENT_BINARY_DIR}/tmp/cli_runtime_config)
add_test(NAME cli/runtime_config_setup COMMAND ${CMAKE_COMMAND} -E rm -rf ${runtime_out} ${runtime_out}_bf16)
set_tests_properties(cli/runtime_config_setup PROPERTIES FIXTURES_SETUP cli_runtime LABELS "cpu;cli")
add_test(NAME cli/runtime_config_pretrain
  COMMAND pmc_cli pretrain --config ${runtime_cfg} --tokenizer ${pipeline_out}/tokenizer.model
          --corpus ${pipeline_out}/data/corpus.txt --seq-len 48 --batch 2 --steps 3 --lr 1e-3 --out ${runtime_out})
set_tests_properties(cli/runtime_config_pretrain PROPERTIES FIXTURES_REQUIRED "cli_pipeline_done;cli_runtime"
  FIXTURES_SETUP cli_runtime_done LABELS "cpu;cli" ENVIRONMENT OMP_NUM_THREADS=1
  PASS_REGULAR_EXPRESSION "3 steps, fp32.*model saved")
add_test(NAME cli/runtime_config_eval COMMAND pmc_cli eval --model ${runtime_out} --tokenizer ${pipeline_out}/tokenizer.model
  --benchmark mcq --data ${pipeline_out}/data/heldout_mcq.jsonl --limit 4)
add_test(NAME cli/runtime_config_generate COMMAND pmc_cli generate --model ${runtime_out}
  --tokenizer ${pipeline_out}/tokenizer.model --prompt "Vitamin C" --max-new-tokens 4 --print-ids)
add_test(NAME cli/runtime_config_resume_bf16
  COMMAND pmc_cli instruct --init ${runtime_out} --tokenizer ${pipeline_out}/tokenizer.model
          --data ${pipeline_out}/data/instruct.jsonl --seq-len 64 --batch 2 --steps 2 --precision bf16
          --out ${runtime_out}_bf16)
add_test(NAME cli/runtime_config_convert COMMAND pmc_cli convert --model ${runtime_out} --out ${runtime_out}_converted)
set_tests_properties(cli/runtime_config_eval PROPERTIES FIXTURES_REQUIRED "cli_pipeline_done;cli_runtime_done"
  LABELS "cpu;cli" PASS_REGULAR_EXPRESSION "total +4 ")
set_tests_properties(cli/runtime_config_generate PROPERTIES FIXTURES_REQUIRED "cli_pipeline_done;cli_runtime_done"
  LABELS "cpu;cli" PASS_REGULAR_EXPRESSION "pmc generate: [0-4] tokens on cpu")
set_tests_properties(cli/runtime_config_resume_bf16 PROPERTIES FIXTURES_REQUIRED "cli_pipeline_done;cli_runtime_done"
  LABELS "cpu;cli" ENVIRONMENT OMP_NUM_THREADS=1 PASS_REGULAR_EXPRESSION "2 steps, bf16-mixed")
set_tests_properties(cli/runtime_config_convert PROPERTIES FIXTURES_REQUIRED cli_runtime_done LABELS "cpu;cli"
  PASS_REGULAR_EXPRESSION "dim 64, layers 2, heads 4, kv heads 2, head_dim 24.*-> ")
# a tokenizer.json (byte-level BPE, Llama-3's layout) with a Qwen2-shaped model: pretrain, instruction tuning in
# Llama-3's chat format, convert with the tokenizer into a Hugging Face folder, then eval and chat generation from
# that folder alone (the tokenizer found beside the weights)
set(tj_cfg ${CMAKE_CURRENT_SOURCE_DIR}/cli/bytelevel_config.json)
set(tj_tok ${CMAKE_CURRENT_SOURCE_DIR}/golden/tokenizer_json/llama3_style.json)
set(tj_out ${CMAKE_CURRENT_BINARY_DIR}/tmp/cli_tokenizer_json)
add_test(NAME cli/tokenizer_json_setup COMMAND ${CMAKE_COMMAND} -E rm -rf ${tj_out} ${tj_out}_chat ${tj_out}_hf)
set_tests_properties(cli/tokenizer_json_setup PROPERTIES FIXTURES_SETUP cli_tj LABELS "cpu;cli")
add_test(NAME cli/tokenizer_json_pretrain
  COMMAND pmc_cli pretrain --config ${tj_cfg} --tokenizer ${tj_tok} --corpus ${pipeline_out}/data/corpus.txt
          --seq-len 32 --batch 2 --steps 2 --lr 1e-3 --out ${tj_out})
set_tests_properties(cli/tokenizer_json_pretrain PROPERTIES FIXTURES_REQUIRED "cli_pipeline_done;cli_tj"
  FIXTURES_SETUP cli_tj_pretrained LABELS "cpu;cli" ENVIRONMENT OMP_NUM_THREADS=1
  PASS_REGULAR_EXPRESSION "2 steps, fp32.*model saved")
add_test(NAME cli/tokenizer_json_instruct_llama3
  COMMAND pmc_cli instruct --init ${tj_out} --tokenizer ${tj_tok} --data ${pipeline_out}/data/instruct.jsonl
          --chat-format llama3 --seq-len 96 --batch 2 --steps 2 --out ${tj_out}_chat)
add_test(NAME cli/tokenizer_json_convert
  COMMAND pmc_cli convert --model ${tj_out} --tokenizer ${tj_tok} --out ${tj_out}_hf)
set_tests_properties(cli/tokenizer_json_instruct_llama3 PROPERTIES FIXTURES_REQUIRED "cli_pipeline_done;cli_tj_pretrained"
  LABELS "cpu;cli" ENVIRONMENT OMP_NUM_THREADS=1 PASS_REGULAR_EXPRESSION "2 steps, fp32")
set_tests_properties(cli/tokenizer_json_convert PROPERTIES FIXTURES_REQUIRED cli_tj_pretrained
  FIXTURES_SETUP cli_tj_hf LABELS "cpu;cli"
  PASS_REGULAR_EXPRESSION "tokenizer .*llama3_style.json -> tokenizer.json, tokenizer_config.json")
add_test(NAME cli/tokenizer_json_eval_folder COMMAND pmc_cli eval --model ${tj_out}_hf --benchmark mcq
  --data ${pipeline_out}/data/heldout_mcq.jsonl --limit 4)
add_test(NAME cli/tokenizer_json_generate_chat COMMAND pmc_cli generate --model ${tj_out}_hf --chat-format llama3
  --prompt "Vitamin C" --max-new-tokens 3)
set_tests_properties(cli/tokenizer_json_eval_folder PROPERTIES FIXTURES_REQUIRED "cli_pipeline_done;cli_tj_hf"
  LABELS "cpu;cli" PASS_REGULAR_EXPRESSION "total +4 ")
set_tests_properties(cli/tokenizer_json_generate_chat PROPERTIES FIXTURES_REQUIRED cli_tj_hf
  LABELS "cpu;cli" PASS_REGULAR_EXPRESSION "pmc generate: [0-3] tokens on cpu")
pmc_cli_refuses(chat_format_unknown "--chat-format: vicuna not in" generate --model ${any_file} --chat-format vicuna)
pmc_cli_refuses(generate_model_file_no_tokenizer "--tokenizer is required when --model"
  generate --model ${CMAKE_CURRENT_SOURCE_DIR}/cli/runtime_config.json --prompt x)
add_test(NAME cli/plan_runtime_config COMMAND pmc_cli plan --model ${runtime_cfg} --seq 64 --json)
# 201024 = embeddings 2·800·64 + 2 blocks (q 96·64, k and v 48·64 each, o 64·96, 3·64·160 MLP, 2·64 norms) + final norm
set_tests_properties(cli/plan_runtime_config PROPERTIES LABELS "cpu;cli" PASS_REGULAR_EXPRESSION "\"parameters\": 201024")
add_test(NAME cli/convert_golden_head_dim COMMAND pmc_cli convert --model ${CMAKE_CURRENT_SOURCE_DIR}/golden/hf/head_dim
                                          --out ${runtime_out}_golden --dtype bf16)
set_tests_properties(cli/convert_golden_head_dim PROPERTIES LABELS "cpu;cli"
  PASS_REGULAR_EXPRESSION "head_dim 10.*15048 parameters")
# the families with LLaMA's shape: a Qwen2 (q/k/v biases) and a Mistral (sliding window) folder written by
# transformers convert to folders that name the same family, with every tensor
foreach(family qwen2 mistral_window llama_bias rope_llama3 rope_dynamic)
  add_test(NAME cli/convert_golden_${family} COMMAND pmc_cli convert --model ${CMAKE_CURRENT_SOURCE_DIR}/golden/hf/${family}
                                                   --out ${runtime_out}_${family})
endforeach()
set_tests_properties(cli/convert_golden_qwen2 PROPERTIES LABELS "cpu;cli"
  PASS_REGULAR_EXPRESSION "q/k/v biases \\(qwen2\\), 16256 parameters")
set_tests_properties(cli/convert_golden_mistral_window PROPERTIES LABELS "cpu;cli"
  PASS_REGULAR_EXPRESSION "sliding window 4 \\(mistral\\), 18272 parameters")
set_tests_properties(cli/convert_golden_llama_bias PROPERTIES LABELS "cpu;cli"
  PASS_REGULAR_EXPRESSION "q/k/v biases, o bias, mlp biases, 18688 parameters")
set_tests_properties(cli/convert_golden_rope_llama3 PROPERTIES LABELS "cpu;cli"
  PASS_REGULAR_EXPRESSION "rope scaling llama3 x8 \\(original 64\\), 18272 parameters")
# dynamic NTK scales from max_position_embeddings (6) on: pmc reads a context of 4·6 = 24
set_tests_properties(cli/convert_golden_rope_dynamic PROPERTIES LABELS "cpu;cli"
  PASS_REGULAR_EXPRESSION "max_seq_len 24, .*rope scaling dynamic x4 \\(original 6\\), 18272 parameters")
# --prompt-format lm_eval: the first 20 items of the real benchmarks (../shared, optional: without it these tests are
# not defined) scored with the tiny model of tests/golden/lm_eval give lm-evaluation-harness's own acc and stderr
# (tests/golden/lm_eval/summary.json, made by tools/make_golden_lm_eval.py); --first takes the first N per task.
set(lm_eval_model ${CMAKE_CURRENT_SOURCE_DIR}/golden/lm_eval/model)
set(lm_eval_data ${PMC_SHARED_DIR}/data/benchmarks)
# pmc eval --prompt-format lm_eval --first 20 on lm_eval_model with the arguments after `regex`; passes when the
# output matches `regex`.
function(pmc_cli_lm_eval name regex)
  add_test(NAME cli/${name} COMMAND pmc_cli eval --model ${lm_eval_model} --prompt-format lm_eval --first 20 ${ARGN})
  set_tests_properties(cli/${name} PROPERTIES LABELS "cpu;cli" ENVIRONMENT OMP_NUM_THREADS=1
    PASS_REGULAR_EXPRESSION "${regex}")
endfunction()
if(EXISTS ${lm_eval_data}/medqa/phrases_no_exclude_test.jsonl)
  pmc_cli_lm_eval(eval_lm_eval_medqa
    "medqa_4options *\\| *Yaml\\|none *\\| *0\\|acc *\\|[^|]*\\| *0\\.3500\\|[^|]*\\|0\\.1094\\|.*acc_norm\\|[^|]*\\| *0\\.3500\\|[^|]*\\|0\\.1094\\|"
    --benchmark medqa --data ${lm_eval_data}/medqa/phrases_no_exclude_test.jsonl
    --out ${CMAKE_CURRENT_BINARY_DIR}/tmp/cli_lm_eval_medqa.json)
endif()
if(EXISTS ${lm_eval_data}/mmlu_medical/anatomy_test.csv AND EXISTS ${lm_eval_data}/mmlu_medical/medical_genetics_test.csv)
  pmc_cli_lm_eval(eval_lm_eval_mmlu
    "mmlu_anatomy *\\| *1\\.0\\|none *\\| *0\\|acc *\\|[^|]*\\| *0\\.2000\\|[^|]*\\|0\\.0918\\|.*mmlu_medical_genetics *\\| *1\\.0\\|none *\\| *0\\|acc *\\|[^|]*\\| *0\\.2000\\|[^|]*\\|0\\.0918\\|.*40 items"
    --benchmark mmlu --data ${lm_eval_data}/mmlu_medical/anatomy_test.csv ${lm_eval_data}/mmlu_medical/medical_genetics_test.csv)
endif()
# --num-fewshot 3: the few-shot golden (tests/golden/lm_eval_fewshot, tools/make_golden_lm_eval_fewshot.py) draws
# MedMCQA's and MMLU anatomy's examples from their own test split (the same file as --fewshot-data: k + 1 drawn
# and the item dropped; first_n without the item), with the harness's default seed 1234.
if(EXISTS ${lm_eval_data}/medmcqa/dev.json)
  pmc_cli_lm_eval(eval_lm_eval_fewshot_medmcqa
    "3-shot \\(sampler default, seed 1234\\) from the test split itself.*medmcqa *\\| *Yaml\\|none *\\| *3\\|acc *\\|[^|]*\\| *0\\.1000\\|[^|]*\\|0\\.0688\\|.*none *\\| *3\\|acc_norm\\|[^|]*\\| *0\\.1000\\|"
    --benchmark medmcqa --data ${lm_eval_data}/medmcqa/dev.json --num-fewshot 3
    --fewshot-data ${lm_eval_data}/medmcqa/dev.json --out ${CMAKE_CURRENT_BINARY_DIR}/tmp/cli_lm_eval_fewshot_medmcqa.json)
endif()
if(EXISTS ${lm_eval_data}/mmlu_medical/anatomy_test.csv)
  pmc_cli_lm_eval(eval_lm_eval_fewshot_mmlu
    "3-shot \\(sampler first_n, seed 1234\\).*mmlu_anatomy *\\| *1\\.0\\|none *\\| *3\\|acc *\\|[^|]*\\| *0\\.1500\\|[^|]*\\|0\\.0819\\|"
    --benchmark mmlu --data ${lm_eval_data}/mmlu_medical/anatomy_test.csv --num-fewshot 3
    --fewshot-data ${lm_eval_data}/mmlu_medical/anatomy_test.csv)
endif()
pmc_cli_refuses(eval_fewshot_without_data "--num-fewshot 3 needs --fewshot-data"
  eval --model ${lm_eval_model} --benchmark medqa --data ${any_file} --prompt-format lm_eval --num-fewshot 3)
pmc_cli_refuses(eval_fewshot_pmc_llama "--num-fewshot and --fewshot-data apply to --prompt-format lm_eval"
  eval --model ${lm_eval_model} --benchmark medqa --data ${any_file} --num-fewshot 3 --fewshot-data ${any_file})
pmc_cli_refuses(eval_lm_eval_generate "--prompt-format lm_eval scores options by likelihood"
  eval --model ${lm_eval_model} --benchmark medqa --data ${any_file} --prompt-format lm_eval --scorer generate)

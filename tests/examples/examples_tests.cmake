# SPDX-License-Identifier: MIT
# The example programs of examples/*.cpp run as tests (label `examples`). Each program prints its success line
# last, just before it returns 0, and "FAILED" when one of its checks fails: ctest ignores the exit status when
# PASS_REGULAR_EXPRESSION is set, so every pass pattern ends with that last line.
if(NOT TARGET example_tensors_and_autograd OR NOT TARGET example_train_tiny_llama
   OR NOT TARGET example_generate_from_checkpoint OR NOT TARGET example_score_medical_mcq)
  return()
endif()

add_test(NAME examples/tensors_and_autograd COMMAND example_tensors_and_autograd)
set_tests_properties(examples/tensors_and_autograd PROPERTIES
  PASS_REGULAR_EXPRESSION "shares storage: yes.*-> 1 \\(tie, to even\\).*gradient check passed")

# trains, saves to example_train_out, reloads and generates; generate_from_trained_tiny_llama reads its output
set(example_train_out ${CMAKE_CURRENT_BINARY_DIR}/tmp/example_train_tiny_llama)
add_test(NAME examples/train_tiny_llama COMMAND example_train_tiny_llama ${example_train_out})
set_tests_properties(examples/train_tiny_llama PROPERTIES FIXTURES_SETUP example_tiny_llama
  PASS_REGULAR_EXPRESSION "step 59  loss .*reloaded: identical logits\ngreedy: Insulin is a hormone")

# stories260K from ../shared, skipped (exit 77) without it. The output must begin with the greedy text that
# llama2.c publishes, read from the reference file that tests/models/llama_test.cpp compares against too.
set(stories_dir ${PMC_SHARED_DIR}/data/models/stories260K)
set(stories_reference ${stories_dir}/stories260K_reference.json)
set(stories_expected "config stories260k, 260032 parameters; 1 prompt tokens")  # when the reference is absent
if(EXISTS ${stories_reference})
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${stories_reference})
  file(READ ${stories_reference} stories_json)
  string(JSON stories_text GET "${stories_json}" greedy_text)
  string(REGEX REPLACE "([][.*+?^$()|\\])" "\\\\\\1" stories_text "${stories_text}")  # matched literally
  string(REPLACE ";" "." stories_text "${stories_text}")  # a ';' would split the property into a list
  set(stories_expected "^${stories_text}")
endif()
add_test(NAME examples/generate_from_checkpoint
  COMMAND example_generate_from_checkpoint ${stories_dir}/stories260K.bin ${stories_dir}/tok512.model)
set_tests_properties(examples/generate_from_checkpoint PROPERTIES SKIP_RETURN_CODE 77
  PASS_REGULAR_EXPRESSION "${stories_expected}")

# the same program on the Hugging Face folder of the `tiny` config that train_tiny_llama saved
add_test(NAME examples/generate_from_trained_tiny_llama
  COMMAND example_generate_from_checkpoint ${example_train_out}/model ${example_train_out}/tokenizer.model
          "Insulin is a hormone" 8)
set_tests_properties(examples/generate_from_trained_tiny_llama PROPERTIES FIXTURES_REQUIRED example_tiny_llama
  PASS_REGULAR_EXPRESSION "^Insulin is a hormone[^\n]*\n\\[[^]]*: config tiny, [0-9]+ parameters. [0-9]+ prompt")

add_test(NAME examples/score_medical_mcq COMMAND example_score_medical_mcq)
set_tests_properties(examples/score_medical_mcq PROPERTIES
  PASS_REGULAR_EXPRESSION "### Response:.*D\\. Hereditary spherocytosis +sum +-[0-9.]+ .*chosen: [A-D] .*scores agree")

set_tests_properties(examples/tensors_and_autograd examples/train_tiny_llama examples/generate_from_checkpoint
  examples/generate_from_trained_tiny_llama examples/score_medical_mcq PROPERTIES
  LABELS "cpu;examples" ENVIRONMENT OMP_NUM_THREADS=1 FAIL_REGULAR_EXPRESSION "FAILED")

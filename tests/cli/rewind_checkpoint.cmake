# SPDX-License-Identifier: MIT
# cmake -DRUN=run_dir -DSTEP=step_00000002 -P rewind_checkpoint.cmake
# Points RUN/checkpoints/latest at an earlier checkpoint, as if the run had stopped there.
if(NOT EXISTS "${RUN}/checkpoints/${STEP}/trainer.json")
  message(FATAL_ERROR "${RUN}/checkpoints/${STEP}: no such checkpoint")
endif()
file(WRITE "${RUN}/checkpoints/latest" "${STEP}")

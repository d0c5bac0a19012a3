#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `pmc pretrain` under faults, in separate processes with real signals:
#   training_faults.sh MODE PMC OUT TOKENIZER CORPUS
# MODE:
#   sigterm        SIGTERM mid-run: exit 143, a checkpoint of the last step, and the run resumes from it
#   sigint         Ctrl-C (SIGINT) mid-run: exit 130, the same
#   double_signal  SIGTERM then SIGINT at once: the second ends the process without saving; the next start
#                  clears what it left and resumes
#   lock           a second process on the same --out fails naming the folder; the first is not disturbed
#   diverge        --lr 1e30: exits non-zero naming the diverged step, no final model, last checkpoint kept
#   corrupt        a flipped byte in the checkpoint's model.safetensors: resume names the file, metrics untouched
#   bad_state      trainer.json with a negative step, then without "index" (manifest resealed): resume names the
#                  file and key, metrics.jsonl untouched
# Prints "PASS <mode>" and exits 0, or says what failed and exits 1.
mode=$1 pmc=$2 out=$3 tokenizer=$4 corpus=$5
export OMP_NUM_THREADS=1
rm -rf "$out"
mkdir -p "$out"
log=$out.stderr
fail() {
  echo "FAIL $mode: $*"
  for f in "$first_log" "$log"; do [ -f "$f" ] && { echo "--- $f:"; cat "$f"; }; done
  exit 1
}

args=(pretrain --config demo --tokenizer "$tokenizer" --corpus "$corpus" --seq-len 64 --batch 4 --lr 1e-3 --seed 3
      --out "$out")
train() { "$pmc" "${args[@]}" "$@" 2> "$log"; }  # train [extra flags...]: the small run of every mode

metrics_lines() {  # complete lines of metrics.jsonl (0 without the file)
  local n=0
  [ -f "$out/metrics.jsonl" ] && n=$(grep -c '^{.*}$' "$out/metrics.jsonl")
  echo "${n:-0}"
}

first_log=$out.first.stderr
start_long_run() {  # a run of many steps in the background, once it has logged two steps; sets $pid
  "$pmc" "${args[@]}" --steps 100000 2> "$first_log" &
  pid=$!
  for _ in $(seq 1 1200); do
    [ "$(metrics_lines)" -ge 2 ] && return 0
    kill -0 "$pid" 2> /dev/null || fail "the run ended before logging two steps"
    sleep 0.1
  done
  kill -KILL "$pid"
  fail "no two metrics lines within 120 s"
}

latest() { cat "$out/checkpoints/latest" 2> /dev/null; }

crc32c() {  # the CRC-32C of a (small) file, as 8 hex digits
  local crc=$((0xFFFFFFFF)) b i
  for b in $(od -An -v -tu1 "$1"); do
    crc=$((crc ^ b))
    for i in 1 2 3 4 5 6 7 8; do crc=$(((crc >> 1) ^ (0x82F63B78 & -(crc & 1)))); done
  done
  printf '%08x' $((crc ^ 0xFFFFFFFF))
}

reseal_trainer_state() {  # after editing trainer.json: its size and checksum in the manifest
  local dir=$out/checkpoints/$(latest)
  local bytes crc
  bytes=$(stat -c %s "$dir/trainer.json")
  crc=$(crc32c "$dir/trainer.json")
  sed -i "/\"trainer.json\"/,/}/{s/\"bytes\": [0-9]*/\"bytes\": $bytes/;s/\"crc32c\": \"[0-9a-f]*\"/\"crc32c\": \"$crc\"/}" \
    "$dir/manifest.json"
}

resume_fails() {  # resume_fails WHAT MESSAGE: resuming exits 1 printing MESSAGE, and metrics.jsonl is unchanged
  train --steps 4
  local rc=$?
  [ "$rc" -eq 1 ] || fail "resuming $1 exited $rc"
  grep -qF "$2" "$log" || fail "resuming $1: no '$2' error"
  cmp -s "$out/metrics.jsonl" "$out.metrics" || fail "resuming $1 changed metrics.jsonl"
}

stop_with() {  # stop_with SIGNAL CODE WORD: stops a long run with SIGNAL; checks the exit code, message, checkpoint
  local signal=$1 code=$2 word=$3
  start_long_run
  kill "-$signal" "$pid"
  wait "$pid"
  rc=$?
  [ "$rc" -eq "$code" ] || fail "exit code $rc after SIG$signal, expected $code"
  local steps
  steps=$(metrics_lines)
  grep -qF "train: $word after step $steps; checkpoint saved" "$first_log" || fail "no '$word after step $steps' message"
  [ "$(latest)" = "$(printf 'step_%08d' "$steps")" ] || fail "latest is '$(latest)', not the checkpoint of step $steps"
  [ ! -f "$out/model.safetensors" ] || fail "a final model after a stop"
  train --steps $((steps + 1)) || fail "the resumed run failed"
  grep -q "resuming at step $steps" "$log" || fail "the next run did not resume at step $steps"
  [ "$(metrics_lines)" -eq $((steps + 1)) ] || fail "$(metrics_lines) metrics lines after resuming, expected $((steps + 1))"
}

case $mode in
  sigterm) stop_with TERM 143 "terminated (SIGTERM)" ;;
  sigint) stop_with INT 130 "interrupted" ;;
  double_signal)
    start_long_run
    kill -TERM "$pid"
    kill -INT "$pid"
    wait "$pid"
    rc=$?
    [ "$rc" -eq 143 ] || [ "$rc" -eq 130 ] || fail "exit code $rc, expected death by SIGINT or SIGTERM"
    grep -q "checkpoint saved" "$first_log" && fail "the second signal did not stop the process at once"
    mkdir -p "$out/checkpoints/step_99999999.tmp"  # as a kill during a save leaves
    train --steps 3 || fail "the next run failed"
    ls -d "$out"/checkpoints/*.tmp 2> /dev/null && fail "unfinished checkpoint folders left"
    [ "$(latest)" = step_00000003 ] || fail "latest is '$(latest)' after the next run"
    ;;
  lock)
    start_long_run
    train --steps 1
    rc=$?
    kill -TERM "$pid"
    wait "$pid"
    first=$?
    [ "$rc" -eq 1 ] || fail "the second process exited $rc, expected 1"
    grep -q "$out: the run folder is in use by another training (pid $pid holds" "$log" ||
      fail "the second process did not name the folder and the first's pid"
    [ "$first" -eq 143 ] || fail "the first process exited $first after SIGTERM"
    ;;
  diverge)
    args=("${args[@]/#1e-3/1e30}")  # --lr 1e30
    train --steps 6 --save-every 1
    rc=$?
    [ "$rc" -eq 1 ] || fail "exit code $rc, expected 1"
    grep -q "pmc: error: train: step [0-9]* diverged: loss" "$log" || fail "no divergence error naming the step"
    grep -q "model saved" "$log" && fail "said the model was saved"
    [ ! -f "$out/model.safetensors" ] || fail "a final model was saved"
    failed=$(sed -n 's/.*train: step \([0-9]*\) diverged.*/\1/p' "$log")
    if [ "$failed" -gt 1 ]; then
      [ "$(latest)" = "$(printf 'step_%08d' $((failed - 1)))" ] || fail "latest is '$(latest)', step $failed diverged"
    fi
    [ "$(metrics_lines)" -eq $((failed - 1)) ] || fail "$(metrics_lines) metrics lines, step $failed diverged"
    ;;
  corrupt)
    train --steps 2 --save-every 1 || fail "the first run failed"
    cp "$out/metrics.jsonl" "$out.metrics"
    file=$out/checkpoints/$(latest)/model.safetensors
    offset=$(($(stat -c %s "$file") - 7))
    byte=$(od -An -v -tu1 -j "$offset" -N 1 "$file" | tr -d ' ')
    printf "\\$(printf '%03o' $((byte ^ 16)))" | dd of="$file" bs=1 seek="$offset" conv=notrunc status=none
    resume_fails "from a corrupt checkpoint" "$file: corrupt: its CRC-32C is"
    ;;
  bad_state)
    train --steps 2 --save-every 1 || fail "the first run failed"
    cp "$out/metrics.jsonl" "$out.metrics"
    state=$out/checkpoints/$(latest)/trainer.json
    cp "$state" "$out.state"
    sed -i 's/"step": [0-9]*/"step": -3/' "$state"
    reseal_trainer_state
    resume_fails "from step -3" "$state: \"step\" is -3, not a non-negative integer"
    grep -v '"index":' "$out.state" > "$state"
    reseal_trainer_state
    resume_fails "without \"index\"" "$state: no \"index\""
    ;;
  *) fail "unknown mode" ;;
esac
echo "PASS $mode"

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Same command, same bits (docs/reliability.md, "Determinism"). Two checks of `pmc pretrain` on the demo model:
#
#   determinism.sh busy PMC TOKENIZER CORPUS OUT
#     the same training twice at 2 threads and once at 3, each a separate process beside a busy-looping process
#     (so the threads run unevenly): every step's loss and grad_norm must be the same bits in all three;
#   determinism.sh kill PMC TOKENIZER CORPUS OUT [TRIES [EXTRA PRETRAIN FLAGS...]]
#     an uninterrupted reference at 2 threads; then TRIES times (default 3) the same run SIGKILLed at a random step
#     after its first checkpoint (the steps come from a fixed seed and are printed) and resumed: the resumed loss
#     log (loss and grad_norm of every step) must equal the reference's exactly.
# Flags after TRIES are added to every run (e.g. QLoRA with dropout: --lora-rank 4 --lora-dropout 0.1 ...).
#
# metrics.jsonl holds the doubles as nlohmann::json writes them (shortest round-trip form), so equal text is
# equal bits.
set -euo pipefail
mode=$1 pmc=$2 tokenizer=$3 corpus=$4 out=$5 tries=${6:-3}
steps=8
args=(pretrain --config demo --tokenizer "$tokenizer" --corpus "$corpus" --seq-len 64 --batch 4 --grad-accum 2
      --steps $steps --lr 1e-3 --seed 3 --save-every 1 "${@:7}")
rm -rf "$out"
mkdir -p "$out"

# The step number, loss and grad_norm of each line of a run's metrics.jsonl (keys in any order).
field() { sed -E "s/.*\"$1\":([^,}]*).*/\\1/" <<< "$2"; }
losses() {
  local line
  while IFS= read -r line; do echo "$(field step "$line") $(field loss "$line") $(field grad_norm "$line")"; done \
    < "$1/metrics.jsonl"
}

same_log() {  # same_log REF RUN WHAT
  if ! diff <(losses "$1") <(losses "$2") > "$2.diff"; then
    echo "FAIL: $3: the loss log differs from $1 (step loss grad_norm; < reference, > this run):"
    cat "$2.diff"
    exit 1
  fi
  echo "$3: $(losses "$2" | wc -l) steps, the same bits as the reference"
}

spinner=
stop_spinner() {
  if [[ -n $spinner ]]; then kill "$spinner" 2> /dev/null || true; wait "$spinner" 2> /dev/null || true; fi
}
trap stop_spinner EXIT
# the first line of the log, for the record: its loss and grad_norm must be printed with all 17 digits
show_first() { echo "$1 step 1: $(head -n 1 "$1/metrics.jsonl")"; }

case $mode in
  busy)
    (while :; do :; done) &
    spinner=$!
    OMP_NUM_THREADS=2 "$pmc" "${args[@]}" --out "$out/a" > "$out/a.log"
    OMP_NUM_THREADS=2 "$pmc" "${args[@]}" --out "$out/b" > "$out/b.log"
    OMP_NUM_THREADS=3 "$pmc" "${args[@]}" --out "$out/c" > "$out/c.log"
    show_first "$out/a"
    same_log "$out/a" "$out/b" "2 threads again, beside a busy process"
    same_log "$out/a" "$out/c" "3 threads, beside a busy process"
    ;;
  kill)
    export OMP_NUM_THREADS=2
    "$pmc" "${args[@]}" --out "$out/reference" > "$out/reference.log"
    show_first "$out/reference"
    RANDOM=20261203  # a fixed seed: the same kill steps on every run of the test
    for try in $(seq 1 "$tries"); do
      run=$out/killed_$try
      kill_after=$((1 + RANDOM % (steps - 2)))  # 1 .. steps - 2: after the first checkpoint, before the end
      "$pmc" "${args[@]}" --out "$run" > "$run.log" 2>&1 &
      pid=$!
      until [[ -f $run/metrics.jsonl && $(wc -l < "$run/metrics.jsonl") -ge $kill_after ]]; do
        if ! kill -0 "$pid" 2> /dev/null; then
          echo "FAIL: try $try: the run ended before step $kill_after:"
          cat "$run.log"
          exit 1
        fi
        sleep 0.02
      done
      kill -KILL "$pid" 2> /dev/null || true  # (gone already if it just finished: the resume then finds it done)
      wait "$pid" 2> /dev/null || true
      logged=$(wc -l < "$run/metrics.jsonl")
      "$pmc" "${args[@]}" --out "$run" > "$run.resume.log" 2>&1
      resumed=$(grep -o 'resuming at step [0-9]*' "$run.resume.log" || echo "not resuming")
      echo "try $try: SIGKILL after step $kill_after was logged ($logged logged), then $resumed"
      same_log "$out/reference" "$run" "try $try, killed and resumed"
    done
    ;;
  *)
    echo "usage: determinism.sh busy|kill PMC TOKENIZER CORPUS OUT [TRIES]" >&2
    exit 2
    ;;
esac

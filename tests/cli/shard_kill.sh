#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A sharded run (`pmc pretrain --shard LEVEL` over 2 MPI processes, LEVEL gradients by default; full adds
# --recompute) that loses one rank to SIGKILL mid-run
# leaves its last complete checkpoint loadable (each rank writes its file pair into step_N.tmp; rank 0 writes the
# manifest and renames the folder last), and resumes from it, on 2 ranks, then on 3, onto the curve of an
# uninterrupted 1-process run (losses within 1e-6: fp32, other summation orders).
#   shard_kill.sh MPIEXEC PMC TOKENIZER CORPUS OUT [LEVEL]
set -euo pipefail
mpiexec=$1 pmc=$2 tokenizer=$3 corpus=$4 out=$5 level=${6:-gradients}
shard=(--shard "$level")
if [[ $level == full ]]; then shard+=(--recompute); fi
export OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
steps=12
args=(pretrain --config demo --tokenizer "$tokenizer" --corpus "$corpus" --seq-len 64 --batch 6 --steps $steps
      --lr 1e-3 --seed 3 --save-every 1)
rm -rf "$out"
mkdir -p "$out"
"$pmc" "${args[@]}" --out "$out/one" > "$out/one.log" 2>&1

run=$out/sharded
"$mpiexec" -n 2 "$pmc" "${args[@]}" "${shard[@]}" --out "$run" > "$run.log" 2>&1 &
launcher=$!
until [[ -f $run/metrics.jsonl && $(wc -l < "$run/metrics.jsonl") -ge 4 ]]; do
  if ! kill -0 "$launcher" 2> /dev/null; then
    echo "FAIL: the sharded run ended before step 4:"
    cat "$run.log"
    exit 1
  fi
  sleep 0.02
done
# one rank (the highest process id of the run's two) killed mid-run; mpiexec then ends the other
victim=$(pgrep -f -- "--out $run" | sort -n | tail -n 1)
kill -KILL "$victim"
wait "$launcher" 2> /dev/null && { echo "FAIL: the run exited 0 after losing a rank"; exit 1; }
latest=$(cat "$run/checkpoints/latest")
echo "rank $victim killed after $(wc -l < "$run/metrics.jsonl") logged steps; checkpoints/latest: $latest"
for f in manifest.json trainer.json model-rank-00000-of-00002.safetensors optimizer-rank-00001-of-00002.safetensors; do
  [[ -f $run/checkpoints/$latest/$f ]] || { echo "FAIL: $latest lacks $f"; ls "$run/checkpoints/$latest"; exit 1; }
done

# resume on 2 ranks for 2 more steps (stopped by --steps), then on 3 ranks to the end
"$mpiexec" -n 3 "$pmc" "${args[@]}" "${shard[@]}" --out "$run" > "$run.resume.log" 2>&1 || {
  echo "FAIL: the resume on 3 ranks failed:"; cat "$run.resume.log"; exit 1; }
grep -o 'resuming at step [0-9]*' "$run.resume.log" || { echo "FAIL: did not resume"; cat "$run.resume.log"; exit 1; }
n_one=$(wc -l < "$out/one/metrics.jsonl") n_run=$(wc -l < "$run/metrics.jsonl")
[[ $n_one == "$n_run" ]] || { echo "FAIL: $n_run steps logged, expected $n_one"; exit 1; }
paste -d' ' <(sed -E 's/.*"loss":([^,}]*).*/\1/' "$out/one/metrics.jsonl") \
            <(sed -E 's/.*"loss":([^,}]*).*/\1/' "$run/metrics.jsonl") |
  awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > 1e-6 * $1) { print "FAIL: step " NR ": loss " $2 ", one process " $1; bad = 1 } }
       END { exit bad }'
echo "killed at a rank, resumed on 3 ranks from $latest: $n_run steps within 1e-6 of one process"

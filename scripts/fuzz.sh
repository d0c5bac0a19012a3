#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the libFuzzer targets of tests/fuzz (clang, -fsanitize=fuzzer,address,undefined) in build/fuzz and runs
# each for SECONDS (default 10) over a scratch copy of its seed corpus tests/fuzz/corpus/<target>/ (the tree's
# corpus is never modified). A finding (crash, leak, undefined behaviour, an exception other than pmc::Error)
# stops that target and leaves its reproducer in build/fuzz/findings/<target>/; the script then exits 1.
# Without clang or libFuzzer (Debian: clang libclang-rt-14-dev, installed when missing and root) it says so and
# exits 0.
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]       e.g. bash scripts/fuzz.sh 60 token_file safetensors
# Replay one input: build/fuzz/bin/fuzz_<target> FILE
# PMC_FUZZ_KEEP_CORPUS=1 keeps build/fuzz/work/<target>/ between runs (the seeds are added to it), so long runs
# spread over several sessions continue from what earlier runs found (docs/reliability.md, "Runs").
set -euo pipefail
# shellcheck source=scripts/setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

seconds="${1:-10}"
shift || true
build="$PMC_ROOT/build/fuzz"

pmc_ensure_fuzz_packages || true
cxx="$(command -v clang++ || command -v clang++-14 || true)"
if [[ -z "$cxx" ]]; then
  pmc_log "fuzz: clang++ not found: skipping the fuzzers (Debian: apt-get install clang libclang-rt-14-dev)"
  exit 0
fi
fuzzer_lib="$("$cxx" --print-runtime-dir 2>/dev/null)/libclang_rt.fuzzer-$(uname -m).a"
if [[ ! -f "$fuzzer_lib" ]]; then
  pmc_log "fuzz: libFuzzer ($fuzzer_lib) not found: skipping the fuzzers (Debian: apt-get install libclang-rt-14-dev)"
  exit 0
fi

launcher=()
if command -v ccache >/dev/null 2>&1; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
start=$SECONDS
pmc_log "fuzz: configuring $build with $cxx"
cmake -S "$PMC_ROOT/tests/fuzz" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" "${launcher[@]}" >/dev/null
cmake --build "$build" -j "$PMC_JOBS"
pmc_log "fuzz: built in $((SECONDS - start)) s"

targets=("$@")
if ((${#targets[@]} == 0)); then
  for exe in "$build"/bin/fuzz_*; do targets+=("${exe##*/fuzz_}"); done
fi

# fuzz_one TARGET: runs one target for $seconds and writes its table row to build/fuzz/findings/TARGET.row;
# returns non-zero on a finding. PMC_JOBS targets run at a time (each is one process on one core).
fuzz_one() {
  local t="$1" exe="$build/bin/fuzz_$1" work="$build/work/$1" out="$build/findings/$1"
  if [[ "${PMC_FUZZ_KEEP_CORPUS:-0}" != 1 ]]; then rm -rf "$work"; fi
  mkdir -p "$work" "$out"
  if [[ -d "$PMC_ROOT/tests/fuzz/corpus/$t" ]]; then cp -n "$PMC_ROOT/tests/fuzz/corpus/$t"/* "$work"/; fi
  local log="$build/findings/$t.log" rc=0
  (cd "$build" && "$exe" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -max_len=8192 \
      -artifact_prefix="$out/" -print_final_stats=1 "$work" >"$log" 2>&1) || rc=$?
  local execs last cov ft corp result=ok
  execs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)"
  last="$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1 || true)"
  cov="$(grep -o 'cov: [0-9]*' <<<"$last" | grep -o '[0-9]*' || true)"
  ft="$(grep -o 'ft: [0-9]*' <<<"$last" | grep -o '[0-9]*' || true)"
  corp="$(grep -o 'corp: [0-9]*' <<<"$last" | grep -o '[0-9]*' || true)"
  if ((rc != 0)); then result="FINDING (exit $rc): $(ls "$out" | head -1), log $log"; fi
  printf '%-14s %8s %10s %8s %8s %8s  %s\n' "$t" "$seconds" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" \
    "$result" >"$build/findings/$t.row"
  ((rc == 0))
}

for t in "${targets[@]}"; do
  [[ -x "$build/bin/fuzz_$t" ]] || { pmc_err "fuzz: no target fuzz_$t"; exit 2; }
done
findings=0
printf '%-14s %8s %10s %8s %8s %8s  %s\n' target seconds execs cov ft corpus result
for ((i = 0; i < ${#targets[@]}; i += PMC_JOBS)); do
  batch=("${targets[@]:i:PMC_JOBS}")
  pids=()
  for t in "${batch[@]}"; do
    fuzz_one "$t" &
    pids+=($!)
  done
  for j in "${!batch[@]}"; do
    wait "${pids[j]}" || findings=$((findings + 1))
    cat "$build/findings/${batch[j]}.row"
  done
done
pmc_log "fuzz: ${#targets[@]} targets, $findings with findings, $((SECONDS - start)) s in all"
((findings == 0))

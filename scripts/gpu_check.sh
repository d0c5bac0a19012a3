#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The GPU check, for the day a GPU machine is available:
#   bash scripts/gpu_check.sh [--build-dir DIR] [--arch "80;90"] [--no-build] [--no-bench] [--jobs N]
# Configures and builds the CUDA tests and benchmarks, then runs (1) the gpu-labelled ctest tests, (2) every
# op's tests under compute-sanitizer memcheck, racecheck, synccheck and initcheck, (3) the benchmarks
# (JSON results). Everything goes to <build-dir>/gpu_check-<date>/ (log.txt, bench_*.json); exit 1 if a step failed.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build/cuda"
arch=""
do_build=1
do_bench=1
jobs=$(nproc)
while (($#)); do
  case "$1" in
    --build-dir) build="$2"; shift 2 ;;
    --arch) arch="$2"; shift 2 ;;
    --no-build) do_build=0; shift ;;
    --no-bench) do_bench=0; shift ;;
    --jobs | -j) jobs="$2"; shift 2 ;;
    -h | --help) sed -n '3,6s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "gpu_check.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

out="$build/gpu_check-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"
log="$out/log.txt"
failures=()
say() { echo "== $*" | tee -a "$log"; }
run() {  # run NAME CMD...: logs the command and its output; records a failure
  local name="$1"; shift
  say "$name: $*"
  if "$@" >>"$log" 2>&1; then say "$name: ok"; else say "$name: FAILED ($?)"; failures+=("$name"); fi
}

say "pmc GPU check, $(date -u +%FT%TZ), commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"
nvidia-smi >>"$log" 2>&1 || { say "nvidia-smi failed: is there a GPU and a driver?"; exit 1; }
sanitizer="$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)"

if ((do_build)); then
  if [[ -z "$arch" ]]; then  # the machine's own architecture, e.g. 90 on an H100
    arch="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d '. ')"
  fi
  run configure cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPMC_ENABLE_CUDA=ON \
    "-DCMAKE_CUDA_ARCHITECTURES=$arch" -DPMC_BUILD_EXAMPLES=OFF
  run build cmake --build "$build" -j "$jobs" --target pmc_cuda_tests bench_cuda_gemm_bench bench_cuda_block_bench bench_cuda_train_step_bench
fi
tests="$build/tests/cuda/pmc_cuda_tests"
[[ -x "$tests" ]] || { say "no test executable at $tests"; exit 1; }

# 1. The parity tests, as ctest runs them (a skip here means the executable saw no device).
run ctest ctest --test-dir "$build" -L gpu --output-on-failure

# 2. Each op's tests under each compute-sanitizer tool (racecheck checks shared-memory hazards; synccheck
#    barrier misuse; initcheck reads of uninitialized device memory).
ops=$(sed -n '/set(pmc_cuda_test_ops/,/)/p' "$root/tests/cuda/CMakeLists.txt" | tr -d '()' | sed 's/set//;s/pmc_cuda_test_ops//')
for tool in memcheck racecheck synccheck initcheck; do
  for op in $ops; do
    run "$tool/$op" "$sanitizer" --tool "$tool" --error-exitcode 1 --print-limit 20 "$tests" "--test-case=$op/*"
  done
done

# 3. Benchmarks (fill docs/gpu.md from these).
if ((do_bench)); then
  for b in gemm_bench block_bench train_step_bench; do
    run "bench/$b" "$build/bench/cuda_$b" --benchmark_out="$out/bench_$b.json" --benchmark_out_format=json \
      --benchmark_counters_tabular=true
  done
fi

if ((${#failures[@]})); then
  say "FAILED: ${failures[*]}"
  say "log: $log"
  exit 1
fi
say "all GPU checks passed; log: $log"

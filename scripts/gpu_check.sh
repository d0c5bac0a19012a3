#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The GPU check, for the day a GPU machine is available:
#   bash scripts/gpu_check.sh [--build-dir DIR] [--arch "80;90"] [--no-build] [--no-bench] [--jobs N] [--budget S] [--out DIR]
#                           [--skip tests,bench,pipeline,amx,sanitize] [--cap S]
# Configures and builds the CUDA tests, benchmarks and the pmc program, then runs (1) each op's GPU tests,
# (2) the benchmarks (JSON results), (3) `pmc pipeline --device cuda` on the quick demo config, (4) where the
# machine's CPU has AMX-BF16 (the GPU machines' Xeons), the CPU's AMX tile kernel: its tests on the CPU's tiles,
# the ops and models tests with PMC_CPU_GEMM=amx, and its benchmark against the AVX512-BF16 kernel, (5) every
# op's tests under compute-sanitizer memcheck, racecheck, synccheck and initcheck, until --budget seconds (from the
# start) are spent; each sanitizer run is cut at --cap seconds (default 120) or the time left, and reported as
# incomplete, not failed. --no-build runs a tree built elsewhere
# (DIR/tests/cuda/pmc_cuda_tests, DIR/bench/cuda_*, DIR/bin/pmc, DIR/tests/pmc_{ops,models}_tests,
# DIR/bench/layers_bench, shared libraries in DIR/lib).
# Everything goes to <out> (default <build-dir>/gpu_check-<date>/: log.txt, bench_*.json); exit 1 if a step failed.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build/cuda"
arch=""
do_build=1
do_bench=1
jobs=$(nproc)
budget=0   # seconds; 0: no limit
skip=","   # steps not to run, comma-separated
cap=120    # seconds, at most, for one sanitizer run
out=""
start=$SECONDS
while (($#)); do
  case "$1" in
    --build-dir) build="$2"; shift 2 ;;
    --arch) arch="$2"; shift 2 ;;
    --no-build) do_build=0; shift ;;
    --no-bench) do_bench=0; shift ;;
    --jobs | -j) jobs="$2"; shift 2 ;;
    --budget) budget="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --skip) skip=",$2,"; shift 2 ;;
    --cap) cap="$2"; shift 2 ;;
    -h | --help) sed -n '3,10s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "gpu_check.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

[[ -n "$out" ]] || out="$build/gpu_check-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"
export LD_LIBRARY_PATH="$build/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
log="$out/log.txt"
failures=()
incomplete=()
say() { echo "== $*" | tee -a "$log"; }
run() {  # run NAME CMD...: logs the command and its output; records a failure
  local name="$1"; shift
  say "$name: $*"
  if "$@" >>"$log" 2>&1; then say "$name: ok"; else say "$name: FAILED ($?)"; failures+=("$name"); fi
}

say "pmc GPU check, $(date -u +%FT%TZ), commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"
nvidia-smi >>"$log" 2>&1 || { say "nvidia-smi failed: is there a GPU and a driver?"; exit 1; }
say "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores; AMX-BF16: $(grep -qw amx_bf16 /proc/cpuinfo && echo yes || echo no)"
sanitizer="$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)"

if ((do_build)); then
  if [[ -z "$arch" ]]; then  # the machine's own architecture, e.g. 90 on an H100
    arch="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d '. ')"
  fi
  run configure cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPMC_ENABLE_CUDA=ON \
    "-DCMAKE_CUDA_ARCHITECTURES=$arch" -DPMC_BUILD_EXAMPLES=OFF
  run build cmake --build "$build" -j "$jobs" --target pmc_cuda_tests bench_cuda_gemm_bench bench_cuda_block_bench \
    bench_cuda_train_step_bench pmc_cli pmc_ops_tests pmc_models_tests bench_layers_bench
fi
tests="$build/tests/cuda/pmc_cuda_tests"
[[ -x "$tests" ]] || { say "no test executable at $tests"; exit 1; }

ops=$(sed -n '/set(pmc_cuda_test_ops/,/)/p' "$root/tests/cuda/CMakeLists.txt" | tr -d '()' | sed 's/set//;s/pmc_cuda_test_ops//')
skipped() { [[ "$skip" == *",$1,"* ]]; }
left() { if ((budget > 0)); then echo $((budget - (SECONDS - start))); else echo 100000; fi; }

# 1. The parity tests, one run per op as ctest runs them (exit 77: the executable saw no device).
skipped tests || for op in $ops; do
  run "test/$op" "$tests" "--test-case=$op/*"
done

# 2. Benchmarks (fill docs/gpu.md from these).
if ((do_bench)) && ! skipped bench; then
  for b in gemm_bench block_bench train_step_bench; do
    run "bench/$b" "$build/bench/cuda_$b" --benchmark_out="$out/bench_$b.json" --benchmark_out_format=json \
      --benchmark_counters_tabular=true
  done
fi

# 3. The whole workflow on the GPU: the quick demo pipeline (three trainings, four evaluations).
if [[ -x "$build/bin/pmc" ]] && ! skipped pipeline; then
  rm -rf "$build/pipeline_cuda"
  run pipeline "$build/bin/pmc" pipeline --config "$root/tests/cli/pipeline_quick.json" --device cuda \
    --out "$build/pipeline_cuda"
  cp "$build/pipeline_cuda/report/metrics.json" "$out/pipeline_metrics.json" 2>/dev/null
  cp "$build/pipeline_cuda/inject/metrics.jsonl" "$out/pipeline_inject_metrics.jsonl" 2>/dev/null
fi

# 4. The CPU's AMX-BF16 tile kernel (backends/cpu/amx.hpp), which has no other AMX hardware to run on: its own tests
#    on the CPU's tiles (against a double reference and bit for bit against its model), every ops and models test
#    with PMC_CPU_GEMM=amx, and the bf16 GEMM benchmark (AMX against AVX512-BF16, both peaks).
if ! skipped amx; then
  if grep -qw amx_bf16 /proc/cpuinfo; then
    run "amx/kernel" "$build/tests/pmc_ops_tests" "--test-case=*AMX*,*tdpbf16ps*"
    run "amx/ops" env PMC_CPU_GEMM=amx "$build/tests/pmc_ops_tests"
    run "amx/models" env PMC_CPU_GEMM=amx "$build/tests/pmc_models_tests"
    if ((do_bench)); then
      run "amx/bench" env OMP_NUM_THREADS="$(nproc)" "$build/bench/layers_bench" \
        "--benchmark_filter=PeakAmx|PeakDpbf16|GemmBf16/own_(amx|avx512bf16)/m:(2048|154)" \
        --benchmark_out="$out/bench_cpu_amx.json" --benchmark_out_format=json --benchmark_counters_tabular=true
    fi
  else
    say "amx: this CPU has no amx_bf16 flag; the AMX kernel's hardware checks did not run"
  fi
fi

# 5. Each op's tests under each compute-sanitizer tool (racecheck checks shared-memory hazards; synccheck
#    barrier misuse; initcheck reads of uninitialized device memory), while the budget lasts.
skipped sanitize || for tool in memcheck racecheck synccheck initcheck; do
  for op in $ops; do
    t=$(left)
    if ((t < 20)); then say "$tool/$op: not run (budget spent)"; continue; fi
    ((t > cap)) && t=$cap
    say "$tool/$op: $sanitizer --tool $tool ... --test-case=$op/* (cut at $t s)"
    # in its own process group, so that the cut ends the tested program too, not only the sanitizer
    setsid "$sanitizer" --tool "$tool" --error-exitcode 1 --print-limit 20 "$tests" "--test-case=$op/*" >>"$log" 2>&1 &
    pid=$!
    ( sleep "$t"; kill -TERM -- "-$pid" 2>/dev/null ) &
    watchdog=$!
    wait "$pid"
    rc=$?
    kill "$watchdog" 2>/dev/null
    if ((rc == 0)); then say "$tool/$op: ok"
    elif ((rc == 143)); then say "$tool/$op: cut at $t s (not a finding: incomplete)"; incomplete+=("$tool/$op")
    else say "$tool/$op: FAILED ($rc)"; failures+=("$tool/$op"); fi
  done
done

((${#incomplete[@]})) && say "incomplete (cut by the time limit): ${incomplete[*]}"
if ((${#failures[@]})); then
  say "FAILED: ${failures[*]}"
  say "log: $log"
  exit 1
fi
say "all GPU checks passed; log: $log"

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Build everything and run the test suite:
#   bash scripts/test.sh [--preset release|debug|asan|cuda] [--jobs N] [--keep-going] [-- CTEST_ARGS...]
# Installs missing Debian build dependencies when run as root (see scripts/setup.sh), configures with the
# CMake preset (build/<preset>), builds all targets and runs ctest. Exits non-zero if any step fails.
# Tests whose data in ../shared is absent skip; GPU tests skip (exit code 77) without a GPU.
set -euo pipefail

# shellcheck source=SCRIPTDIR/setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

usage() { sed -n '3,7s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

preset=release
keep_going=0
ctest_args=()
while (($#)); do
  case "$1" in
    --preset) preset="${2:?--preset needs a name}"; shift 2 ;;
    --preset=*) preset="${1#*=}"; shift ;;
    --jobs | -j) PMC_JOBS="${2:?--jobs needs a number}"; shift 2 ;;
    --keep-going | -k) keep_going=1; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; ctest_args=("$@"); break ;;
    *) pmc_err "unknown argument '$1'"; usage >&2; exit 2 ;;
  esac
done
case "$preset" in
  release | debug | asan | cuda) ;;
  *) pmc_err "unknown preset '$preset' (expected release, debug, asan or cuda)"; exit 2 ;;
esac

build_args=()
((keep_going)) && build_args=(-- -k 0)  # ninja: build every target that can be built, then fail

log_dir="$PMC_ROOT/build/$preset"
t0=$SECONDS
pmc_ensure_packages
pmc_configure "$preset"
t1=$SECONDS

build_rc=0
pmc_build "$preset" "${build_args[@]}" || build_rc=$?
t2=$SECONDS
if ((build_rc != 0)) && ((!keep_going)); then
  pmc_err "build failed (preset $preset, exit $build_rc); rerun with --keep-going to test what did build"
  exit "$build_rc"
fi

pmc_log "testing: ctest --preset $preset -j $PMC_JOBS ${ctest_args[*]}"
test_rc=0
(cd "$PMC_ROOT" && ctest --preset "$preset" -j "$PMC_JOBS" "${ctest_args[@]}") 2>&1 | tee "$log_dir/test.log" ||
  test_rc=$?
t3=$SECONDS

echo
pmc_log "summary (preset $preset, $PMC_JOBS jobs)"
pmc_log "  configure: $((t1 - t0)) s   build: $((t2 - t1)) s ($( ((build_rc == 0)) && echo ok || echo "FAILED, exit $build_rc"))   test: $((t3 - t2)) s"
summary="$(grep -E 'tests passed|No tests were found' "$log_dir/test.log" | tail -1 || true)"
pmc_log "  ${summary:-ctest printed no summary}"
skipped="$(grep -c -F '***Skipped' "$log_dir/test.log" || true)"
((skipped > 0)) && pmc_log "  $skipped test(s) skipped (missing ../shared data or no GPU); see $log_dir/test.log"
if ((build_rc != 0 || test_rc != 0)); then
  pmc_err "FAILED (build exit $build_rc, ctest exit $test_rc); full test log: $log_dir/test.log"
  exit 1
fi
pmc_log "all good"

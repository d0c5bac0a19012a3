#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Build the `pmc` program (Release) and run the library's main job on its embedded default:
#   bash scripts/demo.sh [ARGS...]      ->  build/release/bin/pmc pipeline [ARGS...]
# Installs missing Debian build dependencies when run as root (see scripts/setup.sh). Until the `pipeline`
# subcommand exists, it says so and runs `pmc --help` and the example programs that are built instead.
set -euo pipefail

# shellcheck source=SCRIPTDIR/setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

preset=release
bin_dir="$PMC_ROOT/build/$preset/bin"

pmc_ensure_packages
pmc_configure "$preset"
# The demo runs only what examples/ builds (the pmc program and the examples); scripts/test.sh builds all.
pmc_build "$preset" --target examples/all

pmc="$bin_dir/pmc"
if [[ ! -x "$pmc" ]]; then
  pmc_err "$pmc was not built"
  exit 1
fi

# CLI11 lists subcommands in --help as indented "name  description" lines.
help="$("$pmc" --help)"
if grep -qE '^[[:space:]]+pipeline([[:space:]]|$)' <<<"$help"; then
  pmc_log "running: $pmc pipeline $*"
  exec "$pmc" pipeline "$@"
fi

# Each examples/NAME.cpp builds build/release/bin/NAME (see examples/CMakeLists.txt).
examples=()
for src in "$PMC_ROOT"/examples/*.cpp; do
  exe="$bin_dir/$(basename "$src" .cpp)"
  if [[ -x "$exe" ]]; then
    examples+=("$exe")
  fi
done
if ((${#examples[@]})); then
  pmc_log "pmc pipeline is not built yet; running 'pmc --help' and the ${#examples[@]} example program(s) instead"
else
  pmc_log "pmc pipeline is not built yet, and there are no example programs; running 'pmc --help' instead"
fi

echo
pmc_log "\$ build/$preset/bin/pmc --help"
printf '%s\n' "$help"
failed=()
for exe in "${examples[@]}"; do
  echo
  pmc_log "\$ build/$preset/bin/$(basename "$exe")"
  "$exe" || failed+=("$(basename "$exe") (exit $?)")
done
echo
if ((${#failed[@]})); then
  pmc_err "example program(s) failed: ${failed[*]}"
  exit 1
fi
pmc_log "demo finished"

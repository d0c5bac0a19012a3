#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Build the `pmc` program (Release) and run the library's main job on its embedded default:
#   bash scripts/demo.sh [ARGS...]      ->  build/release/bin/pmc pipeline --out pmc-pipeline [ARGS...]
# (base → knowledge injection → instruction tuning → evaluation on the embedded medical demo; the report is
# pmc-pipeline/report/index.html). Installs missing Debian build dependencies when run as root (see
# scripts/setup.sh). Running it again skips the stages that finished and resumes an interrupted one.
set -euo pipefail

# shellcheck source=SCRIPTDIR/setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

preset=release
pmc_ensure_packages
pmc_configure "$preset"
# The demo builds only the pmc program (scripts/test.sh builds everything).
pmc_build "$preset" --target pmc_cli

pmc="$PMC_ROOT/build/$preset/bin/pmc"
[[ -x "$pmc" ]] || { pmc_err "$pmc was not built"; exit 1; }
cd "$PMC_ROOT"
pmc_log "running: build/$preset/bin/pmc pipeline --out pmc-pipeline $*"
exec "$pmc" pipeline --out pmc-pipeline "$@"

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Shared set-up for scripts/test.sh and scripts/demo.sh (source it), or run it on its own to install the build
# dependencies:   bash scripts/setup.sh
#
# Functions:
#   pmc_ensure_packages       check the Debian packages the build needs; install the missing ones when root
#   pmc_ensure_fuzz_packages  likewise for the optional fuzzing packages (clang, libFuzzer) of scripts/fuzz.sh
#   pmc_configure PRESET [ARGS] cmake --preset PRESET [ARGS]
#   pmc_build PRESET [ARGS]   cmake --build --preset PRESET -j JOBS [ARGS...]
# Variables: PMC_ROOT (repository root), PMC_JOBS (parallel jobs, default: nproc).

# Debian 12 packages needed to configure and build everything (tests, examples, benchmarks).
# libsentencepiece-dev is the independent reference the tokenizer tests and benchmarks compare against;
# libopenmpi-dev and openmpi-bin give the pmc::mpi component (data-parallel training) and its tests.
PMC_DEBIAN_PACKAGES=(
  cmake ninja-build g++ pkg-config
  libeigen3-dev doctest-dev libbenchmark-dev nlohmann-json3-dev libcli11-dev libsentencepiece-dev
  libopenmpi-dev openmpi-bin
)

# Optional, for scripts/fuzz.sh only: clang and its libFuzzer runtime (libclang_rt.fuzzer-*.a).
PMC_FUZZ_PACKAGES=(clang libclang-rt-14-dev)

PMC_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PMC_JOBS="${PMC_JOBS:-$(nproc 2>/dev/null || echo 2)}"

pmc_log() { printf '[pmc] %s\n' "$*"; }
pmc_err() { printf '[pmc] error: %s\n' "$*" >&2; }

pmc_ensure_packages() {
  if ! command -v dpkg-query >/dev/null 2>&1; then
    pmc_log "dpkg-query not found: not a Debian system, so the package check is skipped."
    pmc_log "Make sure these (or their equivalents) are installed: ${PMC_DEBIAN_PACKAGES[*]}"
    return 0
  fi
  local missing=() pkg status
  for pkg in "${PMC_DEBIAN_PACKAGES[@]}"; do
    status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
    [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
  done
  if ((${#missing[@]} == 0)); then
    pmc_log "all ${#PMC_DEBIAN_PACKAGES[@]} required Debian packages are installed"
    return 0
  fi
  pmc_log "missing Debian packages: ${missing[*]}"
  if [[ "$(id -u)" -eq 0 ]]; then
    pmc_log "installing them with apt-get (as root)"
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get update && apt-get install -y --no-install-recommends "${missing[@]}"; }; then
      pmc_err "apt-get failed to install: ${missing[*]}"
      return 1
    fi
  else
    pmc_err "not running as root; install them with:"
    printf '  sudo apt-get update && sudo apt-get install -y --no-install-recommends %s\n' "${missing[*]}" >&2
    return 1
  fi
}

# The optional fuzzing packages: installed when missing and root (returns 1 when they are still missing).
pmc_ensure_fuzz_packages() {
  command -v dpkg-query >/dev/null 2>&1 || return 0
  local missing=() pkg
  for pkg in "${PMC_FUZZ_PACKAGES[@]}"; do
    [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" == "install ok installed" ]] || missing+=("$pkg")
  done
  ((${#missing[@]} == 0)) && return 0
  pmc_log "fuzzing needs the optional Debian packages: ${missing[*]}"
  if [[ "$(id -u)" -eq 0 ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null && return 0
    pmc_err "apt-get could not install: ${missing[*]}"
  fi
  return 1
}

# nvcc is usually in /usr/local/cuda/bin, which is not always on PATH.
pmc_find_nvcc() {
  if command -v nvcc >/dev/null 2>&1; then
    return 0
  fi
  local d
  for d in "${CUDA_HOME:-}" "${CUDA_PATH:-}" /usr/local/cuda; do
    if [[ -n "$d" && -x "$d/bin/nvcc" ]]; then
      export PATH="$d/bin:$PATH"
      return 0
    fi
  done
  return 1
}

# pmc_configure PRESET [CMAKE ARGS...]: cmake --preset PRESET, with extra cache settings (e.g. -DX=Y) after it.
pmc_configure() {
  local preset="$1"
  shift
  if [[ "$preset" == cuda* ]] && ! pmc_find_nvcc; then
    pmc_err "preset '$preset' needs the CUDA toolkit (nvcc), which was not found on PATH or in /usr/local/cuda"
    return 1
  fi
  pmc_log "configuring: cmake --preset $preset $*"
  (cd "$PMC_ROOT" && cmake --preset "$preset" "$@")
}

pmc_build() {
  local preset="$1"
  shift
  pmc_log "building: cmake --build --preset $preset -j $PMC_JOBS $*"
  (cd "$PMC_ROOT" && cmake --build --preset "$preset" -j "$PMC_JOBS" "$@")
}

# Run directly: just check/install the dependencies.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -euo pipefail
  pmc_ensure_packages
fi

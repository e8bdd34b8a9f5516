#!/usr/bin/env bash
# Configures and builds NovaLM into build/ (Release) or, with --asan, build-asan/ (ASan+UBSan).
set -euo pipefail
cd "$(dirname "$0")/.."

dir=build type=Release extra=()
if [ "${1:-}" = "--asan" ]; then
  dir=build-asan type=RelWithDebInfo extra=(-DNOVA_SANITIZE=ON)
  shift
fi
jobs=$(nproc)
# Let ccache hit across clones at different paths (CI builds a fresh clone every time).
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="$type" "${extra[@]}" >/dev/null
cmake --build "$dir" -j "$jobs" "$@"

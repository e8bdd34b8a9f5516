#!/usr/bin/env bash
# Configures and builds NovaLM into build/ (Release) or, with --asan, build-asan/ (ASan+UBSan).
set -euo pipefail
cd "$(dirname "$0")/.."

dir=build type=Release extra=()
if [ "${1:-}" = "--asan" ]; then
  # Debug: the sanitizers see every access as written. Warnings are already errors in the
  # Release build; here they are not, since GCC's sanitizer instrumentation adds false ones.
  # No CUDA here: ASan and the CUDA runtime do not mix (the GPU tests run from build-cuda).
  dir=build-asan type=Debug extra=(-DNOVA_SANITIZE=ON -DNOVA_WERROR=OFF -DNOVA_CUDA=OFF)
  shift
fi
jobs=$(nproc)
# The CUDA toolkit's usual home is often not on PATH (e.g. a non-login CI shell): point CMake at
# it so the CUDA backend is compiled wherever the toolkit is installed.
if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ] && [ -z "${CUDACXX:-}" ]; then
  export CUDACXX=/usr/local/cuda/bin/nvcc
fi
# Let ccache hit across clones at different paths (CI builds a fresh clone every time).
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="$type" "${extra[@]}" >/dev/null
cmake --build "$dir" -j "$jobs" "$@"

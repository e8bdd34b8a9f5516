#!/usr/bin/env bash
# Sets everything up and runs the whole test suite: a Release build, then the same tests
# under AddressSanitizer + UndefinedBehaviorSanitizer (parsers are fuzzed there).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
[ -d ../shared/fixtures ] || { echo "test: ../shared/fixtures not found beside the repository" >&2; exit 1; }

jobs=$(nproc)
scripts/build.sh
(cd build && ctest --output-on-failure -j "$jobs" --timeout 600)

if [ "${NOVA_SKIP_ASAN:-0}" != "1" ]; then
  scripts/build.sh --asan
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
     ctest --output-on-failure -j "$jobs" --timeout 900)
fi

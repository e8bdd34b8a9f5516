#!/usr/bin/env bash
# The test suite on the GPU machine, in two halves: that machine has CUDA and a GPU but none of our
# build dependencies and no ../shared/fixtures, so everything is built here and carried there.
#
#   scripts/test_gpu.sh prepare [cmake --build args]   on the build host: builds build-cuda (Release,
#       NOVA_CUDA=ON; all targets unless e.g. `--target test_kernels test_model` is given) and stages
#       into .gpu/bundle.tgz (git-ignored) the stripped binaries, the fixtures and the non-system
#       shared libraries they load (yaml-cpp, utf8proc, hiredis, ...; libcublasLt comes from the
#       machine's CUDA).
#   scripts/test_gpu.sh run                             on the GPU machine, in the repository root with
#       .gpu carried: puts the binaries back under build-cuda/, points the tests at .gpu/fixtures
#       (NOVA_FIXTURES_DIR) and runs every test binary (CUDA graphs on: the backend's default), then
#       the CUDA tests again with every op launched on its own (NOVA_CUDA_GRAPHS=0) and with the
#       fp32 attention kernel for every prefill (NOVA_CUDA_ATTN=fp32). Exit status 0 when all pass.
#       NOVA_GPU_TESTS="test_kernels test_model" runs only those binaries.
#   NOVA_GPU_BUILD (default build-cuda) names the build dir prepare builds and stages, NOVA_GPU_DIR
#   (default .gpu) the staging folder both halves use, so several people can stage side by side.
#
# Through the device tool (README, section GPU): prepare here, then
#   run(command="bash scripts/test_gpu.sh run 2>&1 | tee $OUT/test_gpu.log", carry=[".gpu"])
set -euo pipefail
cd "$(dirname "$0")/.."

B=${NOVA_GPU_BUILD:-build-cuda}
G=${NOVA_GPU_DIR:-.gpu}
mode=${1:-}
[ $# -gt 0 ] && shift
case "$mode" in
prepare)
  export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
  cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release -DNOVA_CUDA=ON >/dev/null
  cmake --build "$B" -j "${NOVA_JOBS:-$(nproc)}" "$@"
  rm -rf "$G"
  stage=$G/stage
  mkdir -p "$stage/build-cuda/bin" "$stage/build-cuda/tests" "$stage/lib" "$stage/fixtures"
  shopt -s nullglob
  bins=("$B"/bin/* "$B"/tests/test_*)
  for b in "${bins[@]}"; do
    [ -x "$b" ] && [ -f "$b" ] || continue
    dst=$stage/build-cuda/${b#"$B"/}
    cp "$b" "$dst"
    strip --strip-unneeded "$dst"
  done
  # Shared libraries beyond glibc, libstdc++ and CUDA's own.
  # (Only executables: a build dir also holds CTest scripts and data files; a static one has none.)
  for b in "${bins[@]}"; do if [ -x "$b" ] && [ -f "$b" ]; then ldd "$b" || true; fi; done | awk '/=> \// {print $1, $3}' | sort -u |
    while read -r name path; do
      case "$name" in
        libc.so*|libm.so*|libdl.so*|librt.so*|libpthread.so*|libgcc_s.so*|libstdc++.so*|ld-linux*|libcublas*|libcuda*) ;;
        *) cp -L "$path" "$stage/lib/$name" ;;
      esac
    done
  cp -r ../shared/fixtures/. "$stage/fixtures/"
  sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$B"/CMakeCache.txt > "$stage/source_dir"
  # Compressed: the whole suite's binaries and fixtures are past the tool's 64 MiB uncompressed.
  tar czf "$G"/bundle.tgz -C "$stage" .
  rm -rf "$stage"
  echo "test_gpu: staged $G/bundle.tgz, $(du -sh "$G"/bundle.tgz | cut -f1) (the device tool carries at most 64 MiB with the repo)"
  ;;
run)
  [ -f "$G"/bundle.tgz ] || { echo "test_gpu: no $G/bundle.tgz here: run 'scripts/test_gpu.sh prepare' and carry $G" >&2; exit 2; }
  tar xzf "$G"/bundle.tgz -C "$G"
  # The tests know the build tree by its absolute path on the build host: make that path lead here.
  src=$(cat "$G"/source_dir)
  if [ -n "$src" ] && [ "$src" != "$PWD" ] && [ ! -e "$src" ]; then
    mkdir -p "$(dirname "$src")"
    ln -s "$PWD" "$src"
  fi
  rm -rf build-cuda  # a warm machine may hold another stage's binaries
  mkdir -p build-cuda
  cp -r "$G"/build-cuda/. build-cuda/
  export LD_LIBRARY_PATH="$PWD/$G/lib:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export NOVA_FIXTURES_DIR="$PWD/$G/fixtures"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
  failed=()
  tests=()
  if [ -n "${NOVA_GPU_TESTS:-}" ]; then
    for n in $NOVA_GPU_TESTS; do tests+=("build-cuda/tests/$n"); done
  else
    tests=(build-cuda/tests/test_*)
  fi
  for t in "${tests[@]}"; do
    echo "== ${t##*/}"
    "$t" --gtest_brief=1 || failed+=("${t##*/}")
  done
  # The CUDA tests once more without graphs, and with the fp32 attention kernel only.
  for t in build-cuda/tests/test_kernels build-cuda/tests/test_model; do
    [ -x "$t" ] || continue
    echo "== ${t##*/} (NOVA_CUDA_GRAPHS=0)"
    NOVA_CUDA_GRAPHS=0 "$t" --gtest_brief=1 --gtest_filter='*Cuda*' || failed+=("${t##*/} (no graphs)")
  done
  echo "== test_kernels (NOVA_CUDA_ATTN=fp32)"
  NOVA_CUDA_ATTN=fp32 build-cuda/tests/test_kernels --gtest_brief=1 --gtest_filter='*Cuda*Attention*' ||
    failed+=("test_kernels (fp32 attention)")
  if [ ${#failed[@]} -gt 0 ]; then
    echo "test_gpu: FAILED: ${failed[*]}"
    exit 1
  fi
  echo "test_gpu: all test binaries passed"
  ;;
*)
  echo "usage: scripts/test_gpu.sh prepare [cmake --build args] | run" >&2
  exit 2
  ;;
esac

#!/usr/bin/env bash
# llama.cpp's CUDA build beside NovaLM on identical weights, on the GPU machine (issue 4's peer for
# batch-1 decode and prefill). The weights come from ../shared/peers/make_model.py, which writes one
# random-weight Qwen3-shaped model twice from the same arrays: a Hugging Face folder (bf16
# safetensors, read by bench_cuda_decode --model-dir) and a bf16 GGUF (read by llama-bench).
#
#   scripts/llamacpp_cuda.sh prepare [--build|--source]   here: stages NovaLM's bench_cuda_decode as
#       scripts/test_gpu.sh does (bundle.tgz, cut to that binary, its non-system libs and the Qwen3
#       tokenizer make_model.py puts into the GGUF) plus make_model.py; extracts llama.cpp's source
#       from node-llama-cpp's git bundle (npm package node-llama-cpp@3.22.1 in $NOVA_PEERS, default
#       ~/.cache/nova-peers, installed there on first use as ../shared/peers/llamacpp does) into
#       $NOVA_GPU_BUILD/llamacpp/src: what the llama-bench build reads (no models, docs, web UI).
#       Then stages llama-bench (CUDA, sm_90a only, static ggml) in one of three ways:
#         --build   builds it here first (nice, -j${NOVA_JOBS:-1}; ~230 nvcc/c++ jobs: hours on a
#                   small shared machine) and stages the stripped binary (llama.tgz);
#         (none)    stages $NOVA_GPU_BUILD/llamacpp/llama.tgz when an earlier `run` built it (its
#                   $OUT/llama.tgz.part-*, concatenated there), else what $NOVA_GPU_BUILD/llamacpp/build
#                   holds so far: the binary when complete, or the source, the objects built here and
#                   the commands that finish the build (finish/: the pending compiles run in parallel
#                   there, then the archives and the link: 150 of ~230 jobs took 92 s on 16 cores);
#         --source  stages the source alone; `run` configures and builds there (ninja, all cores).
#   scripts/llamacpp_cuda.sh run [SHAPES]         on the GPU machine, in the repository root with
#       $NOVA_GPU_DIR carried: for each shape (default qwen3-1.7b,qwen3-0.6b) writes the model into
#       /dev/shm, runs llama-bench (-ngl 99, prompt 512, 128 generated tokens at depth 0 and 512,
#       flash attention off and on, 3 repetitions, JSON) and bench_cuda_decode --model-dir on the HF
#       folder of the same arrays (prefill 512; decode 128 after a 512-token context), then prints one
#       table: tokens/s of both engines, NovaLM / llama.cpp, and decode against the HBM roofline
#       (bytes a step reads / the copy bandwidth bench_cuda_decode measured in the same call).
#       Logs and llama-bench's JSON come back as $OUT/peer_logs.tgz (the device tool's folder) and
#       a llama-bench built there as $OUT/llama.tgz.part-* (cat them into $NOVA_GPU_BUILD/llamacpp/llama.tgz).
#   NOVA_GPU_BUILD (default build-cuda): the NovaLM build dir (Release, NOVA_CUDA=ON); NOVA_GPU_DIR
#   (default .gpu-peer): the staging folder both halves use.
#
# Through the device tool:
#   NOVA_GPU_BUILD=build-moe bash scripts/llamacpp_cuda.sh prepare
#   run(command="bash scripts/llamacpp_cuda.sh run", carry=[".gpu-peer"], timeout_s=420)
# or as the optional part of the GPU suite: bash scripts/bench_gpu.sh run peer (NOVA_GPU_DIR=.gpu-peer).
set -euo pipefail
cd "$(dirname "$0")/.."

B=${NOVA_GPU_BUILD:-build-cuda}
G=${NOVA_GPU_DIR:-.gpu-peer}
PEERS=${NOVA_PEERS:-$HOME/.cache/nova-peers}
NPM_PACKAGE=node-llama-cpp@3.22.1
# One configuration for both places: CUDA for the H100 only, static ggml (one binary to carry),
# no downloads, no OpenMP/NCCL/OpenSSL (fewer libraries the GPU machine must have).
CMAKE_FLAGS=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90a -DLLAMA_CURL=OFF
  -DGGML_NATIVE=OFF -DBUILD_SHARED_LIBS=OFF -DGGML_OPENMP=OFF -DGGML_CUDA_NCCL=OFF -DLLAMA_OPENSSL=OFF
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF
  -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc)
# What the llama-bench build reads from llama.cpp's tree (tools/CMakeLists.txt adds every tool dir).
SOURCE_PATHS=(CMakeLists.txt LICENSE licenses cmake common ggml include src tools vendor
  ':!tools/ui' ':!tools/server/webui')

# Extracts llama.cpp's source of node-llama-cpp's bundle into $1 (once per commit); prints the commit.
extract_source() {
  local dst=$1 bundle=$PEERS/node_modules/node-llama-cpp/llama/gitRelease.bundle
  if [ ! -f "$bundle" ]; then
    mkdir -p "$PEERS"
    (cd "$PEERS" && { [ -f package.json ] || npm init -y >/dev/null; } && npm install --silent "$NPM_PACKAGE" >&2)
  fi
  local tmp commit
  tmp=$(mktemp -d)
  git init -q --bare "$tmp"
  git -C "$tmp" fetch -q "$bundle" HEAD
  commit=$(git -C "$tmp" rev-parse FETCH_HEAD)
  if [ "$(cat "$dst/COMMIT" 2>/dev/null)" != "$commit" ]; then
    rm -rf "$dst"
    mkdir -p "$dst"
    git -C "$tmp" archive FETCH_HEAD -- "${SOURCE_PATHS[@]}" | tar x -C "$dst"
    echo "$commit" > "$dst/COMMIT"
  fi
  rm -rf "$tmp"
  echo "$commit"
}

# Configures and builds llama-bench from source dir $1 in build dir $2 with $3 jobs.
build_llama_bench() {
  local src=$1 build=$2 jobs=$3 commit
  commit=$(cat "$src/COMMIT")
  # LLAMA_BUILD_COMMIT: the source is no git checkout (and inside ours), so name its commit here.
  cmake -S "$src" -B "$build" "${CMAKE_FLAGS[@]}" -DLLAMA_BUILD_COMMIT="${commit:0:7}" -DLLAMA_BUILD_NUMBER=0 \
    "${@:4}" >"$build.configure.log" 2>&1 || { tail -30 "$build.configure.log"; return 1; }
  local t0=$SECONDS
  ninja -C "$build" -j "$jobs" llama-bench
  echo "llamacpp_cuda: built llama-bench in $((SECONDS - t0)) s with -j$jobs"
}

# Writes into $2 the commands that finish the llama-bench build in build dir $1 from where it stands:
# one file per pending compile (c_*.sh, the heavy ones first: they run in parallel on the GPU
# machine) and link.sh (the archives and the link, in ninja's order). The commands name absolute
# paths of this machine (`run` makes them lead to the carried copy); ccache is dropped.
write_finish_commands() {
  local build=$1 dst=$2
  rm -rf "$dst" && mkdir -p "$dst"
  (cd "$build" && ninja -n llama-bench) >"$dst/pending.txt"
  (cd "$build" && ninja -t commands llama-bench) >"$dst/commands.txt"
  python3 - "$dst" "$build" <<'PY'
import os, re, sys
dst, build = sys.argv[1], sys.argv[2]
pending = set(m.group(1) for m in re.finditer(r"^\[\d+/\d+\] (?:Building \S+ object|Linking \S+ \S+(?: library)?) (\S+)$",
                                               open(f"{dst}/pending.txt").read(), re.M))
compiles, links = [], []
for cmd in open(f"{dst}/commands.txt").read().splitlines():
    archive = re.search(r"\bar qc (\S+)", cmd)
    m = archive or re.search(r" -o (\S+)", cmd)
    out = m.group(1) if m else None
    if out not in pending:
        continue
    cmd = re.sub(r"^ccache ", "", cmd).replace("/usr/bin/cmake -E rm -f", "rm -f")
    (links if (archive or out == "bin/llama-bench") else compiles).append((out, cmd))
def weight(out):  # heavy first: the GPU machine's cores finish together
    for i, k in enumerate(["mmq-instance", "fattn-mma", "mmf-instance", "fattn-tile", "fattn-vec", ".cu.o"]):
        if k in out: return i
    return 9
compiles.sort(key=lambda oc: weight(oc[0]))
for i, (out, cmd) in enumerate(compiles):
    open(f"{dst}/c_{i:03d}.sh", "w").write(f"mkdir -p {os.path.dirname(out) or '.'} && {cmd}\n")
open(f"{dst}/link.sh", "w").write("set -e\n" + "".join(c + "\n" for _, c in links))
print(f"llamacpp_cuda: {len(compiles)} compiles and {len(links)} archive/link steps left for the GPU machine")
PY
  rm -f "$dst/pending.txt" "$dst/commands.txt"
  echo "$(cd "$build/.." && pwd)" >"$dst/ABS"
}

mode=${1:-}
[ $# -gt 0 ] && shift
case "$mode" in
prepare)
  how=${1:-}  # "": what is built here so far; --build: all of it here first; --source: all there
  NOVA_JOBS=${NOVA_JOBS:-1} NOVA_GPU_BUILD=$B NOVA_GPU_DIR=$G bash scripts/test_gpu.sh prepare --target bench_cuda_decode
  # Only what `run` needs from that bundle: bench_cuda_decode, its libraries, the Qwen3 tokenizer.
  mkdir -p "$G/x" && tar xzf "$G/bundle.tgz" -C "$G/x"
  tar czf "$G/bundle.tgz" -C "$G/x" build-cuda/bin/bench_cuda_decode lib fixtures/tokenizers/qwen3 source_dir
  rm -rf "$G/x"
  mkdir -p "$G/peers"
  cp ../shared/peers/make_model.py "$G/peers/"  # its tokenizer: $G/fixtures/tokenizers/qwen3 once unpacked
  L=$B/llamacpp
  commit=$(extract_source "$L/src")
  echo "llamacpp_cuda: llama.cpp $commit (node-llama-cpp's bundle) in $L/src"
  if [ -z "$how" ] && [ -f "$L/llama.tgz" ] && [ "$(tar xzf "$L/llama.tgz" -O llama/COMMIT)" = "$commit" ]; then
    cp "$L/llama.tgz" "$G/llama.tgz"  # linked on the GPU machine by an earlier run (its glibc, not ours)
  elif [ "$how" = --source ] || [ ! -f "$L/build/build.ninja" ] && [ "$how" != --build ]; then
    tar czf "$G/llama.cpp.tgz" -C "$L" src
  else
    export CCACHE_BASEDIR=$PWD CCACHE_NOHASHDIR=1
    launcher=()
    command -v ccache >/dev/null &&
      launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
    if [ "$how" = --build ]; then
      (renice -n 10 -p $BASHPID >/dev/null; build_llama_bench "$L/src" "$L/build" "${NOVA_JOBS:-1}" "${launcher[@]}")
    fi
    if [ -z "$(cd "$L/build" && ninja -n llama-bench | grep -v '^ninja: no work')" ]; then
      mkdir -p "$G/llama/bin"
      cp "$L/build/bin/llama-bench" "$G/llama/bin/"
      strip --strip-unneeded "$G/llama/bin/llama-bench"
      cp "$L/src/COMMIT" "$G/llama/"
      tar czf "$G/llama.tgz" -C "$G" llama
      rm -rf "$G/llama"
    else  # part built here: the source, the build dir and the commands that finish it
      write_finish_commands "$L/build" "$L/finish"
      tar czf "$G/llama.cpp.tgz" -C "$L" src build finish
    fi
  fi
  du -sh "$G"/* | sed 's/^/llamacpp_cuda: staged /'
  echo "llamacpp_cuda: $(du -sh "$G" | cut -f1) in $G (the device tool carries at most 64 MiB with the repo)"
  ;;
run)
  shapes=${1:-qwen3-1.7b,qwen3-0.6b}
  [ -f "$G"/bundle.tgz ] || { echo "llamacpp_cuda: no $G/bundle.tgz: run 'scripts/llamacpp_cuda.sh prepare' and carry $G" >&2; exit 2; }
  out=$PWD/$G/out
  rm -rf "$out" && mkdir -p "$out"
  # The device tool brings back at most 8 files from $OUT: the logs as one archive, even on failure.
  [ -n "${OUT:-}" ] && trap 'tar czf "$OUT"/peer_logs.tgz -C "$G" out' EXIT
  tar xzf "$G"/bundle.tgz -C "$G"
  for tool in nvcc c++ ar; do command -v $tool >/dev/null || [ -x /usr/local/cuda/bin/$tool ] ||
    { echo "llamacpp_cuda: no $tool here" >&2; exit 1; }; done
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
  models=/tmp/nova_peer  # /dev/shm when it holds the models (~11 GB for both default shapes)
  [ "$(df -k --output=avail /dev/shm 2>/dev/null | tail -1)" -gt 20000000 ] 2>/dev/null && models=/dev/shm/nova_peer
  # The models of every shape, written while llama.cpp builds (numpy, one thread each).
  IFS=, read -r -a list <<<"$shapes"
  t0=$SECONDS
  for s in "${list[@]}"; do
    python3 "$G"/peers/make_model.py "$s" "$models/$s" --gguf bf16 >"$out/make_$s.log" 2>&1 &
  done
  if [ -f "$G"/llama.tgz ]; then
    tar xzf "$G"/llama.tgz -C "$G"
  elif [ -f "$G"/llama.cpp.tgz ]; then
    L=$G/llamacpp
    mkdir -p "$L" "$G"/llama/bin
    tar xzf "$G"/llama.cpp.tgz -C "$L"
    if [ -d "$L"/finish ]; then  # finish the build begun on the build host, at its absolute paths
      abs=$(cat "$L"/finish/ABS)
      if [ ! -e "$abs" ]; then mkdir -p "$(dirname "$abs")" && ln -s "$PWD/$L" "$abs"; fi
      [ -d /usr/local/cuda/lib ] || sed -i 's|/usr/local/cuda/lib/|/usr/local/cuda/lib64/|g' "$L"/finish/link.sh
      for t in c++:g++ cc:gcc ar:ar; do  # the build host's compilers by the names this machine has
        [ -x /usr/bin/${t%%:*} ] || sed -i "s|/usr/bin/${t%%:*} |$(command -v ${t#*:}) |g" "$L"/finish/*.sh
      done
      t1=$SECONDS
      (cd "$abs"/build && ls ../finish/c_*.sh | xargs -P "$(nproc)" -n 1 bash >"$out"/llama_build.log 2>&1 &&
        bash ../finish/link.sh >>"$out"/llama_build.log 2>&1) || { tail -30 "$out"/llama_build.log; exit 1; }
      echo "llamacpp_cuda: finished llama-bench here in $((SECONDS - t1)) s ($(ls "$L"/finish/c_*.sh | wc -l) compiles, $(nproc) jobs)"
      cp "$L"/build/bin/llama-bench "$G"/llama/bin/
    else
      build_llama_bench "$L"/src "$L"/build "$(nproc)" >"$out"/llama_build.log 2>&1 || { tail -30 "$out"/llama_build.log; exit 1; }
      tail -1 "$out"/llama_build.log
      cp "$L"/build/bin/llama-bench "$G"/llama/bin/
    fi
    cp "$L"/src/COMMIT "$G"/llama/
    # Back to the build host (16 MiB a file at most): next time carry it as $G/llama.tgz.
    strip --strip-unneeded "$G"/llama/bin/llama-bench
    if [ -n "${OUT:-}" ]; then
      tar czf "$G"/llama.tgz -C "$G" llama
      split -b 15m "$G"/llama.tgz "$OUT"/llama.tgz.part-
    fi
  else
    echo "llamacpp_cuda: neither $G/llama.tgz nor $G/llama.cpp.tgz: run 'scripts/llamacpp_cuda.sh prepare'" >&2
    exit 2
  fi
  wait
  echo "llamacpp_cuda: wrote ${list[*]} in $((SECONDS - t0)) s"
  echo "llama.cpp commit $(cat "$G"/llama/COMMIT)"
  export LD_LIBRARY_PATH="$PWD/$G/lib:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  ldd "$G"/llama/bin/llama-bench | grep -i "not found" && exit 1
  for s in "${list[@]}"; do
    echo "== $s: llama.cpp (llama-bench, CUDA)"
    "$G"/llama/bin/llama-bench -m "$models/$s"/model-bf16.gguf -ngl 99 -p 512 -n 128 -d 0,512 -fa 0,1 -r 3 -o json \
      >"$out/llama_$s.json" 2>"$out/llama_$s.log" || { tail -20 "$out/llama_$s.log"; exit 1; }
    echo "== $s: NovaLM (bench_cuda_decode --model-dir)"
    "$G"/build-cuda/bin/bench_cuda_decode --model-dir "$models/$s" --prompts 512 --decode 128 --context 512 \
      --batch 0 --micro 0 | tee "$out/nova_$s.log"
    rm -rf "${models:?}/$s"
  done
  # One table: llama.cpp's rows from its JSON, NovaLM's from its log.
  python3 - "$out" "${list[@]}" <<'EOF'
import json, re, sys
out, shapes = sys.argv[1], sys.argv[2:]
print("\nbatch 1, bf16 weights, identical arrays; llama.cpp (flash attention 0/1): prefill the best of 3 repetitions"
      " (its first is cold), decode their mean; NovaLM: prefill best of 2, decode the median step")
print(f"{'model':<11} {'test':<22} {'llama fa0':>10} {'llama fa1':>10} {'NovaLM':>9} {'Nova/best':>9} {'roofline':>9}")
for s in shapes:
    runs = json.load(open(f"{out}/llama_{s}.json"))
    nova = open(f"{out}/nova_{s}.log").read()
    pre = float(re.search(r"prefill\s+512 tokens:\s+([\d.]+) tok/s", nova).group(1))
    m = re.search(r"decode batch 1 .*?:\s+([\d.]+) tok/s .*?roofline ([\d.]+) tok/s", nova)
    dec, roof = float(m.group(1)), float(m.group(2))
    def llama(n_prompt, n_gen, depth, fa):
        for r in runs:
            if (r["n_prompt"], r["n_gen"], r["n_depth"], int(r["flash_attn"])) == (n_prompt, n_gen, depth, fa):
                return max(r["samples_ts"]) if n_gen == 0 else r["avg_ts"]
        return float("nan")
    rows = [("prefill 512", (512, 0, 0), pre, None),
            ("decode 128 @ ctx 512", (0, 128, 512), dec, roof),
            ("decode 128 @ ctx 0", (0, 128, 0), None, None)]
    for name, key, ours, rf in rows:
        a, b = llama(*key, 0), llama(*key, 1)
        best = max(a, b)
        ratio = f"{ours / best:8.2f}x" if ours else ""
        ours_s = f"{ours:9.1f}" if ours else ""
        roof_s = f"{rf:9.1f}" if rf else ""
        print(f"{s:<11} {name:<22} {a:10.1f} {b:10.1f} {ours_s:>9} {ratio:>9} {roof_s:>9}")
        if rf:
            print(f"{'':<11} {'  % of roofline':<22} {100 * a / rf:9.0f}% {100 * b / rf:9.0f}% {100 * ours / rf:8.0f}%")
EOF
  ;;
*)
  sed -n 2,28p "$0" >&2
  exit 2
  ;;
esac

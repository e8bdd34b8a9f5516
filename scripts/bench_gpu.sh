#!/usr/bin/env bash
# The whole GPU benchmark suite of BENCHMARKS.md ("CUDA", "CUDA training"): NovaLM and PyTorch
# (eager, torch.compile) on the same random-weight Llama-3.2-1B / Llama-3.1-8B / 124M shapes, on
# the GPU machine. Build and stage here first:
#   bash scripts/test_gpu.sh prepare --target bench_cuda_decode bench_cuda_decode_attention bench_cuda_moe \
#     bench_cuda_sampling bench_cuda_train
# then, through the device tool (carrying .gpu):
#   run(command="bash scripts/bench_gpu.sh run [inference|training|all] 2>&1 | tee $OUT/bench_gpu.log", carry=[".gpu"])
# Since the fifth round (long contexts, kernel micro-benchmarks, MoE training) `all` no longer fits
# one device call's 10 minutes (cut at 480 s in torch.compile training of the 1B, 2026-11-24): run
# `inference` and `training` as two calls.
# Optional, not in `all`: `run peer` times llama.cpp's CUDA build beside NovaLM on identical Qwen3
# weights (scripts/llamacpp_cuda.sh: prepare with it, carry its folder, e.g. NOVA_GPU_DIR=.gpu-peer).
set -euo pipefail
cd "$(dirname "$0")/.."

[ "${1:-}" = run ] || { sed -n 2,12p "$0" >&2; exit 2; }
part=${2:-all}
G=${NOVA_GPU_DIR:-.gpu}  # the staging folder (scripts/test_gpu.sh)
# Unpacked unless test_gpu.sh run just did (a warm machine may hold another stage's binaries).
if [ ! -d "$G"/build-cuda ]; then
  [ -f "$G"/bundle.tgz ] || { echo "bench_gpu: no $G/bundle.tgz: run 'scripts/test_gpu.sh prepare' and carry $G" >&2; exit 2; }
  tar xzf "$G"/bundle.tgz -C "$G"
fi
rm -rf build-cuda
mkdir -p build-cuda
cp -r "$G"/build-cuda/. build-cuda/
export LD_LIBRARY_PATH="$PWD/$G/lib:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
git rev-parse --short HEAD 2>/dev/null || true

if [ "$part" = inference ] || [ "$part" = all ]; then
  echo "== NovaLM decode + prefill (1B, 8B; batch 1 and 32; prompts 512 and 8192)"
  build-cuda/bin/bench_cuda_decode --models 1b,8b --micro 0
  echo "== NovaLM decode at long contexts (batch 1; contexts 8192 and 32768)"
  for ctx in 8192 32768; do
    build-cuda/bin/bench_cuda_decode --models 1b,8b --prompts 512 --context $ctx --decode 32 --batch 0 --micro 0 |
      grep -E "^== llama|decode batch"
  done
  echo "== NovaLM decode kernels alone: the GEMVs per shape, decode attention per context and batch"
  build-cuda/bin/bench_cuda_decode --models , --micro 1
  build-cuda/bin/bench_cuda_decode_attention --contexts 512,4096,32768 --batches 1,32
  echo "== PyTorch decode + prefill (eager SDPA, torch.compile)"
  python3 bench/torch_decode.py --models 1b,8b --compile 1b,8b
  echo "== NovaLM MoE (Mixtral shape: device routing + grouped GEMMs vs the per-expert composition)"
  build-cuda/bin/bench_cuda_moe --micro 0
  echo "== PyTorch MoE (transformers Mixtral, eager)"
  python3 bench/torch_moe.py
  echo "== NovaLM sampling on the device vs the host Sampler (vocab 128256; 1B decode through LlmEngine)"
  build-cuda/bin/bench_cuda_sampling --reps 20 --batch 1,32 --decode 128
fi
if [ "$part" = peer ]; then
  echo "== llama.cpp (CUDA, llama-bench) beside NovaLM on identical Qwen3 weights (batch 1: prefill 512, decode 128)"
  NOVA_GPU_DIR=$G bash scripts/llamacpp_cuda.sh run "${NOVA_PEER_SHAPES:-qwen3-1.7b,qwen3-0.6b}"
fi
if [ "$part" = training ] || [ "$part" = all ]; then
  echo "== NovaLM training (124M, 1B; seq 1024; bf16 mixed precision)"
  build-cuda/bin/bench_cuda_train --models 124m,1b --batch 124m:64,1b:16
  echo "== PyTorch training (eager, torch.compile)"
  python3 bench/torch_train.py --batch 124m:64,1b:16
  echo "== NovaLM MoE training (8 experts top-2) beside its dense twin of the same active width"
  build-cuda/bin/bench_cuda_train --models moe,moe-dense --batch 16
  echo "== PyTorch MoE training (transformers Mixtral and the dense twin, eager)"
  python3 bench/torch_train.py --models moe,moe-dense --batch moe:16,moe-dense:16 --compile ""
fi

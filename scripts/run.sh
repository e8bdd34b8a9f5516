#!/usr/bin/env bash
# Sets everything up and runs NovaLM's main job: the OpenAI-compatible server with the bundled
# model (models/brown-tiny, docs/TRAINING.md) on http://127.0.0.1:8000/v1 (extra flags go to
# `nova serve`; `nova chat --model models/brown-tiny` chats on the terminal instead).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/build.sh --target nova
exec build/bin/nova serve --model models/brown-tiny "$@"

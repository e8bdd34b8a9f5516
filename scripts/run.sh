#!/usr/bin/env bash
# Sets everything up and runs NovaLM's main job: the OpenAI-compatible server with the bundled
# model on http://127.0.0.1:8000/v1 (extra flags go to `nova serve`; `nova chat --model models/demo`
# chats on the terminal instead).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/build.sh --target nova
exec build/bin/nova serve --model models/demo "$@"

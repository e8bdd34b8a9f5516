#!/usr/bin/env bash
# Sets everything up and runs NovaLM's main job: an interactive chat with the bundled model.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/build.sh --target nova
exec build/bin/nova chat --model models/demo "$@"

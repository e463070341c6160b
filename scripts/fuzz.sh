#!/usr/bin/env bash
# `npm run fuzz`: the gateway fuzz tests at length (AI chat frames, then room frames on /ws/chat aimed
# at a real room: half as many) against the built server on a FerretDB of its own.
# FUZZ_FRAMES (default 100000) hostile frames over 6 sockets; FUZZ_SEED picks another sample.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/ensure-node.sh
[ -d node_modules ] || npm ci --no-audit --no-fund
if [ ! -f dist/main.js ] || [ -n "$(find src -name '*.ts' -newer dist/main.js -print -quit)" ]; then
  npm run --silent build:server
fi
DATA="$(mktemp -d)"
trap 'bash scripts/services/ferretdb.sh down "$DATA/ferretdb" >/dev/null 2>&1 || true; rm -rf "$DATA"' EXIT
eval "$(bash scripts/services/ferretdb.sh up "$DATA/ferretdb")"
FUZZ_FRAMES="${FUZZ_FRAMES:-100000}" npx jest test/e2e/hostile-input.e2e-spec.ts --selectProjects e2e -t fuzzed

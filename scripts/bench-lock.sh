#!/usr/bin/env bash
# `npm run bench:lock`: bench/lock-cost.ts on a FerretDB and a Redis of its own (three runs).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/ensure-node.sh
DATA="$(mktemp -d)"
trap 'for s in ferretdb redis; do bash scripts/services/$s.sh down "$DATA/$s" >/dev/null 2>&1 || true; done; rm -rf "$DATA"' EXIT
eval "$(bash scripts/services/ferretdb.sh up "$DATA/ferretdb")"
eval "$(bash scripts/services/redis.sh up "$DATA/redis")"
npx tsc --outDir .data/bench-lock/build --rootDir . --module commonjs --target ES2023 --esModuleInterop \
  --experimentalDecorators --emitDecoratorMetadata --skipLibCheck --strict --types node bench/lock-cost.ts
LOG_LEVEL=warn node .data/bench-lock/build/bench/lock-cost.js

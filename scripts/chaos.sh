#!/usr/bin/env bash
# `npm run chaos -- --minutes 10`: the chaos test (test/chaos/chaos.ts, rooms in test/chaos/room-chaos.ts)
# for as long as asked, against the built server, on a FerretDB and a redis-server of its own. Prints
# the counts at the end: AI sessions and rooms side by side.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
minutes=3
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes="$2"; shift 2 ;;
    *) echo "usage: npm run chaos -- [--minutes N]" >&2; exit 2 ;;
  esac
done
source scripts/ensure-node.sh
[ -d node_modules ] || npm ci --no-audit --no-fund
if [ ! -f dist/main.js ] || [ -n "$(find src -name '*.ts' -newer dist/main.js -print -quit)" ]; then
  npm run --silent build:server
fi
DATA="$(mktemp -d)"
trap 'for s in ferretdb redis; do bash scripts/services/$s.sh down "$DATA/$s" >/dev/null 2>&1 || true; done; rm -rf "$DATA"' EXIT
eval "$(bash scripts/services/ferretdb.sh up "$DATA/ferretdb")"
# installs redis-server when missing (the chaos test runs its own, to kill and restart it)
eval "$(bash scripts/services/redis.sh up "$DATA/redis")"
CHAOS_MINUTES="$minutes" npx jest test/e2e/chaos.e2e-spec.ts --selectProjects e2e --forceExit

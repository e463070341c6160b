#!/usr/bin/env bash
# `npm run bench`: builds what is missing or stale, starts FerretDB on a free loopback port with its
# data under .data/bench, runs bench/ (compiled by tsc into .data/bench/build), stops everything.
# Knobs: BENCH_IDLE_CONNECTIONS, BENCH_IDLE_USERS, BENCH_WINDOW_SECONDS, BENCH_LATENCY_SECONDS,
# BENCH_PROFILE=1 (V8 profiles of the busy phases, printed and saved), BENCH_MONGODB_URL,
# BENCH_POD_MEMORY (each server's memory cgroup: the chart's limit by default, 0 for none).
# Every knob: bench/README.md.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/ensure-node.sh

# the app as it is now: rebuild when any source file is newer than the last build
if [ ! -f dist/main.js ] || [ -n "$(find src -name '*.ts' -newer dist/main.js -print -quit)" ]; then
  echo "[bench] building the app"
  npm run --silent build
fi

DATA="$ROOT/.data/bench"
mkdir -p "$DATA"
rm -rf "$DATA/build" "$DATA/ferretdb"
echo "[bench] compiling bench/"
npx tsc -p bench/tsconfig.json

# BENCH_MONGODB_URL set: use that server (e.g. a real MongoDB) instead of starting FerretDB
if [ -n "${BENCH_MONGODB_URL:-}" ]; then
  exec node "$DATA/build/bench/run.js"
fi

cleanup() { bash scripts/ferretdb.sh stop "$DATA/ferretdb" || true; }
trap cleanup EXIT

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
FERRET_PORT="$(free_port)"
bash scripts/ferretdb.sh start "$FERRET_PORT" "$DATA/ferretdb"

BENCH_MONGODB_URL="mongodb://127.0.0.1:$FERRET_PORT" BENCH_DATABASE_PID="$(cat "$DATA/ferretdb/ferretdb.pid")" \
  node "$DATA/build/bench/run.js"

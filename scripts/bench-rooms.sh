#!/usr/bin/env bash
# `npm run bench:rooms`: builds the app if src/ changed, compiles bench/ (bench/tsconfig.rooms.json)
# into .data/bench-rooms/build, starts FerretDB (data kept in .data/bench-rooms/ferretdb, so a seeded
# store is reused by the next run of the same size) and Redis on free loopback ports, runs
# bench/rooms-run.ts, stops what it started. Knobs: bench/README.md, "Rooms".
# BENCH_MONGODB_URL=mongodb://… also runs the history phase on that MongoDB (seeded there once).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/ensure-node.sh

if [ ! -f dist/main.js ] || [ -n "$(find src -name '*.ts' -newer dist/main.js -print -quit)" ]; then
  echo "[rooms] building the app"
  npm run --silent build
fi

DATA="$ROOT/.data/bench-rooms"
mkdir -p "$DATA"
rm -rf "$DATA/build"
echo "[rooms] compiling bench/"
npx tsc -p bench/tsconfig.rooms.json

cleanup() {
  bash scripts/ferretdb.sh stop "$DATA/ferretdb" || true
  bash scripts/services/redis.sh down "$DATA/redis" || true
}
trap cleanup EXIT

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
FERRET_PORT="$(free_port)"
bash scripts/ferretdb.sh start "$FERRET_PORT" "$DATA/ferretdb"
eval "$(bash scripts/services/redis.sh up "$DATA/redis")"

BENCH_FERRETDB_URL="mongodb://127.0.0.1:$FERRET_PORT" BENCH_FERRETDB_PID="$(cat "$DATA/ferretdb/ferretdb.pid")" \
  BENCH_REDIS_URL="$TEST_REDIS_URL" node "$DATA/build/bench/rooms-run.js"

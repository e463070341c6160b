#!/usr/bin/env bash
# Cross-build check of FerretDB's stored JSON (test/tools/codec-cross.ts): `OLD_BIN NEW_BIN`, two
# FerretDB binaries (e.g. .tools/bin/ferretdb-<stamp> of main and of a branch changing a patch).
# OLD writes set a, NEW reads it and writes set b, OLD reads set b, all on one fresh data directory.
# Exits non-zero when a document comes back changed, is not found by its `_id`, or a room's page
# differs. Run it for any patch touching sjson (scripts/tools/ferretdb/*.patch).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/services/lib.sh"
source "$ROOT/scripts/ensure-node.sh"
old="$1" new="$2"
dir="$(mktemp -d /tmp/codec-cross.XXXXXX)"
port="$(free_port)"
pid=""

start() {
  GOGC=400 "$1" --handler=sqlite --sqlite-url="file:$dir/" --state-dir="$dir" --listen-addr="127.0.0.1:$port" \
    --debug-addr=- --telemetry=disable --log-level=warn >>"$dir/ferretdb.log" 2>&1 &
  pid=$!
  wait_port "$port" 20 || { echo "[codec-cross] $1 did not start; see $dir/ferretdb.log" >&2; exit 1; }
}

stop() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=""
}

trap 'stop; rm -rf "$dir"' EXIT
cross() { node "$ROOT/test/tools/codec-cross.ts" "mongodb://127.0.0.1:$port" "$@"; }

start "$old"
cross write a
stop
start "$new"
cross read a
cross write b
stop
start "$old"
cross read b

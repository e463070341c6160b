#!/usr/bin/env bash
# The one test command (README, .ci/run): installs what the tests need, starts the real servers
# they talk to, runs lint, typecheck, unit, integration and e2e tests with coverage, stops everything.
# Each phase prints the second it starts at ([Ns]).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# Each scripts/services/*.sh installs (once) and starts one real server on loopback and prints the
# env the tests need to find it. They start first, in parallel, and need no Node: on a fresh clone
# their installs (the Go builds of FerretDB, MinIO and helm, or their copies from the machine's tool
# cache: scripts/tool-cache.sh; apt) overlap npm ci's. Each one's log is shown when it is done.
DATA="$(mktemp -d)"
services=()
for svc in scripts/services/*.sh; do [ "$(basename "$svc")" = lib.sh ] || services+=("$svc"); done
cleanup() {
  local status=$?
  for svc in "${services[@]}"; do bash "$svc" down "$DATA/$(basename "$svc" .sh)" >/dev/null 2>&1 || true; done
  # a service may write a last log line while it stops: try again, and never let the clean-up
  # change the run's result (a green run once ended 1 on "Directory not empty")
  rm -rf "$DATA" 2>/dev/null || { sleep 1; rm -rf "$DATA" 2>/dev/null; } || true
  exit "$status"
}
trap cleanup EXIT
pids=()
for svc in "${services[@]}"; do
  name="$(basename "$svc" .sh)"
  bash "$svc" up "$DATA/$name" >"$DATA/$name.env" 2>"$DATA/$name.log" &
  pids+=("$!")
done

source scripts/ensure-node.sh
source scripts/tool-cache.sh
# npm ci only when the lock file changed since the last install; a fresh clone copies the packages an
# earlier checkout installed from the same lock file (the tool cache: 6 s against npm ci's 35–46 s)
lock_hash="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ ! -f node_modules/.lock-hash ] || [ "$(cat node_modules/.lock-hash)" != "$lock_hash" ]; then
  rm -rf node_modules
  if ! from_cache "node_modules-$lock_hash" node_modules; then
    npm ci --no-audit --no-fund
    echo "$lock_hash" >node_modules/.lock-hash
    to_cache node_modules "node_modules-$lock_hash"
    keep_newest 'node_modules-*' 2
  fi
fi

# Services the checks below need not wait for: schemathesis is installed from PyPI on a fresh machine
# (network-bound, 13–24 s, the slowest service in session 40's CI runs) and only the API fuzz test
# uses it, so the checks run beside its install and the tests wait for it.
LATE="schemathesis"
wait_services() {
  local late="$1" failed=0 index name status
  for index in "${!services[@]}"; do
    name="$(basename "${services[$index]}" .sh)"
    if [ "$late" = late ] && [[ " $LATE " != *" $name "* ]]; then continue; fi
    if [ "$late" != late ] && [[ " $LATE " == *" $name "* ]]; then continue; fi
    if wait "${pids[$index]}"; then status=ok; else status=FAILED; failed=1; fi
    echo "== service $name: $status [${SECONDS}s]"
    sed "s/^/   [$name] /" "$DATA/$name.log"
    eval "$(cat "$DATA/$name.env")"
  done
  [ "$failed" -eq 0 ] || { echo "a test service did not start; see its log above" >&2; exit 1; }
}
wait_services first

# The checks, after the services (beside their Go builds on 2 cores they were slower), in two lines
# at once: each is mostly one core's work (85 s one after the other on this machine)
echo "== lint | typecheck, build [${SECONDS}s]"
npm run --silent lint >"$DATA/lint.out" 2>&1 &
lint_pid=$!
{ npm run --silent typecheck && npm run --silent build; } >"$DATA/build.out" 2>&1 &
build_pid=$!
checks=0
wait "$lint_pid" || checks=1
echo "== lint done [${SECONDS}s]"
cat "$DATA/lint.out"
wait "$build_pid" || checks=1
echo "== typecheck, build done [${SECONDS}s]"
cat "$DATA/build.out"
[ "$checks" -eq 0 ] || { echo "lint, typecheck or build failed; see above" >&2; exit 1; }

wait_services late
echo "== unit, integration, e2e (coverage) [${SECONDS}s]"
npx jest --coverage --forceExit "$@"

#!/usr/bin/env bash
# The one test command (README, .ci/run): installs what the tests need, starts the real servers
# they talk to, runs lint, typecheck, unit, integration and e2e tests with coverage, stops everything.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/ensure-node.sh

# npm ci only when the lock file changed since the last install
lock_hash="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ ! -f node_modules/.lock-hash ] || [ "$(cat node_modules/.lock-hash)" != "$lock_hash" ]; then
  npm ci --no-audit --no-fund
  echo "$lock_hash" >node_modules/.lock-hash
fi

# Each scripts/services/*.sh installs (once) and starts one real server on loopback and prints the
# env the tests need to find it. They start in parallel (on a fresh machine the Go builds of
# FerretDB, MinIO and helm and the apt installs overlap); each one's log is shown when it is done.
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
failed=0
for index in "${!services[@]}"; do
  name="$(basename "${services[$index]}" .sh)"
  if wait "${pids[$index]}"; then status=ok; else status=FAILED; failed=1; fi
  echo "== service $name: $status [${SECONDS}s]"
  sed "s/^/   [$name] /" "$DATA/$name.log"
done
[ "$failed" -eq 0 ] || { echo "a test service did not start; see its log above" >&2; exit 1; }
for svc in "${services[@]}"; do eval "$(cat "$DATA/$(basename "$svc" .sh).env")"; done

# after the services: run beside their start on 2 cores, the checks were slower (jest began at
# 145 s instead of 127 s)
echo "== lint [${SECONDS}s]"; npm run --silent lint
echo "== typecheck [${SECONDS}s]"; npm run --silent typecheck
echo "== build [${SECONDS}s]"; npm run --silent build
echo "== unit, integration, e2e (coverage) [${SECONDS}s]"
npx jest --coverage --forceExit "$@"

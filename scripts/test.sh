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
# env the tests need to find it (FerretDB, and the servers later issues add).
DATA="$(mktemp -d)"
started=()
cleanup() {
  for svc in "${started[@]}"; do bash "$svc" down "$DATA/$(basename "$svc" .sh)" || true; done
  rm -rf "$DATA"
}
trap cleanup EXIT
for svc in scripts/services/*.sh; do
  [ "$(basename "$svc")" = lib.sh ] && continue
  echo "== service $(basename "$svc" .sh)"
  exports="$(bash "$svc" up "$DATA/$(basename "$svc" .sh)")"
  started+=("$svc")
  eval "$exports"
done

echo "== lint"; npm run --silent lint
echo "== typecheck"; npm run --silent typecheck
echo "== build"; npm run --silent build
echo "== unit, integration, e2e (coverage)"
npx jest --coverage --forceExit "$@"

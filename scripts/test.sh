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

bash scripts/ferretdb.sh install

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
DATA="$(mktemp -d)"
cleanup() { bash scripts/ferretdb.sh stop "$DATA/ferretdb" || true; rm -rf "$DATA"; }
trap cleanup EXIT

FERRET_PORT="$(free_port)"
bash scripts/ferretdb.sh start "$FERRET_PORT" "$DATA/ferretdb"
export TEST_MONGODB_URL="mongodb://127.0.0.1:$FERRET_PORT"

echo "== lint"; npm run --silent lint
echo "== typecheck"; npm run --silent typecheck
echo "== build"; npm run --silent build
echo "== unit, integration, e2e (coverage)"
npx jest --coverage --forceExit "$@"

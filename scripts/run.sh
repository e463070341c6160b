#!/usr/bin/env bash
# The one run command (README): builds and starts chatbox with embedded defaults — a local FerretDB
# (data in .data/), local-disk uploads, the offline demo model, notifications to the log — and
# prints where to open the chat and ready-to-use dev tokens. Any setting already in the
# environment (MONGODB_URI, LLM_PROVIDERS, S3_*, SMTP_URL, …) switches that part to the real thing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/ensure-node.sh
mkdir -p .data

lock_hash="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ ! -f node_modules/.lock-hash ] || [ "$(cat node_modules/.lock-hash)" != "$lock_hash" ]; then
  npm ci --no-audit --no-fund
  echo "$lock_hash" >node_modules/.lock-hash
fi
npm run --silent build

# dev secrets are made once and kept in .data/ (git-ignored), so sessions survive restarts
if [ ! -f .data/dev.env ]; then
  umask 077
  {
    echo "DEV_JWT_SECRET=$(node -e 'console.log(require("crypto").randomBytes(32).toString("hex"))')"
    echo "DEV_ENCRYPTION_KEY=$(node -e 'console.log(require("crypto").randomBytes(32).toString("base64"))')"
  } >.data/dev.env
fi
# shellcheck disable=SC1091
source .data/dev.env
# the dev secret only when no key is given: JWT_SECRET and JWT_PUBLIC_KEY together refuse to boot
if [ -z "${JWT_PUBLIC_KEY:-}" ]; then
  export JWT_SECRET="${JWT_SECRET:-$DEV_JWT_SECRET}"
fi
export ENCRYPTION_KEY="${ENCRYPTION_KEY:-$DEV_ENCRYPTION_KEY}"
export PORT="${PORT:-3000}"

if [ -z "${MONGODB_URI:-}" ]; then
  FERRET_PORT="${FERRET_PORT:-27017}"
  bash scripts/ferretdb.sh start "$FERRET_PORT" "$ROOT/.data/ferretdb"
  trap 'bash scripts/ferretdb.sh stop "$ROOT/.data/ferretdb"' EXIT
  export MONGODB_URI="mongodb://127.0.0.1:$FERRET_PORT/chatbox"
fi

token() { # sub name roles
  node -e '
    const jwt = require("jsonwebtoken");
    const [sub, name, roles] = process.argv.slice(1);
    console.log(jwt.sign({ sub, name, roles: roles ? roles.split(",") : [] }, process.env.JWT_SECRET, { expiresIn: "12h" }));
  ' "$@"
}
if [ -n "${DEV_JWT_SECRET:-}" ] && [ "${JWT_SECRET:-}" = "$DEV_JWT_SECRET" ]; then
  USER_TOKEN="$(token dev-user 'Dev User' '')"
  ADMIN_TOKEN="$(token dev-admin 'Dev Admin' admin)"
  cat <<INFO

  chatbox is starting on http://localhost:$PORT
    chat       http://localhost:$PORT/chat/#token=$USER_TOKEN
    dashboard  http://localhost:$PORT/admin/#token=$ADMIN_TOKEN
    WebSocket  ws://localhost:$PORT/chat/ws?token=<jwt>
  dev tokens (12 h, signed with the dev secret in .data/dev.env):
    user   $USER_TOKEN
    admin  $ADMIN_TOKEN

INFO
fi
MALLOC_ARENA_MAX=2 node dist/main.js & # as the Docker image runs it
APP=$!
trap 'kill -TERM $APP 2>/dev/null; wait $APP; bash scripts/ferretdb.sh stop "$ROOT/.data/ferretdb"' EXIT INT TERM
wait $APP

#!/usr/bin/env bash
# Test service: FerretDB (MongoDB wire protocol, SQLite backend) on a free loopback port.
# Contract of scripts/services/*.sh: `up DIR` installs if needed, starts, prints `export K=V` lines;
# `down DIR` stops what `up` started.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$ROOT/scripts/services/lib.sh"
case "$1" in
  up)
    port="$(free_port)"
    bash "$ROOT/scripts/ferretdb.sh" start "$port" "$2" >&2
    echo "export TEST_MONGODB_URL=mongodb://127.0.0.1:$port"
    ;;
  down) bash "$ROOT/scripts/ferretdb.sh" stop "$2" ;;
esac

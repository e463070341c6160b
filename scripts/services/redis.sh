#!/usr/bin/env bash
# Test service: Redis (Debian redis-server) on a free loopback port, no persistence, config under DIR.
# `up DIR` installs if needed, starts, prints TEST_REDIS_URL; `down DIR` stops it.
# Tests that kill Redis on purpose start their own server (test/helpers/redis.ts), not this one.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$ROOT/scripts/services/lib.sh"
case "$1" in
  up)
    apt_install redis-server
    dir="$2"
    mkdir -p "$dir"
    port="$(free_port)"
    cat >"$dir/redis.conf" <<CONF
bind 127.0.0.1
port $port
daemonize yes
pidfile $dir/redis.pid
logfile $dir/redis.log
dir $dir
save ""
appendonly no
CONF
    redis-server "$dir/redis.conf" >&2
    wait_port "$port" 20 || { echo "[redis] did not start; see $dir/redis.log" >&2; exit 1; }
    echo "export TEST_REDIS_URL=redis://127.0.0.1:$port"
    ;;
  down) stop_pid "$2/redis.pid" ;;
esac

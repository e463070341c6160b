#!/usr/bin/env bash
# Test service: clamd (Debian's clamav-daemon) on a free loopback TCP port.
# No signature download: the database directory holds only a hash signature (.hdb) for the
# 68-byte EICAR test string, written here, so tests can prove an infected upload is refused.
# `up DIR` prints TEST_CLAMAV_HOST/TEST_CLAMAV_PORT (TEST_ so child-process servers of other suites
# do not inherit a scanner); `down DIR` stops it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$ROOT/scripts/services/lib.sh"

EICAR='X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'

clamd_bin() {
  if command -v clamd >/dev/null 2>&1; then command -v clamd; else echo /usr/sbin/clamd; fi
}

up() {
  local dir="$1"
  # another apt-get (a parallel service script) may hold the dpkg lock for a while
  local attempt
  for attempt in 1 2 3 4 5 6 7 8 9 10; do
    apt_install clamav-daemon && break
    [ "$attempt" = 10 ] && return 1
    sleep 15
  done
  # the package's own service is not needed: we run our own instance with our own config
  mkdir -p "$dir/db"
  if [ -f "$dir/clamd.pid" ] && kill -0 "$(cat "$dir/clamd.pid")" 2>/dev/null; then
    echo "export TEST_CLAMAV_HOST=127.0.0.1"
    echo "export TEST_CLAMAV_PORT=$(cat "$dir/port")"
    return 0
  fi
  local md5 size
  md5="$(printf '%s' "$EICAR" | md5sum | cut -d' ' -f1)"
  size="$(printf '%s' "$EICAR" | wc -c | tr -d ' ')"
  echo "$md5:$size:Chatbox.Test.EICAR" >"$dir/db/test.hdb"
  local port
  port="$(free_port)"
  echo "$port" >"$dir/port"
  cat >"$dir/clamd.conf" <<CONF
TCPSocket $port
TCPAddr 127.0.0.1
DatabaseDirectory $dir/db
Foreground yes
LogFile $dir/clamd.log
LogTime yes
StreamMaxLength 1000M
MaxFileSize 1000M
MaxScanSize 1000M
ReadTimeout 30
CommandReadTimeout 30
MaxThreads 4
CONF
  # root runs clamd as root (no User line): it only reads our db dir and the scanned streams
  "$(clamd_bin)" --config-file="$dir/clamd.conf" >"$dir/clamd.out" 2>&1 &
  echo $! >"$dir/clamd.pid"
  if ! wait_port "$port" 60; then
    echo "[clamav] clamd did not start; see $dir/clamd.out and $dir/clamd.log" >&2
    cat "$dir/clamd.out" >&2 || true
    return 1
  fi
  echo "export TEST_CLAMAV_HOST=127.0.0.1"
  echo "export TEST_CLAMAV_PORT=$port"
}

down() {
  stop_pid "$1/clamd.pid"
}

case "${1:-}" in
  up) up "$2" ;;
  down) down "$2" ;;
  *)
    echo "usage: $0 up DIR | down DIR" >&2
    exit 2
    ;;
esac

#!/usr/bin/env bash
# Test service: MinIO (S3-compatible, checks SigV4 signatures and presigned-URL expiry) on a free
# loopback port, data under DIR. Built once with `go install` into .tools/bin from the Go module
# proxy: MinIO tags releases as RELEASE.<date>, not semver, so the proxy serves it only as a
# pseudo-version; the one below is the version the proxy lists (`…/@v/list`), pinned here.
# `up DIR` prints S3_* exports for the tests (bucket created by the app on boot); `down DIR` stops it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$ROOT/scripts/services/lib.sh"
MINIO_VERSION="v0.0.0-20260212201848-7aac2a2c5b7c"
source "$ROOT/scripts/tool-cache.sh"
BIN="$ROOT/.tools/bin/minio-$MINIO_VERSION"
ACCESS_KEY="chatbox-test"
SECRET_KEY="chatbox-test-secret-key"

install() {
  [ -x "$BIN" ] && return 0
  mkdir -p "$ROOT/.tools/bin"
  from_cache "$(basename "$BIN")" "$BIN" && return 0
  echo "[minio] building MinIO $MINIO_VERSION with go install (first run only, ~6 min)" >&2
  # built aside and moved in: an interrupted build never leaves a broken binary
  local work
  work="$(mktemp -d)"
  GOBIN="$work" GOFLAGS=-buildvcs=false go install "github.com/minio/minio@$MINIO_VERSION" >&2
  mv -f "$work/minio" "$BIN"
  rm -rf "$work"
  to_cache "$BIN" "$(basename "$BIN")"
}

up() {
  local dir="$1"
  install
  mkdir -p "$dir/data"
  local port
  if [ -f "$dir/minio.pid" ] && kill -0 "$(cat "$dir/minio.pid")" 2>/dev/null; then
    port="$(cat "$dir/port")"
  else
    port="$(free_port)"
    echo "$port" >"$dir/port"
    MINIO_ROOT_USER="$ACCESS_KEY" MINIO_ROOT_PASSWORD="$SECRET_KEY" MINIO_BROWSER=off \
      MINIO_UPDATE=off MINIO_CALLHOME_ENABLE=off \
      "$BIN" server --quiet --address "127.0.0.1:$port" "$dir/data" >"$dir/minio.log" 2>&1 &
    echo $! >"$dir/minio.pid"
    if ! wait_port "$port" 60; then
      echo "[minio] did not start; see $dir/minio.log" >&2
      cat "$dir/minio.log" >&2 || true
      return 1
    fi
    # the S3 API answers a little after the port opens
    for _ in $(seq 1 100); do
      curl -fsS "http://127.0.0.1:$port/minio/health/ready" >/dev/null 2>&1 && break
      sleep 0.1
    done
  fi
  echo "export TEST_S3_ENDPOINT=http://127.0.0.1:$port"
  echo "export TEST_S3_ACCESS_KEY_ID=$ACCESS_KEY"
  echo "export TEST_S3_SECRET_ACCESS_KEY=$SECRET_KEY"
}

down() {
  stop_pid "$1/minio.pid"
}

case "${1:-}" in
  up) up "$2" ;;
  down) down "$2" ;;
  *)
    echo "usage: $0 up DIR | down DIR" >&2
    exit 2
    ;;
esac

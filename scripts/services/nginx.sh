#!/usr/bin/env bash
# Test service: Debian's nginx, the TLS/WSS front of production (deploy/nginx/chatbox.conf). On
# bookworm the package is `nginx` (nginx-light is only a transitional name that pulls it in).
# Nothing to start: `up DIR` installs the package once, checks openssl is there for the test's
# self-signed certificate, and prints NGINX_BIN; test/e2e/tls-nginx.e2e-spec.ts writes its own config
# from deploy/nginx/chatbox.conf and runs nginx as a child process on free loopback ports.
# The package's own service is never used (and stopped if the install started it). `down` is a no-op.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$ROOT/scripts/services/lib.sh"

nginx_bin() {
  if command -v nginx >/dev/null 2>&1; then command -v nginx; else echo /usr/sbin/nginx; fi
}

case "${1:-}" in
  up)
    mkdir -p "$2"
    if [ ! -x "$(nginx_bin)" ] || ! command -v openssl >/dev/null 2>&1; then
      # another apt-get (a parallel service script) may hold the dpkg lock for a while
      for attempt in 1 2 3 4 5 6 7 8 9 10; do
        apt_install nginx openssl && break
        [ "$attempt" = 10 ] && exit 1
        sleep 15
      done
      # Debian's postinst may start the packaged nginx on port 80: ours never needs it
      if [ -f /run/nginx.pid ] && kill -0 "$(cat /run/nginx.pid)" 2>/dev/null; then
        "$(nginx_bin)" -s quit >/dev/null 2>&1 || true
      fi
    fi
    "$(nginx_bin)" -v >&2
    openssl version >&2
    echo "export NGINX_BIN=$(nginx_bin)"
    ;;
  down) ;;
  *)
    echo "usage: $0 up DIR | down DIR" >&2
    exit 2
    ;;
esac

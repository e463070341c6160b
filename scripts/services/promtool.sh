#!/usr/bin/env bash
# Test "service": not a server, Debian's promtool (package prometheus), which test/deploy checks
# deploy/prometheus/*.rules.yaml with. `up DIR` installs it once and prints `export PROMTOOL_BIN=…`;
# when it cannot be installed the run goes on with PROMTOOL_UNAVAILABLE, so only that check skips
# (the metric-name check of the same spec still runs). `down DIR`: nothing to stop.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$ROOT/scripts/services/lib.sh"
case "${1:-}" in
  up)
    mkdir -p "$2"
    if command -v promtool >/dev/null || apt_install prometheus 2>"$2/install.log"; then
      echo "export PROMTOOL_BIN=$(printf %q "$(command -v promtool)")"
    else
      tail -5 "$2/install.log" >&2
      echo "export PROMTOOL_UNAVAILABLE=$(printf %q "promtool could not be installed")"
    fi
    ;;
  down) ;;
  *)
    echo "usage: $0 up DIR | down DIR" >&2
    exit 2
    ;;
esac

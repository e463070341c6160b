#!/usr/bin/env bash
# Test "service": not a server, the helm binary test/deploy/helm.spec.ts renders the chart with.
# `up DIR` builds it once (scripts/tools/helm.sh) and prints `export HELM_BIN=…`; when it cannot be
# built the run goes on and prints HELM_UNAVAILABLE (the reason), so only the helm spec skips.
# `down DIR`: nothing runs, nothing to stop.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
case "${1:-}" in
  up)
    mkdir -p "$2"
    if bin="$(bash "$ROOT/scripts/tools/helm.sh" 2>"$2/build.log")"; then
      echo "export HELM_BIN=$(printf %q "$bin")"
    else
      tail -5 "$2/build.log" >&2
      echo "[helm] build failed; the helm spec will skip" >&2
      echo "export HELM_UNAVAILABLE=$(printf %q "helm could not be built: $(tail -1 "$2/build.log")")"
    fi
    ;;
  down) ;;
  *)
    echo "usage: $0 up DIR | down DIR" >&2
    exit 2
    ;;
esac

#!/usr/bin/env bash
# Test service: Debian's chromium for the browser suites (test/browser), driven by playwright-core.
# Nothing to start: `up DIR` installs the package once and prints where the binary is; `down` is a no-op.
# Never a downloaded browser build: the package comes from Debian's archive through apt-get.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$ROOT/scripts/services/lib.sh"
case "$1" in
  up)
    if ! command -v chromium >/dev/null 2>&1; then apt_install chromium fonts-dejavu-core; fi
    path="$(command -v chromium)"
    "$path" --version >&2
    echo "export CHROMIUM_PATH=$path"
    ;;
  down) ;;
esac

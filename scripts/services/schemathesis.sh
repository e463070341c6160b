#!/usr/bin/env bash
# Test service: schemathesis (PyPI), which generates requests from docs/openapi.json and checks the
# answers against it: test/e2e/api-fuzz.e2e-spec.ts runs it against the built server.
# Nothing to start: `up DIR` installs it once into a virtualenv under .tools and prints where it is;
# `down` is a no-op. Pinned: a new release may add checks, which a change of the pin then takes on.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VERSION=4.32.5
VENV="$ROOT/.tools/schemathesis-$VERSION"
case "$1" in
  up)
    if [ ! -x "$VENV/bin/schemathesis" ]; then
      echo "[schemathesis] installing schemathesis $VERSION from PyPI" >&2
      rm -rf "$VENV"
      python3 -m venv "$VENV"
      "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$VERSION" >&2
    fi
    "$VENV/bin/schemathesis" --version >&2
    echo "export SCHEMATHESIS_PATH=$VENV/bin/schemathesis"
    ;;
  down) ;;
esac

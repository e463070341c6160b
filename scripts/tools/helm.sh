#!/usr/bin/env bash
# Helm v3 for rendering and linting helm/chatbox: built once with `go install` into .tools/bin from
# the Go module proxy (no binary download), then cached. Prints the binary's path on stdout.
# Pinned: the proxy here refuses @latest. helm's go.mod has no replace directives, so plain
# `go install` works (no vendored tools module as for FerretDB). -X stamps the patch version, which
# `go install` builds leave at "v3.19", and the Kubernetes version helm assumes for template/lint
# (its Makefile derives 1.34 from client-go v0.34; without it 1.20, older than the chart allows);
# -s -w drop debug info (a smaller, faster link).
# First build (measured, 2 cores): 2 min 18 s with a warm Go cache for other tools, 4 min 43 s with
# empty Go module and build caches on a busy machine; cached: instant (the stamp file says which).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HELM_VERSION="v3.19.5"
K8S_MINOR="34" # helm v3.19.5 is built against k8s.io/client-go v0.34
BIN="$ROOT/.tools/bin/helm"
STAMP="$BIN.version"
STAMP_TEXT="$HELM_VERSION k8s 1.$K8S_MINOR"

source "$ROOT/scripts/tool-cache.sh"
CACHED="helm-$HELM_VERSION-k8s1.$K8S_MINOR"

if [ -x "$BIN" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$STAMP_TEXT" ]; then
  echo "$BIN"
  exit 0
fi
mkdir -p "$ROOT/.tools/bin"
if from_cache "$CACHED" "$BIN"; then
  echo "$STAMP_TEXT" >"$STAMP"
  echo "$BIN"
  exit 0
fi
command -v go >/dev/null || { echo "[helm] go is not installed: cannot build helm" >&2; exit 1; }
mkdir -p "$ROOT/.tools/bin"
echo "[helm] building helm $HELM_VERSION with go install (first run only, 2-5 min)" >&2
started=$SECONDS
# build into a scratch GOBIN and move it in, so an interrupted build never leaves a broken binary
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
GOBIN="$work" GOFLAGS=-buildvcs=false go install \
  -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION $(
    for pkg in pkg/chartutil pkg/lint/rules; do
      printf -- '-X helm.sh/helm/v3/%s.k8sVersionMajor=1 -X helm.sh/helm/v3/%s.k8sVersionMinor=%s ' "$pkg" "$pkg" "$K8S_MINOR"
    done
  )" \
  "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2
mv "$work/helm" "$BIN"
echo "$STAMP_TEXT" >"$STAMP"
to_cache "$BIN" "$CACHED"
echo "[helm] built in $((SECONDS - started)) s" >&2
echo "$BIN"

#!/usr/bin/env bash
# Source this file: a cache of the tools the scripts build or fetch (FerretDB, MinIO, helm, Node),
# kept per machine outside the checkout, as Go's and npm's own caches are. A fresh clone (CI's)
# copies a tool from it instead of building it again: the Go builds of FerretDB and MinIO alone
# held the first test phase for ~75 s on this 2-core machine with Go's build cache warm (each link
# is a full one), ~6 min without. Each entry's name carries its version or patch stamp, so
# checkouts that pin other versions keep theirs. CHATBOX_TOOL_CACHE moves it; `off` turns it off.
TOOL_CACHE="${CHATBOX_TOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/chatbox-tools}"

# from_cache NAME DEST: copies the cached NAME (a file or a directory) to DEST; fails when absent
from_cache() {
  [ "$TOOL_CACHE" != off ] && [ -e "$TOOL_CACHE/$1" ] || return 1
  local tmp="$2.from-cache.$$"
  rm -rf "$tmp"
  cp -a "$TOOL_CACHE/$1" "$tmp" && mv -f "$tmp" "$2" 2>/dev/null || {
    rm -rf "$tmp"
    return 1
  }
}

# to_cache SRC NAME: keeps a copy of SRC as NAME (best effort: a read-only home only loses the
# cache); copied aside and moved in, so a run reading the cache never sees half a tool
to_cache() {
  [ "$TOOL_CACHE" != off ] || return 0
  mkdir -p "$TOOL_CACHE" 2>/dev/null || return 0
  local tmp="$TOOL_CACHE/.$2.$$"
  { cp -a "$1" "$tmp" && mv -fT "$tmp" "$TOOL_CACHE/$2"; } 2>/dev/null || rm -rf "$tmp"
  return 0
}

# keep_newest GLOB N: only the N newest cached entries matching GLOB stay (installed packages are
# ~600 MB a lock file)
keep_newest() {
  [ "$TOOL_CACHE" != off ] && [ -d "$TOOL_CACHE" ] || return 0
  (cd "$TOOL_CACHE" && ls -1dt -- $1 2>/dev/null | tail -n +"$(($2 + 1))" | xargs -r rm -rf --) || true
}

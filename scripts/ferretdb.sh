#!/usr/bin/env bash
# FerretDB 1.24 (SQLite backend) on loopback: `install`, `start PORT DATA_DIR`, `stop DATA_DIR`.
# Built once into .tools/bin from a pinned tools module (scripts/tools/ferretdb: go.mod + go.sum).
# Plain `go install …@v1.24.2` is not used: it asks the proxy for @latest (deprecation check),
# which the registry mirror here refuses, and its binary panics for want of version.txt.
# One patch (scripts/tools/ferretdb/pushdown-id.patch) to the SQLite backend's `_id` lookups: they
# use the `_id` index (stock 1.24 writes them as another expression than the index's, so SQLite
# scans the table, JSON-parsing every document), and any filter holding an exact `_id` is pushed
# down, not only `{_id}` alone (else chatbox's compare-and-set appends decode every session in Go).
# A second (pushdown-scalars.patch) pushes down an exact string `room_id` or `user_id` (fields chatbox
# only ever stores as strings) on their indexes: a room's history, a user's rooms and sessions read
# their own rows instead of every row of the collection. The handler still applies the whole filter.
# A third (pushdown-seq.patch) lets SQLite answer a room's page of messages and the public room list:
# `seq`, `last_message_at` and `created_at` (a number or date in every chatbox document holding them)
# are indexed as their SQL value, and a wholly SQL-expressible filter gets its order by them and its
# limit in SQL, and a `count` of one is a SQL COUNT; `_id`, `room_id`, `user_id` and `message_id`
# lists ($in of strings) go down too. A history, resume or unread read then reads the rows it returns,
# not every row of the room.
# A fourth (pushdown-sessions.patch) does the same for the sessions collection: the admin list's
# filters on booleans (`is_active`, `admin_assisted`, `help_requested`, `console`), dates (stored as
# milliseconds; indexed as such) and nullable numbers (`duration_ms`), its orders, skip + limit, its
# `count`, and the idle sweep's `{is_active, last_activity < t}`: pages read 20 rows, not 100k; under
# an order ending with `_id` SQL skips a page's earlier rows too. And a find decodes only the fields its
# projection keeps plus those its filter and sort read: a session's head is read without decoding its
# messages (a 500-turn session's head: 63-74 ms -> 15-27 ms on this machine).
# A fifth (pushdown-zrooms.patch; named to apply last) counts a room list's unread windows in one
# command: a `$or` whose clauses are each wholly SQL-expressible goes down as SQL's OR (each clause on
# its index), in find, count and aggregate, and an aggregate of exactly a wholly SQL-expressible
# `$match` and `$group: {_id: "$room_id" (a field only ever a string), n: {$sum: 1}}` is counted in SQL:
# `SELECT r, COUNT(*)` per room (UNION ALL; GROUP BY when the clauses do not each pin the field): one
# small document per room, none decoded per message. chat_messages' `kind` and `sender_id` are indexed
# and compared as their SQL value (`->>`), so chatbox's (room_id, seq, kind, sender_id) index answers an
# unread window from its entries (SQLite reads a JSON-text `->` expression from the row, parsing it).
# A sixth (untracked-release.patch) turns off FerretDB's resource tracking outside debug builds: it
# ran for every document iterator (a stack captured into a pprof profile under a lock, and a
# finalizer), ~6% of the store's CPU in stack walking alone under chatbox's history reads (perf).
# A seventh (zz-fast-json.patch; go-json is in go.mod and tools.go so `go mod vendor` brings it)
# decodes sjson, the JSON each document is stored as, once per value with goccy/go-json instead of a
# new encoding/json Decoder per value, shares a small document's decoded schema, and reads/writes
# sjson's own integer and string forms directly; the encoding stays byte for byte encoding/json's
# (the `_id` index and pushed-down filters compare JSON text; scripts/ferretdb-codec-cross.sh reads
# one build's data with another). Store CPU per page of 100 room messages 8.2-12.6 -> 2.7-4.3 ms, per
# append to a 500-message session 49.5-73.8 -> 28.1-36.5 ms (6 rounds each; bench/README.md).
# An eighth (update-per-statement.patch) fixes a hang: an update command closed each statement's
# query only when the command ended, and a limited query holds its pooled SQLite connection until
# closed, so a command of 100 or more statements (one bulkWrite) took the whole pool of 100, waited
# forever, and wedged the store; each statement's query is now closed once it is applied.
# A ninth (zz-room-changes.patch) adds a room's change log (`chat_room_changes`, by `n`) to the
# shapes the pushdown patches answer in SQLite: its head and what follows a mark, on `(room_id, n)`.
# zzz-sqlite-cpu.vendor.patch (applied in vendor/, after the others) cuts the transpiled SQLite's CPU per
# UPDATE of a long row: libc's memcpy/memmove/memcmp are Go's copy and bytes.Compare (transpiled musl
# went byte or word at a time), and SQLite's JSON parse cache compares a row's text without first
# copying it to NUL-terminate it, which an UPDATE did for each JSON-path index expression over the
# old row: an append to a 500-message session with chatbox's 8 session indexes, store CPU 40-56 ->
# 27.5-37 ms (3 rounds, bench/README.md "Session 12"). Nothing stored changes.
# update-addtoset-set.patch: $addToSet with $each looks the array's strings up in a set, not each
# value against every element (types.Array.Contains): a message's search tokens joining its session's
# set (hundreds into thousands) were ~25% of the store's CPU per append (perf); store CPU per append
# to a 20-turn session of prose 10-21 -> 8-13 ms, 100 turns 23-44 -> 21-26 ms (bench/README.md).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cmd="${1:-}"

source "$ROOT/scripts/tool-cache.sh"
TOOLS="$ROOT/scripts/tools/ferretdb"
# one binary per module and patch set: checkouts with other patches (worktrees sharing .tools) keep theirs
STAMP="$(cat "$TOOLS"/go.sum "$TOOLS"/*.patch | sha256sum | cut -c1-16)"
BIN="$ROOT/.tools/bin/ferretdb-$STAMP"

install() {
  [ -x "$BIN" ] && return 0
  mkdir -p "$ROOT/.tools/bin"
  from_cache "$(basename "$BIN")" "$BIN" && return 0
  echo "[ferretdb] building FerretDB v1.24.2 (first run only, ~2 min)" >&2
  # Vendored build in a scratch copy: FerretDB's version package panics unless it embeds a
  # build/version/version.txt, which release builds generate and the module does not carry.
  local work
  work="$(mktemp -d)"
  cp "$TOOLS"/{go.mod,go.sum,tools.go} "$work/"
  (
    cd "$work"
    go mod vendor
    cd vendor/github.com/FerretDB/FerretDB
    echo v1.24.2 >build/version/version.txt
    # *.vendor.patch change other vendored modules (FerretDB's SQLite driver): applied in vendor/
    for patch in "$TOOLS"/*.patch; do
      case "$patch" in
        *.vendor.patch) (cd "$work/vendor" && git apply "$patch") ;;
        *) git apply "$patch" ;;
      esac
    done
    cd "$work"
    # built aside and moved in: a FerretDB running from the old binary keeps its file
    go build -mod=vendor -o "$BIN.new" github.com/FerretDB/FerretDB/cmd/ferretdb
    mv -f "$BIN.new" "$BIN"
  )
  rm -rf "$work"
  to_cache "$BIN" "$(basename "$BIN")"
}

start() {
  local port="$1" dir="$2"
  install
  mkdir -p "$dir"
  # Already running here: ready when it is this port's listener. Another port's (a start that timed
  # out on a loaded machine left it running, and its retry chose another port) is stopped first: a
  # CI run's early-reply test froze that one while its app wrote to whatever answered the new port.
  if [ -f "$dir/ferretdb.pid" ] && kill -0 "$(cat "$dir/ferretdb.pid")" 2>/dev/null; then
    if listening "$port" "$(cat "$dir/ferretdb.pid")"; then return 0; fi
    stop "$dir"
  fi
  # GOGC=400 (FERRETDB_GOGC overrides): FerretDB allocates a decoded copy of every document it reads,
  # and Go's collector was ~15% of its CPU under bench:rooms' history reads (perf); with 400, three
  # back-to-back pairs of that phase had history p95 86 -> 57, 87 -> 76, 113 -> 88 ms and the room
  # list's 38 -> 33, 35 -> 32, 56 -> 35 ms (bench/README.md, "Session 11"), for a larger Go heap
  GOGC="${FERRETDB_GOGC:-400}" "$BIN" --handler=sqlite --sqlite-url="file:$dir/" --state-dir="$dir" \
    --listen-addr="127.0.0.1:$port" --debug-addr=- --telemetry=disable --log-level=warn >"$dir/ferretdb.log" 2>&1 &
  local pid=$!
  echo "$pid" >"$dir/ferretdb.pid"
  for _ in $(seq 1 300); do
    if listening "$port" "$pid"; then return 0; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  # not left running: a retry on another port would find it alive and take it for its own
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$dir/ferretdb.pid"
  echo "[ferretdb] did not start on port $port; see $dir/ferretdb.log" >&2
  return 1
}

# Whether FerretDB `pid` listens on `port`. A connect alone was answered by whatever listened there:
# a port another test's server took between its choice and this start, while this FerretDB died on
# the bind, so a test froze (SIGSTOP) a dead process and its app went on writing to the other store
# (a CI run's early-reply test). `ss` names the listener's process; without it, a connect and a
# living process.
listening() {
  local port="$1" pid="$2"
  if command -v ss >/dev/null 2>&1; then
    ss -ltnpH "sport = :$port" 2>/dev/null | grep -q "pid=$pid,"
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && sleep 0.2 && kill -0 "$pid" 2>/dev/null
  fi
}

# Stopped means gone: after SIGTERM FerretDB closes its listener at once but keeps serving the
# connections it has for a few seconds, then leaves them open and unanswered until it exits about a
# minute later (measured: a client's command hung 30 s on one). A store restarted meanwhile ran
# beside its old self on the same SQLite files. Wait up to 5 s, then SIGKILL.
stop() {
  local dir="$1" pid
  if [ -f "$dir/ferretdb.pid" ]; then
    pid="$(cat "$dir/ferretdb.pid")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$dir/ferretdb.pid"
  fi
}

case "$cmd" in
  install) install ;;
  start) start "$2" "$3" ;;
  stop) stop "$2" ;;
  *) echo "usage: $0 install | start PORT DIR | stop DIR" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Source this file from a script that needs a throwaway PostgreSQL (fixture capture, benchmarks).
#   pg_throwaway_start [extra postgresql.conf lines...]   -> exports PGHOST, PGPORT, PGUSER, PGDATABASE,
#                                                            PG_THROWAWAY_DIR, PG_THROWAWAY_BINDIR
#   pg_throwaway_stop                                      -> stops the server and removes its folder
# The cluster is PGLocalCluster's (the tests' and `pgrepl demo`'s): a temporary folder, a Unix socket
# there and 127.0.0.1 at a free port, trust authentication, wal_level=logical; run as the `postgres`
# user when the script runs as root. PG_BINDIR picks the server build. It is held by a
# `pgrepl-throwaway` process that removes it when this script closes its input or dies.
pg_throwaway_start() {
    local repo line
    repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    (cd "$repo" && swift build --product pgrepl-throwaway 2>&1 | grep -E 'error|warning' >&2) || true
    local tool
    tool=$(cd "$repo" && swift build --show-bin-path)/pgrepl-throwaway
    [ -x "$tool" ] || { echo "pgrepl-throwaway did not build" >&2; return 1; }
    coproc PG_THROWAWAY { "$tool" "$@"; }
    PG_THROWAWAY_PROCESS=$PG_THROWAWAY_PID
    while IFS= read -r line <&"${PG_THROWAWAY[0]}"; do
        [ "$line" = ready ] && break
        export "${line?}"
    done
    [ "${line:-}" = ready ] || { echo "the throwaway PostgreSQL did not start" >&2; return 1; }
}

pg_throwaway_stop() {
    [ -n "${PG_THROWAWAY_PROCESS:-}" ] || return 0
    # Its input ends: it stops the server and removes the folder.
    local input=${PG_THROWAWAY[1]:-}
    [ -n "$input" ] && eval "exec $input>&-"
    wait "$PG_THROWAWAY_PROCESS" 2>/dev/null || true
    unset PG_THROWAWAY_PROCESS PG_THROWAWAY_DIR
}

#!/usr/bin/env bash
# Source this file from a script that needs a throwaway PostgreSQL (fixture capture, benchmarks).
#   pg_throwaway_start [extra postgresql.conf lines...]   -> exports PGHOST, PGPORT, PGUSER, PGDATABASE
#   pg_throwaway_stop                                      -> stops the server and removes its folder
# The cluster lives in a temporary folder, listens on a Unix socket there and on 127.0.0.1 at a free
# port, uses trust authentication and wal_level=logical. When run as root, the server runs as the
# `postgres` user (PostgreSQL refuses to run as root).
pg_throwaway_bindir() {
    if [ -n "${PG_BINDIR:-}" ]; then echo "$PG_BINDIR"; return; fi
    if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then pg_config --bindir; return; fi
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [ -x "$d/initdb" ] && { echo "$d"; return; }
    done
    command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return; }
    echo "no PostgreSQL server found: apt-get install postgresql" >&2; return 1
}

pg_throwaway_as() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_throwaway_start() {
    local bindir; bindir=$(pg_throwaway_bindir) || return 1
    PG_THROWAWAY_DIR=$(mktemp -d /tmp/pgrepl-capture.XXXXXX)
    chmod 755 "$PG_THROWAWAY_DIR"
    [ "$(id -u)" = 0 ] && chown postgres "$PG_THROWAWAY_DIR"
    PGPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    pg_throwaway_as "$bindir/initdb" -D "$PG_THROWAWAY_DIR/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null || return 1
    {
        echo "wal_level = logical"
        echo "max_wal_senders = 20"
        echo "max_replication_slots = 20"
        echo "listen_addresses = '127.0.0.1'"
        echo "port = $PGPORT"
        echo "unix_socket_directories = '$PG_THROWAWAY_DIR'"
        echo "fsync = off"
        for line in "$@"; do echo "$line"; done
    } | pg_throwaway_as tee -a "$PG_THROWAWAY_DIR/data/postgresql.conf" >/dev/null
    pg_throwaway_as "$bindir/pg_ctl" -D "$PG_THROWAWAY_DIR/data" -l "$PG_THROWAWAY_DIR/log" -w start >/dev/null || {
        cat "$PG_THROWAWAY_DIR/log" >&2; return 1; }
    export PGHOST=$PG_THROWAWAY_DIR PGPORT PGUSER=postgres PGDATABASE=postgres PG_THROWAWAY_DIR PG_THROWAWAY_BINDIR=$bindir
}

pg_throwaway_stop() {
    [ -n "${PG_THROWAWAY_DIR:-}" ] || return 0
    pg_throwaway_as "$PG_THROWAWAY_BINDIR/pg_ctl" -D "$PG_THROWAWAY_DIR/data" -m fast -w stop >/dev/null 2>&1
    rm -rf "$PG_THROWAWAY_DIR"
    unset PG_THROWAWAY_DIR
}

#!/usr/bin/env bash
# Protocol 1, binary tuples (falls back to text per column without a send function), logical messages on.
source "$(dirname "$0")/capture-lib.sh"
pg_throwaway_start
sql -c "SELECT pg_create_logical_replication_slot('s', 'pgoutput')" >/dev/null
sql -f "$FIXTURES/workload-basic.sql" >/dev/null
capture proto1-binary s "'proto_version', '1', 'publication_names', 'pub,pub_nothing', 'messages', 'true', 'binary', 'true'"

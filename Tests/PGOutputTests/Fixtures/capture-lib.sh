#!/usr/bin/env bash
# Shared helpers for the capture-*.sh scripts. Each script starts a throwaway PostgreSQL cluster,
# creates a logical slot, runs a workload and writes every pgoutput message the slot produces to
# <mode>/messages.hex: '#' header lines naming the options, then one hex-encoded message per line.
set -euo pipefail
FIXTURES=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$FIXTURES/../../.." && pwd)
# shellcheck source=../../../Scripts/throwaway-postgres.sh
source "$REPO/Scripts/throwaway-postgres.sh"

sql() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

# capture MODE SLOT 'option', 'value', ...   writes $FIXTURES/MODE/messages.hex
capture() {
    local mode=$1 slot=$2 options=$3
    mkdir -p "$FIXTURES/$mode"
    {
        echo "# pgoutput messages captured from PostgreSQL $(psql -XAtc 'SHOW server_version')"
        echo "# by Tests/PGOutputTests/Fixtures/capture-$mode.sh with"
        echo "# SELECT encode(data, 'hex') FROM pg_logical_slot_get_binary_changes('$slot', NULL, NULL, $options)"
        echo "# One message per line (the payload of one XLogData frame), in stream order."
        psql -X -At -v ON_ERROR_STOP=1 -c \
            "SELECT encode(data, 'hex') FROM pg_logical_slot_get_binary_changes('$slot', NULL, NULL, $options)"
    } > "$FIXTURES/$mode/messages.hex"
    echo "wrote $FIXTURES/$mode/messages.hex ($(grep -vc '^#' "$FIXTURES/$mode/messages.hex") messages)"
}

trap pg_throwaway_stop EXIT

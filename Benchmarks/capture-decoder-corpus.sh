#!/usr/bin/env bash
# Captures the decoder benchmark corpus from a throwaway PostgreSQL server.
#
# Output (default folder: Benchmarks/.corpus, which git ignores):
#   pgoutput-text.bin    pgoutput messages (proto_version 1, text tuples)
#   pgoutput-binary.bin  the same changes decoded with 'binary' 'true'
#   server-version.txt   the server's version string
# Each .bin file is a sequence of records: a big-endian UInt32 byte count, then one pgoutput
# message (the XLogData payload, starting with its tag byte).
#
# The workload is Benchmarks/run's (sql/workload-schema.sql) on the issue-6 table `bench` (bigint,
# text, int, numeric, bool, timestamptz, text[], jsonb): ROWS inserts, ROWS/2 updates and ROWS/5
# deletes in transactions of 100 changes, then SMALL_TXNS small transactions of 1-3 statements
# (pgbench-like). With the defaults (ROWS=400000, SMALL_TXNS=100000) that is about 1.1M messages
# per file.
#
# Usage: Benchmarks/capture-decoder-corpus.sh [output-folder]   (needs a PostgreSQL server)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
out=${1:-$here/.corpus}
rows=${ROWS:-400000}
small=${SMALL_TXNS:-100000}
mkdir -p "$out"
# shellcheck source=/dev/null
source "$repo/Scripts/throwaway-postgres.sh"
pg_throwaway_start "max_wal_size = '4GB'" "checkpoint_timeout = '1h'"
trap pg_throwaway_stop EXIT

psql() { command "$PG_THROWAWAY_BINDIR/psql" -X -v ON_ERROR_STOP=1 -q "$@"; }

psql -f "$here/sql/workload-schema.sql"
psql <<SQL
SELECT 'init' FROM pg_create_logical_replication_slot('slot_text', 'pgoutput');
SELECT 'init' FROM pg_create_logical_replication_slot('slot_binary', 'pgoutput');
CALL bench_bulk($rows, 100);
CALL bench_small($rows + 1, $small);
SQL

dump() {  # slot, output file, extra options
    local slot=$1 file=$2 extra=$3
    psql -At -c "COPY (SELECT encode(data, 'hex') FROM pg_logical_slot_get_binary_changes('$slot', NULL, NULL,
        'proto_version', '1', 'publication_names', 'bench'$extra)) TO STDOUT" |
        python3 -c '
import struct, sys
out = open(sys.argv[1], "wb")
count = 0
for line in sys.stdin:
    data = bytes.fromhex(line.strip())
    out.write(struct.pack(">I", len(data)))
    out.write(data)
    count += 1
out.close()
print(f"{sys.argv[1]}: {count} messages")
' "$file"
}
dump slot_text "$out/pgoutput-text.bin" ""
dump slot_binary "$out/pgoutput-binary.bin" ", 'binary', 'true'"
psql -At -c 'SHOW server_version' >"$out/server-version.txt"
ls -l "$out"

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
# The workload runs on the issue-6 table (bigint, text, int, numeric, bool, timestamptz, text[],
# jsonb): ROWS inserts, ROWS/2 updates and ROWS/5 deletes in transactions of 100 changes, then
# SMALL_TXNS small transactions of one insert, one update and one delete each (pgbench-like).
# With the defaults (ROWS=400000, SMALL_TXNS=100000) that is about 1.2M messages per file.
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

psql <<SQL
CREATE TABLE orders (
    id bigint PRIMARY KEY,
    customer text NOT NULL,
    qty int NOT NULL,
    price numeric(12,2) NOT NULL,
    paid bool NOT NULL,
    created_at timestamptz NOT NULL,
    tags text[],
    attrs jsonb
);
CREATE PUBLICATION pub FOR TABLE orders;
SELECT 'init' FROM pg_create_logical_replication_slot('slot_text', 'pgoutput');
SELECT 'init' FROM pg_create_logical_replication_slot('slot_binary', 'pgoutput');

-- Bulk phase: transactions of 100 changes each.
CREATE PROCEDURE bulk(total bigint) LANGUAGE plpgsql AS \$\$
DECLARE
    b bigint;
BEGIN
    FOR b IN 0 .. (total / 100) - 1 LOOP
        INSERT INTO orders
        SELECT i, 'customer ' || (i % 9973), (i % 1000)::int, ((i * 37) % 1000000) / 100.0, i % 3 = 0,
               timestamptz '2024-01-01 00:00:00+00' + i * interval '1.25 second',
               ARRAY['tag' || (i % 7), 'priority-' || (i % 3)],
               jsonb_build_object('source', 'web', 'n', i % 100, 'ok', i % 2 = 0)
        FROM generate_series(b * 100 + 1, b * 100 + 100) AS i;
        COMMIT;
    END LOOP;
    FOR b IN 0 .. (total / 2 / 100) - 1 LOOP
        UPDATE orders SET qty = qty + 1, paid = NOT paid, attrs = attrs || '{"updated": true}'
        WHERE id BETWEEN b * 200 + 1 AND b * 200 + 200 AND id % 2 = 0;
        COMMIT;
    END LOOP;
    FOR b IN 0 .. (total / 5 / 100) - 1 LOOP
        DELETE FROM orders WHERE id BETWEEN b * 500 + 1 AND b * 500 + 500 AND id % 5 = 0;
        COMMIT;
    END LOOP;
END \$\$;

-- Small transactions: one insert, one update, one delete each.
CREATE PROCEDURE small(first bigint, total bigint) LANGUAGE plpgsql AS \$\$
DECLARE
    i bigint;
BEGIN
    FOR i IN first .. first + total - 1 LOOP
        INSERT INTO orders VALUES (i, 'customer ' || (i % 9973), (i % 1000)::int, ((i * 37) % 1000000) / 100.0,
            i % 3 = 0, timestamptz '2024-01-01 00:00:00+00' + i * interval '1.25 second',
            ARRAY['tag' || (i % 7), 'priority-' || (i % 3)], jsonb_build_object('source', 'api', 'n', i % 100));
        UPDATE orders SET qty = qty + 1 WHERE id = i;
        DELETE FROM orders WHERE id = i;
        COMMIT;
    END LOOP;
END \$\$;
CALL bulk($rows);
CALL small($rows + 1, $small);
SQL

dump() {  # slot, output file, extra options
    local slot=$1 file=$2 extra=$3
    psql -At -c "COPY (SELECT encode(data, 'hex') FROM pg_logical_slot_get_binary_changes('$slot', NULL, NULL,
        'proto_version', '1', 'publication_names', 'pub'$extra)) TO STDOUT" |
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

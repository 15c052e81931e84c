#!/usr/bin/env bash
# Protocol 2 with streaming of in-progress transactions (logical_decoding_work_mem = 64kB):
# a streamed commit with every change kind, a subtransaction rolled back inside a streamed
# transaction, and a whole streamed transaction rolled back (Stream Abort).
source "$(dirname "$0")/capture-lib.sh"
pg_throwaway_start "logical_decoding_work_mem = 64kB"
sql -c "SELECT pg_create_logical_replication_slot('s', 'pgoutput')" >/dev/null
sql >/dev/null <<'SQL'
CREATE TABLE items (id int PRIMARY KEY, payload text);
ALTER TABLE items REPLICA IDENTITY FULL;
CREATE TABLE small (id int PRIMARY KEY);
CREATE PUBLICATION pub FOR TABLE items, small;

INSERT INTO small VALUES (1);                       -- an ordinary, non-streamed transaction

BEGIN;                                              -- streamed, committed
INSERT INTO items SELECT i, md5(i::text) FROM generate_series(1, 1500) i;
SELECT pg_logical_emit_message(true, 'stream.tx', 'inside a stream');
UPDATE items SET payload = 'updated' WHERE id <= 3;
DELETE FROM items WHERE id = 4;
TRUNCATE small;
COMMIT;

BEGIN;                                              -- streamed, a subtransaction rolled back
INSERT INTO items SELECT i, md5(i::text) FROM generate_series(2001, 3000) i;
SAVEPOINT sp;
INSERT INTO items SELECT i, md5(i::text) FROM generate_series(3001, 4500) i;
ROLLBACK TO SAVEPOINT sp;
INSERT INTO items VALUES (5000, 'after rollback to savepoint');
COMMIT;

BEGIN;                                              -- streamed, then rolled back entirely
INSERT INTO items SELECT i, md5(i::text) FROM generate_series(6001, 7500) i;
ROLLBACK;
-- An abort record is not flushed on its own; this commit flushes WAL past it so that
-- pg_logical_slot_get_binary_changes (which reads up to the flush position) decodes it.
INSERT INTO small VALUES (2);
SQL
capture proto2-streaming s "'proto_version', '2', 'publication_names', 'pub', 'messages', 'true', 'streaming', 'on'"

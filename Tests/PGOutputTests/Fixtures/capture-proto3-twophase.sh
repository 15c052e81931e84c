#!/usr/bin/env bash
# Protocol 3 with two_phase on (slot created with two_phase = true) and streaming on:
# PREPARE + COMMIT PREPARED, PREPARE + ROLLBACK PREPARED, and a large prepared transaction that is
# streamed (Stream Prepare) and then committed.
source "$(dirname "$0")/capture-lib.sh"
pg_throwaway_start "max_prepared_transactions = 10" "logical_decoding_work_mem = 64kB"
sql -c "SELECT pg_create_logical_replication_slot('s', 'pgoutput', false, true)" >/dev/null
sql >/dev/null <<'SQL'
CREATE TABLE accounts (id int PRIMARY KEY, balance int);
CREATE PUBLICATION pub FOR TABLE accounts;

BEGIN;
INSERT INTO accounts VALUES (1, 100), (2, 200);
PREPARE TRANSACTION 'tx-commit';
COMMIT PREPARED 'tx-commit';

BEGIN;
UPDATE accounts SET balance = balance - 50 WHERE id = 1;
PREPARE TRANSACTION 'tx-rollback';
ROLLBACK PREPARED 'tx-rollback';

BEGIN;
INSERT INTO accounts SELECT i, i FROM generate_series(10, 1500) i;
PREPARE TRANSACTION 'tx-streamed';
COMMIT PREPARED 'tx-streamed';
SQL
capture proto3-twophase s "'proto_version', '3', 'publication_names', 'pub', 'two_phase', 'true', 'streaming', 'on'"

-- The issue-6 workload, shared by Benchmarks/run and capture-decoder-corpus.sh.
--
-- Table `bench` of mixed types and a publication `bench` for it, then two procedures:
--   CALL bench_bulk(rows, txn_size)    rows inserts, rows/2 updates, rows/5 deletes,
--                                      txn_size changes per transaction
--   CALL bench_small(first_id, txns)   txns small transactions of 1 to 3 statements
--                                      (insert; insert + update; insert + update + delete)
-- bench_expected_changes(rows, txns) is the number of row changes the two calls make.
CREATE TABLE bench (
    id bigint PRIMARY KEY,
    t text NOT NULL,
    n int NOT NULL,
    num numeric(12,2) NOT NULL,
    b bool NOT NULL,
    ts timestamptz NOT NULL,
    arr text[],
    j jsonb
);
CREATE PUBLICATION bench FOR TABLE bench;

CREATE PROCEDURE bench_bulk(total bigint, txn_size bigint) LANGUAGE plpgsql AS $$
DECLARE
    lo bigint;
BEGIN
    -- Inserts: ids 1 .. total.
    lo := 0;
    WHILE lo < total LOOP
        INSERT INTO bench
        SELECT i, 'customer ' || (i % 9973), (i % 1000)::int, ((i * 37) % 1000000) / 100.0, i % 3 = 0,
               timestamptz '2024-01-01 00:00:00+00' + i * interval '1.25 second',
               ARRAY['tag' || (i % 7), 'priority-' || (i % 3)],
               jsonb_build_object('source', 'web', 'n', i % 100, 'ok', i % 2 = 0)
        FROM generate_series(lo + 1, least(lo + txn_size, total)) AS i;
        COMMIT;
        lo := lo + txn_size;
    END LOOP;
    -- Updates: the even ids, txn_size per transaction.
    lo := 0;
    WHILE lo < (total / 2) * 2 LOOP
        UPDATE bench SET n = n + 1, b = NOT b, j = j || '{"updated": true}'
        WHERE id > lo AND id <= least(lo + 2 * txn_size, (total / 2) * 2) AND id % 2 = 0;
        COMMIT;
        lo := lo + 2 * txn_size;
    END LOOP;
    -- Deletes: the multiples of 5, txn_size per transaction.
    lo := 0;
    WHILE lo < (total / 5) * 5 LOOP
        DELETE FROM bench WHERE id > lo AND id <= least(lo + 5 * txn_size, (total / 5) * 5) AND id % 5 = 0;
        COMMIT;
        lo := lo + 5 * txn_size;
    END LOOP;
END $$;

CREATE PROCEDURE bench_small(first bigint, total bigint) LANGUAGE plpgsql AS $$
DECLARE
    i bigint;
BEGIN
    FOR i IN first .. first + total - 1 LOOP
        INSERT INTO bench VALUES (i, 'customer ' || (i % 9973), (i % 1000)::int, ((i * 37) % 1000000) / 100.0,
            i % 3 = 0, timestamptz '2024-01-01 00:00:00+00' + i * interval '1.25 second',
            ARRAY['tag' || (i % 7), 'priority-' || (i % 3)], jsonb_build_object('source', 'api', 'n', i % 100));
        IF i % 3 >= 1 THEN
            UPDATE bench SET n = n + 1 WHERE id = i;
        END IF;
        IF i % 3 = 2 THEN
            DELETE FROM bench WHERE id = i;
        END IF;
        COMMIT;
    END LOOP;
END $$;

CREATE FUNCTION bench_expected_changes(total bigint, small bigint) RETURNS bigint LANGUAGE sql AS $$
    SELECT total + total / 2 + total / 5
         + (SELECT count(*) + count(*) FILTER (WHERE i % 3 >= 1) + count(*) FILTER (WHERE i % 3 = 2)
            FROM generate_series(total + 1, total + small) AS i)
$$;

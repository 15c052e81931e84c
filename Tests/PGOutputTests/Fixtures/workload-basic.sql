-- Workload shared by the protocol 1 captures: every replica identity, unchanged TOAST,
-- TRUNCATE options, a custom type, a replication origin and logical decoding messages.
-- Run after the slot was created; the publication is named "pub".
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE ident_default (id int PRIMARY KEY, name text, feeling mood, score float8, tags text[], data bytea, at timestamptz);
CREATE TABLE ident_full (id int, name text);
ALTER TABLE ident_full REPLICA IDENTITY FULL;
CREATE TABLE ident_nothing (id int, name text);
ALTER TABLE ident_nothing REPLICA IDENTITY NOTHING;
CREATE TABLE ident_index (id int NOT NULL, code text NOT NULL, note text);
CREATE UNIQUE INDEX ident_index_code ON ident_index (code);
ALTER TABLE ident_index REPLICA IDENTITY USING INDEX ident_index_code;
CREATE TABLE toast_default (id int PRIMARY KEY, big text, n int);
ALTER TABLE toast_default ALTER COLUMN big SET STORAGE EXTERNAL;
CREATE TABLE toast_full (id int PRIMARY KEY, big text, n int);
ALTER TABLE toast_full ALTER COLUMN big SET STORAGE EXTERNAL;
ALTER TABLE toast_full REPLICA IDENTITY FULL;
CREATE TABLE parent (id int PRIMARY KEY);
CREATE TABLE child (id serial PRIMARY KEY, parent_id int REFERENCES parent (id));
CREATE PUBLICATION pub FOR TABLE ident_default, ident_full, ident_index, toast_default, toast_full, parent, child;
-- REPLICA IDENTITY NOTHING tables cannot be updated while a publication publishes their updates,
-- so this one is published for inserts only.
CREATE PUBLICATION pub_nothing FOR TABLE ident_nothing WITH (publish = 'insert');

INSERT INTO ident_default VALUES
    (1, 'one', 'happy', 1.5, '{a,b}', '\x00ff10', '2024-01-02 03:04:05.678901+00'),
    (2, NULL, NULL, NULL, NULL, NULL, NULL);
UPDATE ident_default SET name = 'uno' WHERE id = 1;            -- no old tuple
UPDATE ident_default SET id = 10 WHERE id = 2;                 -- key changed: old key 'K'
DELETE FROM ident_default WHERE id = 10;                       -- 'K'

INSERT INTO ident_full VALUES (1, 'a'), (2, 'b');
UPDATE ident_full SET name = 'aa' WHERE id = 1;                -- old row 'O'
DELETE FROM ident_full WHERE id = 2;                           -- 'O'

INSERT INTO ident_nothing VALUES (1, 'x');
UPDATE ident_nothing SET name = 'y';                           -- not published (insert only)

INSERT INTO ident_index VALUES (1, 'c1', 'n1');
UPDATE ident_index SET note = 'n2' WHERE code = 'c1';          -- key unchanged: no old tuple
UPDATE ident_index SET code = 'c2' WHERE code = 'c1';          -- 'K' with the index column
DELETE FROM ident_index WHERE code = 'c2';                     -- 'K'

-- ~64 kB of md5 hex stored out of line: updating another column leaves it as unchanged TOAST.
INSERT INTO toast_default SELECT 1, string_agg(md5(i::text), ''), 0 FROM generate_series(1, 2000) i;
UPDATE toast_default SET n = 1 WHERE id = 1;                   -- new tuple 'u', no old tuple
INSERT INTO toast_full SELECT 1, string_agg(md5(i::text), ''), 0 FROM generate_series(1, 2000) i;
UPDATE toast_full SET n = 1 WHERE id = 1;                      -- new 'u', old row 'O' has the value

INSERT INTO parent VALUES (1), (2);
INSERT INTO child (parent_id) VALUES (1), (2);
TRUNCATE parent CASCADE;                                       -- one Truncate, both tables, CASCADE
TRUNCATE child RESTART IDENTITY;                               -- RESTART IDENTITY

BEGIN;
INSERT INTO parent VALUES (3);
SELECT pg_logical_emit_message(true, 'test.tx', 'transactional payload');
COMMIT;
SELECT pg_logical_emit_message(false, 'test.nontx', '\x00ff00'::bytea);

-- A transaction replayed from a replication origin: Begin is followed by Origin.
SELECT pg_replication_origin_create('upstream');
SELECT pg_replication_origin_session_setup('upstream');
BEGIN;
SELECT pg_replication_origin_xact_setup('0/12345678', '2024-05-06 07:08:09+00');
INSERT INTO parent VALUES (4);
COMMIT;
SELECT pg_replication_origin_session_reset();

#!/usr/bin/env bash
# Captures golden fixtures for the typed-value decoder from a throwaway PostgreSQL server.
#
# Output (next to this script):
#   pgoutput-text.hex    pgoutput messages (proto_version 1, text tuples), one hex message per line
#   pgoutput-binary.hex  the same changes with binary 'true', one hex message per line
#   select.txt           the same rows from a plain SELECT: per row, the columns' text output
#                        hex-encoded (UTF-8) and separated by ',', or '-' for NULL
#   server-version.txt   the server's version string
#
# Usage: Tests/PGOutputTests/Fixtures/types/capture.sh   (needs a PostgreSQL server installed)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../../.." && pwd)
# shellcheck source=/dev/null
source "$repo/Scripts/throwaway-postgres.sh"
# A non-UTC zone with a half-hour offset, so timestamptz/timetz text carries a real offset.
pg_throwaway_start "timezone = 'Asia/Kolkata'"
trap pg_throwaway_stop EXIT

psql() { command "$PG_THROWAWAY_BINDIR/psql" -X -v ON_ERROR_STOP=1 -q "$@"; }

psql <<'SQL'
CREATE TYPE mood AS ENUM ('happy', 'sad', 'très content');
CREATE TABLE typed (
    id int4 PRIMARY KEY,
    c_bool bool, c_int2 int2, c_int4 int4, c_int8 int8, c_oid oid,
    c_float4 float4, c_float8 float8, c_numeric numeric, c_numeric_scaled numeric(12,4),
    c_text text, c_varchar varchar(20), c_bpchar char(5), c_name name, c_char "char",
    c_bytea bytea, c_uuid uuid, c_date date, c_time time, c_timetz timetz,
    c_timestamp timestamp, c_timestamptz timestamptz, c_interval interval,
    c_json json, c_jsonb jsonb, c_inet inet, c_cidr cidr, c_mood mood,
    a_bool bool[], a_bytea bytea[], a_int2 int2[], a_int4 int4[], a_int8 int8[], a_text text[],
    a_varchar varchar[], a_bpchar char(3)[], a_float4 float4[], a_float8 float8[],
    a_numeric numeric[], a_date date[], a_timestamp timestamp[], a_timestamptz timestamptz[],
    a_uuid uuid[], a_json json[], a_jsonb jsonb[], a_inet inet[], a_cidr cidr[],
    a_interval interval[], a_time time[], a_timetz timetz[], a_oid oid[], a_name name[],
    a_char "char"[], a_mood mood[]
);
CREATE PUBLICATION pub FOR TABLE typed;
SELECT 'init' FROM pg_create_logical_replication_slot('slot_text', 'pgoutput');
SELECT 'init' FROM pg_create_logical_replication_slot('slot_binary', 'pgoutput');

INSERT INTO typed VALUES (1,
    true, 12345, 2000000000, 9000000000000000000, 4000000000,
    3.25, 2.718281828459045, 12345.6789, 42.5,
    'hello', 'varchar', 'ab', 'a_name', 'x',
    '\xdeadbeef', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '2024-02-29', '13:14:15.123456', '13:14:15+05:30',
    '2024-02-29 13:14:15.5', '2024-02-29 13:14:15.25+00', '1 year 2 mons 3 days 04:05:06.789',
    '{"a": [1, 2.5, "x"]}', '{"b": {"c": null}, "a": 1}', '192.168.1.5/24', '10.0.0.0/8', 'happy',
    '{t,f}', '{"\\x00ff",NULL}', '{1,-2}', '{1,2,3}', '{9223372036854775807,-9223372036854775808}', '{a,b}',
    '{x,"y z"}', '{ab,c}', '{1.5,-0.25}', '{1e300,-1e-300}',
    '{1.5,-2,NaN}', '{2000-01-01,1999-12-31}', '{"2000-01-01 00:00:00"}', '{"2000-01-01 00:00:00+00"}',
    '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}', ARRAY['{"k": 1}'::json], ARRAY['[1, 2]'::jsonb], '{127.0.0.1,::1}', '{192.168.0.0/16}',
    '{"1 day","-2 hours"}', '{00:00:00,23:59:59.999999}', '{"12:00:00-08"}', '{1,4294967295}', '{pg_class,"two words"}',
    '{a,b}', '{happy,sad}');

INSERT INTO typed VALUES (2,
    false, -32768, -2147483648, -9223372036854775808, 0,
    'NaN', '-Infinity', -0.000123, -99999999.9999,
    'héllo wörld ✓ 日本語 "quoted" back\slash	tab
newline', '', 'abcde', 'naïve', 'é',
    '\x', '00000000-0000-0000-0000-000000000000', '0044-03-15 BC', '00:00:00', '23:59:59.999999-11:30',
    '0001-01-01 00:00:00 BC', '1970-01-01 00:00:00+00', '-1 years -2 mons +3 days -04:05:06.5',
    '[]', '"snow ☃"', '::1', '2001:db8::/32', 'très content',
    '{{t,NULL},{NULL,f}}', '{}', '[0:1]={5,6}', '{{{1,2},{3,4}},{{5,6},{7,8}}}', '{NULL}',
    '{"NULL",NULL,"","with,comma","with \"quote\"","back\\slash","{braces}"," leading space","日本"}',
    '{}', '{"a  "}', '{NaN,Infinity,-Infinity}', '{0,-0}',
    '{Infinity,-Infinity,0.000001}', '{infinity,-infinity,"0044-03-15 BC"}', '{infinity}', '{-infinity}',
    '{}', '{}', ARRAY['{}'::jsonb, 'null'::jsonb], '{10.0.0.1/8,2001:db8::1/64}', '{::/0}',
    '{"@ 1 mon -1 day"}', '{}', '{}', '{}', '{}', '{}', '{}');

INSERT INTO typed (id) VALUES (3);

INSERT INTO typed VALUES (4,
    NULL, 0, 0, 0, 4294967295,
    'Infinity', 'NaN', 'NaN', 0,
    'x', 'y', '', 'n', ' ',
    '\x00010203', 'ffffffff-ffff-ffff-ffff-ffffffffffff', 'infinity', '24:00:00', '00:00:00+14',
    'infinity', '-infinity', '0',
    'null', '{}', '0.0.0.0/0', '::ffff:1.2.3.4/128', 'sad',
    NULL, NULL, '[-3:-2]={1,2}', '[1:2][0:0]={{1},{2}}', NULL, '{"",NULL}',
    NULL, NULL, '{1e-45,3.4028235e+38}', '{5e-324,1.7976931348623157e+308}',
    '{0,0.0,-0.00}', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);

INSERT INTO typed (id, c_numeric, c_float8, c_float4, c_interval, c_timestamp, c_timestamptz, c_date, c_text) VALUES
    (5, 'Infinity', 1e15, 1e6, '178000000 years', '294276-12-31 23:59:59.999999', '4713-01-01 00:00:00+00 BC', '5874897-12-31', 'E'),
    (6, '-Infinity', 1.5e-7, 1.5e-7, '-178000000 years', '4714-11-24 00:00:00 BC', '2000-01-01 00:00:00+00', '4714-11-24 BC', 'F'),
    (7, '1e-1000', 123456789012345, 0.1, '1 mon 1 day 00:00:00.000001', '2000-01-01 00:00:00.000001', '2000-01-01 00:00:00.000001+00', '2000-01-01', 'G'),
    (8, '123456789012345678901234567890.123456789', 0.1, 16777216, '-00:00:00.000001', '1999-12-31 23:59:59.999999', '1999-12-31 23:59:59.999999+00', '1999-12-31', 'H'),
    (9, '-1e2000', 1e-5, 1e-5, '2147483647 days', '2024-01-01', '2024-06-01 12:00:00+00', '2024-01-01', 'I');
SQL

changes() {
    psql -At -c "SELECT encode(data, 'hex') FROM pg_logical_slot_get_binary_changes('$1', NULL, NULL, 'proto_version', '1', 'publication_names', 'pub'$2)"
}
changes slot_text "" > "$here/pgoutput-text.hex"
changes slot_binary ", 'binary', 'true'" > "$here/pgoutput-binary.hex"

# The SELECT side: every column's text output (format('%s') calls the type's output function; a
# ::text cast would not, e.g. for inet and bpchar), hex-encoded so that any byte survives.
columns=$(psql -At -c "SELECT string_agg(format('CASE WHEN %1\$I IS NULL THEN ''-'' ELSE encode(convert_to(format(''%%s'', %1\$I), ''UTF8''), ''hex'') END', attname), ', ' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'typed'::regclass AND attnum > 0 AND NOT attisdropped")
psql -At -c "SELECT concat_ws(',', $columns) FROM typed ORDER BY id" > "$here/select.txt"
psql -At -c "SELECT version()" > "$here/server-version.txt"
echo "captured $(wc -l < "$here/pgoutput-text.hex") text and $(wc -l < "$here/pgoutput-binary.hex") binary messages, $(wc -l < "$here/select.txt") rows"

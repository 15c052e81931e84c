#!/usr/bin/env python3
"""A plain pure-Python pgoutput (proto_version 1) decoder, the reference for the decoder ratio.

It reads the corpus written by ../capture-decoder-corpus.sh (records of a big-endian UInt32 byte
count followed by one pgoutput message) and makes the same two passes as the Swift benchmark:

  structural  every message into a tuple of its fields; tuple columns stay bytes
  typed rows  the same, plus the new tuple of every Insert and Update turned into Python values
              from the text format: int, Decimal, bool, str, datetime, list of str (text[]);
              json/jsonb stay str, as in the Swift decoder

Usage: pgoutput_decode.py CORPUS.bin [repetitions] [message limit] [--structural-only]
It prints the best of the repetitions, like the Swift figures. Binary tuples are decoded
structurally only (--structural-only): typed values come from the text format.
"""
import struct
import sys
import time
from datetime import datetime
from decimal import Decimal

U8 = struct.Struct(">B")
I16 = struct.Struct(">h")
I32 = struct.Struct(">i")
U32 = struct.Struct(">I")
BEGIN = struct.Struct(">QqI")
COMMIT = struct.Struct(">BQQq")
RELATION_COLUMN_TAIL = struct.Struct(">Ii")
TRUNCATE_HEAD = struct.Struct(">IB")


class DecodeError(Exception):
    pass


def read_cstring(data, offset):
    end = data.index(b"\0", offset)
    return data[offset:end].decode("utf-8"), end + 1


def read_tuple(data, offset):
    (count,) = I16.unpack_from(data, offset)
    offset += 2
    columns = []
    for _ in range(count):
        kind = data[offset]
        offset += 1
        if kind == 0x6E:  # n
            columns.append(None)
        elif kind == 0x75:  # u
            columns.append(Ellipsis)
        elif kind == 0x74 or kind == 0x62:  # t, b
            (length,) = I32.unpack_from(data, offset)
            offset += 4
            if length < 0 or offset + length > len(data):
                raise DecodeError("bad column length")
            columns.append((kind, data[offset:offset + length]))
            offset += length
        else:
            raise DecodeError("bad column kind %r" % kind)
    return columns, offset


class Decoder:
    def __init__(self):
        self.relations = {}

    def decode(self, data):
        tag = data[0]
        if tag == 0x42:  # B
            return ("B",) + BEGIN.unpack_from(data, 1)
        if tag == 0x43:  # C
            return ("C",) + COMMIT.unpack_from(data, 1)
        if tag == 0x49:  # I
            (oid,) = U32.unpack_from(data, 1)
            if data[5] != 0x4E:
                raise DecodeError("expected N")
            new, end = read_tuple(data, 6)
            self._expect_end(data, end)
            return ("I", oid, new)
        if tag == 0x55:  # U
            (oid,) = U32.unpack_from(data, 1)
            offset = 5
            old = None
            if data[offset] in (0x4B, 0x4F):  # K, O
                old, offset = read_tuple(data, offset + 1)
            if data[offset] != 0x4E:
                raise DecodeError("expected N")
            new, end = read_tuple(data, offset + 1)
            self._expect_end(data, end)
            return ("U", oid, old, new)
        if tag == 0x44:  # D
            (oid,) = U32.unpack_from(data, 1)
            if data[5] not in (0x4B, 0x4F):
                raise DecodeError("expected K or O")
            old, end = read_tuple(data, 6)
            self._expect_end(data, end)
            return ("D", oid, old)
        if tag == 0x52:  # R
            (oid,) = U32.unpack_from(data, 1)
            namespace, offset = read_cstring(data, 5)
            name, offset = read_cstring(data, offset)
            identity = data[offset]
            (count,) = I16.unpack_from(data, offset + 1)
            offset += 3
            columns = []
            for _ in range(count):
                flags = data[offset]
                column_name, offset = read_cstring(data, offset + 1)
                type_oid, type_modifier = RELATION_COLUMN_TAIL.unpack_from(data, offset)
                offset += 8
                columns.append((flags, column_name, type_oid, type_modifier))
            self._expect_end(data, offset)
            relation = ("R", oid, namespace, name, identity, columns)
            self.relations[oid] = relation
            return relation
        if tag == 0x59:  # Y
            (oid,) = U32.unpack_from(data, 1)
            namespace, offset = read_cstring(data, 5)
            name, offset = read_cstring(data, offset)
            return ("Y", oid, namespace, name)
        if tag == 0x54:  # T
            count, options = TRUNCATE_HEAD.unpack_from(data, 1)
            oids = struct.unpack_from(">%dI" % count, data, 6)
            return ("T", options, oids)
        raise DecodeError("unsupported message %r" % chr(tag))

    @staticmethod
    def _expect_end(data, offset):
        if offset != len(data):
            raise DecodeError("trailing bytes")


# Text-format value parsers, by type OID.
def parse_bool(text):
    return text == "t"


def parse_timestamptz(text):
    # '2024-01-01 00:00:01.25+00': fromisoformat wants a full '+HH:MM' offset.
    if text[-3] in "+-":
        text += ":00"
    return datetime.fromisoformat(text)


def parse_text_array(text):
    # 1-D arrays of text: {a,"b c",NULL}
    if text == "{}":
        return []
    items = []
    i = 1
    n = len(text) - 1
    while i < n:
        if text[i] == '"':
            i += 1
            chars = []
            while text[i] != '"':
                if text[i] == "\\":
                    i += 1
                chars.append(text[i])
                i += 1
            items.append("".join(chars))
            i += 1
        else:
            end = i
            while end < n and text[end] != ",":
                end += 1
            word = text[i:end]
            items.append(None if word.upper() == "NULL" else word)
            i = end
        i += 1  # the ','
    return items


PARSERS = {
    16: parse_bool,  # bool
    20: int, 21: int, 23: int, 26: int,  # int8, int2, int4, oid
    25: str, 1043: str, 1042: str, 19: str,  # text, varchar, bpchar, name
    114: str, 3802: str,  # json, jsonb (kept as text)
    1700: Decimal,  # numeric
    700: float, 701: float,  # float4, float8
    1184: parse_timestamptz, 1114: datetime.fromisoformat,  # timestamptz, timestamp
    1009: parse_text_array, 1015: parse_text_array,  # text[], varchar[]
}


def typed_row(relation, columns):
    row = []
    for (flags, name, type_oid, modifier), column in zip(relation[5], columns):
        if column is None or column is Ellipsis:
            row.append(column)
            continue
        kind, raw = column
        text = raw.decode("utf-8")
        parser = PARSERS.get(type_oid)
        row.append(parser(text) if parser else text)
    return row


def load(path, limit):
    data = open(path, "rb").read()
    messages = []
    offset = 0
    while offset + 4 <= len(data) and len(messages) < limit:
        (length,) = U32.unpack_from(data, offset)
        messages.append(data[offset + 4:offset + 4 + length])
        offset += 4 + length
    return messages


def structural(messages):
    decoder = Decoder()
    decode = decoder.decode
    count = 0
    for message in messages:
        decode(message)
        count += 1
    return count, 0


def typed(messages):
    decoder = Decoder()
    decode = decoder.decode
    relations = decoder.relations
    rows = 0
    for message in messages:
        decoded = decode(message)
        tag = decoded[0]
        if tag == "I":
            typed_row(relations[decoded[1]], decoded[2])
            rows += 1
        elif tag == "U":
            typed_row(relations[decoded[1]], decoded[3])
            rows += 1
    return len(messages), rows


def best(function, messages, repetitions):
    fastest = float("inf")
    result = None
    for _ in range(repetitions):
        start = time.perf_counter()
        result = function(messages)
        fastest = min(fastest, time.perf_counter() - start)
    return fastest, result


def main():
    structural_only = "--structural-only" in sys.argv
    arguments = [argument for argument in sys.argv[1:] if argument != "--structural-only"]
    if not arguments:
        sys.exit("usage: pgoutput_decode.py CORPUS.bin [repetitions] [message limit] [--structural-only]")
    repetitions = int(arguments[1]) if len(arguments) > 1 else 1
    limit = int(arguments[2]) if len(arguments) > 2 else sys.maxsize
    messages = load(arguments[0], limit)
    print("corpus %s: %d messages (Python %s)" % (arguments[0], len(messages), sys.version.split()[0]))
    seconds, (count, _) = best(structural, messages, repetitions)
    messages_per_second = count / seconds
    print("structural: %d messages in %.0f ms = %d messages/s" % (count, seconds * 1000, messages_per_second))
    if structural_only:
        print("RESULT messages_per_s=%d" % messages_per_second)
        return
    seconds, (count, rows) = best(typed, messages, repetitions)
    rows_per_second = rows / seconds
    print("typed rows: %d rows in %.0f ms = %d rows/s" % (rows, seconds * 1000, rows_per_second))
    print("RESULT messages_per_s=%d rows_per_s=%d" % (messages_per_second, rows_per_second))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes the seed corpora of the frame, LSN and value fuzz targets from the golden captures in
Tests/PGOutputTests/Fixtures/ (the decoder target's seeds are in Fuzz/corpus/). The output is
committed, so Fuzz/run.sh needs no Python; run this again after the captures change."""
import os, re, struct, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "Tests", "PGOutputTests", "Fixtures")


def messages(path):
    out = []
    for line in open(path):
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(bytes.fromhex(line))
    return out


def write(folder, name, data):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def cstring(b, i):
    j = b.index(0, i)
    return b[i:j], j + 1


def tuple_columns(b, i):
    """TupleData at i -> list of (kind, bytes), next offset."""
    (n,) = struct.unpack_from(">h", b, i)
    i += 2
    cols = []
    for _ in range(n):
        kind = b[i : i + 1]
        i += 1
        if kind in (b"t", b"b"):
            (length,) = struct.unpack_from(">i", b, i)
            i += 4
            cols.append((kind, b[i : i + length]))
            i += length
        else:
            cols.append((kind, b""))
    return cols, i


def frame_seeds():
    folder = os.path.join(ROOT, "Fuzz", "corpus-frame")
    # config byte: protocol - 1 (bits 0-1), streaming (bits 2-3), chunked (bit 4); bits 5-7 are
    # the batch size when chunked, else the memory limit (0: 64 MiB; k: (k - 1) * 512 bytes).
    captures = {
        "proto1-text": 0x00, "proto1-binary": 0x00, "proto2-streaming": 0x01 | 0x04,
        "proto3-twophase": 0x02, "types-text": 0x00, "types-binary": 0x00,
    }
    paths = {
        "types-text": os.path.join(FIX, "types", "pgoutput-text.hex"),
        "types-binary": os.path.join(FIX, "types", "pgoutput-binary.hex"),
    }
    for name, config in captures.items():
        msgs = messages(paths.get(name, os.path.join(FIX, name, "messages.hex")))
        lsn = 0x16B374D848
        frames = []
        for m in msgs:
            lsn += 0x40
            frames.append(b"w" + struct.pack(">QQq", lsn, lsn, 800_000_000_000_000) + m)
            if len(frames) % 7 == 0:
                frames.append(b"k" + struct.pack(">Qq", lsn, 800_000_000_000_001) + b"\x01")
        frames = [f for f in frames if len(f) < 0x10000]
        # Chunks of up to 24 frames (the first four and the last two of each capture), each as
        # assembled and as chunked delivery.
        starts = list(range(0, len(frames), 24))
        for n, start in enumerate(starts[:4] + starts[-2:] if len(starts) > 6 else starts):
            body = b"".join(struct.pack(">H", len(f)) + f for f in frames[start : start + 24])
            write(folder, f"{name}-{n:02d}", bytes([config]) + body)
            write(folder, f"{name}-{n:02d}-chunked", bytes([config | 0x10 | 0x20]) + body)
            if n < 2:
                # Assembled with a memory limit of 0 bytes: every change is spilled and read back.
                write(folder, f"{name}-{n:02d}-spilled", bytes([config | 0x20]) + body)
    write(folder, "keepalive", b"\x00" + struct.pack(">H", 18) + b"k" + struct.pack(">Qq", 1, 2) + b"\x00")
    write(folder, "empty-xlogdata", b"\x00" + struct.pack(">H", 25) + b"w" + bytes(24))


def lsn_seeds():
    folder = os.path.join(ROOT, "Fuzz", "corpus-lsn")
    for i, text in enumerate(["0/0", "16/B374D848", "FFFFFFFF/FFFFFFFF", "0/01D767E8", "a/b", "1/", "/1", "0x1/2"]):
        write(folder, f"lsn-{i}", text.encode())


def value_seeds():
    folder = os.path.join(ROOT, "Fuzz", "corpus-value")
    source = open(os.path.join(ROOT, "Sources", "PGOutput", "Values", "PGTypeOID.swift")).read()
    oids = sorted({int(v) for v in re.findall(r"static let \w+: PGTypeOID = (\d+)", source)})
    seen = set()

    def add(binary, oid, value):
        key = (binary, oid, value)
        if key in seen:
            return
        seen.add(key)
        write(folder, f"{'bin' if binary else 'text'}-{oid}-{len(seen):04d}", bytes([binary]) + struct.pack(">I", oid) + value)

    for fmt, binary in (("text", 0), ("binary", 1)):
        relations = {}
        for m in messages(os.path.join(FIX, "types", f"pgoutput-{fmt}.hex")):
            if m[:1] == b"R":
                (rel,) = struct.unpack_from(">I", m, 1)
                _, i = cstring(m, 5)
                _, i = cstring(m, i)
                i += 1
                (n,) = struct.unpack_from(">h", m, i)
                i += 2
                types = []
                for _ in range(n):
                    i += 1
                    _, i = cstring(m, i)
                    (oid, _mod) = struct.unpack_from(">Ii", m, i)
                    i += 8
                    types.append(oid)
                relations[rel] = types
            elif m[:1] == b"I":
                (rel,) = struct.unpack_from(">I", m, 1)
                cols, _ = tuple_columns(m, 6)
                for oid, (kind, value) in zip(relations.get(rel, []), cols):
                    if kind in (b"t", b"b"):
                        add(1 if kind == b"b" else 0, oid, value)
    # Every known OID, in both formats, even when the captures lack it.
    for oid in oids:
        add(0, oid, b"")
        add(1, oid, b"")
        add(0, oid, b"{}" if oid in (199, 651) or oid >= 1000 and oid not in (1042, 1043, 1082, 1083, 1114, 1184, 1186, 1266, 1700) else b"0")


if __name__ == "__main__":
    frame_seeds()
    lsn_seeds()
    value_seeds()
    print("seeds written", file=sys.stderr)

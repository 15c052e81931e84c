"""Commit-to-line latency of a consumer that writes one JSON line per inserted row.

    python3 commit_to_line.py DSN TABLE RATE SECONDS -- CONSUMER ARGS...
    python3 commit_to_line.py --notify DSN CHANNEL RATE SECONDS -- CONSUMER ARGS...

Starts the consumer (its stdout a pipe), waits for it to be streaming (a probe row's line), then
inserts RATE rows a second for SECONDS, open loop: transactions of max(1, RATE / 1000) rows
scheduled at fixed times, each committed with autocommit. A row's latency runs from the moment
its COMMIT returned to the moment its line was read from the consumer's pipe (CLOCK_MONOTONIC in
both threads of this process). The id is the first `"value":N` of an `"action":"I"` line (wal2json's
format-version 2, which `pgrepl stream --format json` writes too).

With --notify, each transaction sends its ids as notifications on CHANNEL instead
(`pg_logical_emit_message(true, 'pgrepl.notify.CHANNEL', id)`, what PGNotifications.notify writes),
and a row's line is `pgrepl stream --format notifications`' `"payload":"N"`.

Prints one line: `RESULT rate=… sent=… received=… p50_ms=… p99_ms=… max_ms=… keeps_up=0|1
consumer_cpu_s=…` (the consumer's user+sys CPU over the whole run, from /proc). The
first second is a warm-up and is left out. The consumer keeps up when every row's line arrived
within 5 s after the last commit and its lag did not grow over the run (the median lag of the
last tenth of rows at most 50 ms above the first tenth's, both printed as first_ms and last_ms).
"""

import re
import subprocess
import sys
import threading
import time

import psycopg2

from proc_times import cpu_seconds

ID = re.compile(rb'"action":"I".*?"value":(\d+)')
NOTIFICATION = re.compile(rb'"payload":"(\d+)"')


def main():
    notify = sys.argv[1] == "--notify"
    if notify:
        del sys.argv[1]
    pattern = NOTIFICATION if notify else ID
    dsn, table, rate, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])

    def send(cursor, ids):
        if notify:
            cursor.execute(
                "SELECT pg_logical_emit_message(true, %s, g::text) FROM generate_series(%s, %s) g",
                (f"pgrepl.notify.{table}", ids[0], ids[-1]))
        elif len(ids) == 1:
            cursor.execute(f"INSERT INTO {table} VALUES ({ids[0]})")
        else:
            cursor.execute(f"INSERT INTO {table} SELECT generate_series({ids[0]}, {ids[-1]})")

    command = sys.argv[sys.argv.index("--") + 1:]
    consumer = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=-1)
    arrived = {}
    lock = threading.Lock()

    def read():
        for line in consumer.stdout:
            now = time.monotonic()
            match = pattern.search(line)
            if match:
                with lock:
                    arrived.setdefault(int(match.group(1)), now)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    connection = psycopg2.connect(dsn)
    connection.autocommit = True
    cursor = connection.cursor()
    # The probe: the consumer streams once its line arrives.
    probe = 0
    send(cursor, [probe])
    deadline = time.monotonic() + 60
    while probe not in arrived:
        if time.monotonic() > deadline or consumer.poll() is not None:
            sys.exit(f"the consumer did not start streaming: {command}")
        time.sleep(0.01)
    per_transaction = max(1, int(rate // 1000))
    transactions = int(rate * seconds / per_transaction)
    interval = per_transaction / rate
    committed = {}
    start = time.monotonic()
    next_id = 1
    for n in range(transactions):
        due = start + n * interval
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        ids = range(next_id, next_id + per_transaction)
        next_id += per_transaction
        send(cursor, ids)
        done = time.monotonic()
        for i in ids:
            committed[i] = done
    last = time.monotonic()
    while time.monotonic() < last + 5:
        with lock:
            if len(arrived) > len(committed):
                break
        time.sleep(0.01)
    cpu = sum(cpu_seconds(consumer.pid))
    consumer.terminate()
    try:
        consumer.wait(10)
    except subprocess.TimeoutExpired:
        consumer.kill()
    warm = start + 1
    latencies = sorted(
        (arrived[i] - t) * 1000 for i, t in committed.items() if t >= warm and i in arrived)
    received = sum(1 for i in committed if i in arrived)
    sent_rate = len(committed) / (last - start)

    def pct(p):
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] if latencies else float("nan")

    # Keeping up: every line arrived, and the lag did not grow over the run (the median of the
    # last tenth of rows at most 50 ms above the first tenth's, after the warm-up).
    timed = sorted((t, (arrived[i] - t) * 1000) for i, t in committed.items() if t >= warm and i in arrived)
    tenth = max(1, len(timed) // 10)
    first = sorted(lag for _, lag in timed[:tenth])
    final = sorted(lag for _, lag in timed[-tenth:])
    first_lag = first[len(first) // 2] if first else float("nan")
    final_lag = final[len(final) // 2] if final else float("nan")
    growing = bool(timed) and final_lag > first_lag + 50
    keeps_up = int(received == len(committed) and not growing)
    print(f"RESULT rate={rate:.0f} sent_rate={sent_rate:.0f} sent={len(committed)} received={received} "
          f"p50_ms={pct(0.5):.3f} p99_ms={pct(0.99):.3f} max_ms={latencies[-1] if latencies else float('nan'):.3f} "
          f"keeps_up={keeps_up} first_ms={first_lag:.3f} last_ms={final_lag:.3f} consumer_cpu_s={cpu:.2f}")


if __name__ == "__main__":
    main()

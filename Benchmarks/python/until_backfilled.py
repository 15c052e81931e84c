"""Runs a `pgrepl stream --backfill … --backfill-state FILE` command until FILE says the backfill
is complete, then stops it (SIGTERM) and prints what /usr/bin/time would, measured at that
moment: `wall=… user=… sys=… rss_kb=…` (the process's CPU and peak RSS from /proc, its threads
included; the shutdown after the backfill is left out).

    python3 until_backfilled.py STATE_FILE -- COMMAND ARGS...
"""

import json
import os
import signal
import subprocess
import sys
import time

from proc_times import cpu_seconds, peak_rss_kb


def complete(path):
    try:
        with open(path) as file:
            return json.load(file)["checkpoint"]["tables"] == []
    except (OSError, ValueError, KeyError):
        return False


def main():
    state = sys.argv[1]
    command = sys.argv[sys.argv.index("--") + 1:]
    if os.path.exists(state):
        os.remove(state)
    start = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    while not complete(state):
        if process.poll() is not None:
            sys.exit(f"the backfill ended early (status {process.returncode})")
        time.sleep(0.005)
    wall = time.monotonic() - start
    user, system = cpu_seconds(process.pid)
    rss = peak_rss_kb(process.pid)
    process.send_signal(signal.SIGTERM)
    process.wait(30)
    print(f"wall={wall:.2f} user={user:.2f} sys={system:.2f} rss_kb={rss}")


if __name__ == "__main__":
    main()

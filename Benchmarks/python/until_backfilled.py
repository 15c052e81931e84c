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
    ticks = os.sysconf("SC_CLK_TCK")
    start = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    while not complete(state):
        if process.poll() is not None:
            sys.exit(f"the backfill ended early (status {process.returncode})")
        time.sleep(0.005)
    wall = time.monotonic() - start
    with open(f"/proc/{process.pid}/stat") as file:
        fields = file.read().rsplit(")", 1)[1].split()
    user, system = int(fields[11]) / ticks, int(fields[12]) / ticks
    with open(f"/proc/{process.pid}/status") as file:
        rss = next(int(line.split()[1]) for line in file if line.startswith("VmHWM:"))
    process.send_signal(signal.SIGTERM)
    process.wait(30)
    print(f"wall={wall:.2f} user={user:.2f} sys={system:.2f} rss_kb={rss}")


if __name__ == "__main__":
    main()

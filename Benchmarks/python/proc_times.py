"""A running process's CPU time and peak memory, from /proc (its threads included)."""

import os


def cpu_seconds(pid):
    """User and system CPU seconds."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / ticks, int(fields[12]) / ticks


def peak_rss_kb(pid):
    """The peak resident set size (VmHWM) in KiB."""
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))

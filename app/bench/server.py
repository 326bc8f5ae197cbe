"""The server's footprint, read from /proc when its pid is given (same machine only)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Sample:
    rss_kib: int
    cpu_s: float
    at: float  # time.monotonic() when taken


def sample(pid: int | None) -> Sample | None:
    """VmRSS and user+system CPU time of ``pid``, or None if unknown or unreadable."""
    if pid is None:
        return None
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rss = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    fields = stat.rsplit(")", 1)[1].split()  # the command name may contain spaces
    return Sample(rss, (int(fields[11]) + int(fields[12])) / TICKS, time.monotonic())

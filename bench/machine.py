"""Shared by every benchmark in bench/: the machine's load average at the start and end of a run (so that a figure
says how busy the machine was), and a CPU-bound neighbour a benchmark can start to measure itself under load.

    from machine import LoadWatch, cpu_neighbours   # bench/ is sys.path[0] when a bench runs as a script
    watch = LoadWatch()                              # load average now
    ...
    report["machine"] = watch.report()               # {"load_average": {"start": [...], "end": [...]}, "cpus": ...}
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# a pure-Python busy loop: one core's worth of CPU, no I/O, no memory growth
BUSY_LOOP = "import itertools\nfor _ in itertools.count():\n    pass\n"


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (runnable + uninterruptible tasks), rounded."""
    return [round(x, 2) for x in os.getloadavg()]


class LoadWatch:
    """Takes the load average when built; ``report()`` adds the load at that moment, the CPUs and Python. Both are
    also printed on stderr as they are taken (the JSON goes to stdout), so a long run shows its load from the start."""

    def __init__(self) -> None:
        self.start = load_average()
        print(f"load average at start: {self.start}", file=sys.stderr, flush=True)

    def report(self, **extra: Any) -> dict[str, Any]:
        end = load_average()
        print(f"load average at end: {end} (start {self.start})", file=sys.stderr, flush=True)
        return {"load_average": {"start": self.start, "end": end}, "cpus": os.cpu_count(),
                "python": platform.python_version(), "platform": platform.platform(), **extra}


@contextmanager
def cpu_neighbours(count: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` processes each spinning one core (another job on the machine) for the duration of the block;
    stopped (killed and reaped) when it ends, error or not."""
    procs = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
             for _ in range(max(0, count))]
    try:
        yield procs
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait()

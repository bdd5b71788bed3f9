"""SIGKILL a lake writer at random moments: every partition stays the old or the new complete version."""

from __future__ import annotations

import contextlib
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import pyarrow.parquet as pq

from praf_engine.lake import LAKE_SCHEMA, Lake

REPO = Path(__file__).resolve().parents[2]
BASE = date(2023, 12, 1)
KILLS = 40

# A fork server: imports pyarrow and the lake once, then for each line "<seq>" on stdin forks a writer
# that rewrites symbol CRASH over and over (10 known days again + 15 new days per write, value = seq;
# Lake.write and Lake.write_many alternate),
# printing "begin <seq>" before and "done <seq> <lo> <hi>" after each completed write. The parent
# SIGKILLs the writer; the server reaps it and prints "reaped <pid> <wait status>" (so every line of
# the dead writer is already in the pipe). Forking saves the ~0.4 s interpreter start per kill.
FORK_SERVER = r"""
import os, shutil, sys
from datetime import date, timedelta
import pyarrow as pa
from praf_engine.lake import Lake

BASE = date(2023, 12, 1)
PRICES = ("open", "high", "low", "close", "adj_close")


def say(text):  # one write(2) per line: lines of the server and its writer never interleave
    os.write(1, (text + "\n").encode())


def bars(seq, lo, hi):
    days = [BASE + timedelta(days=d) for d in range(lo, hi)]
    value = pa.array([float(seq)] * len(days))
    return pa.table({"date": pa.array(days, pa.date32()), **{c: value for c in PRICES},
                     "volume": pa.array([seq] * len(days), pa.int64())})


def writer(root, seq):
    lake = Lake(root)
    last = lake.last_date("CRASH")
    nxt = 0 if last is None else (last - BASE).days + 1
    say("ready")
    while True:
        seq += 1
        lo, hi = max(0, nxt - 10), nxt + 15
        table = bars(seq, lo, hi)
        say(f"begin {seq}")
        if seq % 2:
            lake.write("CRASH", table)
        else:
            lake.write_many({"CRASH": table})  # the threaded path: the commit runs on an I/O thread
        say(f"done {seq} {lo} {hi}")
        nxt = hi


# warm up (lazy imports inside pyarrow, first-call setup) so that forked writers start writing at once
warm = sys.argv[1] + "-warmup"
Lake(warm).write("WARM", bars(0, 0, 40))
Lake(warm).last_date("WARM")
shutil.rmtree(warm)
for line in sys.stdin:
    seq = int(line)
    pid = os.fork()
    if pid == 0:
        try:
            writer(sys.argv[1], seq)
        finally:
            os._exit(3)
    say(f"pid {pid}")
    _, status = os.waitpid(pid, 0)
    say(f"reaped {pid} {status}")
"""


def check_lake(root: Path, confirmed: dict[int, int], max_begun: int) -> int:
    """Every partition reads cleanly and holds every confirmed row; returns the number of stored days."""
    stored: dict[int, int] = {}
    for f in sorted(root.rglob("part-000.parquet")):
        t = pq.read_table(f)  # raises on a torn file
        assert t.schema.equals(LAKE_SCHEMA), f
        days = t["date"].to_pylist()
        assert days == sorted(set(days)), f
        assert {d.year for d in days} == {int(f.parent.name.removeprefix("year="))}, f
        for d, close, volume in zip(days, t["close"].to_pylist(), t["volume"].to_pylist(), strict=True):
            assert close == volume, (f, d)  # every row comes whole from one write
            stored[(d - BASE).days] = volume
    missing = [d for d in confirmed if d not in stored]
    assert not missing, f"confirmed days lost: {missing[:5]}"
    stale = [d for d, seq in confirmed.items() if stored[d] < seq]
    assert not stale, f"confirmed values rolled back on days {stale[:5]}"
    assert max(stored.values(), default=0) <= max_begun
    assert sorted(stored) == list(range(len(stored)))  # no holes
    return len(stored)


def test_sigkill_mid_write_never_tears_a_partition(tmp_path: Path) -> None:
    started = time.monotonic()
    root = tmp_path / "lake"
    script = tmp_path / "fork_server.py"
    script.write_text(FORK_SERVER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, str(script), str(root)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, bufsize=1, env=env, cwd=REPO)
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()

    def next_line() -> str:
        line = lines.get(timeout=30)
        assert line is not None, f"fork server exited with {proc.wait()}"
        return line

    rng = random.Random(20240607)
    confirmed: dict[int, int] = {}  # day offset -> seq of the last confirmed write that covered it
    max_begun = 0
    mid_write_kills = 0
    try:
        for it in range(KILLS):
            proc.stdin.write(f"{it * 100_000}\n")
            proc.stdin.flush()
            pid, ready = None, False
            while pid is None or not ready:  # readiness signal, not a sleep
                line = next_line()
                if line.startswith("pid "):
                    pid = int(line.split()[1])
                elif line == "ready":
                    ready = True
            time.sleep(rng.uniform(0.0, 0.03))  # the random kill moment
            with contextlib.suppress(ProcessLookupError):  # a writer that died by itself fails below
                os.kill(pid, signal.SIGKILL)
            last = None
            while not (line := next_line()).startswith(f"reaped {pid} "):
                kind, seq, *span = line.split()
                max_begun = max(max_begun, int(seq))
                last = kind
                if kind == "done":
                    lo, hi = map(int, span)
                    confirmed.update(dict.fromkeys(range(lo, hi), int(seq)))
            status = int(line.split()[2])
            assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, (
                f"writer ended by itself (wait status {status}); see its traceback in stderr")
            mid_write_kills += last == "begin"
            check_lake(root, confirmed, max_begun)
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    assert len(confirmed) > 100
    assert mid_write_kills >= KILLS // 3, mid_write_kills  # the kills did land inside writes
    leftovers = list(root.rglob(".*.tmp"))
    lake = Lake(root)
    assert lake.cleanup_temp(older_than_s=0) == len(leftovers)
    assert list(root.rglob(".*.tmp")) == []
    stored = check_lake(root, confirmed, max_begun)
    window = lake.read_window(BASE, BASE + timedelta(days=stored))
    assert len(window) == stored and set(window["symbol"].to_pylist()) == {"CRASH"}
    assert time.monotonic() - started < 30

"""Several processes (daemon, TUI, CLI runs) write one logs/app.jsonl: no line lost or mangled when it rotates."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

WRITER = """
import sys, time
from pathlib import Path
from praf_engine.logs import configure_logging, get_logger
logs, name, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
configure_logging(logs, console_level=None, keep_days=1000, rotate_when="S")
sys.stdout.write("ready\\n"); sys.stdout.flush()
sys.stdin.readline()  # every writer starts at once
log = get_logger("praf_engine.writer")
pad = "x" * 3000  # longer than one buffered write: a torn line would show
for seq in range(count):
    log.info("line", writer=name, seq=seq, pad=pad)
    if seq % 50 == 49:
        time.sleep(0.35)  # 8 pauses: the run spans > 2.8 s, so at least two rotations (one a second) however fast
"""


def test_four_processes_rotating_every_second_lose_and_mangle_nothing(tmp_path: Path) -> None:
    logs, count = tmp_path / "logs", 400
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(logs), f"w{i}", str(count)], cwd=REPO,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for i in range(4)]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    for p in procs:
        assert p.wait(timeout=120) == 0
    files = sorted(logs.glob("app.jsonl*"))
    assert len(files) >= 2, "the run should have crossed at least one rotation"
    seen: dict[str, list[int]] = {}
    for path in files:
        for raw in path.read_text(encoding="utf-8").splitlines():
            line = json.loads(raw)  # a mangled line fails here
            seen.setdefault(line["detail"]["writer"], []).append(line["detail"]["seq"])
    assert {w: sorted(s) for w, s in seen.items()} == {f"w{i}": list(range(count)) for i in range(4)}

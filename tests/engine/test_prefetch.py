"""The dashboard's first snapshot computed in a forked child (praf_engine.prefetch, EngineService.open's
``prefetch_dashboard``): used when it answers, and every way it can go wrong falls back to computing it in process, with
no child left behind and the parent's own database session intact. Each case runs in a fresh interpreter, as praf-tui
does: a fork from the test process (threads, open databases) is refused, which is one of the cases."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from praf_engine.config import Settings
from tests.conftest import REPO, cli_env

SCRIPT = """
import datetime as dt, json, os, signal, sys, threading, time
import praf_engine.readmodels.dashboard as dashboard
from praf_engine import start_prefetch as svc
from praf_engine.service import EngineService, load_settings

home, case = sys.argv[1], sys.argv[2]
settings = load_settings(home=home)
AS_OF = dt.date(2025, 6, 9)
parent = os.getpid()
compute = dashboard.snapshot

def in_the_child(*args, **kw):  # the child's read fails in the way the case names; the parent's never does
    if os.getpid() != parent:
        if case == "child-raises":
            raise RuntimeError("the lake is on fire (token=123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghi)")
        if case == "child-killed":
            os.kill(os.getpid(), signal.SIGKILL)
        if case == "child-hangs":
            time.sleep(60)
        if case == "peek":
            time.sleep(0.5)
    return compute(*args, **kw)

dashboard.snapshot = in_the_child
import praf_engine.readmodels.scheduler as scheduler_model
state_here, state = [], scheduler_model.state
def counting_state(*args, **kw):  # the scheduler's state computed in this process (not the child's)
    if os.getpid() == parent:
        state_here.append(1)
    return state(*args, **kw)
scheduler_model.state = counting_state
if case.startswith("scheduler-to-reap"):  # a run, lock or request of this host's dead process: closing it is a write
    import subprocess
    from praf_engine.db.models import CronStatus, JobLock, JobRequest
    from praf_engine.jobs.runner import HOST
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    seed = EngineService.open(settings)
    if case.endswith("run"):
        CronStatus.create(job="fetch", run_id="run-of-a-dead-process", pid=gone.pid, host=HOST, trigger="daemon")
    elif case.endswith("lock"):
        JobLock.create(job="fetch", run_id="lock-of-a-dead-process", holder=f"{gone.pid}@{HOST}", pid=gone.pid, host=HOST)
    else:
        JobRequest.create(job="fetch", requested_by="test", status="started", claimed_by=f"detached:{gone.pid}@{HOST}")
    seed.close()
svc.WAIT_S = 1.0
if case == "stale":
    svc.FRESH_S = 0.0
if case == "thread-running":
    stop = threading.Event()
    threading.Thread(target=stop.wait, daemon=True).start()
if case == "database-open":
    other = EngineService.open(settings)
if case == "fork-fails":  # no process to spare (EAGAIN: a process limit reached)
    def no_fork():
        raise OSError(11, "Resource temporarily unavailable")
    os.fork = no_fork
service = EngineService.open(settings, prefetch_dashboard=AS_OF)
forked = service.prefetch_outcome
started = time.monotonic()
out = {"forked": forked is not None}
if case == "peek":  # never waits: None while the child computes and for another date, the snapshot once it answered
    out["while_computing"] = service.prefetched_dashboard(AS_OF)
    out["other_date"] = service.prefetched_dashboard(AS_OF + dt.timedelta(days=1))
    out["outcome_meanwhile"] = service.prefetch_outcome
    out["peek_s"] = time.monotonic() - started
    out["short_wait"] = service.prefetched_dashboard(AS_OF, wait_s=0.05)
    out["short_wait_s"] = time.monotonic() - started
    first = service.prefetched_dashboard(AS_OF, wait_s=30)  # returns as soon as the child answers
    out["first_s"] = time.monotonic() - started
    out["state"] = service.prefetched_scheduler(wait_s=30) is not None
    out["same_as_in_process"] = first == service.dashboard_snapshot(AS_OF)  # computed here: the answer was taken
    out["active"] = first.summary.total_active
    out["again"] = service.prefetched_dashboard(AS_OF)
elif case.startswith("scheduler"):  # the header's first state, then the dashboard's snapshot
    first_state = service.scheduler_state()
    out["state_computed_here"] = len(state_here)
    out["running"] = [r.run_id for r in first_state.running]
    out["jobs"] = len(first_state.jobs)
    again = service.scheduler_state()
    out["state_computed_here_after_again"] = len(state_here)
    first = service.dashboard_snapshot(AS_OF)
    out["same_as_in_process"] = first == service.dashboard_snapshot(AS_OF)
    out["active"] = first.summary.total_active
    from praf_engine.db.models import CronStatus, JobLock, JobRequest
    out["reaped"] = [r.error_code for r in CronStatus.select().where(CronStatus.run_id == "run-of-a-dead-process")]
    out["locks"] = JobLock.select().count()
    out["requests"] = [r.status for r in JobRequest.select()]
elif case != "closed-unasked":  # that one closes the service without asking: the child is killed or has left
    first = service.dashboard_snapshot(AS_OF + dt.timedelta(days=1) if case == "other-date" else AS_OF)
    out["first_s"] = time.monotonic() - started
    out["same_as_in_process"] = first == service.dashboard_snapshot(first.summary.as_of)
    out["active"] = first.summary.total_active
out["outcome"] = service.prefetch_outcome
out["parent_session"] = service.db.execute_sql("select 1").fetchone()[0]
service.close()
out["closed_outcome"] = service.prefetch_outcome
try:
    os.waitpid(-1, os.WNOHANG)
    out["children"] = "left"
except ChildProcessError:
    out["children"] = "none"
print("RESULT " + json.dumps(out))
"""


def run_case(settings: Settings, database_url: str | None, case: str) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(settings.home), case], capture_output=True, text=True,
                          timeout=120, cwd=REPO, env=cli_env(database_url))
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))[7:])
    result["log"] = proc.stdout + proc.stderr + "".join(p.read_text() for p in settings.logs_dir.glob("*.jsonl"))
    return result


@pytest.fixture
def home(service: Any, settings: Settings, backend: str | None) -> tuple[Settings, str | None]:
    """A home with its schema (both backends); the service fixture made it and stays open in the test process only."""
    return settings, backend


def test_the_first_snapshot_comes_from_the_child(home: tuple[Settings, str | None]) -> None:
    result = run_case(*home, "used")
    assert result["forked"] and result["outcome"] == "used", result
    assert result["same_as_in_process"] and result["parent_session"] == 1
    assert result["children"] == "none" and "PREFETCH" not in result["log"]


def test_a_prefetched_snapshot_can_be_taken_without_waiting(home: tuple[Settings, str | None]) -> None:
    """``prefetched_dashboard`` (the dashboard's first paint) never queries and waits no longer than asked: None while
    the child computes or for another date (the answer stays for ``dashboard_snapshot``), the snapshot as soon as it
    answers, and only once; the scheduler's state on the same terms."""
    result = run_case(*home, "peek")
    assert result["while_computing"] is None and result["other_date"] is None, result
    assert result["outcome_meanwhile"] == "running" and result["peek_s"] < 0.3, result  # the child sleeps 0.5 s
    assert result["short_wait"] is None and result["short_wait_s"] < 0.4, result
    assert 0.5 <= result["first_s"] < 10 and result["outcome"] == "used" and result["same_as_in_process"], result
    assert result["state"], result
    assert result["again"] is None and result["children"] == "none" and "PREFETCH" not in result["log"]


def test_the_headers_first_state_comes_from_the_child(home: tuple[Settings, str | None]) -> None:
    """The child reads the scheduler's state after the snapshot, and the first ``scheduler_state`` takes it (the next
    ones are computed here); the snapshot is still the child's."""
    result = run_case(*home, "scheduler")
    assert result["state_computed_here"] == 0 and result["state_computed_here_after_again"] == 1, result
    assert result["jobs"] > 0 and result["running"] == [] and result["reaped"] == [], result
    assert result["outcome"] == "used" and result["same_as_in_process"] and result["children"] == "none"
    assert "PREFETCH" not in result["log"]


@pytest.mark.parametrize("left", ["run", "lock", "request"])
def test_a_state_with_a_dead_process_to_close_is_left_to_the_parent(home: tuple[Settings, str | None], left: str) -> None:
    """Closing a dead process's run, lock or started request is a write, and the child only reads: its state is None,
    the parent closes what is left (JOBKILLED) and computes the state, which shows nothing running; the snapshot is
    still the child's."""
    result = run_case(*home, f"scheduler-to-reap-{left}")
    assert result["state_computed_here"] == 1 and result["running"] == [] and result["locks"] == 0, result
    assert result["reaped"] == (["JOBKILLED"] if left == "run" else []), result
    assert result["requests"] == (["failed"] if left == "request" else []), result
    assert result["outcome"] == "used" and result["children"] == "none"
    assert "PREFETCH" not in result["log"]


@pytest.mark.parametrize(("case", "outcome"), [
    ("child-raises", "failed in the child: RuntimeError: the lake is on fire"),
    ("child-killed", "the child died without answering"),
    ("child-hangs", "no answer in time"),
    ("other-date", "for 2025-06-09, asked for 2025-06-10"),
    ("stale", "stale ("),
])
def test_a_prefetch_that_went_wrong_is_computed_in_process(home: tuple[Settings, str | None], case: str, outcome: str) -> None:
    """The dashboard still gets its snapshot (the parent computes it), the miss is logged as PREFETCH, the child is
    reaped, and the parent's own session (a PostgreSQL connection opened after the fork) is untouched."""
    result = run_case(*home, case)
    assert result["forked"] and result["outcome"].startswith(outcome), result
    assert result["same_as_in_process"] and result["parent_session"] == 1 and result["children"] == "none"
    assert '"error_code": "PREFETCH"' in result["log"] or "error_code=PREFETCH" in result["log"]
    assert "123456:ABCDEF" not in result["log"]  # the child's message is redacted before it crosses the pipe
    if case == "child-hangs":
        assert result["first_s"] < 10, result  # start_prefetch.WAIT_S (1 s here), then computed here: not the child's 60 s


@pytest.mark.parametrize("case", ["thread-running", "database-open", "fork-fails"])
def test_no_child_is_forked_where_a_fork_is_unsafe(home: tuple[Settings, str | None], case: str) -> None:
    """A lock another thread holds, or an open database connection, must not be copied into a child; a fork the
    system refuses is no prefetch either: the service opens and the snapshot is computed in process as before."""
    result = run_case(*home, case)
    assert not result["forked"] and result["outcome"] is None and result["same_as_in_process"], result
    assert result["children"] == "none"


def test_a_prefetch_never_asked_for_is_reaped_when_the_service_closes(home: tuple[Settings, str | None]) -> None:
    result = run_case(*home, "closed-unasked")
    assert result["forked"] and result["outcome"] == "running" and result["closed_outcome"] == "never asked for"
    assert result["children"] == "none"


def test_the_command_line_prefetches_only_when_the_dashboard_opens_first() -> None:
    import datetime as dt

    from praf_tui.cli import first_dashboard_date, parser

    def date(*argv: str) -> dt.date | None:
        return first_dashboard_date(parser().parse_args(list(argv)))

    assert date("--as-of", "2025-06-09") == dt.date(2025, 6, 9)
    assert date("--screen", "dashboard", "--as-of", "2025-06-09") == dt.date(2025, 6, 9)
    assert date() == dt.datetime.now(dt.UTC).date()
    assert date("--screen", "triage") is None and date("--check", "price_jump") is None and date("--demo") is None


TRUNCATED = """
import os, struct, sys
from praf_engine.errors import PipelineError
from praf_engine.prefetch import ForkedRead
r, w = os.pipe()
pid = os.fork()
if pid == 0:  # a child killed mid-write, then gone
    if sys.argv[1] == "frame-cut-short":  # a frame that announces 16 bytes, and the first 3 of them
        os.write(w, struct.pack(">I", 16) + b"\\x80\\x05\\x95")
    else:  # a whole frame holding the first bytes of a pickle
        os.write(w, struct.pack(">I", 5) + b"\\x80\\x05\\x95\\x10\\x00")
    os._exit(0)
os.close(w)
read = ForkedRead(pid, r, "test")
try:
    read.take(0, 5.0)
except PipelineError as exc:
    print("RESULT", exc.error_code, read.outcome)
try:
    os.waitpid(-1, os.WNOHANG)
except ChildProcessError:
    print("REAPED")
"""


@pytest.mark.parametrize(("case", "outcome"), [("frame-cut-short", "unreadable answer (7 bytes: cut short)"),
                                               ("pickle-cut-short", "unreadable answer (5 bytes: UnpicklingError)")])
def test_a_truncated_answer_is_prefetch_not_a_crash(case: str, outcome: str) -> None:
    proc = subprocess.run([sys.executable, "-c", TRUNCATED, case], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"RESULT PREFETCH {outcome}" in proc.stdout, proc.stdout
    assert "REAPED" in proc.stdout

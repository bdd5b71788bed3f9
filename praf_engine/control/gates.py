"""What holds each job back right now, as the Scheduler screen says it: the jobs' own gates asked (QA's
``qa.gate.check_gate``, the fetch's ``fetch.tracker.freshness``) and the pipeline lock, never re-implemented."""

from __future__ import annotations

from typing import Any

from praf_engine.errors import PipelineError, wrap
from praf_engine.jobs.runner import PIPELINE_JOBS, pipeline_holder
from praf_engine.logs import get_logger
from praf_engine.wiring import Wiring

log = get_logger(__name__)
Gate = tuple[str, str]  # (short text, the gate's full message)


def qa_gate(wiring: Wiring) -> Gate | None:
    """QA's gate for tonight (unforced): None when tonight's fetch exited 0, else why QA would refuse (QAGATE)."""
    from praf_engine.qa.gate import check_gate, qa_night

    try:
        check_gate(qa_night(wiring.clock), False)
    except PipelineError as exc:
        if exc.error_code != "QAGATE":
            raise
        reason = exc.detail.get("reason")
        short = {"fetch_running": "QA waits for the running fetch", "no_fetch": "QA waits for a first fetch",
                 "not_tonight": "QA waits for tonight's fetch"}.get(str(reason))
        return short or f"QA held: tonight's fetch exited {exc.detail.get('fetch_exit')}", exc.msg
    return None


def fetch_gate(wiring: Wiring) -> Gate | None:
    """The fetch's universe-freshness gate for tonight: refused (UNIVERSESTALE) when every exchange's universe is too
    old, some exchanges skipped when theirs is, a warning when a last scrape failed; None when all is fresh."""
    from praf_engine.fetch.tracker import fetch_night, freshness

    state = freshness(wiring.settings, fetch_night(wiring.clock))
    if state.all_stale:
        return "fetch refused: universe stale (scrape first, or --force)", f"refusing to fetch: {state.describe()}"
    if state.stale:
        return f"fetch skips {', '.join(state.stale)} (universe stale)", state.describe()
    if state.failed:
        return f"last scrape failed: {', '.join(sorted(state.failed))}", state.describe()
    return None


def gates(wiring: Wiring, jobs: list[str] | tuple[str, ...]) -> dict[str, Gate]:
    """job -> (short, full) of each of ``jobs`` that something holds back: another pipeline job running (scrape,
    fetch, QA and VACUUM never overlap), then the job's own gate. A gate that cannot be asked says so."""
    out: dict[str, Gate] = {}
    busy = pipeline_holder()
    own: dict[str, Any] = {"qa": qa_gate, "fetch": fetch_gate}
    for job in jobs:
        if job in PIPELINE_JOBS and busy is not None and busy != job:
            out[job] = (f"waits for the running {busy}", f"{job} cannot start while {busy} runs: scrape, fetch, QA and "
                        "VACUUM never overlap in one home")
            continue
        if job not in own:
            continue
        try:
            gate = own[job](wiring)
        except Exception as exc:  # noqa: BLE001 - one gate that cannot be read does not blank the screen
            err = wrap(exc)
            log.warning(f"the {job} gate could not be read: {err.msg}", error_code=err.error_code, detail={"job": job})
            gate = (f"gate unknown ({err.error_code})", err.msg)
        if gate is not None:
            out[job] = gate
    return out

"""Refetch and recheck (the operator's fix loop, issue 15): the `recheck` job refetches a few symbols (full or
incremental), re-runs QA on them for an as-of date, then closes their open failures that no longer hold
(resolution 'refetch', "fixed by refetch", with the run id) and notes the ones that still hold.

It runs as one job through the control plane (``request_job('recheck', …)``: a live scheduler starts it, else a
detached process; it survives the SSH session and reports its progress, stage "fetch …" then "qa …"), under the
pipeline lock like fetch and QA. The options are checked before anything is requested (``check_options``): a
malformed, hostile or unknown symbol, too many symbols, a bad date or flag is refused with JOBOPTION."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from praf_engine.db.models import QAFailure, Ticker, utcnow
from praf_engine.errors import PipelineError
from praf_engine.jobs.runner import JobContext
from praf_engine.logs import get_logger
from praf_engine.universe.symbols import validate_symbol

log = get_logger(__name__)
MAX_SYMBOLS = 500  # one request; a whole exchange is the nightly fetch's job, not the fix loop's
RESOLVED_BY = "refetch"
STILL_FAILS = "still fails after refetch {run_id}"
BATCH = 400  # symbols per IN (…) query: under SQLite's bound-parameter limit


def check_symbols(raw: Any, *, code: str = "JOBOPTION", known: bool = True) -> list[str]:
    """The symbols of a recheck or `qa --symbols`, canonical (trimmed, upper case), de-duplicated, in their order.
    Refused with ``code``: not a non-empty list of strings, more than MAX_SYMBOLS, a symbol that is not one (the
    scraper's rule: Yahoo form, ASCII, ≤ 20 characters), and (``known``) one that is not in tickers."""
    if isinstance(raw, str) or not isinstance(raw, Sequence) or not raw:
        raise PipelineError(code, f"symbols must be a non-empty list of symbols, not {str(raw)[:60]!r}", {"symbols": str(raw)[:60]})
    if len(raw) > MAX_SYMBOLS:
        raise PipelineError(code, f"{len(raw)} symbols asked; at most {MAX_SYMBOLS} at a time (the nightly fetch does the rest)",
                            {"count": len(raw), "max": MAX_SYMBOLS})
    out: list[str] = []
    bad: list[str] = []
    for item in raw:
        try:
            sym = validate_symbol(item)
        except PipelineError as exc:
            bad.append(f"{str(item)[:24]!r} ({exc.msg})")
            continue
        if sym not in out:
            out.append(sym)
    if bad:
        raise PipelineError(code, f"not valid symbols: {', '.join(bad[:10])}; nothing ran", {"bad": bad[:50]})
    if known:
        found: set[str] = set()
        for i in range(0, len(out), BATCH):
            found.update(s for (s,) in Ticker.select(Ticker.symbol).where(Ticker.symbol.in_(out[i:i + BATCH])).tuples())
        unknown = [s for s in out if s not in found]
        if unknown:
            raise PipelineError(code, f"not in the universe (tickers): {', '.join(unknown[:10])}; check the spelling "
                                "(Yahoo form: BRK-B, VOD.L, SAP.DE); nothing ran", {"unknown": unknown[:50]})
    return out


def check_as_of(raw: Any, *, code: str = "JOBOPTION") -> dt.date | None:
    """None, a date, or an ISO date string (a stored request's JSON); else ``code``."""
    if raw is None or (isinstance(raw, dt.date) and not isinstance(raw, dt.datetime)):
        return raw
    if isinstance(raw, str):
        try:
            return dt.date.fromisoformat(raw)
        except ValueError:
            pass
    raise PipelineError(code, f"as_of must be a date YYYY-MM-DD, not {str(raw)[:40]!r}", {"as_of": str(raw)[:40]})


def check_options(options: dict[str, Any]) -> dict[str, Any]:
    """The registry's check of a recheck request's options (before it is stored): symbols required, full a bool,
    as_of a date; returns them canonical and JSON (as_of as YYYY-MM-DD)."""
    if "symbols" not in options:
        raise PipelineError("JOBOPTION", "job recheck needs the option symbols (a list of symbols)", {"job": "recheck"})
    out: dict[str, Any] = {"symbols": check_symbols(options["symbols"])}
    full = options.get("full", False)
    if not isinstance(full, bool):
        raise PipelineError("JOBOPTION", f"full must be true or false, not {str(full)[:20]!r}", {"job": "recheck"})
    out["full"] = full
    day = check_as_of(options.get("as_of"))
    if day is not None:
        out["as_of"] = day.isoformat()
    return out


@dataclasses.dataclass
class _Stage:
    """The fetch's progress reporter inside the recheck: its stages prefixed ("fetch plan", "fetch fetch")."""

    inner: Any
    prefix: str

    def report(self, *, stage: str | None = None, **kw: Any) -> None:
        self.inner.report(stage=f"{self.prefix} {stage}" if stage else None, **kw)

    def stop_requested(self) -> bool:
        return bool(self.inner.stop_requested())


def open_failures(symbols: Iterable[str], day: dt.date) -> list[QAFailure]:
    """The open (unresolved) failures of ``symbols`` on ``day``."""
    names = sorted(set(symbols))
    rows: list[QAFailure] = []
    for i in range(0, len(names), BATCH):
        rows += list(QAFailure.select().where(QAFailure.symbol.in_(names[i:i + BATCH]), QAFailure.date == day,
                                              QAFailure.resolved == False))  # noqa: E712
    return rows


def close_fixed(before: Sequence[QAFailure], run_id: str, checked: set[str]) -> tuple[list[int], list[int]]:
    """After the QA rerun ``run_id`` over ``checked`` checks: the failures of ``before`` it did not write again no longer
    hold (closed: 'refetch', resolved_run_id, resolved_by 'refetch'); those it wrote still hold (a note is appended,
    any earlier note kept). Rows of checks that did not run (disabled, crashed) are left as they are.
    Returns (closed ids, still-open ids)."""
    now = utcnow()
    closed: list[int] = []
    still: list[int] = []
    db = QAFailure._meta.database
    with db.atomic():
        for old in before:
            if old.check_name not in checked:
                continue
            row = QAFailure.get_or_none(QAFailure.id == old.id)
            if row is None or row.resolved:
                continue  # triaged meanwhile: the operator's word stands
            if row.run_id == run_id:
                line = STILL_FAILS.format(run_id=run_id)
                note = row.note if row.note and line in row.note else f"{row.note}\n{line}" if row.note else line
                QAFailure.update(note=note, updated_at=now).where(QAFailure.id == row.id).execute()
                still.append(row.id)
            else:
                QAFailure.update(resolved=True, resolution="refetch", resolved_run_id=run_id, resolved_by=RESOLVED_BY,
                                 resolved_at=now, updated_at=now).where(QAFailure.id == row.id, QAFailure.resolved == False  # noqa: E712
                                                                        ).execute()
                closed.append(row.id)
    return closed, still


def recheck_job(ctx: JobContext, *, symbols: list[str] | None = None, full: bool = False, as_of: str | dt.date | None = None) -> int:
    """The `recheck` job: fetch ``symbols`` (``full``: their whole history again), QA on them for ``as_of`` (default:
    QA's own as-of date, the day before the night), then close what no longer holds. Exit: the fetch's when it did
    not complete (nothing closed), 1 with QAFAIL when a check crashed (the other checks' failures are still settled)."""
    from praf_engine.fetch.runner import fetch_job
    from praf_engine.qa.runner import default_as_of, qa_night, run_qa

    opts = check_options({"symbols": symbols, "full": full, "as_of": as_of})
    symbols, day = opts["symbols"], check_as_of(opts.get("as_of")) or default_as_of(qa_night(ctx.clock))
    before = open_failures(symbols, day)
    ctx.detail.update(symbols=symbols, full=full, as_of=day.isoformat(), open_before=len(before))
    log.info("recheck planned", detail={"symbols": symbols[:50], "count": len(symbols), "full": full, "as_of": day.isoformat(),
                                        "open_failures": len(before)})
    ctx.progress(stage="fetch", done=0, total=len(symbols))
    sub = dataclasses.replace(ctx, detail={}, reporter=_Stage(ctx.reporter, "fetch") if ctx.reporter is not None else None)
    code = int(fetch_job(sub, symbols=symbols, full=full) or 0)
    ctx.detail["fetch"] = {k: sub.detail.get(k) for k in ("night", "planned", "done", "rows_written", "outcomes") if k in sub.detail}
    ctx.detail["fetch_exit"] = code
    if code != 0 or ctx.stopping:
        ctx.detail.update(closed=0, still_open=len(before))
        log.warning("recheck: the fetch did not complete; no failure was closed", detail={"fetch_exit": code})
        return code or 0
    done: list[Any] = []

    def report(name: str, outcome: Any) -> None:
        if outcome is not None:
            done.append(outcome)
        ctx.progress(stage=f"qa {name}", done=len(done), rows=sum(o.failures for o in done))

    ctx.progress(stage="qa", done=0, total=None)
    result = run_qa(ctx.settings, ctx.db, day, run_id=ctx.run_id, lake=ctx.lake, progress=report, symbols=symbols, prune=False)
    checked = {o.check for o in result.outcomes if not o.crashed}
    closed, still = close_fixed(before, ctx.run_id, checked)
    ctx.detail.update(closed=len(closed), still_open=len(still), failing_now=sum(o.failures for o in result.outcomes),
                      crashed=result.crashed)
    ctx.progress(stage="done", done=len(done), rows=len(closed), errors=len(still))
    log.info("recheck finished", detail={"closed": len(closed), "still_open": len(still), "as_of": day.isoformat()})
    if result.crashed:
        raise PipelineError("QAFAIL", f"{len(result.crashed)} QA check(s) crashed during the recheck: {', '.join(result.crashed)}; "
                            "their failures were left open", {"crashed": result.crashed, "as_of": day.isoformat()})
    return 0


def run_recheck_command(wiring: Any, symbols: Sequence[str], *, full: bool, as_of: dt.date | None, detach: bool,
                        console: Any) -> int:
    """`praf-engine recheck --symbols …`: checked first (JOBOPTION, nothing runs); ``detach``: one request through the
    control plane (a live scheduler, else a detached process) and return at once; else run here and print the result."""
    import functools

    from praf_engine.jobs.runner import JobRunner

    options = check_options({"symbols": [p for s in symbols for p in str(s).split(",") if p.strip()], "full": full,
                             "as_of": as_of.isoformat() if as_of else None})
    if detach:
        from praf_engine.control.requests import request_job, requester

        info = request_job(wiring, "recheck", options, requester("cli"))
        console.print(f"recheck of {len(options['symbols'])} symbol(s) requested (request {info.id}); follow it with "
                      "`praf-engine status`", markup=False)
        return 0
    runner = JobRunner(wiring)
    code = runner.run("recheck", functools.partial(recheck_job, **options))
    from praf_engine.db.models import CronStatus

    row = CronStatus.select().where(CronStatus.job == "recheck").order_by(CronStatus.id.desc()).first()
    d = (row.detail or {}) if row else {}
    console.print(f"recheck {d.get('as_of')}: {len(options['symbols'])} symbol(s) refetched ({'full' if full else 'incremental'}, "
                  f"fetch exit {d.get('fetch_exit')}), {d.get('closed', 0)} failure(s) fixed by refetch, "
                  f"{d.get('still_open', 0)} still failing; exit code {code}", markup=False)
    return code

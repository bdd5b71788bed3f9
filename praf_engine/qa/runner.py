"""The QA run: read thresholds from qa_checks, run each check in isolation, upsert qa_failures and qa_summary."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from peewee import EXCLUDED, Database

from praf_engine.config import Settings
from praf_engine.db.models import QACheck, QAFailure, QASummary, utcnow
from praf_engine.errors import PipelineError, stack_excerpt, wrap
from praf_engine.jobs.runner import JobContext
from praf_engine.lake import Lake
from praf_engine.logs import get_logger
from praf_engine.qa import catalog
from praf_engine.qa.checks import CHECK_FUNCTIONS, CheckFn
from praf_engine.qa.data import QAData, load_chunks
from praf_engine.qa.gate import check_gate, default_as_of, qa_night
from praf_engine.qa.heuristics import ACROSS_SYMBOLS, HEURISTICS

log = get_logger(__name__)
FUNCTIONS: dict[str, CheckFn] = {**CHECK_FUNCTIONS, **HEURISTICS}
CHUNK = 400
# symbols loaded and checked at a time: memory follows the chunk, not the universe (a year's window of 1,000 symbols
# is ~0.3 M bars); results do not depend on it (tests/engine/qa/test_chunks.py)
CHUNK_SYMBOLS = 1000
ONCE = frozenset({"api_latency"})  # checks of the whole night, not of symbols: run on the first chunk only


@dataclass(frozen=True)
class CheckOutcome:
    check: str
    severity: str
    failures: int  # rows written (one per failing symbol)
    colour: str
    crashed: bool = False
    error: str | None = None
    seconds: float = 0.0


@dataclass
class QARun:
    as_of: dt.date
    run_id: str
    universe_size: int = 0
    outcomes: list[CheckOutcome] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # disabled in qa_checks

    @property
    def crashed(self) -> list[str]:
        return [o.check for o in self.outcomes if o.crashed]

    @property
    def exit_code(self) -> int:
        return 1 if self.crashed else 0

    def as_dict(self) -> dict[str, Any]:
        return {"as_of": self.as_of.isoformat(), "universe_size": self.universe_size, "skipped": self.skipped,
                "crashed": self.crashed, "checks": {o.check: {"failures": o.failures, "colour": o.colour, "severity": o.severity,
                                                              "crashed": o.crashed, "error": o.error, "seconds": round(o.seconds, 3)}
                                                    for o in self.outcomes}}


def _config(settings: Settings, names: Iterable[str] | None) -> tuple[list[QACheck], list[str]]:
    for row in catalog.qa_check_defaults(settings.qa):  # a check added since `init` gets its default row
        QACheck.insert(**row).on_conflict_ignore().execute()
    rows = {r.check_name: r for r in QACheck.select()}
    wanted = list(names) if names else [s.name for s in catalog.SPECS]
    unknown = [n for n in wanted if n not in catalog.CHECKS]
    if unknown:
        raise PipelineError("CONFIGBAD", f"unknown check(s) {unknown}; known: {', '.join(catalog.CHECKS)}", {"unknown": unknown})
    chosen = [rows[n] for n in wanted]
    return [r for r in chosen if r.enabled], [r.check_name for r in chosen if not r.enabled]


def run_qa(settings: Settings, db: Database, as_of: dt.date, *, checks: Iterable[str] | None = None,
           run_id: str = "manual", lake: Lake | None = None,
           progress: Callable[[str, CheckOutcome | None], None] | None = None,
           chunk_symbols: int | None = CHUNK_SYMBOLS, symbols: Iterable[str] | None = None, prune: bool = True) -> QARun:
    """Run the chosen (default: every enabled) check for ``as_of``; a crashing or misconfigured check is recorded
    as QAFAIL and the others still run. The lake is read and checked ``chunk_symbols`` symbols at a time (None: all
    at once); every check's failures are gathered over the chunks and written once.

    ``symbols``: write only these symbols' failures (`qa --symbols`, the recheck). The checks still run over the
    whole universe (correlation_drift compares a symbol with its venue), so a symbol's verdict is the nightly run's;
    other symbols' rows and qa_summary (the night's whole-universe counts) are left as they are. ``prune``: remove
    the untriaged rows of the run's symbols that no longer fail (the recheck keeps them, to close them itself)."""
    only = frozenset(symbols) if symbols is not None else None
    rows, skipped = _config(settings, checks)
    defaults = catalog.default_thresholds(settings.qa)
    result = QARun(as_of=as_of, run_id=run_id, skipped=skipped)
    params: dict[str, dict[str, Any]] = {}
    bad: dict[str, PipelineError] = {}
    for row in rows:
        try:
            params[row.check_name] = catalog.validate_params(row.check_name, row.threshold_params, defaults[row.check_name])
        except PipelineError as exc:
            bad[row.check_name] = exc
    widest = max([p.get("window_sessions", 0) for p in params.values()] + [p.get("window", 0) + 2 for p in params.values()] + [2])
    stale_min_bars = _stale_rule(defaults["stale_price"])
    found: dict[str, list[Any]] = {r.check_name: [] for r in rows}
    seconds = dict.fromkeys(found, 0.0)
    crashed: dict[str, PipelineError] = dict(bad)
    first = True
    for data in load_chunks(lake or Lake(settings.lake_dir), as_of, widest, chunk_symbols):
        data.stale_min_bars = stale_min_bars
        result.universe_size += data.size
        for row in rows:
            name = row.check_name
            if name in crashed or (name in ONCE and not first):
                continue
            started = time.perf_counter()
            try:
                found[name].append(_check_chunk(name, data, params[name]))
            except Exception as exc:  # noqa: BLE001 - a crashing check must not stop the others
                crashed[name] = _crash_error(name, exc)
            seconds[name] += time.perf_counter() - started
        first = False
        del data  # before the next chunk is read
    for row in rows:
        name = row.check_name
        if progress:
            progress(name, None)
        started = time.perf_counter()
        if name not in crashed:
            try:
                failures = _conclude(name, found.pop(name), params[name])
                severity = _severity(name, row.severity, len(failures), result.universe_size, params[name])
                if only is not None:
                    failures = [f for f in failures if f[0] in only]
                _write(as_of, name, severity, failures, run_id, only=only, prune=prune)
                spec = catalog.CHECKS[name]
                outcome = CheckOutcome(name, severity, len(failures), catalog.colour(spec.colour_rule, len(failures),
                                                                                     result.universe_size, settings.dashboard),
                                       seconds=seconds[name] + time.perf_counter() - started)
            except Exception as exc:  # noqa: BLE001
                crashed[name] = _crash_error(name, exc)
        if name in crashed:
            outcome = _crashed(name, row.severity, crashed[name], started - seconds.get(name, 0.0), logged=name not in bad)
        if only is None:
            _summary(as_of, outcome, result.universe_size, run_id)
        result.outcomes.append(outcome)
        if progress:
            progress(name, outcome)
        log.info("qa check", detail={"check": name, "as_of": as_of.isoformat(), "failures": outcome.failures,
                                     "universe": result.universe_size, "colour": outcome.colour, "severity": outcome.severity,
                                     "crashed": outcome.crashed, "seconds": round(outcome.seconds, 3)})
    return result


def _check_chunk(name: str, data: QAData, params: dict[str, Any]) -> Any:
    """One check on one chunk: its failures, or (a check across symbols) its part of the evidence."""
    if name in ACROSS_SYMBOLS:
        return ACROSS_SYMBOLS[name][0](data, params)
    return FUNCTIONS[name](data, params)


def _conclude(name: str, parts: list[Any], params: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The check's failures over every chunk, in symbol order."""
    if name in ACROSS_SYMBOLS:
        return ACROSS_SYMBOLS[name][1](parts, params)
    return [f for part in parts for f in part]


def _crash_error(name: str, exc: Exception) -> PipelineError:
    err = wrap(exc, "QAFAIL", check=name)
    if err.error_code == "INTERNAL":
        err = PipelineError("QAFAIL", f"{name} crashed: {err.msg}", {**err.detail, "check": name})
    log.error(err.msg, error_code="QAFAIL", detail={**err.detail, "check": name}, stack=stack_excerpt(exc))
    return err


def _stale_rule(defaults: dict[str, Any]) -> int | None:
    """stale_price's run length while it is enabled (whichever checks this run selects), else None: the first bar
    after a frozen run is then no price_jump / iqr_jump, so a rerun of one check writes what the nightly run wrote."""
    row = QACheck.get_or_none(QACheck.check_name == "stale_price")
    if row is None or not row.enabled:
        return None
    try:
        return int(catalog.validate_params("stale_price", row.threshold_params, defaults)["min_bars"])
    except PipelineError:
        return None  # stale_price itself reports the bad thresholds (QAFAIL); nothing is excused meanwhile


def _severity(name: str, configured: str, fails: int, size: int, p: dict[str, Any]) -> str:
    if name == "lag_check" and size and 100.0 * fails / size > p["critical_pct"]:
        return "critical"  # seed §5.2: ⚠ above 2 %, 🔥 above 5 % of the universe
    return configured


def _crashed(name: str, severity: str, err: PipelineError, started: float, *, logged: bool = False) -> CheckOutcome:
    if not logged:
        log.error(err.msg, error_code="QAFAIL", detail={**err.detail, "check": name})
    return CheckOutcome(name, severity, 0, "red", crashed=True, error=err.msg, seconds=time.perf_counter() - started)


def _write(as_of: dt.date, name: str, severity: str, failures: list[tuple[str, dict[str, Any]]], run_id: str, *,
           only: frozenset[str] | None = None, prune: bool = True) -> None:
    """Upsert one row per failing symbol; triage (resolved, resolution, note) is never touched. Rows of an earlier
    run of the same date that no longer fail are removed unless someone triaged them (``prune``); with ``only``,
    just the rows of those symbols."""
    now = utcnow()
    with QAFailure._meta.database.atomic():
        for i in range(0, len(failures), CHUNK):
            chunk = [{"symbol": s, "date": as_of, "check_name": name, "severity": severity, "details": d, "run_id": run_id,
                      "created_at": now, "updated_at": now} for s, d in failures[i : i + CHUNK]]
            (QAFailure.insert_many(chunk)
             .on_conflict(conflict_target=[QAFailure.symbol, QAFailure.check_name, QAFailure.date],
                          update={QAFailure.details: EXCLUDED.details, QAFailure.severity: EXCLUDED.severity,
                                  QAFailure.run_id: EXCLUDED.run_id, QAFailure.updated_at: EXCLUDED.updated_at})
             .execute())
        if not prune:
            return
        stale = (QAFailure.date == as_of) & (QAFailure.check_name == name) & (QAFailure.updated_at < now) & (
            QAFailure.resolved == False) & QAFailure.resolution.is_null() & QAFailure.note.is_null()  # noqa: E712
        if only is None:
            QAFailure.delete().where(stale).execute()
            return
        names = sorted(only)
        for i in range(0, len(names), CHUNK):
            QAFailure.delete().where(stale & QAFailure.symbol.in_(names[i:i + CHUNK])).execute()


def _summary(as_of: dt.date, o: CheckOutcome, size: int, run_id: str) -> None:
    row = {"date": as_of, "check_name": o.check, "severity": o.severity, "fail_count": o.failures, "universe_size": size,
           "colour": o.colour, "crashed": o.crashed, "run_id": run_id, "created_at": utcnow()}
    (QASummary.insert(**row)
     .on_conflict(conflict_target=[QASummary.date, QASummary.check_name],
                  update={getattr(QASummary, k): getattr(EXCLUDED, k) for k in row if k not in ("date", "check_name")})
     .execute())


def qa_job(ctx: JobContext, *, as_of: dt.date | None = None, checks: list[str] | None = None, force: bool = False,
           symbols: list[str] | None = None, progress: Callable[[str, CheckOutcome | None], None] | None = None) -> int:
    """The `qa` job: gated on the same night's fetch (and on no fetch running), then every enabled check; exit 1 if
    any check crashed (QAFAIL). ``symbols``: only their failures are written (``run_qa``); validated first."""
    if symbols is not None:
        from praf_engine.qa.recheck import check_symbols

        symbols = check_symbols(symbols, code="CONFIGBAD")
        ctx.detail["symbols"] = symbols
    night = qa_night(ctx.clock)
    ctx.detail["gate"] = check_gate(night, force)
    day = as_of or default_as_of(night)
    done: list[CheckOutcome] = []
    total = len(_config(ctx.settings, checks)[0])  # the enabled checks (run_qa reports each one as it concludes)
    ctx.progress(stage="checks over the lake", done=0, total=total)

    def report(name: str, outcome: CheckOutcome | None) -> None:  # the CLI's bar, and ctx.progress (job_progress)
        if progress is not None:
            progress(name, outcome)
        if outcome is not None:
            done.append(outcome)
        ctx.progress(stage=f"check {name}", done=len(done), total=total,
                     rows=sum(o.failures for o in done), errors=sum(o.crashed for o in done))

    result = run_qa(ctx.settings, ctx.db, day, checks=checks, run_id=ctx.run_id, lake=ctx.lake, progress=report, symbols=symbols)
    ctx.detail.update(result.as_dict())
    if result.crashed:  # every other check's results are written; the run still fails
        raise PipelineError("QAFAIL", f"{len(result.crashed)} QA check(s) crashed or are misconfigured: {', '.join(result.crashed)}; "
                            "the other checks ran", {"crashed": result.crashed, "as_of": day.isoformat()})
    return 0


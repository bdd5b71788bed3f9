"""The threshold editor's engine side: a check's configuration as stored, an edit validated by the QA runner's own
rules (``catalog.validate_params``), the edit's preview (the check run in memory on the lake for an as-of date with
the stored and the edited configuration; nothing is written) and the save (``qa_checks`` and a ``qa_check_audit``
row in one transaction).

The preview reads the lake exactly as ``run_qa`` does (``load_chunks``, ``CHUNK_SYMBOLS`` symbols at a time, the
runner's per-chunk and concluding steps), so what it predicts is what the next QA run of that date writes.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from peewee import Database, fn

from praf_engine.config import Settings
from praf_engine.db.models import SEVERITIES, CronStatus, QACheck, QACheckAudit, QASummary, Ticker, utcnow
from praf_engine.errors import PipelineError
from praf_engine.qa import catalog

if TYPE_CHECKING:
    from praf_engine.lake import Lake

MAX_NOTE = 2000  # characters of an audit note
MAX_WHO = 64  # qa_check_audit.changed_by


@dataclass(frozen=True)
class CheckConfig:
    """What the QA runner uses of one ``qa_checks`` row: severity, enabled, thresholds (validated, typed, every key).
    ``error``: the stored thresholds are malformed (the runner records QAFAIL for the check); ``params`` are then
    the defaults."""

    name: str
    severity: str
    enabled: bool
    params: dict[str, Any]
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The audit's ``old`` / ``new`` document."""
        return {"severity": self.severity, "enabled": self.enabled, "threshold_params": dict(self.params)}


@dataclass
class Comparison:
    """The failing symbols of one check on one as-of date with the stored (``before``) and the edited (``after``)
    configuration; a disabled (or malformed) configuration fails nothing, as the runner writes nothing for it."""

    as_of: dt.date
    old: CheckConfig
    new: CheckConfig
    universe_size: int = 0
    before: set[str] = field(default_factory=set)
    after: set[str] = field(default_factory=set)
    old_severity: str = ""
    new_severity: str = ""
    seconds: float = 0.0
    cached: bool = False  # the window came from memory (WindowCache)


def known(name: str) -> str:
    """``name`` when it is a check; CONFIGBAD (the runner's error for an unknown check) otherwise."""
    if name not in catalog.CHECKS:
        raise PipelineError("CONFIGBAD", f"unknown check(s) {[name]}; known: {', '.join(catalog.CHECKS)}", {"unknown": [name]})
    return name


def parse_value(value: Any) -> Any:
    """A threshold as typed in a form: JSON text ("3" → 3, "0.5" → 0.5); anything else is kept as given, so that
    ``validate_params`` names it in its error ("abc" must be a number)."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    try:
        return json.loads(text)
    except ValueError:
        return text


def stored(settings: Settings, name: str) -> CheckConfig:
    """The check as the next QA run reads it (its default row when ``qa_checks`` has none yet)."""
    defaults = catalog.default_thresholds(settings.qa)[known(name)]
    row = QACheck.get_or_none(QACheck.check_name == name)
    severity, enabled, raw = (row.severity, bool(row.enabled), row.threshold_params) if row else \
        (catalog.CHECKS[name].severity, True, defaults)
    try:
        return CheckConfig(name, severity, enabled, catalog.validate_params(name, raw, defaults))
    except PipelineError as exc:
        return CheckConfig(name, severity, enabled, dict(defaults), error=exc.msg)


def validate(settings: Settings, name: str, params: Mapping[str, Any] | None = None, severity: str | None = None,
             enabled: bool | None = None) -> CheckConfig:
    """The check with an edit applied: ``params`` (values or their text) over the stored thresholds (over the defaults
    when the stored ones are malformed), validated by ``catalog.validate_params`` — the function the QA runner applies —
    and ``severity`` / ``enabled`` when given. Raises QAFAIL naming the bad key or value (CONFIGBAD: unknown check)."""
    base = stored(settings, name)
    raw: Any = params
    if params is not None:
        if not isinstance(params, Mapping):
            raw = params  # validate_params names the wrong type
        else:
            raw = {**({} if base.error else base.params), **{k: parse_value(v) for k, v in params.items()}}
    defaults = catalog.default_thresholds(settings.qa)[name]
    new_params = base.params if params is None else catalog.validate_params(name, raw, defaults)
    if severity is not None and severity not in SEVERITIES:
        raise PipelineError("QAFAIL", f"{name}: severity {severity!r} must be one of {', '.join(SEVERITIES)}",
                            {"check": name, "severity": repr(severity)[:40]})
    if enabled is not None and not isinstance(enabled, bool):
        raise PipelineError("QAFAIL", f"{name}: enabled must be true or false, not {enabled!r:.40}",
                            {"check": name, "enabled": repr(enabled)[:40]})
    return CheckConfig(name, base.severity if severity is None else severity, base.enabled if enabled is None else enabled,
                       new_params, error=base.error if params is None else None)


def latest_as_of(today: dt.date) -> dt.date:
    """The latest as-of date QA ran for (qa_summary), else the day before ``today`` (the date a QA run would judge)."""
    latest = QASummary.select(fn.MAX(QASummary.date)).scalar()
    if latest is None:
        return today - dt.timedelta(days=1)
    return latest if isinstance(latest, dt.date) else dt.date.fromisoformat(str(latest)[:10])


def _widest(*params: Mapping[str, Any]) -> int:
    """Sessions to load for these thresholds: the runner's rule (window_sessions; a correlation window + 2; at least 2)."""
    return max([p.get("window_sessions", 0) for p in params] + [p.get("window", 0) + 2 for p in params] + [2])


class WindowCache:
    """The lake window of the last preview, kept in memory (``QAData`` chunks, as ``load_chunks`` made them) so that
    the next previews of the same as-of date run on it without reading the lake again. It is used again only while
    the home's runs and universe are as they were (a run started or finished, a listing added: read again) and for
    ``ttl_s`` at most (a fetch writing meanwhile is seen after that); a window of more than ``max_bars`` is not kept."""

    def __init__(self, ttl_s: float = 120.0, max_bars: int = 3_000_000) -> None:
        self.ttl_s, self.max_bars = ttl_s, max_bars
        self._lock = threading.Lock()
        self._key: tuple[Any, ...] | None = None
        self._widest = 0
        self._chunks: list[Any] = []
        self._at = 0.0

    @staticmethod
    def stamp() -> tuple[Any, ...]:
        """What changes when a job runs or the universe changes: the newest run, the finished runs, the listings."""
        return (CronStatus.select(fn.MAX(CronStatus.id)).scalar(), CronStatus.select().where(
            CronStatus.finished_at.is_null(False)).count(), Ticker.select().where(Ticker.status == "active").count())

    def chunks(self, lake: Lake, as_of: dt.date, widest: int, chunk_symbols: int | None) -> tuple[list[Any], bool]:
        """The window's chunks for ``as_of`` (at least ``widest`` sessions) and whether they came from memory."""
        from praf_engine.qa.data import load_chunks

        key = (str(lake.root), as_of, chunk_symbols, self.stamp())
        with self._lock:
            if key == self._key and widest <= self._widest and time.monotonic() - self._at < self.ttl_s:
                return self._chunks, True
            self._key, self._chunks = None, []  # the old window goes before the new one is read
            loaded = list(load_chunks(lake, as_of, widest, chunk_symbols))
            if sum(len(c.day) for c in loaded) <= self.max_bars:
                self._key, self._widest, self._chunks, self._at = key, widest, loaded, time.monotonic()
            return loaded, False


def stored_widest(settings: Settings) -> int:
    """Sessions the runner reads for the stored configuration: the widest window of every enabled check."""
    return _widest(*(c.params for c in (stored(settings, s.name) for s in catalog.SPECS) if c.enabled and not c.error))


def warm(settings: Settings, lake: Lake, as_of: dt.date, cache: WindowCache) -> bool:
    """Read the window ``compare`` will want for ``as_of`` into ``cache`` ahead of the first preview (the editor does
    this while the operator reads the list); False when it was in memory already."""
    from praf_engine.qa.runner import CHUNK_SYMBOLS

    return not cache.chunks(lake, as_of, stored_widest(settings), CHUNK_SYMBOLS)[1]


def compare(settings: Settings, lake: Lake, old: CheckConfig, new: CheckConfig, as_of: dt.date,
            chunk_symbols: int | None = 0, cache: WindowCache | None = None) -> Comparison:
    """Run ``old`` and ``new`` (once when their thresholds agree) over the lake's window for ``as_of``, in memory,
    ``chunk_symbols`` symbols at a time (0: the runner's CHUNK_SYMBOLS; None: all at once). With a ``cache`` the window
    is read at least as wide as every stored check needs (as the runner reads it) and kept for the next preview."""
    # late: the runner (and the job runner it imports) and the arrays are not needed to list or save checks
    from praf_engine.qa.data import load_chunks
    from praf_engine.qa.runner import CHUNK_SYMBOLS, ONCE, _check_chunk, _conclude, _severity, _stale_rule

    started = time.perf_counter()
    name = old.name
    out = Comparison(as_of, old, new)
    runs = {"old": old.params if old.enabled and not old.error else None, "new": new.params if new.enabled else None}
    if runs["old"] is not None and runs["old"] == runs["new"]:
        runs["old"] = None  # computed once, copied below
        same = True
    else:
        same = False
    active = {k: p for k, p in runs.items() if p is not None}
    found: dict[str, list[Any]] = {k: [] for k in active}
    if active:
        stale = _stale_rule(catalog.default_thresholds(settings.qa)["stale_price"])
        first = True
        size = CHUNK_SYMBOLS if chunk_symbols == 0 else chunk_symbols
        widest = _widest(*active.values())
        if cache is None:
            chunks: Any = load_chunks(lake, as_of, widest, size)
        else:
            widest = max(widest, stored_widest(settings))
            chunks, out.cached = cache.chunks(lake, as_of, widest, size)
        for data in chunks:
            data.stale_min_bars = stale
            out.universe_size += data.size
            if name not in ONCE or first:
                for key, params in active.items():
                    found[key].append(_check_chunk(name, data, params))
            first = False
            del data
    result = {k: {s for s, _ in _conclude(name, found[k], p)} for k, p in active.items()}
    out.after = result.get("new", set())
    out.before = set(out.after) if same else result.get("old", set())
    size = out.universe_size
    out.old_severity = _severity(name, old.severity, len(out.before), size, old.params)
    out.new_severity = _severity(name, new.severity, len(out.after), size, new.params)
    out.seconds = time.perf_counter() - started
    return out


def save(db: Database, settings: Settings, name: str, *, who: str, note: str | None = None,
         params: Mapping[str, Any] | None = None, severity: str | None = None, enabled: bool | None = None
         ) -> tuple[CheckConfig, QACheckAudit | None]:
    """Validate the edit (``validate``), then write ``qa_checks`` and one ``qa_check_audit`` row (who, when, old, new,
    note) in one transaction; nothing is written when anything is invalid, or when nothing changes (no audit row:
    returns None for it). The next QA run reads the new row."""
    new = validate(settings, name, params, severity, enabled)
    who = (who or "").strip()
    if not who:
        raise PipelineError("QAFAIL", f"{name}: a threshold change needs the name of who makes it", {"check": name})
    if note is not None and len(note) > MAX_NOTE:
        raise PipelineError("QAFAIL", f"{name}: the note is {len(note)} characters; at most {MAX_NOTE}", {"check": name})
    with db.atomic():
        row = QACheck.get_or_none(QACheck.check_name == name)
        old_json = {"severity": row.severity, "enabled": bool(row.enabled), "threshold_params": row.threshold_params} \
            if row else stored(settings, name).as_json()
        if old_json == new.as_json():
            return new, None
        now = utcnow()
        values = {"severity": new.severity, "enabled": new.enabled, "threshold_params": dict(new.params),
                  "updated_at": now, "updated_by": who[:MAX_WHO]}
        if row is None:
            QACheck.insert(check_name=name, description=catalog.CHECKS[name].description, **values).execute()
        else:
            QACheck.update(**values).where(QACheck.check_name == name).execute()
        audit = QACheckAudit.create(check_name=name, changed_at=now, changed_by=who[:MAX_WHO], old=old_json,
                                    new=new.as_json(), note=(note or "").strip())
    return new, audit

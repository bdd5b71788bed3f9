"""The threshold editor's part of EngineService (a mixin, so that service.py stays one screen of façade): list the
checks, validate / preview / save an edit, the history of edits. praf_engine.qa.tuning does the work and
readmodels.checks answers with the DTOs; EngineAPI (service.py) declares these methods for the TUI."""

from __future__ import annotations

import datetime as dt
from typing import Any

from peewee import Database

from praf_engine.config import Settings
from praf_engine.qa import tuning
from praf_engine.readmodels import checks as checks_model
from praf_engine.readmodels.checks import CheckChange, CheckPreview, CheckRow
from praf_engine.wiring import Wiring


class ThresholdEditor:
    """Mixed into EngineService, whose ``settings``, ``db`` and ``wiring`` (clock, lake) it uses."""

    settings: Settings
    db: Database
    wiring: Wiring

    def qa_checks(self) -> tuple[CheckRow, ...]:
        """Every QA check as the next run reads it: severity, enabled, each threshold (type, default, value)."""
        return checks_model.checks(self.settings)

    def validate_check(self, name: str, params: dict[str, Any] | None = None, severity: str | None = None,
                       enabled: bool | None = None) -> dict[str, Any]:
        """An edit checked by the QA runner's rules without reading the lake (no database query for the values
        themselves): the thresholds it would save; values may be text ("0.5"). QAFAIL names the bad key or value;
        CONFIGBAD an unknown check."""
        return tuning.validate(self.settings, name, params, severity, enabled).params

    def preview_check(self, name: str, params: dict[str, Any] | None = None, severity: str | None = None,
                      enabled: bool | None = None, as_of: dt.date | None = None) -> CheckPreview:
        """The edit validated, then the check run in memory on the lake for ``as_of`` (default: the latest date QA ran
        for) with the stored and the edited configuration: failures added and removed, with samples. Writes nothing.
        The window read stays in memory for the next previews while no job starts or ends (tuning.WindowCache)."""
        return checks_model.preview(self.settings, self.wiring.lake, name, self.wiring.clock().date(), params, severity,
                                    enabled, as_of, self._window_cache())

    def warm_check_window(self, as_of: dt.date | None = None) -> bool:
        """Read the lake window of the next preview into memory now (the Checks screen calls it when it opens, so the
        operator's first preview does not wait for the lake); False when it was in memory already. Writes nothing."""
        return checks_model.warm(self.settings, self.wiring.lake, self.wiring.clock().date(), as_of, self._window_cache())

    def _window_cache(self) -> tuning.WindowCache:
        return self.__dict__.setdefault("_check_window", tuning.WindowCache())

    def save_check(self, name: str, *, who: str, note: str | None = None, params: dict[str, Any] | None = None,
                   severity: str | None = None, enabled: bool | None = None) -> CheckRow:
        """Validate the edit, then write qa_checks and a qa_check_audit row (who, when, old, new, note) in one
        transaction; the next QA run uses it. A malformed value writes nothing (QAFAIL); no change writes nothing."""
        tuning.save(self.db, self.settings, name, who=who, note=note, params=params, severity=severity, enabled=enabled)
        return checks_model.check_row(self.settings, name)

    def check_history(self, name: str) -> tuple[CheckChange, ...]:
        """The saved edits of a check, newest first (CONFIGBAD: unknown check)."""
        return checks_model.history(name)

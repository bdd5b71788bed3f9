"""The fix loop's part of EngineService (a mixin, like service_checks): refetch-and-recheck of a few symbols as one
control-plane request (praf_engine.qa.recheck), and the universe panel's detail (readmodels.universe). EngineAPI
(service.py) declares these methods for the TUI."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from praf_engine.readmodels.dto import JobRequestInfo
from praf_engine.readmodels.universe import UniverseDetail


class FixLoop:
    """Mixed into EngineService, whose ``request_job`` it goes through."""

    request_job: Callable[..., JobRequestInfo]  # EngineService's (the control plane)

    def recheck_symbols(self, symbols: Sequence[str], full: bool = False, as_of: dt.date | None = None,
                        by: str = "tui") -> JobRequestInfo:
        """Refetch ``symbols`` (``full``: whole history) and re-run QA on them for ``as_of`` (default: QA's), as one
        `recheck` request (``request_job``: a live scheduler starts it, else a detached process); the failures that
        no longer hold close as 'fixed by refetch'. JOBOPTION for a malformed, unknown or hostile symbol list
        (nothing is requested), JOBLOCKED while a recheck runs."""
        options: dict[str, Any] = {"symbols": list(symbols) if isinstance(symbols, list | tuple) else symbols, "full": full}
        if as_of is not None:
            options["as_of"] = as_of.isoformat()
        return self.request_job("recheck", options, by=by)

    def universe_detail(self, as_of: dt.date | None = None, month: str | None = None, change: str | None = None) -> UniverseDetail:
        """The listings behind the universe panel: new, delisted and relisted in ``month`` (YYYY-MM, default
        as_of's, as_of default today UTC), counts per exchange; ``change`` keeps one kind. UNIVERSEQUERY for a bad
        month or change."""
        from praf_engine.readmodels.universe import universe_detail

        return universe_detail(as_of or dt.datetime.now(dt.UTC).date(), month, change)

"""The sandbox's side of the wiring seam: its settings profile (every source at the sandbox), the check of its fault
settings, its Yahoo session factory and its market clock. Entry points ask for it (``entry.build_wiring``, the
demo); production modules never know it exists, as an httpx client never knows its transport is a ``MockTransport``."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from praf_engine.config import Key, SandboxSettings, Settings
from praf_engine.db.models import utcnow
from praf_engine.errors import PipelineError
from praf_engine.sandbox.faults import FaultConfig
from praf_engine.wiring import Clock, LakeHandle, Wiring, YahooSessionFactory, http_client_factory

NORDVPN_LIST = "/v1/servers?filters[servers_technologies][identifier]=socks&limit=50"


def profile(sandbox: SandboxSettings) -> dict[Key, Any]:
    """The one mapping from where the sandbox listens (its ``[sandbox]`` URLs) to the settings of a home that uses
    it: every source URL pointed at it, politeness delays off and back-offs scaled to milliseconds."""
    http, yahoo, telegram = (url.rstrip("/") for url in (sandbox.http_url, sandbox.yahoo_url, sandbox.telegram_url))
    return {
        ("scrape", "nasdaq_url"): f"{http}/dynamic/SymDir/nasdaqlisted.txt",
        ("scrape", "otherlisted_url"): f"{http}/dynamic/SymDir/otherlisted.txt",
        ("scrape", "ftse100_url"): f"{http}/wiki/FTSE_100_Index",
        ("scrape", "ftse250_url"): f"{http}/wiki/FTSE_250_Index",
        ("scrape", "dax_url"): f"{http}/index/dax/constituents",
        ("scrape", "euronext_url"): f"{http}/en/products/equities/list",
        ("scrape", "delay_min_s"): 0.0,
        ("scrape", "delay_max_s"): 0.0,
        ("fetch", "yahoo_base_url"): yahoo,
        ("fetch", "backoff_s"): [0.01, 0.03, 0.12, 0.6],
        ("exits", "nordvpn_api_url"): f"{http}{NORDVPN_LIST}",
        ("exits", "nordvpn_port"): sandbox.exit_port,
        ("alerts", "telegram_api_url"): telegram,
    }


def fault_config(s: SandboxSettings) -> FaultConfig:
    """The FaultConfig the ``[sandbox]`` settings describe: the profile (``faults``), then ``fault_rates`` and
    ``fault_targets`` on top. A fault kind the catalogue does not know, or a rate outside [0, 1], is CONFIGBAD naming
    the setting (checked here, where a sandbox is built or a home wired to one, not when settings load)."""
    try:
        FaultConfig.from_mapping({"rates": s.fault_rates, "targets": s.fault_targets})
    except ValueError as exc:
        keys = ", ".join(f"sandbox.{name}" for name in ("fault_rates", "fault_targets") if getattr(s, name))
        raise PipelineError("CONFIGBAD", f"invalid sandbox fault setting ({keys}): {exc}",
                            {"setting": keys}) from None
    profile = FaultConfig.demo() if s.faults == "demo" else FaultConfig.none()
    return FaultConfig.from_mapping({
        "rates": {**profile.rates, **s.fault_rates},
        "targets": {**{k: sorted(v) for k, v in profile.targets.items()}, **s.fault_targets},
        "slow_seconds": s.slow_seconds, "storm_length": profile.storm_length,
    })


def with_profile(settings: Settings) -> Settings:
    """``settings`` with the sandbox's profile applied to every setting that no layer (settings.toml, .env,
    environment, command line) set: an operator's own value wins. CONFIGBAD if the result does not validate or
    its fault settings name a fault the sandbox does not know."""
    fault_config(settings.sandbox)
    wanted: dict[str, dict[str, Any]] = {}
    for (section, name), value in profile(settings.sandbox).items():
        if name not in getattr(settings, section).model_fields_set:
            wanted.setdefault(section, {})[name] = value
    update: dict[str, Any] = {}
    for section, values in wanted.items():
        current = getattr(settings, section)
        try:
            update[section] = type(current).model_validate({**current.model_dump(exclude_unset=True), **values})
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or section}: {e['msg']}" for e in exc.errors())
            raise PipelineError("CONFIGBAD", f"the [{section}] settings do not fit the sandbox profile (sources = sandbox, "
                                f"which sets {', '.join(sorted(values))}): {problems}", {"section": section}) from None
    return settings.model_copy(update=update) if update else settings


def yahoo_sessions(base_url: str) -> YahooSessionFactory:
    """Sessions that send every ``*.yahoo.com`` request to the emulator at ``base_url`` and record each chart answer
    as the production session does."""

    def make(proxy_url: str | None = None) -> Any:
        return _session_class()(base_url, proxies={"http": proxy_url, "https": proxy_url} if proxy_url else None)

    return make


@functools.cache
def _session_class() -> type:
    """Built on first use: curl_cffi, yfinance's session type, is imported only when a fetch runs."""
    from praf_engine.fetch.client import Recording
    from praf_engine.sandbox.yahoo import SandboxSession

    class RecordingSandboxSession(Recording, SandboxSession):
        """The sandbox's Yahoo session: ``*.yahoo.com`` rewritten to the emulator, chart answers recorded."""

    return RecordingSandboxSession


def market_clock(today: Callable[[], dt.date]) -> Clock:
    """'Now' in the sandbox: the market's date (``today()``, read at every call) at the wall clock's UTC time."""

    def now() -> dt.datetime:
        return dt.datetime.combine(today(), utcnow().time())

    return now


def sandbox_wiring(settings: Settings, *, today: Callable[[], dt.date] | None = None, db: Any = None) -> Wiring:
    """The wiring of a home that uses a sandbox: ``settings`` with the profile, the emulator's sessions, and the clock
    of the market's date — ``today`` (a running ``Sandbox`` passes its market's), else ``sandbox.today``, else the
    UTC clock (a sandbox without a date plays today)."""
    s = with_profile(settings)
    if today is None and s.sandbox.today is not None:
        fixed = s.sandbox.today
        today = lambda: fixed  # noqa: E731
    return Wiring(settings=s, yahoo_session=yahoo_sessions(s.fetch.yahoo_base_url), http_client=http_client_factory(s),
                  clock=market_clock(today) if today is not None else utcnow, lake_handle=LakeHandle(s.lake_dir), db=db)

"""Settings: one object loaded from defaults, settings.toml, .env, PRAF_* variables and CLI flags, in that order.

Every value remembers which source gave it, so a wrong value is rejected at start with a message that names
the setting and where it came from (``CONFIGBAD``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from dotenv import dotenv_values
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from praf_engine.errors import PipelineError
from praf_engine.logs import redact

ENV_PREFIX = "PRAF_"
DEFAULT_HOME = Path("~/.local/share/praf")


def _check_hhmm(value: str) -> str:
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
        raise ValueError("must be a 24-hour time HH:MM, e.g. 01:45")
    return value


HHMM = Annotated[str, AfterValidator(_check_hhmm)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True, frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _split_lists(cls, value: Any, info: Any) -> Any:
        """Environment variables and --set give strings: accept '10,30,120' for list settings."""
        field = cls.model_fields.get(info.field_name)
        if isinstance(value, str) and field is not None and "list" in str(field.annotation):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value


class ScrapeSettings(_Section):
    """Monthly universe scrape (SPEC §2)."""

    nasdaq_url: str = Field("https://www.nasdaqtrader.com/dynamic/SymDir/nasdaqlisted.txt", description="nasdaqlisted.txt, https:// or ftp://")
    otherlisted_url: str = Field("https://www.nasdaqtrader.com/dynamic/SymDir/otherlisted.txt", description="otherlisted.txt (NYSE Arca rows), https:// or ftp://")
    ftse100_url: str = Field("https://en.wikipedia.org/wiki/FTSE_100_Index", description="FTSE 100 constituents page (table#constituents)")
    ftse250_url: str = Field("https://en.wikipedia.org/wiki/FTSE_250_Index", description="FTSE 250 constituents page (table#constituents)")
    dax_url: str = Field("https://www.boerse-frankfurt.de/index/dax/constituents", description="First page of the paginated DAX listing")
    euronext_url: str = Field("https://live.euronext.com/en/products/equities/list", description="Euronext equities list page (JavaScript download)")
    user_agent: str = Field("PRAF/0.1 (+https://github.com/praf; daily data pipeline)", description="User-Agent sent to exchange sites")
    delay_min_s: float = Field(1.0, ge=0, description="Politeness delay between requests, lower bound")
    delay_max_s: float = Field(3.0, ge=0, description="Politeness delay between requests, upper bound")
    retries: int = Field(3, ge=0, le=10, description="Retries per request before SCRAPEHTTP, and of the Euronext page and download before SCRAPEJS")
    timeout_s: float = Field(30.0, gt=0, description="HTTP/FTP timeout per request")
    js_timeout_s: float = Field(20.0, gt=0, description="Selenium wait for the Euronext download (SCRAPEJS)")
    row_floor_ratio: float = Field(0.5, ge=0, le=1, description="Fewer rows than this share of last month = structure_error")
    chromedriver_path: str = Field("/usr/bin/chromedriver", description="ChromeDriver binary for Selenium")
    chromium_path: str = Field("/usr/bin/chromium", description="Chromium binary for Selenium")

    @model_validator(mode="after")
    def _delays_ordered(self) -> ScrapeSettings:
        if self.delay_min_s > self.delay_max_s:
            raise ValueError("delay_min_s must not exceed delay_max_s")
        return self


class FetchSettings(_Section):
    """Nightly OHLCV fetch (SPEC §3)."""

    batch_size: int = Field(100, gt=0, le=1000, description="Symbols per yfinance batch")
    workers: int = Field(6, gt=0, le=64, description="Threads in the fetch pool")
    full_history_after_days: int = Field(5, ge=1, description="Further behind than this = full-history download")
    full_history_cap: int = Field(500, ge=0, description="Most full-history symbols per night")
    backoff_s: list[float] = Field([10, 30, 120, 600], description="Back-off ladder on 429 / empty batch (seconds)")
    request_timeout_s: float = Field(30.0, gt=0, description="Per-request timeout")
    dlq_after_nights: int = Field(3, ge=1, description="Consecutive failed nights before the dead-letter queue")
    delist_after_failures: int = Field(7, ge=1, description="Failures (symbol absent from last scrape) before delisted")
    breaker_first_batches: int = Field(5, ge=1, description="Batches the circuit breaker looks at")
    breaker_failure_ratio: float = Field(0.8, gt=0, le=1, description="Share of failed first batches that means API down")
    universe_max_age_days: int = Field(35, ge=1, description="Freshness gate, per exchange: an exchange whose last successful scrape is older is not fetched; every exchange older: the fetch refuses")
    adj_ratio_change: float = Field(0.10, gt=0, description="adj_close/close ratio change that triggers a full re-download")
    overlap_days: int = Field(10, ge=0, le=60, description="Incremental fetches re-read this many days already stored, so late-revealed splits/dividends are seen (merged, never duplicated)")
    yahoo_base_url: str = Field("https://query2.finance.yahoo.com", description="Yahoo endpoint (the sandbox rewrites it)")
    stale_after_sessions: int = Field(10, ge=1, description="A download whose newest bar is more than this many sessions of its venue before the night is stale at source (YFSTALE), not ok")
    stale_backoff_nights: list[int] = Field([1, 2, 4, 8, 16], description="Nights a stale-at-source symbol is skipped after its 1st, 2nd, ... stale download in a row (the last value repeats)")
    stale_dlq_after_nights: int = Field(14, ge=1, description="Nights stale at source (from the first stale download) before the dead-letter queue; also delisted if its exchange's last scrape did not see it")

    @field_validator("stale_backoff_nights")
    @classmethod
    def _nights(cls, value: list[int]) -> list[int]:
        if not value or any(v < 0 for v in value):
            raise ValueError("must be a non-empty list of nights >= 0")
        return value

    @field_validator("backoff_s")
    @classmethod
    def _non_negative(cls, value: list[float]) -> list[float]:
        if not value or any(v < 0 for v in value):
            raise ValueError("must be a non-empty list of non-negative seconds")
        return value


class ExitSettings(_Section):
    """Egress for the fetcher: direct, a proxy list, NordVPN SOCKS5 service, or the NordVPN CLI (SPEC §3)."""

    kind: Literal["direct", "proxies", "nordvpn", "nordvpn-cli"] = Field("direct", description="Exit kind")
    proxies: list[str] = Field([], description="socks5h:// or http:// proxy URLs for kind=proxies")
    rotate_every: int = Field(400, gt=0, description="Tickers per exit before rotating")
    cooldown_s: float = Field(300.0, ge=0, description="Rest time of an exit after a 429 storm")
    max_connect_failures: int = Field(3, ge=1, description="Failed connects before falling back to direct")
    nordvpn_api_url: str = Field(
        "https://api.nordvpn.com/v1/servers?filters[servers_technologies][identifier]=socks&limit=50",
        description="NordVPN server list",
    )
    nordvpn_port: int = Field(1080, gt=0, lt=65536, description="NordVPN SOCKS5 port")

    @field_validator("proxies")
    @classmethod
    def _proxy_schemes(cls, value: list[str]) -> list[str]:
        for url in value:
            if not re.match(r"^(socks5h?|socks4a?|https?)://", url):
                raise ValueError("each proxy must start with socks5h://, socks5://, socks4://, socks4a://, http:// or https://")
        return value


class QASettings(_Section):
    """Seed defaults for qa_checks (the table is the live copy, editable without a deploy; SPEC §5)."""

    lag_days: int = Field(2, ge=0, description="lag_check: trading days behind")
    missing_window_sessions: int = Field(30, ge=1, description="missing_dates: sessions looked at")
    price_jump: float = Field(0.75, gt=0, description="price_jump: |close/prev_close - 1| above this")
    fetch_error_nights: int = Field(3, ge=1, description="fetch_error: consecutive failed nights")
    latency_p95_s: float = Field(10.0, gt=0, description="api_latency: batch p95 in seconds")
    latency_nights: int = Field(3, ge=1, description="api_latency: nights running")
    volume_z: float = Field(5.0, gt=0, description="Heuristic volume z-score (info)")
    iqr_k: float = Field(3.0, gt=0, description="Heuristic IQR jump guard multiplier (info)")


class DashboardSettings(_Section):
    """KPI colour thresholds (seed §5.6): value <= green is green, <= yellow is yellow, above is red."""

    lag_pct_green: float = Field(1.0, ge=0, description="Lag > 2 d, % of universe, green up to")
    lag_pct_yellow: float = Field(5.0, ge=0, description="Lag > 2 d, % of universe, yellow up to")
    rows_green: int = Field(200, ge=0, description="Missing dates / nulls / volume / jumps rows, green up to")
    rows_yellow: int = Field(500, ge=0, description="... yellow up to")
    fetch_errors_green: int = Field(50, ge=0, description="Fetch errors last night, green up to")
    fetch_errors_yellow: int = Field(100, ge=0, description="... yellow up to")
    refresh_s: float = Field(5.0, gt=0, description="Dashboard refresh interval (praf-tui --refresh overrides; 0 there: off)")
    operator: str | None = Field(None, max_length=64, description="Name stored with triage actions (default: the login name)")


_BINDING_ID = re.compile(r"[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*")
_KEY = re.compile(r"((ctrl|shift|alt|meta|super|hyper)\+)*([a-z][a-z0-9_]*|[0-9]|[^\s,+])|\+")


class TuiSettings(_Section):
    """praf-tui: keys remapped by binding id (the ids are in docs/tui.md)."""

    keymap: dict[str, str] = Field({}, description='Binding id → key(s), comma-separated, e.g. [tui.keymap] "triage.resolve" = "R" '
                                                   '(environment: JSON); ids in docs/tui.md')

    @field_validator("keymap", mode="before")
    @classmethod
    def _keymap_json(cls, value: Any) -> Any:
        """The environment gives a string: a JSON object."""
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                raise ValueError('must be a JSON object of binding id → key(s), e.g. {"triage.resolve": "R"}') from None
        return value

    @field_validator("keymap")
    @classmethod
    def _keymap_names(cls, value: dict[str, str]) -> dict[str, str]:
        for binding_id, keys in value.items():
            if not _BINDING_ID.fullmatch(binding_id):
                raise ValueError(f"{binding_id!r} is not a binding id (owner.action in lower case, e.g. triage.resolve)")
            for key in keys.split(","):
                if not _KEY.fullmatch(key.strip()):
                    raise ValueError(f"{binding_id}: {key.strip()!r} is not a key (one character, or a Textual key name "
                                     "such as f1, pagedown, ctrl+r; several keys separated by commas)")
        return value


class AlertSettings(_Section):
    """Telegram alerts (SPEC §6); token and chat id are secrets, see .env.example."""

    max_per_night: int = Field(3, ge=0, description="Alerts sent per night before folding into a digest")
    lag_universe_ratio: float = Field(0.05, ge=0, le=1, description="Lag alert when lag_check failures exceed this share")
    telegram_api_url: str = Field("https://api.telegram.org", description="Bot API base URL (the sandbox replaces it)")
    retry_s: float = Field(60.0, gt=0, description="Outbox retry interval")
    fetch_deadline: HHMM = Field("03:30", description="Missed run: alert when no fetch of the night succeeded by this time (UTC)")
    heartbeat_stale_min: int = Field(15, ge=1, description="Dead scheduler: alert when the daemon's heartbeat is older than this (minutes)")
    site_down_after: int = Field(2, ge=1, le=10, description="Site down: alert after this many 5xx (or no answer) in a row from an exchange site (watchdog probe)")
    send_backoff_s: list[Annotated[float, Field(ge=0)]] = Field([1.0, 5.0], max_length=10, description="Pauses between the tries of one message inside a dispatch (network errors, 5xx); then it waits for the next retry (`retry_s`, doubling)")
    max_wait_s: float = Field(60.0, ge=0, description="Longest Telegram 429 retry_after waited inside a dispatch; longer ones are retried after it")
    timeout_s: float = Field(10.0, gt=0, description="Connect/read timeout of one Bot API request")
    command_chat_ids: list[str] = Field([], description="Chat ids besides TELEGRAM_CHAT_ID whose /mute /unmute /status commands are obeyed (others are ignored and logged)")
    poll_timeout_s: int = Field(30, ge=1, le=50, description="Long-polling timeout of the command listener (getUpdates)")

    @field_validator("command_chat_ids", mode="before")
    @classmethod
    def _chat_ids_text(cls, value: Any) -> Any:
        """Chat ids are numbers (negative for groups): TOML gives ints, keep them as text; each must be one."""
        if isinstance(value, list):
            value = [str(v).strip() if isinstance(v, int | str) and not isinstance(v, bool) else v for v in value]
            bad = [v for v in value if not (isinstance(v, str) and re.fullmatch(r"-?\d{1,20}", v))]
            if bad:
                raise ValueError(f"chat ids are numbers, e.g. 424242 or -1001234567890: {bad!r}")
        return value


class ScheduleSettings(_Section):
    """The scheduler's table (seed §1.3, §8.2): times of day in ``timezone``, catch-up windows, QA's wait."""

    timezone: str = Field("UTC", description="Time zone of the times below")
    scrape_day: int = Field(1, ge=1, le=28, description="Day of month of the universe scrape")
    scrape_time: HHMM = Field("00:05", description="Monthly scrape")
    fetch_time: HHMM = Field("01:00", description="Nightly fetch")
    qa_time: HHMM = Field("01:45", description="QA after a successful fetch")
    alerts_time: HHMM = Field("02:00", description="Alert dispatcher")
    vacuum_weekday: Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] = Field("monday", description="Weekly VACUUM day")
    vacuum_time: HHMM = Field("02:30", description="Weekly VACUUM")
    archival_time: HHMM = Field("03:00", description="Archival and retention")
    backup_time: HHMM = Field("02:15", description="Nightly backup, after QA and the alerts (pause the `backup` job to stop it)")
    qa_wait_deadline: HHMM = Field("04:00", description="A fetch still running at qa_time: QA waits for it until this time (same night, later than qa_time), then is skipped (QAWAITTIMEOUT)")
    catchup_nightly_h: float = Field(20.0, ge=0, le=23, description="Catch-up window of the daily jobs: a missed run starts late (once) within this many hours of its time")
    catchup_weekly_h: float = Field(144.0, ge=0, le=167, description="Catch-up window of the weekly VACUUM, hours")
    catchup_scrape_days: float = Field(7.0, ge=0, le=27, description="Catch-up window of the monthly scrape, days")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name, e.g. UTC or Europe/Berlin") from None
        return value

    @field_validator("qa_wait_deadline")
    @classmethod
    def _deadline_after_qa(cls, value: str, info: Any) -> str:
        qa_time = info.data.get("qa_time")
        if qa_time is not None and value <= qa_time:
            raise ValueError(f"must be later than schedule.qa_time ({qa_time}) on the same night")
        return value


class RetentionSettings(_Section):
    """House-keeping (seed §3.4)."""

    raw_cache_days: int = Field(7, ge=0, description="Raw Yahoo CSV cache kept for")
    qa_autoresolve_days: int = Field(90, ge=1, description="QA failures auto-resolved after")
    delisted_archive_months: int = Field(24, ge=1, description="Delisted tickers archived after")
    log_keep_days: int = Field(14, ge=1, description="Daily log files kept")


class DaemonSettings(_Section):
    """The scheduler's process (`praf-engine daemon`, or the TUI's --with-scheduler): heartbeat, lock, stop."""

    beat_s: float = Field(5.0, ge=0.05, le=300, description="Heartbeat: the scheduler_beat row (and the systemd watchdog ping) every this many seconds")
    stale_after_s: float = Field(60.0, ge=0.1, description="A scheduler whose heartbeat is older than this is taken as dead: another may take the home over (keep it well above beat_s)")
    stop_timeout_s: float = Field(30.0, ge=0, le=3600, description="SIGTERM: the running job gets this long to finish its batch; then its cron_status row is closed INTERRUPTED and the daemon exits")
    db_retry_max_s: float = Field(60.0, ge=0.1, le=3600, description="Database unreachable at start: retried with back-off 1 s, 2 s, 4 s … up to this, until it answers or the daemon is stopped")

    @field_validator("stale_after_s")
    @classmethod
    def _stale_above_beat(cls, value: float, info: Any) -> float:
        beat = info.data.get("beat_s")
        if beat is not None and value <= 2 * beat:
            raise ValueError(f"must be more than twice daemon.beat_s ({beat} s), or a live scheduler looks dead between two beats")
        return value


class BackupSettings(_Section):
    """Backups of the home into backups/ (`praf-engine backup`, the `backup` job; seed §3.8)."""

    keep: int = Field(7, ge=1, le=365, description="Backups kept in backups/; older ones are pruned after a successful backup")
    pg_bin_dir: str | None = Field(None, description="Folder holding pg_dump and pg_restore (PostgreSQL homes; default: found on PATH)")


class SandboxSettings(_Section):
    """The offline market sandbox (SPEC §10): where it listens and what market it plays."""

    seed: int = Field(42, description="Seed of the synthetic market (same seed, same data)")
    size: int = Field(300, ge=10, le=50_000, description="Listings in the synthetic universe")
    today: dt.date | None = Field(None, description="The sandbox's current date (default: today, UTC)")
    faults: Literal["none", "demo"] = Field("demo", description="Fault profile: none, or demo (a few % of every fault)")
    fault_rates: dict[str, float] = Field({}, description="Per-kind rates on top of the profile, e.g. [sandbox.fault_rates] gap = 0.1")
    fault_targets: dict[str, list[str]] = Field({}, description="Symbols (or exchange codes for site faults) always hit, e.g. storm_429 = [\"AAPL\"]")
    slow_seconds: float = Field(2.0, ge=0, description="Delay of the `slow` response fault")
    http_url: str = Field("http://127.0.0.1:8765", description="Exchange sites and the NordVPN server list")
    yahoo_url: str = Field("http://127.0.0.1:8766", description="Yahoo emulator")
    ftp_url: str = Field("ftp://127.0.0.1:8767", description="Nasdaq Trader FTP emulator")
    telegram_url: str = Field("http://127.0.0.1:8768", description="Telegram Bot API stub")
    exits: int = Field(4, ge=0, le=64, description="SOCKS5 exits on 127.0.0.2, 127.0.0.3, …")
    exit_port: int = Field(8769, gt=0, lt=65536, description="Port of every SOCKS5 exit")
    rate_limit_requests: int = Field(950, gt=0, description="Yahoo emulator: requests per window per client address")
    rate_limit_window_s: float = Field(600.0, gt=0, description="Yahoo emulator: rate-limit window")
    # fault names and rates are checked against the sandbox's catalogue where a sandbox is built or a home wired to
    # one (sandbox/wiring.py: fault_config), so the settings of a production home never load the sandbox


class Settings(BaseModel):
    """All of PRAF's settings. Build with ``load_settings``; pass it down, never read it from a global."""

    model_config = ConfigDict(extra="forbid", validate_default=True, frozen=True)

    home: Path = Field(DEFAULT_HOME, description="Data home: praf.db, lake/, cache/, scrapes_raw/, archive/, logs/")
    database_url: SecretStr | None = Field(None, description="postgresql://… to use PostgreSQL; default SQLite praf.db in the home")
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="Lowest level written to logs/app.jsonl")
    sources: Literal["live", "sandbox"] = Field("live", description="live: the real sites; sandbox: every source URL points at the sandbox")
    telegram_token: SecretStr | None = Field(None, description="Telegram bot token (secret)")
    telegram_chat_id: str | None = Field(None, description="Telegram chat id for alerts")

    @field_validator("telegram_chat_id", mode="before")
    @classmethod
    def _chat_id_text(cls, value: Any) -> Any:
        """Chat ids are numbers in Telegram; TOML and --set give ints, keep them as text."""
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    nordvpn_user: SecretStr | None = Field(None, description="NordVPN service username (secret)")
    nordvpn_password: SecretStr | None = Field(None, description="NordVPN service password (secret)")
    scrape: ScrapeSettings = ScrapeSettings()
    fetch: FetchSettings = FetchSettings()
    exits: ExitSettings = ExitSettings()
    qa: QASettings = QASettings()
    dashboard: DashboardSettings = DashboardSettings()
    tui: TuiSettings = TuiSettings()
    alerts: AlertSettings = AlertSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    daemon: DaemonSettings = DaemonSettings()
    retention: RetentionSettings = RetentionSettings()
    backup: BackupSettings = BackupSettings()
    sandbox: SandboxSettings = SandboxSettings()

    @field_validator("database_url")
    @classmethod
    def _db_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.match(r"^(sqlite|postgres(ql)?|psycopg3?)://", value.get_secret_value()):
            raise ValueError("must start with postgresql:// or sqlite://")
        return value

    # Derived locations -------------------------------------------------------------------------
    @property
    def db_path(self) -> Path:
        return self.home / "praf.db"

    @property
    def lake_dir(self) -> Path:
        return self.home / "lake"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @property
    def scrapes_dir(self) -> Path:
        return self.home / "scrapes_raw"

    @property
    def archive_dir(self) -> Path:
        return self.home / "archive"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def backups_dir(self) -> Path:
        return self.home / "backups"

    def secrets(self) -> list[str]:
        """Every secret value in force, for the log redactor."""
        found = [s.get_secret_value() for s in (self.telegram_token, self.nordvpn_user, self.nordvpn_password) if s]
        if self.database_url is not None:
            password = re.search(r"://[^:/@]+:([^@]+)@", self.database_url.get_secret_value())
            if password:
                found.append(password.group(1))
        return [s for s in found if len(s) >= 4]


SECTIONS: dict[str, type[_Section]] = {
    name: field.annotation  # type: ignore[misc]
    for name, field in Settings.model_fields.items()
    if isinstance(field.annotation, type) and issubclass(field.annotation, _Section)
}
# Variables outside the PRAF_ prefix that operators expect to work (12-factor names).
_ALIASES = {"DATABASE_URL": "database_url", "TELEGRAM_BOT_TOKEN": "telegram_token", "TELEGRAM_CHAT_ID": "telegram_chat_id"}

Key = tuple[str, ...]
_SECRET_NAMES = ("token", "password", "user", "database_url", "proxies")


def _flatten(data: Mapping[str, Any], prefix: Key = ()) -> dict[Key, Any]:
    flat: dict[Key, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping) and (prefix or key in SECTIONS):
            flat.update(_flatten(value, prefix + (key,)))
        else:
            flat[prefix + (key,)] = value
    return flat


def _env_key(name: str) -> Key:
    """PRAF_FETCH__BATCH_SIZE -> ('fetch', 'batch_size'); PRAF_LOG_LEVEL -> ('log_level',)."""
    return tuple(part.lower() for part in name[len(ENV_PREFIX):].split("__"))


def _parse_cli_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_overrides(pairs: list[str]) -> dict[Key, Any]:
    """``--set fetch.batch_size=50`` pairs -> {('fetch', 'batch_size'): 50}."""
    out: dict[Key, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise PipelineError("CONFIGBAD", f"--set expects SECTION.KEY=VALUE, got {pair!r}", {"source": "command line"})
        key, _, value = pair.partition("=")
        out[tuple(key.strip().lower().split("."))] = _parse_cli_value(value.strip())
    return out


def _nest(flat: dict[Key, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        node = nested
        for part in key[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node[key[-1]] = value
    return nested


def _describe(loc: Key, sources: dict[Key, str]) -> str:
    """The source of the value at ``loc``: the key itself, an enclosing one, or the keys set inside it."""
    for cut in range(len(loc), 0, -1):
        if loc[:cut] in sources:
            return sources[loc[:cut]]
    inside = sorted({f"{'.'.join(k)} from {src}" for k, src in sources.items() if k[: len(loc)] == loc})
    return "; ".join(inside) or "defaults"


def load_settings(
    home: str | os.PathLike[str] | None = None,
    overrides: Mapping[Key, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Load settings: defaults < settings.toml (home) < .env (home, then cwd) < PRAF_* env < CLI flags.

    ``home`` is the ``--home`` flag; else ``PRAF_HOME`` (environment, then .env of the cwd); else the default.
    """
    environ = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else cwd
    layers: list[tuple[str, dict[Key, Any]]] = []

    cwd_env = {k: v for k, v in dotenv_values(cwd / ".env").items() if v is not None} if (cwd / ".env").is_file() else {}
    if home is not None:
        home_path, home_source = Path(home), "command line --home"
    elif environ.get("PRAF_HOME"):
        home_path, home_source = Path(environ["PRAF_HOME"]), "environment variable PRAF_HOME"
    elif cwd_env.get("PRAF_HOME"):
        home_path, home_source = Path(cwd_env["PRAF_HOME"]), f"{cwd / '.env'} (PRAF_HOME)"
    else:
        home_path, home_source = DEFAULT_HOME, "defaults"
    home_path = home_path.expanduser()

    toml_path = home_path / "settings.toml"
    if toml_path.is_file():
        try:
            data = tomllib.loads(toml_path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise PipelineError("CONFIGBAD", f"{toml_path} is not valid TOML: {exc}", {"source": str(toml_path)}) from None
        if "home" in data:
            raise PipelineError("CONFIGBAD", f"home cannot be set inside {toml_path} (the file lives in the home)", {"source": str(toml_path)})
        layers.append((str(toml_path), _flatten(data)))

    for env_file, values in ((home_path / ".env", None), (cwd / ".env", cwd_env)):
        if values is None:
            values = {k: v for k, v in dotenv_values(env_file).items() if v is not None} if env_file.is_file() else {}
        layers.append((str(env_file), _env_layer(values)))
    layers.append(("environment variable", _env_layer(environ)))
    layers.append(("command line", dict(overrides or {})))

    merged: dict[Key, Any] = {}
    sources: dict[Key, str] = {}
    for source, layer in layers:
        for key, value in layer.items():
            if key == ("home",):
                continue
            merged[key] = value
            sources[key] = source if not source.startswith("environment") else f"environment variable {_env_name(key)}"
    merged[("home",)] = home_path
    sources[("home",)] = home_source
    try:
        return Settings.model_validate(_nest(merged))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(str(p) for p in err["loc"])
            name = ".".join(loc)
            if err["type"] == "extra_forbidden":
                problems.append(f"unknown setting {name} (from {_describe(loc, sources)})")
            else:
                shown = "***" if any(s in name for s in _SECRET_NAMES) else redact(repr(err.get("input"))[:80])
                problems.append(f"invalid setting {name} = {shown} (from {_describe(loc, sources)}): {err['msg']}")
        raise PipelineError("CONFIGBAD", "; ".join(problems), {"settings": [p for p in problems]}) from None


def _env_name(key: Key) -> str:
    for alias, target in _ALIASES.items():
        if key == (target,):
            return f"{ENV_PREFIX}{target.upper()} or {alias}"
    return ENV_PREFIX + "__".join(part.upper() for part in key)


def _env_layer(values: Mapping[str, str]) -> dict[Key, Any]:
    layer: dict[Key, Any] = {}
    for alias, target in _ALIASES.items():
        if values.get(alias):
            layer[(target,)] = values[alias]
    for name, value in values.items():
        if name.startswith(ENV_PREFIX) and name != "PRAF_HOME":
            layer[_env_key(name)] = value
    return layer


def describe_settings() -> list[dict[str, Any]]:
    """Every setting with its default and description, for docs/configuration.md and `praf-engine config`."""
    rows: list[dict[str, Any]] = []
    for name, field in Settings.model_fields.items():
        if name in SECTIONS:
            for sub, subfield in SECTIONS[name].model_fields.items():
                rows.append({"key": f"{name}.{sub}", "env": _env_name((name, sub)), "default": subfield.default, "description": subfield.description or ""})
        else:
            default = field.default
            rows.append({"key": name, "env": _env_name((name,)), "default": None if isinstance(default, SecretStr) else default, "description": field.description or ""})
    return rows

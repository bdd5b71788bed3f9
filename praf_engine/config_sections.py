"""The sections of the settings: one frozen pydantic model per ``[section]`` of settings.toml, with its defaults,
bounds and checks (``praf_engine.config`` assembles them into ``Settings`` and loads the layers).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator


def _check_hhmm(value: str) -> str:
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
        raise ValueError("must be a 24-hour time HH:MM, e.g. 01:45")
    return value


HHMM = Annotated[str, AfterValidator(_check_hhmm)]


class Section(BaseModel):
    """Base of every section: unknown keys are refused, defaults validated too, values frozen."""

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


class ScrapeSettings(Section):
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


class FetchSettings(Section):
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


class ExitSettings(Section):
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


class QASettings(Section):
    """Seed defaults for qa_checks (the table is the live copy, editable without a deploy; SPEC §5)."""

    lag_days: int = Field(2, ge=0, description="lag_check: trading days behind")
    missing_window_sessions: int = Field(30, ge=1, description="missing_dates: sessions looked at")
    price_jump: float = Field(0.75, gt=0, description="price_jump: |close/prev_close - 1| above this")
    fetch_error_nights: int = Field(3, ge=1, description="fetch_error: consecutive failed nights")
    latency_p95_s: float = Field(10.0, gt=0, description="api_latency: batch p95 in seconds")
    latency_nights: int = Field(3, ge=1, description="api_latency: nights running")
    volume_z: float = Field(5.0, gt=0, description="Heuristic volume z-score (info)")
    iqr_k: float = Field(3.0, gt=0, description="Heuristic IQR jump guard multiplier (info)")


class DashboardSettings(Section):
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


class TuiSettings(Section):
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


class AlertSettings(Section):
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


class ScheduleSettings(Section):
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


class RetentionSettings(Section):
    """House-keeping (seed §3.4)."""

    raw_cache_days: int = Field(7, ge=0, description="Raw Yahoo CSV cache kept for")
    qa_autoresolve_days: int = Field(90, ge=1, description="QA failures auto-resolved after")
    delisted_archive_months: int = Field(24, ge=1, description="Delisted tickers archived after")
    log_keep_days: int = Field(14, ge=1, description="Daily log files kept")


class DaemonSettings(Section):
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


class BackupSettings(Section):
    """Backups of the home into backups/ (`praf-engine backup`, the `backup` job; seed §3.8)."""

    keep: int = Field(7, ge=1, le=365, description="Backups kept in backups/; older ones are pruned after a successful backup")
    pg_bin_dir: str | None = Field(None, description="Folder holding pg_dump and pg_restore (PostgreSQL homes; default: found on PATH)")


class SandboxSettings(Section):
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


"""The alert rules PRAF knows (SPEC §6; seed §5.4, §1.2, §2.2, §7, §9.4): one row per rule, like the QA checks.

Each rule has a name (what `/mute RULE` and `praf-engine alerts mute RULE` take), a severity (critical sorts first in
the night's three messages), the settings it reads, a message template and the command that opens the place to act.
``evaluate.py`` decides when a rule fires; this module only says what each rule is and how its message reads.
``docs/alerts.md`` is generated from this table (scripts/gen_docs.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from praf_engine.config import Settings

ICONS = {"critical": "🔥", "warning": "⚠", "info": "ℹ"}  # seed §9.4


@dataclass(frozen=True)
class RuleSpec:
    name: str
    severity: str  # critical, warning, info
    trigger: str  # when it fires, for the catalogue
    threshold: Callable[[Settings], str]  # the settings it reads, with their values
    template: str  # str.format fields; plain text (the delivery escapes it for Telegram's HTML mode)
    command: str  # where to act (str.format fields too)
    source: str  # who evaluates it: the alerts job (02:00) and the watchdog, or the watchdog alone
    codes: tuple[str, ...] = ()  # error codes whose promised alert this rule sends
    icon: str | None = None  # overrides the severity's icon (the seed's 🚨 for lag, ❗ for a failed job)

    def render(self, fields: Mapping[str, Any]) -> str:
        """The message as plain text: icon, the filled template, then the command on its own line (the outbox keeps
        plain text; the delivery HTML-escapes it, so a symbol or name holding < & > is shown as it is)."""
        return f"{self.icon or ICONS[self.severity]} {self.template.format(**fields)}\n→ {self.command.format(**fields)}"


BOTH, WATCHDOG = "alerts job + watchdog", "watchdog"


def _none(_s: Settings) -> str:
    return "-"


SPECS: tuple[RuleSpec, ...] = (
    RuleSpec("lag", "critical", "lag_check failures of the night's QA run exceed `alerts.lag_universe_ratio` of the active universe",
             lambda s: f"alerts.lag_universe_ratio = {s.alerts.lag_universe_ratio:g}",
             "Data lag: {failing:,}/{universe:,} listings > {days} trading days behind ({pct:.1f} % > {limit:g} %)",
             "praf-tui --screen triage --check lag_check", BOTH, icon="🚨"),
    RuleSpec("critical_check", "critical", "a 🔥 (critical) QA check other than lag_check has open failures for the "
             "night's as-of date, at least one new since its previous QA date (one alert per check)", _none,
             "{check}: {count:,} open failure(s) on {as_of}, {new:,} new: {top}",
             "praf-tui --screen triage --check {check}", BOTH),
    RuleSpec("job_failed", "critical", "a job of the night exited non-zero (QA crashed, fetch failed or API down, scrape "
             "error or structure error: the previous universe is kept, a killed run), and no later run of it succeeded",
             _none, "{headline} [{code}]: {job} exited {exit_code}, run {run_id}. {meaning}",
             "grep {run_id} {logs}", BOTH,
             codes=("QAFAIL", "APIDOWN", "YFRATELIMIT", "SCRAPESTRUCT", "SCRAPEHTTP", "SCRAPE404", "SCRAPEJS", "SCRAPEIO",
                    "JOBKILLED", "INTERNAL", "DBFULL", "BACKUPFAIL"), icon="❗"),
    RuleSpec("universe_stale", "critical", "the night's fetch refused to run: every exchange's universe is older than "
             "`fetch.universe_max_age_days` or its last scrape failed (UNIVERSESTALE)",
             lambda s: f"fetch.universe_max_age_days = {s.fetch.universe_max_age_days}",
             "Universe stale, the fetch refused to run: {why}", "praf-engine scrape", BOTH, codes=("UNIVERSESTALE",), icon="🚨"),
    RuleSpec("missed_run", "critical", "no fetch of the night succeeded by `alerts.fetch_deadline` (UTC)",
             lambda s: f"alerts.fetch_deadline = {s.alerts.fetch_deadline}",
             "Missed run: no successful fetch for night {night} by {deadline} UTC ({last})",
             "praf-engine fetch", BOTH, icon="❗"),
    RuleSpec("dead_scheduler", "critical", "the daemon's heartbeat (scheduler_beat) is older than `alerts.heartbeat_stale_min` "
             "minutes and it did not stop cleanly: a dead daemon cannot alert, the watchdog does",
             lambda s: f"alerts.heartbeat_stale_min = {s.alerts.heartbeat_stale_min}",
             "Scheduler dead: last heartbeat {age} min ago ({holder}, started {started})",
             "systemctl status praf-engine", BOTH, icon="❗"),
    RuleSpec("site_down", "warning", "`alerts.site_down_after` answers in a row from an exchange site were 5xx (or none came): "
             "the watchdog's hourly probe", lambda s: f"alerts.site_down_after = {s.alerts.site_down_after}",
             "Site down: {exchange} answered {answers} ({url})", "praf-engine scrape --exchange {exchange}", WATCHDOG),
    RuleSpec("exit_fallback", "warning", "the night's fetch fell back to a direct connection with halved batches "
             "(every exit failed to connect)", lambda s: f"exits.max_connect_failures = {s.exits.max_connect_failures}",
             "VPN rotation exhausted: night {night} fetched direct with half batches ({batch_size} a batch)",
             "praf-engine config", BOTH, codes=("EXITFAIL",)),
    RuleSpec("nordvpn_list", "warning", "the NordVPN server list was unavailable for the night's fetch (the kept one was used, "
             "or none: direct)", _none, "NordVPN server list unavailable for night {night}: {how}",
             "praf-engine config", BOTH, codes=("EXITFAIL",)),
    RuleSpec("latency", "warning", "api_latency has an open failure for the night's as-of date: Yahoo batch latency P95 "
             "above its threshold several nights running (a soft warning)",
             lambda s: f"qa.latency_p95_s = {s.qa.latency_p95_s:g}, qa.latency_nights = {s.qa.latency_nights}",
             "Yahoo latency: P95 {p95} s above {limit:g} s on {nights} nights running",
             "praf-tui --screen triage --check api_latency", BOTH),
    RuleSpec("resolved", "info", "an alert of this night or the one before whose condition has cleared: one line in the "
             "digest, never a message of its own", _none, "resolved: {what}", "praf-engine alerts list", BOTH, icon="✅"),
)
RULES: dict[str, RuleSpec] = {s.name: s for s in SPECS}
# job_failed's first words per error code (the seed's "QA pipeline crashed"); other codes: "<job> failed"
HEADLINES = {
    "QAFAIL": "QA pipeline crashed", "APIDOWN": "Fetch stopped: Yahoo API down", "YFRATELIMIT": "Fetch stopped: Yahoo rate-limits this IP",
    "SCRAPESTRUCT": "Scrape: page structure changed", "SCRAPEHTTP": "Scrape: exchange site failing", "SCRAPE404": "Scrape: page gone",
    "SCRAPEJS": "Scrape: Euronext download timed out", "JOBKILLED": "Job killed", "DBFULL": "Database full",
}
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class Firing:
    """One rule firing about one subject (a check, a job, an exchange, "universe", "scheduler") tonight."""

    rule: str
    subject: str
    fields: Mapping[str, Any]

    @property
    def spec(self) -> RuleSpec:
        return RULES[self.rule]

    @property
    def text(self) -> str:
        return self.spec.render(self.fields)


def catalogue_table(settings: Settings | None = None) -> str:
    """docs/alerts.md's table (generated by scripts/gen_docs.py): every rule with its severity, trigger, the settings
    it reads (their defaults unless ``settings`` is given) and the place to act."""
    settings = settings or Settings.model_construct()
    lines = ["| rule | severity | fires when | settings (default) | error codes | evaluated by | place to act |",
             "|---|---|---|---|---|---|---|"]
    for s in SPECS:
        codes = ", ".join(f"`{c}`" for c in s.codes) or "-"
        threshold = s.threshold(settings)
        shown = f"`{threshold}`" if threshold != "-" else "-"
        lines.append(f"| `{s.name}` | {s.icon or ICONS[s.severity]} {s.severity} | {s.trigger} | {shown} | {codes} | "
                     f"{s.source} | `{s.command}` |")
    return "\n".join(lines)

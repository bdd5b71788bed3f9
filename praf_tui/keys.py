"""Keys are data: every Binding of the TUI has an id ``<owner>.<action>``; the setting ``tui.keymap`` (binding id →
key or comma-separated keys) remaps them through Textual's keymap (the footer, help screen and command palette
show the keys in force). One table of owners feeds the check of the keymap and docs/tui.md (scripts/gen_docs.py)."""

from __future__ import annotations

from collections.abc import Mapping

from textual.binding import Binding

from praf_engine.service import PipelineError


def binding_owners() -> tuple[tuple[str, type], ...]:
    """(title, class) of everything that declares bindings, in the order docs/tui.md lists them."""
    from praf_tui.app import PrafApp
    from praf_tui.screens.alerts import AlertsScreen
    from praf_tui.screens.checks import CheckEditScreen, ChecksScreen
    from praf_tui.screens.dashboard import DashboardScreen
    from praf_tui.screens.help import HelpScreen
    from praf_tui.screens.logs import LogsScreen
    from praf_tui.screens.scheduler import SchedulerScreen
    from praf_tui.screens.symbol import SymbolScreen
    from praf_tui.screens.triage import TriageScreen
    from praf_tui.screens.universe import UniverseScreen
    from praf_tui.widgets.cards import KpiCardView
    from praf_tui.widgets.dialogs import ConfirmDialog, PromptDialog
    from praf_tui.widgets.failure_table import FailureTable
    from praf_tui.widgets.filters import SymbolSearch
    from praf_tui.widgets.panels import SymbolTable
    from praf_tui.widgets.recheck import RecheckDialog

    return (("Everywhere", PrafApp), ("Dashboard", DashboardScreen), ("KPI cards", KpiCardView),
            ("Dashboard tables", SymbolTable), ("Triage", TriageScreen), ("Triage list", FailureTable),
            ("Symbol search", SymbolSearch), ("Symbol", SymbolScreen), ("Scheduler", SchedulerScreen), ("Alerts", AlertsScreen), ("Logs", LogsScreen), ("Checks", ChecksScreen), ("Check editor", CheckEditScreen), ("Universe detail", UniverseScreen), ("Help", HelpScreen),
            ("Dialogs", PromptDialog), ("Confirmation", ConfirmDialog), ("Refetch and recheck", RecheckDialog))


def declared(cls: type) -> list[Binding]:
    """The Bindings a class declares itself (not inherited ones)."""
    return [b for b in cls.__dict__.get("BINDINGS", []) if isinstance(b, Binding)]


def binding_ids() -> dict[str, Binding]:
    """Every binding id of the TUI and its binding."""
    return {b.id: b for _, cls in binding_owners() for b in declared(cls) if b.id}


def check_keymap(keymap: Mapping[str, str]) -> dict[str, str]:
    """``tui.keymap`` for ``App.set_keymap``; an id no binding has is CONFIGBAD (a typo would silently do nothing).
    An empty keymap needs no check (and so imports no screen: the start imports only the dashboard's module)."""
    if not keymap:
        return {}
    known = binding_ids()
    unknown = sorted(set(keymap) - set(known))
    if unknown:
        raise PipelineError("CONFIGBAD", f"tui.keymap: unknown binding id(s) {', '.join(unknown)}; the ids are listed in "
                            f"docs/tui.md (e.g. {', '.join(list(known)[:3])})", {"unknown": unknown})
    return dict(keymap)

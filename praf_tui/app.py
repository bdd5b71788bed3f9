"""`praf-tui`: the Textual dashboard. Reaches the engine only through `praf_engine.service`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Header, Static

from praf_engine.service import EngineService, PipelineError, Summary, load_settings, redact
from praf_tui.messages import SummaryLoaded
from praf_tui.widgets.kpi_bar import KpiBar


class PrafApp(App[None]):
    """The dashboard. Receives its engine service in the constructor; never opens the database itself."""

    CSS_PATH = "app.tcss"
    TITLE = "PRAF"
    SUB_TITLE = "daily stock-data pipeline"
    BINDINGS = [
        Binding("r", "refresh_summary", "Refresh", tooltip="Reload the KPI counts"),
        Binding("q", "quit", "Quit", tooltip="Leave the dashboard"),
    ]

    def __init__(self, service: EngineService) -> None:
        super().__init__()
        self.service = service

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield KpiBar(id="kpis")
        yield Static("Loading…", id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.action_refresh_summary()

    def action_refresh_summary(self) -> None:
        self.query_one("#status", Static).update("Loading…")
        self._load_summary()

    @work(thread=True, exclusive=True, group="summary")
    def _load_summary(self) -> None:
        self.post_message(SummaryLoaded(self.service.summary()))

    def on_summary_loaded(self, message: SummaryLoaded) -> None:
        summary: Summary = message.summary
        self.query_one(KpiBar).show(summary)
        qa = summary.qa_date.isoformat() if summary.qa_date else "no QA run yet"
        self.query_one("#status", Static).update(f"As of {summary.as_of:%Y-%m-%d} · QA {qa}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="praf-tui", description="PRAF terminal dashboard")
    parser.add_argument("--home", help="data home (default $PRAF_HOME or ~/.local/share/praf)")
    args = parser.parse_args(argv)
    try:
        service = EngineService.open(load_settings(home=args.home))
    except PipelineError as exc:
        print(f"error: [{exc.error_code}] {redact(exc.msg)}", file=sys.stderr)
        return exc.exit_code
    try:
        PrafApp(service).run()
    finally:
        service.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

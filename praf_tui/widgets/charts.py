"""Plotext charts of the dashboard panels. Each takes engine DTOs through ``show`` and draws at render time.

They use plotext's "pro" theme (the terminal's own background and foreground, named colours for the data), so
they read the same in the default theme and in the 16-colour ANSI theme, and render the same bytes every run.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

from rich.text import Text
from textual.app import RenderResult
from textual_plotext import PlotextPlot

from praf_engine.service import NightPoint, UniverseMonth

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class Chart(PlotextPlot):
    """A plot that is rebuilt from its data on ``show``; not focusable (the tables carry the keyboard).

    Its drawing is kept until the data, the size or the theme changes: PlotextPlot builds the figure again on every
    render (a layout pass, a neighbour's refresh), ~10 ms at 60x15, and the dashboard's start rendered the universe
    chart six times (bench/tui.py). Until the first ``show`` it draws nothing (the screen says it is loading)."""

    DEFAULT_CSS = """
    Chart { width: 1fr; height: 1fr; min-width: 24; min-height: 6; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, classes=classes)
        self.theme = "pro"
        self._version = 0  # bumped by each show
        self._drawn: tuple[tuple[object, ...], RenderResult] | None = None

    def render(self) -> RenderResult:
        if not self._version:
            return Text()
        key = (self._version, self.size, self.app.theme, self.theme)
        if self._drawn is None or self._drawn[0] != key:
            self._drawn = (key, super().render())
        return self._drawn[1]

    def _start(self, title: str) -> None:
        self._version += 1
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.theme("pro")
        plt.title(title)
        plt.frame(True)


class UniverseChart(Chart):
    """New vs delisted listings per month, grouped bars (seed §6.3 Universe Health)."""

    def show(self, months: Sequence[UniverseMonth]) -> None:
        self._start("New vs delisted per month")
        if months:
            labels = [MONTHS[int(m.month[5:7]) - 1] for m in months]
            self.plt.multiple_bar(labels, [[m.new for m in months], [m.delisted for m in months]],
                                  labels=["new", "delisted"], color=["green", "red"])
            _y_axis(self.plt, max(max(m.new, m.delisted) for m in months))
        self.refresh()


class HistogramChart(Chart):
    """Active listings by sessions behind; the buckets past the lag threshold in red."""

    def show(self, histogram: Sequence[tuple[str, int]], threshold: int) -> None:
        self._start("Listings by sessions behind (red: lagging)")
        histogram = list(reversed(histogram))  # plotext draws the first bar at the bottom: "0" goes on top
        labels = [label for label, _ in histogram]
        late = [_is_late(label, threshold) for label in labels]
        ok = [0 if bad else n for (_, n), bad in zip(histogram, late, strict=True)]
        lagging = [n if bad else 0 for (_, n), bad in zip(histogram, late, strict=True)]
        if labels:
            self.plt.bar(labels, ok, orientation="horizontal", color="green")
            self.plt.bar(labels, lagging, orientation="horizontal", color="red")
            top = max(n for _, n in histogram)
            step = max(1, math.ceil(_nice_step(top)))
            ticks = list(range(0, max(top, 1) + step, step))  # an empty universe still needs a non-empty axis
            self.plt.xlim(0, ticks[-1])
            self.plt.xticks(ticks, [f"{t:,}" for t in ticks])
        self.refresh()


def _nice_step(top: float, ticks: int = 4) -> float:
    raw = max(top, 1) / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)


def _y_axis(plt: object, top: float, integer: bool = True) -> None:
    """A y range from 0 with a few round ticks (no "17.7" for counts)."""
    step = _nice_step(top)
    if integer:
        step = max(1, math.ceil(step))
    count = math.ceil(max(top, 1) / step)
    ticks = [i * step for i in range(count + 1)]
    plt.ylim(0, ticks[-1])
    plt.yticks(ticks, [f"{t:,.0f}" for t in ticks])


def _is_late(bucket: str, threshold: int) -> bool:
    if bucket == "never":
        return True
    if bucket.startswith(">"):
        return True
    low = int(bucket.split("-")[0])
    return low > threshold


def _ticks(nights: Sequence[dt.date], every: int) -> tuple[list[int], list[str]]:
    """A tick every ``every`` nights, counted back from the last night (the as-of date) so it is always labelled."""
    positions = list(range(len(nights) - 1, -1, -every))[::-1]
    return positions, [f"{nights[i]:%m-%d}" for i in positions]


class LatencyChart(Chart):
    """Batch latency p50 and p95 per fetch night over the last 30 nights (nights without batches are left out)."""

    def show(self, series: Sequence[NightPoint]) -> None:
        self._start("Batch latency ms (p50, p95)")
        nights = [p.night for p in series]
        points = [(i, p) for i, p in enumerate(series) if p.p50_ms is not None]
        if points:
            xs = [i for i, _ in points]
            self.plt.plot(xs, [p.p50_ms for _, p in points], label="p50", color="cyan", marker="dot")
            self.plt.plot(xs, [p.p95_ms for _, p in points], label="p95", color="yellow", marker="dot")
            _y_axis(self.plt, max(p.p95_ms or 0 for _, p in points))
        else:
            self.plt.title("Batch latency: no fetch batches")
        if nights:
            self.plt.xlim(-0.5, len(nights) - 0.5)
            self.plt.xticks(*_ticks(nights, 7))
        self.refresh()


class ErrorChart(Chart):
    """Fetch errors per night over the last 30 nights."""

    def show(self, series: Sequence[NightPoint]) -> None:
        self._start("Fetch errors per night")
        nights = [p.night for p in series]
        if nights:
            self.plt.bar(list(range(len(series))), [p.errors for p in series], color="red", width=0.6)
            self.plt.xlim(-0.5, len(nights) - 0.5)
            _y_axis(self.plt, max(p.errors for p in series))
            self.plt.xticks(*_ticks(nights, 7))
        self.refresh()

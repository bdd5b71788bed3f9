"""The symbol page's price chart: close and adjusted close over dates, drawn with plotext in the terminal."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from textual.app import RenderResult
from textual_plotext import PlotextPlot

from praf_engine.service import Bar

SERIES = (("close", "close", "cyan+"), ("adj_close", "adj close", "magenta+"))
TICK_WIDTH = 13  # a YYYY-MM-DD label and a little space


def series(bars: Sequence[Bar], field: str) -> tuple[list[int], list[float]]:
    """(x as date ordinals, y) of one column; missing values (None) are left out, so a gap joins its neighbours."""
    xs: list[int] = []
    ys: list[float] = []
    for bar in bars:
        value = getattr(bar, field)
        if value is not None:
            xs.append(bar.date.toordinal())
            ys.append(value)
    return xs, ys


def date_ticks(first: dt.date, last: dt.date, width: int) -> tuple[list[int], list[str]]:
    """Evenly spread x ticks between two dates for a plot ``width`` cells wide: ordinals and labels."""
    if first == last:
        return [first.toordinal()], [first.isoformat()]
    span = (last - first).days
    count = max(2, min(6, (width - 8) // TICK_WIDTH))
    fmt = "%Y-%m-%d" if span <= 3 * 365 else "%Y-%m"
    ordinals = sorted({first.toordinal() + round(i * span / (count - 1)) for i in range(count)})
    return ordinals, [dt.date.fromordinal(o).strftime(fmt) for o in ordinals]


class PriceChart(PlotextPlot):
    """Close and adjusted close of the bars it was given (oldest first); redrawn to fit its size."""

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name for it
        super().__init__(id=id)
        self.bars: tuple[Bar, ...] = ()

    def show(self, bars: Sequence[Bar]) -> None:
        self.bars = tuple(bars)
        self.refresh()

    @property
    def has_data(self) -> bool:
        return any(bar.close is not None or bar.adj_close is not None for bar in self.bars)

    def render(self) -> RenderResult:
        self._draw(max(self.size.width, 20))
        return super().render()

    def _draw(self, width: int) -> None:
        plt = self.plt
        plt.clear_data()
        if not self.has_data:
            return
        dates = [bar.date for bar in self.bars]
        first, last = min(dates), max(dates)
        for field, label, colour in SERIES:
            xs, ys = series(self.bars, field)
            if not xs:
                continue
            if len(xs) == 1:
                plt.scatter(xs, ys, label=label, color=colour, marker="●")
            else:
                plt.plot(xs, ys, label=label, color=colour, marker="braille")
        ticks, labels = date_ticks(first, last, width)
        if first == last:
            plt.xlim(ticks[0] - 1, ticks[0] + 1)
        else:  # room for half a label past each end, or plotext drops the first/last date label
            pad = (last - first).days * (TICK_WIDTH / 2) / max(width - 8 - TICK_WIDTH, 1)
            plt.xlim(first.toordinal() - pad, last.toordinal() + pad)
        plt.xticks(ticks, labels)

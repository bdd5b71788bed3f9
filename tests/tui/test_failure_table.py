"""The triage table redrawn in place: a page that lost rows and gained some at its end (a resolve on the open view)
changes only those rows, and must then show exactly what a table drawn from scratch shows; any other change (a new
order, a row back from further down) draws it again from scratch."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

from textual.app import App, ComposeResult

from praf_engine.service import FailureRow
from praf_tui.widgets.failure_table import FailureTable, theme_colours

DAY = dt.date(2025, 6, 6)


def _row(i: int, **changes: Any) -> FailureRow:
    row = FailureRow(id=i, symbol=f"S{i:03d}", date=DAY - dt.timedelta(days=i % 3), check_name="price_jump",
                     severity="critical" if i % 2 else "warning", details={"count": i, "dates": [str(DAY)]},
                     resolved=False, resolution=None, note=None, resolved_by=None, resolved_at=None)
    return replace(row, **changes)


class Tables(App[None]):
    def compose(self) -> ComposeResult:
        yield FailureTable(id="patched")
        yield FailureTable(id="fresh")


def _cells(table: FailureTable) -> list[tuple[Any, ...]]:
    return [(str(key.value), *(getattr(c, "plain", c) for c in table.get_row(key)),
             *(str(getattr(c, "style", "")) for c in table.get_row(key))) for key in table.rows]


async def _check(first: list[FailureRow], second: list[FailureRow], selected: set[int], *, patched: bool) -> None:
    app = Tables()
    async with app.run_test(size=(120, 30)) as pilot:
        table, fresh = app.query_one("#patched", FailureTable), app.query_one("#fresh", FailureTable)
        colours = theme_colours(app)
        table.show(first, set(), colours, 40)
        await pilot.pause()
        clears: list[int] = []
        clear = table.clear
        table.clear = lambda *a, **k: (clears.append(1), clear(*a, **k))[1]  # type: ignore[method-assign]
        table.show(second, selected, colours, 40, cursor=1, keep_scroll=True)
        fresh.show(second, selected, colours, 40, cursor=1)
        await pilot.pause()
        assert _cells(table) == _cells(fresh)
        assert [r.id for r in table.rows_shown] == [r.id for r in second]
        assert table.cursor_row == 1 and table.current is not None and table.current.id == second[1].id
        assert (not clears) is patched  # in place, or cleared and drawn again


async def test_a_resolved_row_leaves_and_the_next_one_joins_at_the_end() -> None:
    page = [_row(i) for i in range(1, 11)]
    await _check(page, [r for r in page if r.id != 3] + [_row(11)], set(), patched=True)


async def test_a_changed_row_and_a_selection_are_redrawn_in_place() -> None:
    page = [_row(i) for i in range(1, 11)]
    second = [r for r in page if r.id not in (2, 5)]
    second[3] = replace(second[3], resolved=True, resolution="resolved", resolved_by="op", details={"count": 99})
    await _check(page, [*second, _row(12), _row(13)], {7}, patched=True)


async def test_any_other_change_draws_the_page_again() -> None:
    page = [_row(i) for i in range(1, 11)]
    await _check(page, list(reversed(page)), set(), patched=False)  # a new order
    await _check(page, [_row(0), *page[:-1]], set(), patched=False)  # a row before the kept ones
    await _check(page, [page[1], page[0], *page[2:]], set(), patched=False)  # two rows swapped

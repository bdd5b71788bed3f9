"""`praf-tui`'s entry point: the cyclic garbage collector paused while the dashboard starts.

Everything the start creates (the engine's and Textual's modules, the service, the app, its widgets, the first
snapshot) lives as long as the process, yet CPython's collector walks it again and again while it grows: ~260 young,
~25 middle and one or two full collections, ~50 ms of the dashboard's 0.8 s start (bench/tui.py, 6,000 symbols),
finding almost no garbage. So the entry point pauses the collector before it imports anything heavy; the app resumes
it once its first screen shows its first load (or fails to), after moving what exists by then out of the collector's
generations (``gc.freeze``), so the later collections do not walk it either. A start that never shows a load resumes
it after ``RESUME_AFTER_S`` all the same. Reference counting frees everything acyclic meanwhile, as always.

Nothing here imports Textual or the engine: the pause must come first.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence

RESUME_AFTER_S = 5.0  # the app resumes the collector at the latest this long after it mounted
_paused = False


def pause_collector() -> None:
    """The entry point's first call: no cyclic collection until ``resume_collector``."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume_collector() -> bool:
    """Freeze what the start made and collect again; True the first time, when the entry point had paused it (a test
    or an embedding that never paused it is left alone: its heap is not frozen)."""
    global _paused
    if not _paused:
        return False
    _paused = False
    gc.freeze()
    gc.enable()
    return True


def collector_paused() -> bool:
    return _paused


def main(argv: Sequence[str] | None = None) -> int:
    """`praf-tui`: the collector paused, then the command line (``praf_tui.cli.main``: the home opened and the
    dashboard's snapshot forked off before Textual is imported)."""
    pause_collector()
    try:
        from praf_tui.cli import main as cli_main

        return cli_main(argv)
    finally:
        resume_collector()  # a start that failed before the app showed anything

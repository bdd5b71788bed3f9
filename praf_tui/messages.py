"""Messages posted by workers to the app (past tense: something happened)."""

from __future__ import annotations

from typing import Any

from textual.message import Message


class DemoStepFinished(Message):
    """`praf-tui --demo`: one pipeline step ended (``result`` is the engine's StepResult)."""

    def __init__(self, index: int, total: int, result: Any) -> None:
        super().__init__()
        self.index = index
        self.total = total
        self.result = result


class JobFinished(Message):
    """A job started from the dashboard ended (``run`` is the engine's JobRun)."""

    def __init__(self, run: Any) -> None:
        super().__init__()
        self.run = run

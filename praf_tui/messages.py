"""Messages posted by workers to the app (past tense: something happened)."""

from __future__ import annotations

from textual.message import Message

from praf_engine.service import Summary


class SummaryLoaded(Message):
    def __init__(self, summary: Summary) -> None:
        super().__init__()
        self.summary = summary

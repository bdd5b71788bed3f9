"""The footer of every screen: the keys in force, on one line, drawn by one widget.

Textual's ``Footer`` mounts a widget per key and mounts them all again whenever the screen's bindings change (every
focus change): on the dashboard's 14 keys that was 4 recomposes at start and 0.2 s of the 1.5 s start (bench/tui.py,
docs/adr/0012-one-widget-footer.md). ``KeyBar`` reads the same ``screen.active_bindings`` the Footer reads and shows
the same thing (the first key of each shown action, disabled ones dimmed, the command palette's key on the right), but
redraws a line of text, and only when that text changed. A click on a key presses it, as on the Footer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import events
from textual.content import Content
from textual.widget import Widget

if TYPE_CHECKING:
    from textual.screen import Screen

KEY, DESCRIPTION = "bold $footer-key-foreground", "$footer-description-foreground"
Item = tuple[str, str, str, bool]  # key, key display, description, enabled


class KeyBar(Widget):
    """One line at the bottom of the screen: `` key description `` for each binding shown, the palette key last."""

    ALLOW_SELECT = False
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        width: 1fr;
        color: $footer-foreground;
        background: $footer-background;
        text-wrap: nowrap;
        text-overflow: clip;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        self.items: tuple[Item, ...] = ()  # the keys shown, in order
        self.palette: Item | None = None  # the command palette's key (drawn at the right end)
        self._spans: list[tuple[int, int, str, bool]] = []  # start, end column, key, enabled: where a click lands

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self._bindings_changed(self.screen)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[Any]) -> None:
        if screen is not self.screen:
            return
        items, palette = self.read(screen)
        if (items, palette) != (self.items, self.palette):
            self.items, self.palette = items, palette
            self.refresh()

    def read(self, screen: Screen[Any]) -> tuple[tuple[Item, ...], Item | None]:
        """The Footer's rules: the bindings with ``show``, the first of each action, in the order Textual gives."""
        app = self.app
        seen: set[str] = set()
        items: list[Item] = []
        active = screen.active_bindings
        for _node, binding, enabled, _tooltip in active.values():
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            items.append((binding.key, app.get_key_display(binding), binding.description, enabled))
        palette = None
        if app.ENABLE_COMMAND_PALETTE and app.COMMAND_PALETTE_BINDING in active:
            _node, binding, enabled, _tooltip = active[app.COMMAND_PALETTE_BINDING]
            palette = (binding.key, app.get_key_display(binding), binding.description, enabled)
        return tuple(items), palette

    def render(self) -> Content:
        """The keys that fit whole, left to right (at 80 columns the first ones: ? lists them all), then padding and
        the palette key at the right end."""
        right = _item(*self.palette[1:]) if self.palette is not None else Content("")
        room = max(0, self.size.width - right.cell_length)
        parts: list[Content] = []
        self._spans = []
        column = 0
        for key, display, description, enabled in self.items:
            part = _item(display, description, enabled)
            if column + part.cell_length > room:
                break
            parts.append(part)
            self._spans.append((column, column + part.cell_length, key, enabled))
            column += part.cell_length
        if self.palette is not None:
            self._spans.append((room, room + right.cell_length, self.palette[0], self.palette[3]))
            parts.append(Content(" " * (room - column)))
            parts.append(right)
        return Content("").join(parts)

    def on_click(self, event: events.Click) -> None:
        for start, end, key, enabled in self._spans:
            if start <= event.x < end:
                if enabled:
                    self.app.simulate_key(key)
                else:
                    self.app.bell()
                return


def _item(display: str, description: str, enabled: bool) -> Content:
    """`` key description `` as the Footer draws it (the key bold in the key colour), dimmed when disabled."""
    item = Content.assemble((f" {display} ", KEY), (f"{description} " if description else "", DESCRIPTION))
    return item.stylize("dim") if not enabled else item

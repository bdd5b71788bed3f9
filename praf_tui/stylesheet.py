"""The app's stylesheet: Textual's, but it keeps the rules it parsed while the CSS variables stay the same.

Textual parses every CSS source again whenever it refreshes the CSS (``App.refresh_css``): a new Stylesheet, an
empty parse cache, and ``set_variables`` empties the cache too, even when the variables did not change. It refreshes
the CSS each time a mode's screen is created, so the dashboard's start parsed ``app.tcss`` and every widget's
default CSS twice more, and the first visit to each other mode once more (about 20 ms each, bench/tui.py). Here a
refresh with the same variables parses only the sources it has not parsed yet (a new screen's); a new theme (new
variables) still parses everything again, as Textual does.
"""

from __future__ import annotations

from textual.css.stylesheet import Stylesheet


class ReusingStylesheet(Stylesheet):
    """A Stylesheet whose parse cache survives a refresh with unchanged variables.

    The invariant: every entry of ``_parse_cache`` was parsed with the current ``_variables`` (``set_variables`` is
    the only way they change, and it empties the cache when they do)."""

    def set_variables(self, variables: dict[str, str]) -> None:
        if variables == self._variables:
            return  # the same values: what was parsed with them still holds
        super().set_variables(variables)

    def reparse(self) -> None:
        """Parse every source, from the cache where it was parsed with these variables. Like Textual's, a source with
        errors raises and leaves the rules in force as they were (``parse`` replaces them only once all parsed)."""
        self._require_parse = True
        self.parse()

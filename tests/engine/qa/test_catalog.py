"""Check catalogue: seeded defaults from settings, threshold validation (QAFAIL), colour logic of seed §5.6."""

from __future__ import annotations

import pytest

from praf_engine.config import DashboardSettings, QASettings
from praf_engine.errors import PipelineError
from praf_engine.qa import catalog

DEFAULTS = catalog.default_thresholds(QASettings())


@pytest.mark.parametrize(("raw", "fragment"), [
    ("75%", "must be a JSON object"),
    ([0.75], "must be a JSON object"),
    ({"max_move": "0.75"}, "max_move='0.75' must be a number"),
    ({"max_move": True}, "must be a number"),
    ({"max_move": -1}, "must be a number >= 0.0001"),
    ({"max_move": float("nan")}, "must be a number"),
    ({"max_jump": 0.5}, "unknown threshold key(s) ['max_jump']"),
    ({"window_sessions": 2.5}, "must be an integer"),
])
def test_malformed_thresholds_are_refused_with_the_key(raw: object, fragment: str) -> None:
    with pytest.raises(PipelineError) as err:
        catalog.validate_params("price_jump", raw, DEFAULTS["price_jump"])
    assert err.value.error_code == "QAFAIL"
    assert fragment in err.value.msg and "price_jump" in err.value.msg


def test_partial_thresholds_fall_back_to_defaults() -> None:
    params = catalog.validate_params("price_jump", {"max_move": 1}, DEFAULTS["price_jump"])
    assert params == {"window_sessions": 30, "max_move": 1.0}


def test_defaults_come_from_settings_and_cover_every_check() -> None:
    rows = catalog.qa_check_defaults(QASettings(price_jump=0.5, lag_days=3))
    by_name = {r["check_name"]: r for r in rows}
    assert set(by_name) == set(catalog.CHECKS)
    assert by_name["price_jump"]["threshold_params"]["max_move"] == 0.5
    assert by_name["lag_check"]["threshold_params"]["max_days_behind"] == 3
    assert by_name["price_jump"]["severity"] == "critical" and by_name["iqr_jump"]["severity"] == "info"
    for row in rows:  # every default passes its own validation
        catalog.validate_params(row["check_name"], row["threshold_params"], row["threshold_params"])


@pytest.mark.parametrize(("rule", "count", "size", "colour"), [
    (catalog.COLOUR_PCT, 10, 1000, "green"), (catalog.COLOUR_PCT, 11, 1000, "yellow"),
    (catalog.COLOUR_PCT, 50, 1000, "yellow"), (catalog.COLOUR_PCT, 51, 1000, "red"),
    (catalog.COLOUR_ROWS, 200, 9, "green"), (catalog.COLOUR_ROWS, 201, 9, "yellow"), (catalog.COLOUR_ROWS, 501, 9, "red"),
    (catalog.COLOUR_FETCH, 50, 9, "green"), (catalog.COLOUR_FETCH, 100, 9, "yellow"), (catalog.COLOUR_FETCH, 101, 9, "red"),
])
def test_colour_logic_of_seed_5_6(rule: str, count: int, size: int, colour: str) -> None:
    assert catalog.colour(rule, count, size, DashboardSettings()) == colour

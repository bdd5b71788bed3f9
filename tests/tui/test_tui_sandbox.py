"""`praf-tui --sandbox`: the dashboard's service is wired to the offline sandbox, like `praf-engine --sandbox`."""

from __future__ import annotations

from pathlib import Path

import pytest

from praf_engine.cli import main as engine_main
from praf_tui.cli import open_service


def test_sandbox_flag_points_the_dashboard_at_the_sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PRAF_SOURCES", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    home = tmp_path / "home"
    assert engine_main(["--home", str(home), "init"]) == 0
    plain = open_service(str(home))
    try:
        assert plain.settings.sources != "sandbox"
    finally:
        plain.close()
    service = open_service(str(home), sandbox=True)
    try:
        assert service.settings.sources == "sandbox"
        assert service.wiring.settings.sources == "sandbox"
    finally:
        service.close()

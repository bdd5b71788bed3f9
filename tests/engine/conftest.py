"""Fixtures and helpers shared by the engine tests.

Settings (test_config*.py): two directories (home and cwd), loaders that return the settings or the CONFIGBAD
message, and the environment of a `praf-engine` child process. Lake (test_lake*.py): a lake in a temporary folder,
a frame of daily bars, the path of a partition."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from praf_engine.config import Settings, load_settings, parse_overrides
from praf_engine.errors import PipelineError
from praf_engine.lake import Lake
from tests.conftest import REPO, cli_env

PRAF_ENGINE = REPO / ".venv" / "bin" / "praf-engine"
SECRET = "hunter2secret"


def subprocess_env() -> dict[str, str]:
    """cli_env() without the 12-factor secrets either: the child must not see the developer's settings."""
    return {k: v for k, v in cli_env().items() if not k.startswith("TELEGRAM_")}


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    """(home, cwd): two distinct empty directories, so the home's .env and the cwd's .env are different files."""
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    return home, cwd


def load_from(home: Path | None, cwd: Path, environ: dict[str, str] | None = None, cli: list[str] | None = None) -> Settings:
    return load_settings(home=home, environ=environ or {}, cwd=cwd, overrides=parse_overrides(cli or []))


def configbad(home: Path | None, cwd: Path, environ: dict[str, str] | None = None, cli: list[str] | None = None) -> str:
    """The CONFIGBAD message the settings give (exit code 2), failing the test if they load."""
    with pytest.raises(PipelineError) as info:
        load_from(home, cwd, environ, cli)
    assert info.value.error_code == "CONFIGBAD", str(info.value)
    assert info.value.exit_code == 2
    return str(info.value)


# --- the lake -----------------------------------------------------------------------------------------------------
def bars(dates, price: float = 10.0, volume: int = 1000, **over) -> pd.DataFrame:
    dates = pd.to_datetime(list(dates))
    n = len(dates)
    step = np.arange(n, dtype=float)
    frame = pd.DataFrame({
        "date": dates,
        "open": price + step, "high": price + step + 1, "low": price + step - 1,
        "close": price + step + 0.5, "adj_close": price + step + 0.25,
        "volume": np.full(n, volume, dtype=np.int64),
    })
    for k, v in over.items():
        frame[k] = v
    return frame


def part(root: Path, sym: str, year: int) -> Path:
    return root / f"symbol={sym}" / f"year={year}" / "part-000.parquet"


def all_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "lake"


@pytest.fixture
def lake(root: Path) -> Lake:
    return Lake(root)

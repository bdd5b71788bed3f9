"""SIGKILL of a real `praf-engine scrape` while its Chromium is open: the next run clears what the killed one left."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from praf_engine.db.models import CronStatus, ScrapeControl
from praf_engine.sandbox.faults import FaultConfig
from praf_engine.service import EngineService
from tests.conftest import REPO, cli_env
from tests.engine.universe.conftest import need_chromium
from tests.engine.universe.test_scrape_job import _processes_naming, _running


def _driver_of(chromium_pid: int) -> int:
    with open(f"/proc/{chromium_pid}/stat") as fh:
        return int(fh.read().rsplit(")", 1)[1].split()[1])  # the browser's parent: chromedriver


def test_a_killed_scrape_leaves_no_browser_after_the_next_run(market, sites, home_settings, backend, request) -> None:
    need_chromium()
    settings = home_settings()
    (settings.home / "settings.toml").write_text(
        f'sources = "sandbox"\n[sandbox]\nhttp_url = "{sites.url}"\n[scrape]\njs_timeout_s = 60\n', encoding="utf-8")
    # the subprocesses' TMPDIR: the profiles of this test are the only ones in it (short: Chromium's socket path in
    # the profile must stay under 108 characters, which pytest's tmp_path would not)
    temp = Path(tempfile.mkdtemp(prefix="pk-", dir="/tmp"))
    request.addfinalizer(lambda: shutil.rmtree(temp, ignore_errors=True))
    env = cli_env(backend, TMPDIR=str(temp))
    command = [sys.executable, "-m", "praf_engine", "--home", str(settings.home), "scrape", "--exchange", "euronext"]
    subprocess.run([*command[:5], "init"], env=env, cwd=REPO, check=True, capture_output=True, timeout=120)

    market.faults = FaultConfig(targets={"js_timeout": frozenset(["euronext"])})  # the click never gives a file
    in_page = threading.Event()  # set when the page's script (so Chromium) asks for its rows, or the run ended
    dispatch = sites.dispatch

    def observed(method: str, target: str):  # noqa: ANN202 - SitesServer.dispatch, watched
        if target.startswith("/en/pd/data/stocks"):
            in_page.set()
        return dispatch(method, target)

    sites.dispatch = observed  # type: ignore[method-assign]
    proc = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    threading.Thread(target=lambda: (proc.wait(), in_page.set()), daemon=True).start()
    try:
        assert in_page.wait(60), "the page's script never asked for its rows"
        assert proc.poll() is None, proc.stderr.read()[-2000:] if proc.stderr else ""
        profiles = list(temp.glob("praf-euronext-*"))
        assert len(profiles) == 1 and _processes_naming(str(profiles[0]))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stderr.close()
    left = _processes_naming(str(profiles[0]))
    driver = _driver_of(min(left))
    assert left and _running(driver), "a SIGKILL leaves Chromium and chromedriver running"

    market.faults = FaultConfig.none()
    again = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr[-2000:]
    assert not _processes_naming(str(profiles[0])), "the killed run's Chromium still runs"
    assert not _running(driver), "the killed run's chromedriver still runs"
    assert not profiles[0].exists()
    assert list(temp.iterdir()) == []  # and the second run's own profile is gone too
    log = (settings.logs_dir / "app.jsonl").read_text()
    assert "cleared the browser of a killed scrape" in log

    service = EngineService.open(settings)
    try:
        runs = list(CronStatus.select().where(CronStatus.job == "scrape").order_by(CronStatus.id))
        assert [r.error_code for r in runs] == ["JOBKILLED", None]
        assert ScrapeControl.get(ScrapeControl.exchange == "euronext").scrape_status == "success"
    finally:
        service.close()


def test_a_live_scrape_keeps_its_browser(tmp_path, monkeypatch) -> None:
    """The sweep spares a profile whose owner still runs (another home's scrape at the same time)."""
    from praf_engine.universe import euronext

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    mine = euronext._new_profile_dir()  # owned by this process
    assert mine.parent == tmp_path
    start = euronext._started_at(os.getpid())
    other = tmp_path / "praf-euronext-other"  # another live process's: this test's parent
    other.mkdir()
    (other / euronext.OWNER_FILE).write_text(json.dumps({"pid": os.getppid(), "start": euronext._started_at(os.getppid())}))
    reused = tmp_path / "praf-euronext-reused"  # a dead owner whose pid now belongs to another process
    reused.mkdir()
    (reused / euronext.OWNER_FILE).write_text(json.dumps({"pid": os.getpid(), "start": start - 1}))
    unowned = tmp_path / "praf-euronext-unowned"  # killed before it wrote its owner: only cleared once it is old
    unowned.mkdir()
    assert euronext.sweep_orphans() == [reused]
    old = time.time() - 2 * euronext.UNOWNED_GRACE_S
    os.utime(unowned, (old, old))
    assert euronext.sweep_orphans() == [unowned]
    assert mine.exists() and other.exists() and not reused.exists() and not unowned.exists()

"""Backups of a home (seed §3.8, §9.7): the database and the lake's bytes into backups/<stamp>/, and a verified restore.

A backup is made in a hidden ``backups/.tmp-…`` folder and renamed into place when complete, so a killed or failed
backup never looks like one. Lake files are copied once and hard-linked by later backups while they are unchanged
(ADR 0007); the manifest lists every file with its size and SHA-256, and restore checks them before changing anything.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import peewee
from peewee import Database

from praf_engine import __version__, backup_db
from praf_engine.atomic import replacing
from praf_engine.config import Settings
from praf_engine.db.models import CronStatus, JobLock
from praf_engine.db.schema import SCHEMA_VERSION, current_version
from praf_engine.errors import PipelineError
from praf_engine.jobs.runner import HOST, JobContext, pid_alive
from praf_engine.logs import get_logger

log = get_logger(__name__)
MANIFEST, FORMAT = "manifest.json", 1
_NAME = re.compile(r"^(\d{8}T\d{6}Z)(?:-(\d+))?$")
_TEMP = re.compile(r"^\.tmp-.+-(\d+)$")
_SEEDED = {"schema_version", "qa_checks", "job_locks"}  # what `praf-engine init` alone puts in a database
_CHUNK = 1 << 20
Progress = Callable[[str, int, int], None]  # (step: "backup", "verify" or "restore"; files done; files in all)


@dataclass(frozen=True)
class BackupInfo:
    """One complete backup: a folder of backups/ with a readable manifest."""

    name: str
    path: Path
    created_at: str
    database: str
    files: int
    bytes: int
    schema_version: int

    @classmethod
    def load(cls, path: Path) -> BackupInfo | None:
        manifest = _read_manifest(path)
        if manifest is None:
            return None
        return cls(path.name, path, manifest["created_at"], manifest["database"]["kind"], len(manifest["files"]),
                   sum(f["size"] for f in manifest["files"]), manifest["schema_version"])


def _read_manifest(path: Path) -> dict[str, Any] | None:
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        if manifest.get("format") != FORMAT or not {"created_at", "database", "files", "schema_version"} <= manifest.keys():
            return None
        return manifest
    except (OSError, ValueError, AttributeError):
        return None


def list_backups(settings: Settings) -> list[BackupInfo]:
    """The complete backups in backups/, oldest first (half-made ones and restore-*-displaced folders are not)."""
    try:
        found = [(m.group(1), int(m.group(2) or 0), e.name) for e in os.scandir(settings.backups_dir)
                 if e.is_dir() and (m := _NAME.match(e.name))]
    except FileNotFoundError:
        return []
    return [info for info in (BackupInfo.load(settings.backups_dir / n) for *_, n in sorted(found)) if info is not None]


# ------------------------------------------------------------------------------------------------ backing up
def create_backup(settings: Settings, db: Database, *, run_id: str | None = None, progress: Progress | None = None,
                  stop: threading.Event | None = None) -> tuple[BackupInfo, list[str]]:
    """Back up the database, then the lake (so the lake is never older than the database that describes it);
    then prune to ``backup.keep``. Returns the new backup and the names pruned."""
    root = settings.backups_dir
    try:
        root.mkdir(parents=True, exist_ok=True)
        _sweep(root)
    except OSError as exc:
        raise _failed(exc, root) from exc
    backups = list_backups(settings)
    previous = (backups[-1].path, _read_manifest(backups[-1].path)) if backups else None
    now = dt.datetime.now(dt.UTC)
    name = base = f"{now:%Y%m%dT%H%M%SZ}"
    n = 0
    while (root / name).exists():
        n += 1
        name = f"{base}-{n}"
    tmp = root / f".tmp-{name}-{os.getpid()}"
    others = [lock.job for lock in JobLock.select() if lock.run_id != run_id]
    if others:
        log.warning("backup taken while other jobs run; their latest writes may be missing", detail={"jobs": others})
    try:
        tmp.mkdir()
        database = backup_db.dump(settings, db, tmp)
        database.update(_digest(tmp / database["file"]))
        files = _snapshot_lake(settings.lake_dir, tmp / "lake", previous, progress, stop)
        manifest = {"format": FORMAT, "created_at": now.isoformat(), "praf_version": __version__, "host": HOST,
                    "run_id": run_id, "schema_version": current_version(db), "running_jobs": others,
                    "database": database, "files": files}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=0), encoding="utf-8")
        os.sync()  # every copied byte on disk before the rename publishes the backup
        os.rename(tmp, root / name)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError):
            raise _failed(exc, root) from exc
        raise
    _fsync_dir(root)
    info = BackupInfo.load(root / name)
    assert info is not None
    pruned = prune(settings)
    log.info("backup made", detail={"backup": name, "files": info.files, "bytes": info.bytes, "pruned": pruned})
    return info, pruned


def _failed(exc: OSError, root: Path) -> PipelineError:
    return PipelineError("BACKUPFAIL", f"could not write the backup under {root}: {exc.strerror or exc}; "
                         "no partial backup kept, previous backups untouched", {"errno": exc.errno, "path": str(root)})


def _sweep(root: Path) -> None:
    """Remove what a killed backup or prune left behind (hidden .tmp-…-<pid> folders of dead processes)."""
    for entry in os.scandir(root):
        m = _TEMP.match(entry.name)
        if m and entry.is_dir() and (int(m.group(1)) == os.getpid() or not pid_alive(int(m.group(1)))):
            log.info("removing a half-made backup", detail={"path": entry.path})
            shutil.rmtree(entry.path, ignore_errors=True)


def prune(settings: Settings) -> list[str]:
    """Delete all but the newest ``backup.keep`` backups; each is renamed to a hidden temp name first, so a crash
    part-way through leaves no backup with files missing."""
    doomed = list_backups(settings)[:-settings.backup.keep]
    for info in doomed:
        gone = info.path.with_name(f".tmp-prune-{info.name}-{os.getpid()}")
        try:
            os.rename(info.path, gone)
            shutil.rmtree(gone)
        except OSError as exc:
            log.warning("could not prune a backup", detail={"backup": info.name, "error": str(exc)})
    return [info.name for info in doomed]


def _lake_files(lake: Path) -> Iterator[str]:
    """Relative paths of the lake's regular files; hidden files (writers' temp files) are not part of it."""
    for folder, dirs, files in os.walk(lake):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for f in sorted(files):
            if not f.startswith(".") and os.path.isfile(path := os.path.join(folder, f)) and not os.path.islink(path):
                yield Path(path).relative_to(lake).as_posix()


def _snapshot_lake(lake: Path, dest: Path, previous: tuple[Path, dict[str, Any] | None] | None,
                   progress: Progress | None, stop: threading.Event | None) -> list[dict[str, Any]]:
    known = {f["path"]: f for f in (previous[1] or {}).get("files", [])} if previous else {}
    paths = list(_lake_files(lake))
    entries = []
    for done, rel in enumerate(paths, 1):
        if stop is not None and stop.is_set():
            raise PipelineError("INTERRUPTED", "backup stopped; no partial backup kept", {"files_done": done - 1})
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            entry = _link_unchanged(lake / rel, target, previous[0] if previous else None, known.get(rel)) \
                or _copy_hashed(lake / rel, target, rel)
        except FileNotFoundError:  # removed since the walk (a re-download, retention): not part of this backup
            continue
        entries.append(entry)
        if progress is not None:
            progress("backup", done, len(paths))
    return entries


def _link_unchanged(src: Path, dst: Path, prev_dir: Path | None, prev: dict[str, Any] | None) -> dict[str, Any] | None:
    """Hard-link the previous backup's copy when the live file is the same file it copied (inode, size, mtime):
    the lake replaces files by rename, so an unchanged stat means unchanged bytes."""
    if prev_dir is None or prev is None:
        return None
    st = os.stat(src)
    if (st.st_ino, st.st_size, st.st_mtime_ns) != (prev["ino"], prev["size"], prev["mtime_ns"]):
        return None
    old = prev_dir / "lake" / prev["path"]
    try:
        if os.stat(old).st_size != prev["size"]:
            return None
        os.link(old, dst)
    except OSError:  # another filesystem, link limit, the old copy gone: copy instead
        return None
    return dict(prev)


def _copy_hashed(src: Path, dst: Path, rel: str) -> dict[str, Any]:
    """Copy ``src`` to ``dst`` and hash the same bytes in one read."""
    digest, size = hashlib.sha256(), 0
    with open(src, "rb") as f, open(dst, "xb") as out:
        st = os.fstat(f.fileno())
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
    return {"path": rel, "size": size, "sha256": digest.hexdigest(), "ino": st.st_ino, "mtime_ns": st.st_mtime_ns}


def _digest(path: Path) -> dict[str, Any]:
    with open(path, "rb") as f:
        return {"size": os.fstat(f.fileno()).st_size, "sha256": hashlib.file_digest(f, "sha256").hexdigest()}


def _fsync_dir(path: Path) -> None:
    """Best effort: the rename is atomic already; this makes it durable sooner."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def backup_job(ctx: JobContext, progress: Progress | None = None) -> int:
    """The `backup` job (`praf-engine run backup`; the scheduler runs it after QA)."""
    info, pruned = create_backup(ctx.settings, ctx.db, run_id=ctx.run_id, progress=progress, stop=ctx.stop)
    ctx.detail.update({"backup": info.name, "files": info.files, "bytes": info.bytes, "pruned": pruned})
    return 0


# ------------------------------------------------------------------------------------------------ restoring
def find_backup(settings: Settings, name: str | None) -> BackupInfo:
    """The named backup (a name in backups/ or a folder path), or the newest; RESTOREBAD if there is none."""
    if name and ("/" in name or name in (".", "..")):
        path = Path(name).expanduser()
    elif name:
        path = settings.backups_dir / name
    else:
        backups = list_backups(settings)
        if not backups:
            raise PipelineError("RESTOREBAD", f"no backup in {settings.backups_dir}", {"path": str(settings.backups_dir)})
        return backups[-1]
    info = BackupInfo.load(path) if path.is_dir() else None
    if info is None:
        raise PipelineError("RESTOREBAD", f"{path} is not a complete backup (no readable {MANIFEST})", {"path": str(path)})
    return info


def verify_backup(info: BackupInfo, progress: Progress | None = None) -> dict[str, Any]:
    """Check every file of the backup against its manifest (size, SHA-256); RESTOREBAD naming the bad ones."""
    manifest = _read_manifest(info.path) or {}
    database = manifest["database"]
    wanted = [(info.path / database["file"], database)] + [(info.path / "lake" / f["path"], f) for f in manifest["files"]]
    bad: list[str] = []
    for done, (path, entry) in enumerate(wanted, 1):
        rel = PurePosixPath(entry.get("path", database["file"]))
        if rel.is_absolute() or ".." in rel.parts:
            bad.append(f"{rel}: path outside the backup")
            continue
        try:
            got = _digest(path)
        except OSError as exc:
            bad.append(f"{rel}: {exc.strerror or exc}")
            continue
        if got["size"] != entry["size"] or got["sha256"] != entry["sha256"]:
            bad.append(f"{rel}: SHA-256 differs" if got["size"] == entry["size"] else f"{rel}: {got['size']} bytes, expected {entry['size']}")
        if progress is not None:
            progress("verify", done, len(wanted))
    if bad:
        raise PipelineError("RESTOREBAD", f"backup {info.name} is damaged: {len(bad)} file(s) differ from its manifest, "
                            f"first {bad[0]}", {"backup": info.name, "bad": bad[:20]})
    return manifest


def live_reasons(db: Database, settings: Settings) -> list[str]:
    """Why the home counts as live (empty list: a fresh home); JOBLOCKED if a job of this host runs right now."""
    reasons = []
    try:
        tables = set(db.get_tables())
        if "job_locks" in tables:
            for job, pid, host in db.execute_sql("SELECT job, pid, host FROM job_locks").fetchall():
                if host == HOST and pid_alive(int(pid)):
                    raise PipelineError("JOBLOCKED", f"job {job} is running (pid {pid}): stop it before restoring",
                                        {"job": job, "pid": pid})
                reasons.append(f"a lock of job {job} ({pid}@{host})")
        rows = [t for t in sorted(tables - _SEEDED) if db.execute_sql(f'SELECT 1 FROM "{t}" LIMIT 1').fetchone()]
        if rows:
            reasons.append(f"rows in {', '.join(rows)}")
    except (peewee.DatabaseError, sqlite3.DatabaseError) as exc:
        reasons.append(f"a database that cannot be read ({type(exc).__name__})")
    if settings.lake_dir.is_dir() and next(_lake_files(settings.lake_dir), None):
        reasons.append("files in lake/")
    return reasons


def restore_backup(settings: Settings, db: Database, name: str | None = None, *, force: bool = False,
                   progress: Progress | None = None) -> dict[str, Any]:
    """Bring the home back to backup ``name`` (default the newest). What it replaces goes to
    backups/restore-<stamp>-displaced/; a home with data is refused (RESTORELIVE) unless ``force``."""
    info = find_backup(settings, name)
    manifest = verify_backup(info, progress)
    database = manifest["database"]
    if manifest["schema_version"] > SCHEMA_VERSION:
        raise PipelineError("RESTOREBAD", f"backup {info.name} was made by a newer PRAF (schema {manifest['schema_version']}"
                            f" > {SCHEMA_VERSION}): upgrade PRAF first", {"backup": info.name})
    if database["kind"] != backup_db.kind(db):
        raise PipelineError("RESTOREBAD", f"backup {info.name} holds a {database['kind']} database; this home uses "
                            f"{backup_db.kind(db)}", {"backup": info.name})
    reasons = live_reasons(db, settings)
    if reasons and not force:
        raise PipelineError("RESTORELIVE", f"{settings.home} is in use ({'; '.join(reasons)}): restoring would replace "
                            "it; stop PRAF and rerun with --force", {"reasons": reasons})
    displaced = settings.backups_dir / f"restore-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}-displaced"
    try:
        if any(r.startswith(("rows", "a database")) for r in reasons):
            displaced.mkdir(parents=True, exist_ok=True)
            backup_db.keep_current(settings, db, displaced)
        backup_db.restore(settings, db, database, info.path / database["file"])
        _settle_jobs(manifest, info.name)
        counts = _restore_lake(settings.lake_dir, info.path / "lake", manifest["files"], displaced / "lake", progress)
        os.sync()
    except OSError as exc:
        raise PipelineError("RESTOREFAIL", f"restore stopped: {exc.strerror or exc} ({exc.filename})",
                            {"errno": exc.errno, "path": str(exc.filename)}) from exc
    result = {"backup": info.name, "displaced": str(displaced) if displaced.exists() else None,
              "schema_version": manifest["schema_version"], **counts}
    log.info("home restored from backup", detail=result)
    return result


def _settle_jobs(manifest: dict[str, Any], name: str) -> None:
    """The snapshot was taken inside the backup job: free its lock and record that run as finished."""
    if manifest["schema_version"] != SCHEMA_VERSION:
        log.warning("restored an older schema: run `praf-engine init` to upgrade it", detail={"backup": name})
        return
    JobLock.delete().execute()
    if manifest.get("run_id"):
        CronStatus.update(finished_at=dt.datetime.fromisoformat(manifest["created_at"]).replace(tzinfo=None), exit_code=0,
                          detail={"backup": name, "note": "finished after its snapshot"}).where(
            CronStatus.run_id == manifest["run_id"], CronStatus.finished_at.is_null()).execute()


def _restore_lake(lake: Path, source: Path, files: list[dict[str, Any]], aside: Path,
                  progress: Progress | None) -> dict[str, int]:
    """Put back every file that is missing or differs; move files the backup does not know to ``aside``."""
    live = set(_lake_files(lake)) if lake.is_dir() else set()
    counts = {"files_restored": 0, "files_unchanged": 0, "files_displaced": 0}
    for done, f in enumerate(files, 1):
        dst = lake / f["path"]
        if f["path"] in live and _digest(dst) == {"size": f["size"], "sha256": f["sha256"]}:
            counts["files_unchanged"] += 1
        else:
            _put_back(source / f["path"], dst, aside / f["path"] if f["path"] in live else None)
            counts["files_restored"] += 1
        if progress is not None:
            progress("restore", done, len(files))
    for rel in sorted(live - {f["path"] for f in files}):
        (aside / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(lake / rel, aside / rel)
        counts["files_displaced"] += 1
    for folder, _dirs, _files in sorted(os.walk(lake), reverse=True):  # folders the moves emptied
        if Path(folder) != lake and not os.listdir(folder):
            os.rmdir(folder)
    return counts


def _put_back(src: Path, dst: Path, aside: Path | None) -> None:
    """Copy a backup file over a lake file the way the lake writes: temp file beside it, then rename."""
    with replacing(dst) as tmp:  # a temp file the retention job's lake sweep knows
        shutil.copyfile(src, tmp)
        if aside is not None:
            aside.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(dst, aside)
            except OSError:
                shutil.copyfile(dst, aside)

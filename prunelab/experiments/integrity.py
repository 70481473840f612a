"""Health of a results store: integrity check, rows versus files, online backups and restore.

- :func:`check_store` runs SQLite's integrity check and compares the rows with the files on disk
  (artefacts and tables whose file is gone, run folders without a row, temporary files of killed
  processes, runs whose process is gone). A database that fails is marked
  (:data:`FAILED_CHECK`) and no command writes into it until it is restored.
- :func:`backup_store` copies the live database with SQLite's online backup API (a consistent
  snapshot while other processes write), verifies the copy, and renames it into
  ``<runs>/backups/``; :func:`prunelab.studies.run_study` calls it after every study.
- :func:`restore_store` moves a damaged database aside (never deletes it) and puts the newest
  backup that passes its check in its place.

The one-line errors of a damaged database and the mark that stops writes are in
:mod:`prunelab.experiments.damage`. These functions work on the files directly (never through :class:`~prunelab.experiments.Store`,
which refuses a marked store), so they are what a user runs when the store is damaged.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import sqlite3
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prunelab.core.faults import fault_point
from prunelab.core.files import (
    disk_error,
    fsync_dir,
    is_disk_error,
    leftovers,
    remove_leftovers,
    temp_path,
)
from prunelab.errors import StoreError
from prunelab.experiments.damage import (
    DB_NAME,
    FAILED_CHECK,
    failed_check,
    mark_failed,
    restore_hint,
    run_folders,
    translate_sqlite_error,
)

BACKUPS = "backups"
_BACKUP = re.compile(r"^prunelab-\d{8}-\d{6}-\d{6}\.sqlite$")


def backups(root: str | Path) -> list[Path]:
    """The backups of a runs directory, oldest first."""
    folder = Path(root) / BACKUPS
    try:
        return sorted(p for p in folder.iterdir() if _BACKUP.match(p.name))
    except OSError:
        return []


def _integrity(db: Path, quick: bool = False) -> list[str]:
    """Problems SQLite's integrity check finds in ``db`` (``[]`` when it passes); opened read-only."""
    pragma = "quick_check(20)" if quick else "integrity_check(20)"
    try:
        con = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=60.0)
        try:
            rows = [r[0] for r in con.execute(f"PRAGMA {pragma}")]
        finally:
            con.close()
    except sqlite3.Error as err:
        return [str(err)]
    return [] if rows == ["ok"] else [" ".join(str(r).split()) for r in rows]


@dataclass
class StoreReport:
    """What :func:`check_store` found.

    Attributes
    ----------
    root : Path
    integrity : list of str
        Problems of SQLite's integrity check (empty when the database is sound).
    missing : list of str
        ``"<run>: <name> -> <path>"`` of artefacts and tables whose file is gone.
    orphans : list of str
        Run folders that no row of the database names.
    leftovers : list of Path
        Temporary files of processes that no longer exist (safe to delete).
    stale : list of str
        Runs marked ``running`` whose process is gone (a rerun resumes them).
    counts : dict
        Rows per table.
    backups : list of Path
        Backups, oldest first.
    cleared : bool
        A mark of an earlier failed check was removed because the database now passes.
    """

    root: Path
    integrity: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    leftovers: list[Path] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    backups: list[Path] = field(default_factory=list)
    cleared: bool = False

    @property
    def damaged(self) -> bool:
        """The database failed SQLite's integrity check (or is missing next to run folders)."""
        return bool(self.integrity)

    @property
    def ok(self) -> bool:
        """Nothing is damaged, missing or orphaned (leftover temporary files and stale runs are fine)."""
        return not (self.integrity or self.missing or self.orphans)


def _require_folder(root: Path) -> None:
    if not root.is_dir():
        raise StoreError(
            f"runs directory {root} does not exist; pass the --runs-dir of a results store"
        )


def check_store(root: str | Path) -> StoreReport:
    """Check a runs directory: the database's integrity, then its rows against the files on disk.

    A database that fails is marked as failed (:data:`FAILED_CHECK`); one that passes clears an
    earlier mark. Nothing else is written.
    """
    from prunelab.experiments.store import _owner_gone

    root = Path(root)
    db = root / DB_NAME
    _require_folder(root)
    report = StoreReport(root, backups=backups(root), leftovers=leftovers(root))
    folders = run_folders(root)
    if not db.exists() or db.stat().st_size == 0:
        if folders:
            report.integrity = [
                f"the database is {'empty' if db.exists() else 'missing'} but {len(folders)} run folders exist"
            ]
            mark_failed(root, report.integrity[0])
        return report
    report.integrity = _integrity(db)
    if report.integrity:
        mark_failed(root, "; ".join(report.integrity))
        return report
    if failed_check(root) is not None:
        with suppress(OSError):
            (root / FAILED_CHECK).unlink()
            report.cleared = True
    con = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=60.0)
    try:
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        report.counts = {
            n: con.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0] for n in sorted(names)
        }
        runs = (
            con.execute("SELECT id, status, owner FROM runs").fetchall() if "runs" in names else []
        )
        files = []
        for table in ("artefacts", "tables"):
            if table in names:
                files += con.execute(
                    f"SELECT run_id, name, path FROM {table} ORDER BY run_id, name"
                ).fetchall()
    finally:
        con.close()
    for run_id, name, path in files:
        full = Path(path) if Path(path).is_absolute() else root / path
        if not full.exists():
            report.missing.append(f"{run_id}: {name} -> {path}")
    ids = {r[0] for r in runs}
    report.orphans = [f for f in folders if f not in ids]
    report.stale = [r[0] for r in runs if r[1] == "running" and _owner_gone(r[2])]
    return report


def _copy_database(src: Path, dest: Path) -> None:
    """Copy database ``src`` to ``dest`` with SQLite's online backup API (a consistent snapshot)."""
    source = sqlite3.connect(src, timeout=60.0)
    try:
        target = sqlite3.connect(dest)
        try:
            source.backup(target)
            # a standalone file: no -wal/-shm companions to lose when it is copied or renamed
            target.execute("PRAGMA journal_mode=DELETE")
        finally:
            target.close()
    finally:
        source.close()


def _stamp() -> str:
    now = time.time()
    return (
        time.strftime("%Y%m%d-%H%M%S", time.localtime(now)) + f"-{int(now * 1e6) % 1_000_000:06d}"
    )


def backup_store(root: str | Path, keep: int = 3) -> Path:
    """Back up the database of ``root`` to ``<root>/backups/prunelab-<time>.sqlite``; returns its path.

    The copy is taken with SQLite's online backup API (other processes may keep writing), checked
    with SQLite's quick check, flushed and renamed into place, so a backup that exists is complete
    and sound; only the newest ``keep`` backups are kept.

    Raises
    ------
    StoreError
        The database is damaged (it is marked; existing backups are kept).
    DiskError
        The disk is full or not writable (no partial backup is left).
    """
    root = Path(root)
    db = root / DB_NAME
    folder = root / BACKUPS
    _require_folder(root)
    if not db.exists():
        raise StoreError(
            f"no results database {db} to back up; pass the --runs-dir of a results store"
        )
    dest = folder / f"prunelab-{_stamp()}.sqlite"
    tmp = temp_path(dest)
    try:
        folder.mkdir(exist_ok=True)
        remove_leftovers(folder)  # half-written backups of killed processes
        _copy_database(db, tmp)
        problems = _integrity(tmp, quick=True)
        if problems:
            mark_failed(root, "; ".join(problems))
            raise StoreError(
                f"results database {db} failed its check while being backed up ({problems[0]}); "
                "the earlier backups are kept; " + restore_hint(root)
            )
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        fault_point("backup.write")
        os.replace(tmp, dest)
        fsync_dir(folder)
    except BaseException as err:
        with suppress(OSError):
            tmp.unlink()
        if is_disk_error(err):
            raise disk_error(err, dest) from None  # type: ignore[arg-type]
        translated = translate_sqlite_error(err, db)
        if translated is not None:
            raise translated from None
        raise
    for old in backups(root)[:-keep] if keep > 0 else []:
        with suppress(OSError):
            old.unlink()
    return dest


def _live_owners(db: Path) -> list[str]:
    """``run (owner)`` of runs that a live process on this host is running (best effort)."""
    from prunelab.experiments.store import _owner_gone

    try:
        con = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
        try:
            rows = con.execute("SELECT id, owner FROM runs WHERE status = 'running'").fetchall()
        finally:
            con.close()
    except sqlite3.Error:
        return []
    me = f":{os.getpid()}"
    return [
        f"{r} ({o})"
        for r, o in rows
        if isinstance(o, str)
        and not o.endswith(me)
        and not _owner_gone(o)
        and o.rpartition(":")[0] == socket.gethostname()
    ]


def restore_store(
    root: str | Path, source: str | Path | None = None, force: bool = False
) -> dict[str, Any]:
    """Replace the database of ``root`` by a backup (default: the newest that passes its check).

    The current database, with its ``-wal`` and ``-shm`` files, is moved to
    ``<root>/backups/replaced-<time>/`` (never deleted); the failed-check mark is removed. Work
    recorded after the backup is not in the restored database: rerunning its studies redoes it
    (run folders whose checkpoints are ahead of the restored rows restart from scratch).

    Parameters
    ----------
    root : path
    source : path, optional
        A backup file to restore instead of the newest.
    force : bool
        Restore even when the current database passes its check or runs seem alive.

    Returns
    -------
    dict
        ``restored`` (the backup used), ``moved`` (folder of the replaced files, or None),
        ``skipped`` (backups that failed their check).

    Raises
    ------
    StoreError
        Nothing to restore, no sound backup, or (without ``force``) a sound current database or
        runs still owned by live processes.
    """
    root = Path(root)
    db = root / DB_NAME
    present = db.exists() and db.stat().st_size > 0
    if present and not force and failed_check(root) is None and not _integrity(db):
        raise StoreError(
            f"results database {db} passes its check; restoring would discard the work recorded since "
            "the backup; pass --force to restore anyway"
        )
    live = _live_owners(db) if present else []
    if live and not force:
        raise StoreError(
            f"runs are still being trained by live processes ({', '.join(live[:3])}); stop them before "
            "restoring, or pass --force"
        )
    candidates = [Path(source)] if source is not None else list(reversed(backups(root)))
    if not candidates:
        raise StoreError(
            f"no backups in {root / BACKUPS} to restore (one is written after every study); "
            "pass --from FILE to restore another copy of the database"
        )
    skipped, chosen = [], None
    for cand in candidates:
        if not cand.is_file():
            raise StoreError(
                f"backup {cand} does not exist; list the backups with `prunelab store check --runs-dir {root}`"
            )
        problems = _integrity(cand)
        if problems:
            skipped.append(str(cand))
            continue
        chosen = cand
        break
    if chosen is None:
        raise StoreError(
            f"no backup passes its check (tried {', '.join(skipped)}); the database cannot be restored "
            "from them"
        )
    moved = None
    tmp = temp_path(db)
    try:
        _copy_database(chosen, tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        stale = [
            p
            for p in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm"))
            if p.exists()
        ]
        if stale:
            moved = root / BACKUPS / f"replaced-{_stamp()}"
            moved.mkdir(parents=True)
            for p in stale:  # a stale -wal next to the restored file would be replayed into it
                shutil.move(str(p), moved / p.name)
        os.replace(tmp, db)
        fsync_dir(root)
    except BaseException as err:
        with suppress(OSError):
            tmp.unlink()
        if is_disk_error(err):
            raise disk_error(err, db) from None  # type: ignore[arg-type]
        raise
    with suppress(OSError):
        (root / FAILED_CHECK).unlink()
    return {"restored": chosen, "moved": moved, "skipped": skipped}

"""A damaged results database: one-line errors, the failed-check mark, refusing to write.

Every failure of SQLite on a store becomes one line (:func:`translate_sqlite_error`): a
:class:`~prunelab.errors.StoreError` naming the file, what is wrong and how to recover, or a
:class:`~prunelab.errors.DiskError` for a full or read-only disk. A database that SQLite reports
corrupt, or that failed ``prunelab store check``, is marked (:data:`FAILED_CHECK`, a file next
to it), and :func:`refuse_damaged` keeps every command from writing into a marked store, or into
a missing or emptied database next to run folders, until ``prunelab store restore`` (or a
passing check) clears the mark. Checking, backing up and restoring are in
:mod:`prunelab.experiments.integrity`.
"""

from __future__ import annotations

import re
import sqlite3
from contextlib import suppress
from pathlib import Path

import pandas as pd

from prunelab.core.files import atomic_write, disk_error
from prunelab.errors import DiskError, PrunelabError, StoreError

DB_NAME = "prunelab.sqlite"
#: written next to the database when it failed its check; no command writes while it exists
FAILED_CHECK = DB_NAME + ".failed-check"
#: a run folder's name: the 12 hex digits of a content hash
RUN_FOLDER = re.compile(r"^[0-9a-f]{12}$")


def restore_hint(root: Path) -> str:
    """The recovery advice every damaged-store message ends with."""
    return (
        f"inspect it with `prunelab store check --runs-dir {root}` and go back to the last backup with "
        f"`prunelab store restore --runs-dir {root}`"
    )


def mark_failed(root: Path, reason: str) -> None:
    """Record that the database of ``root`` failed its check (best effort: a full disk may refuse)."""
    with suppress(OSError, PrunelabError), atomic_write(Path(root) / FAILED_CHECK) as fh:
        fh.write((" ".join(reason.split())[:300] + "\n").encode())


def failed_check(root: Path) -> str | None:
    """Why the database of ``root`` failed its check, or None when it is not marked."""
    try:
        return (Path(root) / FAILED_CHECK).read_text().strip() or "damaged"
    except FileNotFoundError:
        return None
    except OSError as err:
        return f"its check mark cannot be read ({err.strerror})"


def run_folders(root: Path) -> list[str]:
    """Names of the run folders of a runs directory (12-hex-digit content hashes)."""
    try:
        return sorted(
            p.name for p in Path(root).iterdir() if p.is_dir() and RUN_FOLDER.match(p.name)
        )
    except OSError:
        return []


def translate_sqlite_error(err: BaseException, db_path: Path) -> PrunelabError | None:
    """The one-line error for a failure of SQLite on ``db_path``, or None for a programming error.

    A corrupt database (or a file that is not one) is marked as failing its check.
    """
    if isinstance(err, pd.errors.DatabaseError) and err.__cause__ is not None:
        err = err.__cause__
    if not isinstance(err, sqlite3.Error):
        return None
    name = getattr(err, "sqlite_errorname", "") or ""
    text = str(err)
    root = db_path.parent
    if (
        name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB"))
        or "malformed" in text
        or "not a database" in text
    ):
        mark_failed(root, text)
        return StoreError(
            f"results database {db_path} is damaged ({text}); nothing more is written to it; "
            + restore_hint(root)
        )
    if name.startswith("SQLITE_FULL") or "disk is full" in text:
        return disk_error(OSError(28, text), db_path)
    if name.startswith("SQLITE_READONLY") or "readonly" in text:
        return disk_error(OSError(30, text), db_path)
    if name.startswith("SQLITE_IOERR") or "disk I/O error" in text:
        return DiskError(
            f"could not read or write {db_path} ({text}): the disk may be full or failing; "
            "free space, then rerun the same command to resume (or " + restore_hint(root) + ")"
        )
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text:
        return StoreError(
            f"results database {db_path} stayed locked by another process for 60 s ({text}); "
            "rerun when it is less busy, and keep runs directories off network file systems"
        )
    if name.startswith("SQLITE_CANTOPEN") or "unable to open" in text:
        if db_path.exists() and not db_path.is_file():
            return StoreError(
                f"results database {db_path} is not a file ({text}); " + restore_hint(root)
            )
        return StoreError(
            f"cannot open results database {db_path} ({text}); pass a readable, writable --runs-dir"
        )
    return None


def refuse_damaged(root: Path) -> None:
    """Raise a one-line :class:`StoreError` when no command may write into the store at ``root``.

    That is when its database is marked as having failed its check, or when the database is
    missing or empty while run folders exist (a new database would silently forget them).
    """
    root = Path(root)
    db = root / DB_NAME
    reason = failed_check(root)
    if reason is not None:
        raise StoreError(
            f"results database {db} failed its check ({reason}) and is not written to; "
            + restore_hint(root)
        )
    try:
        size = db.stat().st_size
    except FileNotFoundError:
        size = 0
    folders = run_folders(root) if size == 0 else []
    if folders:
        state = "is empty" if db.exists() else "is missing"
        raise StoreError(
            f"results database {db} {state} but {root} holds {len(folders)} run folders; "
            f"{restore_hint(root)} (or move the run folders away to start afresh)"
        )


def quick_check(con: sqlite3.Connection, db_path: Path) -> None:
    """SQLite's quick integrity check on ``con``; a failure marks the store and raises :class:`StoreError`."""
    rows = [r[0] for r in con.execute("PRAGMA quick_check(5)")]
    if rows != ["ok"]:
        detail = " ".join(
            "; ".join(rows).split()
        )  # SQLite's report spans lines; a message must not
        mark_failed(db_path.parent, detail)
        raise StoreError(
            f"results database {db_path} failed its integrity check ({detail[:200]}); "
            "nothing was written to it; " + restore_hint(db_path.parent)
        )

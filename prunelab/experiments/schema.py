"""The schema of the results database and its migration from older prunelab versions."""

from __future__ import annotations

import sqlite3

#: the tables of a store (``sweeps`` is kept only to migrate stores of older versions)
TABLES = ("runs", "metrics", "artefacts", "sweeps", "studies", "tables")

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    config TEXT NOT NULL,
    status TEXT NOT NULL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    seconds REAL,
    versions TEXT,
    git_revision TEXT,
    message TEXT,
    owner TEXT
);
CREATE TABLE IF NOT EXISTS metrics (
    run_id TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    name TEXT NOT NULL,
    value REAL,
    PRIMARY KEY (run_id, epoch, name)
);
CREATE TABLE IF NOT EXISTS artefacts (
    run_id TEXT NOT NULL,
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    kind TEXT NOT NULL,
    epoch INTEGER,
    PRIMARY KEY (run_id, name)
);
CREATE TABLE IF NOT EXISTS sweeps (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    config TEXT NOT NULL,
    run_ids TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS studies (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    config TEXT NOT NULL,
    run_ids TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS tables (
    run_id TEXT NOT NULL,
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (run_id, name)
);
"""

#: the statuses of a run
STATUSES = ("pending", "running", "finished", "diverged", "interrupted", "failed")


def migrate(con: sqlite3.Connection) -> None:
    """Bring a store written by an older prunelab up to :data:`SCHEMA` (adds missing columns)."""
    have = {row[1] for row in con.execute("PRAGMA table_info(runs)")}
    if "owner" not in have:
        try:
            con.execute("ALTER TABLE runs ADD COLUMN owner TEXT")
        except sqlite3.OperationalError as err:  # another process added it first
            if "duplicate column" not in str(err):
                raise
    # sweeps were the only kind of study before the studies table: copy them over once
    con.execute(
        "INSERT OR IGNORE INTO studies (id, kind, name, config, run_ids, created) "
        "SELECT id, 'train', name, config, run_ids, created FROM sweeps"
    )


def ensure_schema(con: sqlite3.Connection) -> None:
    """Create missing tables and migrate an older store; writes nothing to an intact current store.

    (So opening a store to read it, e.g. ``prunelab ls``, never writes into its database.)
    """
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    have = {row[1] for row in con.execute("PRAGMA table_info(runs)")}
    if set(TABLES) <= tables and "owner" in have:
        return
    con.executescript(SCHEMA)
    migrate(con)

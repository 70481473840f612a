"""The results store: an embedded SQLite database (WAL mode) plus one folder per run.

Layout of a runs directory::

    runs/
      prunelab.sqlite        runs, metrics, artefacts, sweeps
      <run_id>/              checkpoint.pt, config.yaml, artefacts (masks, weights)
      reports/<name>/        HTML reports

Every write is one short transaction, so a crash or ``kill -9`` leaves the database consistent
(SQLite's journal) and several processes may write at once (WAL + busy timeout). Metrics are
keyed by (run, epoch, name) and written with INSERT OR REPLACE, so a resumed run that repeats
an epoch overwrites instead of duplicating.

A damaged database never surfaces as a ``sqlite3`` traceback: every SQLite failure becomes one
line (:class:`StoreError` naming the file, what is wrong and how to recover, or
:class:`DiskError` for a full or read-only disk). A database that SQLite reports corrupt, or that
failed ``prunelab store check``, is marked (``prunelab.sqlite.failed-check``) and no command
writes into it until ``prunelab store restore`` (or a passing check) clears the mark; see
:mod:`prunelab.experiments.damage` and :mod:`prunelab.experiments.integrity`.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pandas as pd

from prunelab.core.faults import fault_point
from prunelab.core.files import atomic_write, disk_error, is_disk_error, remove_leftovers
from prunelab.errors import StoreError
from prunelab.experiments.damage import DB_NAME, quick_check, refuse_damaged, translate_sqlite_error
from prunelab.experiments.schema import SCHEMA, STATUSES, ensure_schema

__all__ = ["SCHEMA", "STATUSES", "Store", "translate_sqlite_error"]


def _owner_gone(owner: Any) -> bool:
    """True when ``owner`` (``host:pid``) names a process on this host that no longer exists."""
    if not isinstance(owner, str) or ":" not in owner:
        return False
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # exists, owned by another user
        return False
    return False


class Store:
    """Handle on a runs directory.

    Parameters
    ----------
    root : path
        The runs directory (created if missing). Raises :class:`StoreError` when it cannot be
        created or written.
    """

    def __init__(self, root: str | Path = "runs") -> None:
        self.root = Path(root)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".write-test-{os.getpid()}"
            probe.write_text("")
            probe.unlink()
        except OSError as err:
            raise StoreError(
                f"runs directory {str(self.root)!r} is not writable ({err.strerror}); "
                "pass a writable --runs-dir"
            ) from None
        self.db_path = self.root / DB_NAME
        refuse_damaged(self.root)
        with self._connect() as con:
            ensure_schema(con)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            con = sqlite3.connect(self.db_path, timeout=60.0, isolation_level=None)
        except sqlite3.Error as err:
            raise self._translated(err) from None
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute("PRAGMA busy_timeout=60000")
            yield con
        except (sqlite3.DatabaseError, pd.errors.DatabaseError) as err:
            raise self._translated(err) from None
        except OSError as err:
            if is_disk_error(err):
                raise disk_error(err, self.db_path) from None
            raise
        finally:
            con.close()

    def _translated(self, err: BaseException) -> BaseException:
        """The one-line error of a SQLite failure (the original for a programming error)."""
        return translate_sqlite_error(err, self.db_path) or err

    def _write(
        self, sql: str, rows: Iterable[tuple] | tuple = (), fault: str = "store.write"
    ) -> None:
        """One transaction: a single statement, or executemany when ``rows`` is a list."""
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                if isinstance(rows, list):
                    con.executemany(sql, rows)
                else:
                    con.execute(sql, rows)
                fault_point(fault)
                con.execute("COMMIT")
            except BaseException:
                with suppress(
                    sqlite3.Error
                ):  # SQLite may already have rolled back (e.g. disk full)
                    con.execute("ROLLBACK")
                raise

    def verify(self) -> None:
        """SQLite's quick integrity check of the database; a failure marks it and raises.

        Called before a study writes into the store, so that no command writes into a damaged
        database. Costs one read of the database file (a fraction of a second per 100 MB).

        Raises
        ------
        StoreError
            The database is damaged (one line with the way to recover).
        """
        with self._connect() as con:
            quick_check(con, self.db_path)

    def backup(self, keep: int = 3) -> Path:
        """An online copy of the database in ``<runs>/backups/`` (SQLite's backup API), verified.

        Keeps the newest ``keep`` backups. See :func:`prunelab.experiments.integrity.backup_store`.
        """
        from prunelab.experiments.integrity import backup_store

        return backup_store(self.root, keep=keep)

    # --- runs --------------------------------------------------------------------------------
    def run_dir(self, run_id: str) -> Path:
        """Folder of a run's artefacts (created on demand)."""
        path = self.root / run_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def register_run(self, run_id: str, name: str, config: dict[str, Any]) -> None:
        """Insert a run as ``pending`` unless it exists (then only its name is refreshed)."""
        self._write(
            "INSERT INTO runs (id, name, config, status, created) VALUES (?, ?, ?, 'pending', ?) "
            "ON CONFLICT(id) DO UPDATE SET name = excluded.name",
            (run_id, name, json.dumps(config, sort_keys=True), time.time()),
        )

    def set_status(self, run_id: str, status: str, message: str = "", **fields: Any) -> None:
        """Update a run's status (one of :data:`STATUSES`) and optional columns.

        ``running`` also records the calling process as the run's ``owner`` (``host:pid``), so a
        run whose process was killed can be told apart from a live one (:meth:`runs`, ``stale``).
        """
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        cols = {"status": status, "message": message, **fields}
        if status == "running":
            cols["owner"] = f"{socket.gethostname()}:{os.getpid()}"
        assignments = ", ".join(f"{k} = ?" for k in cols)
        values = [json.dumps(v) if isinstance(v, dict) else v for v in cols.values()]
        self._write(f"UPDATE runs SET {assignments} WHERE id = ?", (*values, run_id))

    def claim_run(self, run_id: str, message: str = "", **fields: Any) -> str:
        """Atomically take a registered run for this process, unless it is finished or owned elsewhere.

        In one write transaction: a ``finished`` run is left alone (returns ``"finished"``); a
        ``running`` run whose owner (``host:pid``) is another live process is left alone
        (``"elsewhere"``); any other run (pending, interrupted, failed, diverged, or running with a
        dead or unknown owner) becomes ``running`` with this process as owner (``"claimed"``).
        Two processes racing for one run cannot both get ``"claimed"``.

        Raises
        ------
        StoreError
            When the run is not registered.
        """
        me = f"{socket.gethostname()}:{os.getpid()}"
        cols = {"status": "running", "message": message, "owner": me, **fields}
        assignments = ", ".join(f"{k} = ?" for k in cols)
        values = [json.dumps(v) if isinstance(v, dict) else v for v in cols.values()]
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                row = con.execute(
                    "SELECT status, owner FROM runs WHERE id = ?", (run_id,)
                ).fetchone()
                if row is None:
                    raise StoreError(
                        f"run {run_id} is not registered in {str(self.root)!r}; register it before claiming"
                    )
                status, owner = row
                if status == "finished":
                    outcome = "finished"
                elif status == "running" and owner not in (None, me) and not _owner_gone(owner):
                    outcome = "elsewhere"
                else:
                    con.execute(f"UPDATE runs SET {assignments} WHERE id = ?", (*values, run_id))
                    outcome = "claimed"
                fault_point("store.write")
                con.execute("COMMIT")
            except BaseException:
                with suppress(sqlite3.Error):
                    con.execute("ROLLBACK")
                raise
        return outcome

    def insert_finished_run(
        self,
        run_id: str,
        name: str,
        config: dict[str, Any],
        artefacts: list[tuple[str, Path, str]],
        study_kind: str,
        **fields: Any,
    ) -> None:
        """Record a run whose files are already in place, as ``finished``, in one transaction.

        For work done outside the run lifecycle (an imported network): the run row, its
        artefacts ``(name, path, kind)`` and a one-run study of ``study_kind`` (same id and name)
        appear together or not at all. ``fields`` are further run columns (seconds, versions,
        git_revision, message). Raises :class:`StoreError` when the run id exists.
        """
        now = time.time()
        cols = {
            "id": run_id,
            "name": name,
            "config": json.dumps(config, sort_keys=True),
            "status": "finished",
            "created": now,
            "started": now,
            "finished": now,
            **fields,
        }
        values = [json.dumps(v) if isinstance(v, dict) else v for v in cols.values()]
        rows = []
        for art_name, path, kind in artefacts:
            try:
                rel = str(Path(path).resolve().relative_to(self.root.resolve()))
            except ValueError:
                rel = str(path)
            rows.append((run_id, art_name, rel, kind, None))
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                if con.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone():
                    raise StoreError(f"run {run_id} already exists in {str(self.root)!r}")
                con.execute(
                    f"INSERT INTO runs ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                    values,
                )
                con.executemany(
                    "INSERT OR REPLACE INTO artefacts (run_id, name, path, kind, epoch) VALUES (?, ?, ?, ?, ?)",
                    rows,
                )
                con.execute(
                    "INSERT OR REPLACE INTO studies (id, kind, name, config, run_ids, created) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        run_id,
                        study_kind,
                        name,
                        json.dumps(config, sort_keys=True),
                        json.dumps([run_id]),
                        now,
                    ),
                )
                con.execute("COMMIT")
            except BaseException:
                with suppress(sqlite3.Error):
                    con.execute("ROLLBACK")
                raise

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        """The run's row as a dict (config and versions decoded), or None."""
        with self._connect() as con:
            con.row_factory = sqlite3.Row
            row = con.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            return None
        out = dict(row)
        out["config"] = json.loads(out["config"])
        out["versions"] = json.loads(out["versions"]) if out["versions"] else {}
        return out

    def runs(self) -> pd.DataFrame:
        """All runs, newest first: id, name, status, created, started, finished, seconds (s),
        git_revision, message, owner and ``stale``.

        ``stale`` is True for a ``running`` run whose owning process, on this host, no longer
        exists (killed or crashed; a rerun resumes it). Runs owned by another host are never
        marked stale, since their processes cannot be checked from here.
        """
        with self._connect() as con:
            df = pd.read_sql_query(
                "SELECT id, name, status, created, started, finished, seconds, git_revision, message, owner "
                "FROM runs ORDER BY created DESC",
                con,
            )
        df["stale"] = [
            status == "running" and _owner_gone(owner)
            for status, owner in zip(df["status"], df["owner"], strict=True)
        ]
        return df

    # --- metrics -----------------------------------------------------------------------------
    def log_metrics(self, run_id: str, epoch: int, metrics: dict[str, float]) -> None:
        """Store the metrics of one epoch (replacing any earlier values for that epoch)."""
        rows = [
            (run_id, int(epoch), name, float(value))
            for name, value in metrics.items()
            if name != "epoch"
        ]
        self._write(
            "INSERT OR REPLACE INTO metrics (run_id, epoch, name, value) VALUES (?, ?, ?, ?)",
            rows,
            fault="metrics.write",
        )

    def drop_metrics_after(self, run_id: str, epoch: int) -> None:
        """Delete metrics of epochs > ``epoch`` (work that a resume will redo)."""
        self._write("DELETE FROM metrics WHERE run_id = ? AND epoch > ?", (run_id, int(epoch)))

    def metrics(self, run_ids: Iterable[str] | None = None, wide: bool = False) -> pd.DataFrame:
        """Metrics as a long table (run_id, epoch, name, value) or wide (one column per name)."""
        with self._connect() as con:
            if run_ids is None:
                df = pd.read_sql_query("SELECT run_id, epoch, name, value FROM metrics", con)
            else:
                ids = list(run_ids)
                marks = ",".join("?" * len(ids)) or "''"
                df = pd.read_sql_query(
                    f"SELECT run_id, epoch, name, value FROM metrics WHERE run_id IN ({marks})",
                    con,
                    params=ids,
                )
        df = df.sort_values(["run_id", "epoch", "name"]).reset_index(drop=True)
        if wide:
            df = df.pivot_table(
                index=["run_id", "epoch"], columns="name", values="value"
            ).reset_index()
            df.columns.name = None
        return df

    # --- artefacts and tables ------------------------------------------------------------------
    def add_artefact(
        self, run_id: str, name: str, path: str | Path, kind: str, epoch: int | None = None
    ) -> None:
        """Record a file of the run (path relative to the runs directory when inside it)."""
        path = Path(path)
        try:
            rel = str(path.resolve().relative_to(self.root.resolve()))
        except ValueError:
            rel = str(path)
        self._write(
            "INSERT OR REPLACE INTO artefacts (run_id, name, path, kind, epoch) VALUES (?, ?, ?, ?, ?)",
            (run_id, name, rel, kind, epoch),
        )

    def artefacts(self, run_id: str) -> pd.DataFrame:
        """Artefacts of a run: name, path (relative to the runs directory), kind, epoch."""
        with self._connect() as con:
            return pd.read_sql_query(
                "SELECT name, path, kind, epoch FROM artefacts WHERE run_id = ? ORDER BY name",
                con,
                params=[run_id],
            )

    def save_table(self, run_id: str, name: str, df: pd.DataFrame) -> Path:
        """Store an analysis table (e.g. a robustness curve) as Parquet in the run's folder."""
        folder = self.run_dir(run_id) / "tables"
        folder.mkdir(exist_ok=True)
        remove_leftovers(
            folder
        )  # tables are written by analyses of finished runs, which no claim covers
        path = folder / f"{name.replace('/', '_')}.parquet"
        with atomic_write(path, fault="table") as fh:
            df.to_parquet(fh, index=False)
        self._write(
            "INSERT OR REPLACE INTO tables (run_id, name, path, created) VALUES (?, ?, ?, ?)",
            (run_id, name, str(path.relative_to(self.root)), time.time()),
        )
        return path

    def load_table(self, run_id: str, name: str) -> pd.DataFrame | None:
        """A table stored with :meth:`save_table`, or None."""
        with self._connect() as con:
            row = con.execute(
                "SELECT path FROM tables WHERE run_id = ? AND name = ?", (run_id, name)
            ).fetchone()
        return pd.read_parquet(self.root / row[0]) if row else None

    # --- sweeps ------------------------------------------------------------------------------
    def register_study(
        self, study_id: str, kind: str, name: str, config: dict[str, Any], run_ids: list[str]
    ) -> None:
        """Record a study (any kind) and the runs it consists of."""
        self._write(
            "INSERT OR REPLACE INTO studies (id, kind, name, config, run_ids, created) VALUES (?, ?, ?, ?, ?, ?)",
            (
                study_id,
                kind,
                name,
                json.dumps(config, sort_keys=True),
                json.dumps(run_ids),
                time.time(),
            ),
        )

    def studies(self) -> pd.DataFrame:
        """All recorded studies, newest first: id, kind, name, n_runs, created."""
        with self._connect() as con:
            df = pd.read_sql_query(
                "SELECT id, kind, name, run_ids, created FROM studies ORDER BY created DESC", con
            )
        df["n_runs"] = [len(json.loads(r)) for r in df.pop("run_ids")]
        return df

    def get_study(self, study_id: str) -> dict[str, Any] | None:
        """A study's row (config and run_ids decoded), or None."""
        with self._connect() as con:
            con.row_factory = sqlite3.Row
            row = con.execute("SELECT * FROM studies WHERE id = ?", (study_id,)).fetchone()
        if row is None:
            return None
        out = dict(row)
        out["config"], out["run_ids"] = json.loads(out["config"]), json.loads(out["run_ids"])
        return out

    def resolve(self, ref: str) -> tuple[str, str, list[str]]:
        """Resolve a run id, study id, unique id prefix or name to ``(kind, id, run_ids)``.

        ``kind`` is ``"run"`` for a single run, ``"sweep"`` for a training sweep and the study
        kind (``"phase"``, ``"robustness"``, ...) for other studies. An exact run id wins; then
        the newest study with that id, id prefix or name; then the newest run.
        """
        with self._connect() as con:
            studies = con.execute(
                "SELECT id, kind, run_ids FROM studies WHERE id = ? OR id LIKE ? OR name = ? ORDER BY created DESC",
                (ref, ref + "%", ref),
            ).fetchall()
            runs = con.execute(
                "SELECT id FROM runs WHERE id = ? OR id LIKE ? OR name = ? ORDER BY created DESC",
                (ref, ref + "%", ref),
            ).fetchall()
        exact_run = [r for r in runs if r[0] == ref]
        if exact_run:
            return "run", ref, [ref]
        if studies:
            ident, kind, run_ids = studies[0]
            return ("sweep" if kind == "train" else kind), ident, json.loads(run_ids)
        if runs:
            return "run", runs[0][0], [runs[0][0]]
        raise StoreError(
            f"no run or study named {ref!r} in {str(self.root)!r}; list them with `prunelab ls`"
        )

"""Remote items that never write the store: a journaling store for workers, replayed by the driver.

On a cluster the SQLite store stays on the driver's machine and the driver is its only writer.
A study item that runs remotely gets a :class:`RemoteStore` instead of the real
:class:`~prunelab.experiments.store.Store`. It has the same API; it keeps an in-memory SQLite
copy of what the item needs and records every write, in order, in a *journal*:

- reads are served from that copy, seeded with the item's own run (its row, metrics, artefacts
  and tables, shipped by the driver with the item); a run the item did not get (e.g. the trained
  run that a robustness item perturbs) is fetched from the driver's node on first use when the
  executor offers a channel for it (:func:`set_driver_call`), and store-wide queries
  (``runs``, ``studies``, ``resolve``) go there directly;
- files (checkpoints, masks, topology) are written under the *checkpoint directory*
  (``RemoteStore.root``, ``run_dir(run_id)`` inside it): the runs directory itself when the
  workers share the driver's filesystem, any directory every worker can reach otherwise;
- the journal is also appended to ``<checkpoint dir>/.prunelab-journal/<run_id>.pkl`` (plain
  records that load without running code, :mod:`prunelab.experiments.journal`), so an
  attempt that is retried after its worker died picks up both the checkpoint *and* the writes
  that led to it: the retry's journal starts with the dead attempt's, and a resumed item calls
  ``drop_metrics_after`` exactly as it does on a local store.

At the end of the item the worker returns an *envelope*: the item's result, the journal and the
files it changed under the run folders it touched (as bytes, unless the checkpoint directory
is the driver's runs directory on the same host, where they are already in place).
:class:`RemoteSession` (driver side) claims each run before it is submitted, ships the
snapshot, and when the envelope arrives writes the files, then replays the journal into the
real store. Only the envelope of the attempt that completed is applied, so a retried item's
epochs are stored exactly once; an attempt killed mid-item leaves nothing in the store.
"""

from __future__ import annotations

import hashlib
import os
import socket
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from prunelab.core.files import atomic_write
from prunelab.errors import StoreError
from prunelab.experiments.journal import read_records, write_record
from prunelab.experiments.store import SCHEMA, Store

JOURNAL_DIR = ".prunelab-journal"
#: Store methods that write; a journal is a list of ``(method, args, kwargs)`` of these
WRITES = (
    "register_run",
    "set_status",
    "log_metrics",
    "drop_metrics_after",
    "add_artefact",
    "save_table",
    "register_study",
)
_TABLES = {"runs": "id", "metrics": "run_id", "artefacts": "run_id", "tables": "run_id"}

DriverCall = Callable[..., Any]
_DRIVER_CALL: DriverCall | None = None


def set_driver_call(call: DriverCall | None) -> None:
    """Install (or remove) the worker's channel to the driver's node.

    ``call("module:function", *args)`` must run that function next to the driver's store and
    return its value; the Ray executor installs one around every item it runs.
    """
    global _DRIVER_CALL
    _DRIVER_CALL = call


def _host() -> str:
    return socket.gethostname()


# --- driver side: what an item gets, what the driver does with what comes back ------------------


def snapshot_run(store: Store, run_id: str) -> dict[str, list[dict[str, Any]]]:
    """The rows a run has in ``store`` (runs, metrics, artefacts, tables), as plain dicts."""
    with store._connect() as con:
        con.row_factory = sqlite3.Row
        return {
            table: [
                dict(r) for r in con.execute(f"SELECT * FROM {table} WHERE {key} = ?", (run_id,))
            ]
            for table, key in _TABLES.items()
        }


class ReadOnlyStore(Store):
    """A store opened read-only (no schema, no probe file): what the driver's node serves to workers."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.db_path = self.root / "prunelab.sqlite"

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(
            f"file:{self.db_path}?mode=ro", uri=True, timeout=60.0, isolation_level=None
        )
        try:
            yield con
        finally:
            con.close()

    def _write(self, *_args: Any, **_kwargs: Any) -> None:
        raise StoreError("this store is read-only; workers send their writes to the driver")


def driver_read(runs_dir: str, method: str, *args: Any, **kwargs: Any) -> Any:
    """Run a read of the driver's store (``snapshot`` or a read-only :class:`Store` method)."""
    store = ReadOnlyStore(runs_dir)
    if method == "snapshot":
        return snapshot_run(store, *args)
    if method in WRITES or method.startswith("_") or method in ("claim_run", "run_dir"):
        raise StoreError(f"{method} is not a read")
    return getattr(store, method)(*args, **kwargs)


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as fh:  # flushed, renamed; a full disk is one line (DiskError)
        fh.write(data)


def journal_path(root: str | Path, run_id: str) -> Path:
    """Where the journal of the item of ``run_id`` persists between attempts."""
    return Path(root) / JOURNAL_DIR / f"{run_id}.pkl"


def replay(store: Store, method: str, args: tuple, kwargs: dict[str, Any]) -> None:
    """Apply one journal entry to ``store`` (artefact paths re-rooted in its directory)."""
    if method not in WRITES:
        raise StoreError(f"journal entry {method!r} is not a store write")
    kwargs = dict(kwargs)
    if method == "add_artefact" and kwargs.pop("_relative", False):
        args = (args[0], args[1], store.root / args[2], *args[3:])
    getattr(store, method)(*args, **kwargs)


def apply_envelope(store: Store, envelope: dict[str, Any]) -> dict[str, Any]:
    """Write an item's files and replay its journal into ``store``; returns the item's result."""
    for rel, data in envelope.get("files", []):
        if data is not None:
            _atomic_write(store.root / rel, data)
    for method, args, kwargs in envelope.get("journal", []):
        replay(store, method, args, kwargs)
    return envelope["result"]


class RemoteSession:
    """The driver's side of remote items: claim, ship, apply; interrupt what never came back.

    Parameters
    ----------
    store : Store
        The real store (this process is its only writer).
    checkpoint_dir : path, optional
        Where workers write files; default the store's own directory.
    """

    def __init__(self, store: Store, checkpoint_dir: str | Path | None = None) -> None:
        self.store = store
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else store.root
        self.outstanding: dict[str, str] = {}  # run id -> status before the driver claimed it

    def payloads(
        self, kind: str, raw: dict[str, Any], items: Iterable[dict[str, Any]], claim: bool = True
    ) -> Iterator[tuple]:
        """Payloads for :func:`~prunelab.studies.base.execute_item`; each run is claimed when taken.

        Lazy on purpose: an executor takes the next payload when a slot frees up, so runs still
        queued stay ``pending`` in ``prunelab ls``. With ``claim=False`` (items that are not runs,
        e.g. a robustness curve of a trained run) nothing is claimed. The snapshot holds the
        item's run and the run its ``params`` name (``run``), when they exist.
        """
        for item in items:
            run_id = item["run_id"]
            outcome = "unclaimed"
            if claim:
                before = (self.store.get_run(run_id) or {}).get("status", "pending")
                outcome = self.store.claim_run(run_id, "submitted to the cluster")
                if outcome == "claimed":
                    self.outstanding[run_id] = before
            shipped = dict.fromkeys([run_id, (item.get("params") or {}).get("run")])
            snapshots = {r: snapshot_run(self.store, r) for r in shipped if isinstance(r, str)}
            spec = {
                "claim": outcome,
                "snapshots": snapshots,
                "runs_dir": str(self.store.root.resolve()),
                "checkpoint_dir": str(self.checkpoint_dir.resolve()),
                "driver_host": _host(),
            }
            yield (str(self.store.root), kind, raw, item, spec)

    def apply(self, envelope: dict[str, Any]) -> dict[str, Any]:
        """Store what a finished item sent back; returns its result."""
        result = apply_envelope(self.store, envelope)
        run_id = envelope["run_id"]
        before = self.outstanding.pop(run_id, None)
        row = self.store.get_run(run_id) or {}
        if before is not None and row.get("status") == "running":
            # the kind never set a final status (it did not use the run lifecycle): undo our claim
            self.store.set_status(
                run_id, before if before != "running" else "interrupted", row.get("message") or ""
            )
        try:
            journal_path(self.checkpoint_dir, run_id).unlink(missing_ok=True)
        except OSError:  # a checkpoint dir the driver cannot reach: the worker's copy is harmless
            pass
        return result

    def lost(self, item: dict[str, Any], message: str) -> dict[str, Any]:
        """An item whose every attempt died (worker or node lost): its run becomes ``failed``."""
        run_id = item["run_id"]
        if self.outstanding.pop(run_id, None) is not None:
            self.store.set_status(run_id, "failed", message)
        return {
            "run_id": run_id,
            "name": item.get("name", run_id),
            "status": "failed",
            "message": message,
        }

    def interrupt(self) -> None:
        """Mark every claimed run whose result never arrived ``interrupted`` (Ctrl-C, driver error)."""
        for run_id in list(self.outstanding):
            self.store.set_status(run_id, "interrupted", "interrupted; rerun to resume")
            del self.outstanding[run_id]


# --- worker side ---------------------------------------------------------------------------------


def _reachable(root: Path) -> Path:
    """``root``, or a folder of this node's temp dir when ``root`` cannot be created here.

    The default checkpoint dir is the driver's runs directory, which a node without the
    driver's filesystem may not be able to create; the item then still runs (its files travel
    back as bytes) and a retry on the same node still resumes.
    """
    try:
        root.mkdir(parents=True, exist_ok=True)
        return root
    except OSError:
        fallback = (
            Path(tempfile.gettempdir())
            / "prunelab-checkpoints"
            / hashlib.sha256(str(root).encode()).hexdigest()[:12]
        )
        fallback.mkdir(parents=True, exist_ok=True)
        return fallback


def _stats(folder: Path) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    if folder.is_dir():
        for path in folder.rglob("*"):
            # temp files of atomic writes (".x.tmp.npz", "x.tmp1234") are not results
            if path.is_file() and not path.name.startswith(".") and ".tmp" not in path.name:
                st = path.stat()
                out[str(path.relative_to(folder))] = (st.st_size, st.st_mtime_ns)
    return out


class RemoteStore(Store):
    """A :class:`Store` for an item running away from the driver: in-memory copy plus journal.

    Parameters
    ----------
    run_id : str
        The item's run (its journal is kept under this id).
    spec : dict
        What :meth:`RemoteSession.payloads` ships: ``claim`` (the driver's claim outcome),
        ``snapshots`` (rows by run id), ``runs_dir``, ``checkpoint_dir`` and ``driver_host``.
    """

    def __init__(self, run_id: str, spec: dict[str, Any]) -> None:
        self.root = _reachable(Path(spec["checkpoint_dir"]))
        self.db_path = Path(":memory:")
        self.run_id, self.spec = run_id, spec
        self._started = time.perf_counter()
        self._con = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        self._con.executescript(SCHEMA)
        self.journal: list[tuple[str, tuple, dict[str, Any]]] = []
        self._seeded: set[str] = set()
        self._baselines: dict[str, dict[str, tuple[int, int]]] = {}
        self._persist: Path | None = journal_path(self.root, run_id)
        for shipped, snapshot in spec.get("snapshots", {}).items():
            self._seed(shipped, snapshot)
        self._seeded.add(run_id)
        self._resume_journal()

    # the inherited SQL runs on the in-memory copy
    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        yield self._con

    @property
    def in_place(self) -> bool:
        """True when files written here already are the driver's files (same host, same folder)."""
        return self.spec["driver_host"] == _host() and self.root == Path(self.spec["runs_dir"])

    # --- seeding and the persisted journal -------------------------------------------------------
    def _seed(self, run_id: str, snapshot: dict[str, list[dict[str, Any]]] | None) -> None:
        self._seeded.add(run_id)
        for table, rows in (snapshot or {}).items():
            for row in rows:
                cols = ", ".join(row)
                marks = ", ".join("?" * len(row))
                self._con.execute(
                    f"INSERT OR REPLACE INTO {table} ({cols}) VALUES ({marks})", tuple(row.values())
                )

    def _ensure(self, run_id: str) -> None:
        """Fetch a run the item was not shipped, from the driver's node when there is a channel."""
        if run_id not in self._seeded:
            snap = (
                _DRIVER_CALL(f"{__name__}:driver_read", self.spec["runs_dir"], "snapshot", run_id)
                if _DRIVER_CALL
                else None
            )
            self._seed(run_id, snap)

    def _record(self, entry: tuple) -> None:
        if self._persist is None:
            return
        try:
            self._persist.parent.mkdir(parents=True, exist_ok=True)
            with open(self._persist, "ab") as fh:
                write_record(fh, entry)
                fh.flush()
                os.fsync(fh.fileno())
        except (
            OSError,
            TypeError,
        ):  # an unwritable dir (or an odd value) costs mid-item resume, not the item
            self._persist = None

    def _resume_journal(self) -> None:
        """Replay what an earlier attempt of this item journaled (it matches its checkpoint)."""
        path = self._persist
        if path is None or not path.exists():
            return
        try:
            entries = read_records(
                path
            )  # plain records only: UnsafeFileError for one that needs code
        finally:
            path.unlink()
        persist, self._persist = self._persist, None
        try:
            for entry in entries:
                if entry[0] == "baseline":
                    self._baselines.setdefault(entry[1], entry[2])
                else:
                    replay(self, entry[1], entry[2], entry[3])
        finally:
            self._persist = persist
        for run_id, stats in self._baselines.items():
            self._record(("baseline", run_id, stats))
        for method, args, kwargs in self.journal:
            self._record(("op", method, args, kwargs))

    def _log(self, method: str, args: tuple, kwargs: dict[str, Any]) -> None:
        self.journal.append((method, args, kwargs))
        self._record(("op", method, args, kwargs))

    # --- writes: applied here, journaled for the driver -----------------------------------------
    def register_run(self, run_id: str, name: str, config: dict[str, Any]) -> None:
        self._ensure(run_id)
        super().register_run(run_id, name, config)
        self._log("register_run", (run_id, name, config), {})

    def set_status(self, run_id: str, status: str, message: str = "", **fields: Any) -> None:
        self._ensure(run_id)
        super().set_status(run_id, status, message, **fields)
        self._log("set_status", (run_id, status, message), fields)

    def claim_run(self, run_id: str, message: str = "", **fields: Any) -> str:
        """The driver already claimed the item's run; this returns its outcome (``finished`` wins)."""
        self._ensure(run_id)
        row = self._con.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise StoreError(f"run {run_id} is not registered; register it before claiming")
        if row[0] == "finished":
            return "finished"
        if run_id == self.run_id and self.spec["claim"] == "elsewhere":
            return "elsewhere"
        self.set_status(run_id, "running", message, **fields)
        return "claimed"

    def log_metrics(self, run_id: str, epoch: int, metrics: dict[str, float]) -> None:
        self._ensure(run_id)
        super().log_metrics(run_id, epoch, metrics)
        self._log("log_metrics", (run_id, int(epoch), dict(metrics)), {})

    def drop_metrics_after(self, run_id: str, epoch: int) -> None:
        self._ensure(run_id)
        super().drop_metrics_after(run_id, epoch)
        self._log("drop_metrics_after", (run_id, int(epoch)), {})

    def add_artefact(
        self, run_id: str, name: str, path: str | Path, kind: str, epoch: int | None = None
    ) -> None:
        self._ensure(run_id)
        super().add_artefact(run_id, name, path, kind, epoch)
        try:  # inside the checkpoint dir: the driver re-roots it in the runs dir
            rel, relative = str(Path(path).resolve().relative_to(self.root.resolve())), True
        except ValueError:
            rel, relative = str(path), False
        self._log("add_artefact", (run_id, name, rel, kind, epoch), {"_relative": relative})

    def save_table(self, run_id: str, name: str, df: pd.DataFrame) -> Path:
        self._ensure(run_id)
        path = super().save_table(run_id, name, df)
        self._log("save_table", (run_id, name, df), {})
        return path

    def register_study(
        self, study_id: str, kind: str, name: str, config: dict[str, Any], run_ids: list[str]
    ) -> None:
        super().register_study(study_id, kind, name, config, run_ids)
        self._log("register_study", (study_id, kind, name, config, list(run_ids)), {})

    # --- reads -----------------------------------------------------------------------------------
    def run_dir(self, run_id: str) -> Path:
        path = super().run_dir(run_id)
        if run_id not in self._baselines:
            self._baselines[run_id] = _stats(path)
            self._record(("baseline", run_id, self._baselines[run_id]))
        return path

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        self._ensure(run_id)
        return super().get_run(run_id)

    def metrics(self, run_ids: Iterable[str] | None = None, wide: bool = False) -> pd.DataFrame:
        if run_ids is None:
            return (
                self._driver("metrics", None, wide) if _DRIVER_CALL else super().metrics(None, wide)
            )
        ids = list(run_ids)
        for run_id in ids:
            self._ensure(run_id)
        return super().metrics(ids, wide)

    def artefacts(self, run_id: str) -> pd.DataFrame:
        self._ensure(run_id)
        return super().artefacts(run_id)

    def load_table(self, run_id: str, name: str) -> pd.DataFrame | None:
        self._ensure(run_id)
        row = self._con.execute(
            "SELECT path FROM tables WHERE run_id = ? AND name = ?", (run_id, name)
        ).fetchone()
        if row is None:
            return None
        if (self.root / row[0]).exists():
            return pd.read_parquet(self.root / row[0])
        return self._driver("load_table", run_id, name) if _DRIVER_CALL else None

    def _driver(self, method: str, *args: Any) -> Any:
        return _DRIVER_CALL(f"{__name__}:driver_read", self.spec["runs_dir"], method, *args)

    def runs(self) -> pd.DataFrame:
        return self._driver("runs") if _DRIVER_CALL else super().runs()

    def studies(self) -> pd.DataFrame:
        return self._driver("studies") if _DRIVER_CALL else super().studies()

    def get_study(self, study_id: str) -> dict[str, Any] | None:
        return self._driver("get_study", study_id) if _DRIVER_CALL else super().get_study(study_id)

    def resolve(self, ref: str) -> tuple[str, str, list[str]]:
        return self._driver("resolve", ref) if _DRIVER_CALL else super().resolve(ref)

    # --- the envelope ----------------------------------------------------------------------------
    def changed_files(self) -> list[tuple[str, bytes | None]]:
        """Files changed under the touched run folders since this item first touched them.

        Paths are relative to the checkpoint dir; the bytes are None when the files are already
        the driver's (:attr:`in_place`).
        """
        out: list[tuple[str, bytes | None]] = []
        for run_id, before in self._baselines.items():
            folder = self.root / run_id
            for rel, stat in _stats(folder).items():
                if before.get(rel) != stat:
                    path = folder / rel
                    out.append((f"{run_id}/{rel}", None if self.in_place else path.read_bytes()))
        return out

    def envelope(self, result: dict[str, Any]) -> dict[str, Any]:
        """What goes back to the driver: result, journal, changed files, and the item's seconds here."""
        return {
            "run_id": self.run_id,
            "result": result,
            "journal": list(self.journal),
            "files": self.changed_files(),
            "seconds": time.perf_counter() - self._started,
        }

"""The study: a hashed description that yields resumable items, an analysis and a report.

Every job prunelab runs is a :class:`Study` of some *kind* (``train``, ``phase``,
``robustness``, ...), registered in :data:`STUDY_KINDS`. A study kind is a pydantic model (one
config section per concept, unknown keys rejected) that implements four verbs:

- :meth:`Study.plan` yields the items to run, in stages (a later stage may depend on what the
  earlier ones stored, e.g. the phase study's null model needs its critical densities);
- :meth:`Study.run_item` runs one item against the store: resumable, and a no-op when the item
  is finished (use :class:`~prunelab.experiments.lifecycle.RunLifecycle`);
- :meth:`Study.analyse` reads the store and returns tables (pure analysis on stored data);
- :meth:`Study.report` writes the study's report from those tables.

:func:`run_study` drives any study through any executor (serial, local pool, Ray); the item
function that workers execute is :func:`execute_item`, the same for every kind, so a study runs
the same way in-process and on a cluster. Adding a study kind is one module plus
``STUDY_KINDS.register("name", "module:Class")``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
from pydantic import BaseModel, ConfigDict

from prunelab.core.config import apply_override, config_hash, parse_model, read_yaml
from prunelab.core.faults import fault_point
from prunelab.core.files import disk_error, is_disk_error
from prunelab.core.registry import Registry
from prunelab.errors import ConfigError, PrunelabError
from prunelab.experiments.executors import Emit, Executor, ExecutorSection, ItemLost, make_executor
from prunelab.experiments.remote_store import RemoteSession, RemoteStore
from prunelab.experiments.store import Store

#: study kinds by name; a config's ``kind:`` key picks one (default ``train``)
STUDY_KINDS: Registry[type[Study]] = Registry("study kind")
DEFAULT_KIND = "train"


class Item(BaseModel):
    """One unit of work of a study (usually one run in the store).

    Attributes
    ----------
    run_id : str
        ``config_hash(content)``: equal content, equal run.
    name : str
        Human label (not hashed).
    content : dict
        What defines the item; stored as the run's config.
    params : dict
        Anything else the study kind needs to run it (JSON values).
    """

    model_config = ConfigDict(frozen=True)

    run_id: str
    name: str
    content: dict[str, Any]
    params: dict[str, Any] = {}

    @classmethod
    def of(cls, name: str, content: dict[str, Any], **params: Any) -> Item:
        """An item whose run id is the hash of ``content`` (the one hashing rule)."""
        return cls(run_id=config_hash(content), name=name, content=content, params=params)


def item_result(item: Item, status: str, message: str = "", **summary: Any) -> dict[str, Any]:
    """The result of running one item: run_id, name, status, message and kind-specific numbers."""
    return {
        "run_id": item.run_id,
        "name": item.name,
        "status": status,
        "message": message,
        **summary,
    }


class Study(BaseModel):
    """Base of every study kind (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    kind: str = DEFAULT_KIND
    name: str = "study"

    #: columns of an item result shown in the command line's summary table: (key, header)
    summary_columns: ClassVar[tuple[tuple[str, str], ...]] = ()
    #: what the study calls one of its items in progress messages
    item_noun: ClassVar[str] = "run"
    #: items are runs of the store (registered ``pending`` before they start); False for kinds whose
    #: items are analysis tables of existing runs
    items_are_runs: ClassVar[bool] = True

    # --- description -------------------------------------------------------------------------
    def content(self) -> dict[str, Any]:
        """What defines the study (everything but its name); hashed into :meth:`study_id`."""
        return self.model_dump(mode="json", exclude={"name"}, by_alias=True)

    def study_id(self) -> str:
        """12-hex-digit content hash of the study."""
        return config_hash(self.content())

    def raw(self) -> dict[str, Any]:
        """The config as a JSON-ready mapping (what workers receive to rebuild the study)."""
        return self.model_dump(mode="json", by_alias=True)

    # --- the four verbs ----------------------------------------------------------------------
    def check(self) -> None:
        """Fail fast, before any work, on problems a config alone reveals (override to add checks)."""

    def plan(self, store: Store) -> Iterator[list[Item]]:
        """Yield the items to run, stage by stage."""
        raise NotImplementedError

    def run_item(self, item: Item, store: Store, emit: Emit) -> dict[str, Any]:
        """Run (or resume, or skip) one item; returns :func:`item_result`."""
        raise NotImplementedError

    def analyse(self, store: Store) -> dict[str, Any]:
        """Tables of the study computed from the store only."""
        return {}

    def report(
        self, store: Store, out_dir: Path | None = None, single_file: bool = False
    ) -> Path | None:
        """Write the study's report; returns the path of its main page (None if it has none).

        Pages are :class:`prunelab.report.page.Page` objects; ``single_file`` embeds the figures.
        """
        return None

    # --- helpers for kinds -------------------------------------------------------------------
    def default_report_dir(self, store: Store) -> Path:
        """``<runs>/reports/<name>/`` (slashes in the name replaced)."""
        return store.root / "reports" / self.name.replace("/", "_")


def parse_study(raw: dict[str, Any], kind: str | None = None) -> Study:
    """Validate a mapping into the study kind named by ``kind`` or by its ``kind:`` key.

    Raises
    ------
    ConfigError
        Unknown kind (with the closest one), or any invalid key of that kind's config.
    """
    if not isinstance(raw, dict):
        raise ConfigError("a config must be a YAML mapping of sections")
    raw = dict(raw)
    chosen = kind or raw.get("kind") or DEFAULT_KIND
    cls = STUDY_KINDS.get(str(chosen))
    if kind is not None and raw.get("kind") not in (None, kind):
        raise ConfigError(
            f"this command runs {kind!r} studies but the config says kind: {raw['kind']}; use `prunelab run`"
        )
    raw["kind"] = chosen
    return cls.parse(raw) if hasattr(cls, "parse") else parse_model(cls, raw)


def load_study(
    path: str | Path, overrides: list[str] | None = None, kind: str | None = None
) -> Study:
    """Read a YAML config, apply ``--set key=value`` overrides and validate it as a study.

    The study's ``name`` defaults to the file's stem. An ``executor:`` section is not part of the
    study (it says where to run it, see :func:`load_executor_section`) and is left out.
    """
    raw = read_yaml(path)
    raw.pop("executor", None)
    raw.setdefault("name", Path(path).stem)
    chosen = kind or raw.get("kind") or DEFAULT_KIND
    cls = STUDY_KINDS.get(str(chosen))
    for assignment in overrides or []:
        apply_override(raw, assignment, cls)
    return parse_study(raw, kind)


def load_executor_section(path: str | Path) -> ExecutorSection:
    """The ``executor:`` section of a YAML config (empty when it has none); one-line errors."""
    from prunelab.core.config import parse_model

    return parse_model(ExecutorSection, read_yaml(path).get("executor") or {}, "executor: section")


# --- execution ---------------------------------------------------------------------------------


def execute_item(payload: tuple, emit: Emit) -> dict[str, Any]:
    """Run one item of a study in this process; the function every executor calls.

    ``payload`` is ``(runs_dir, kind, study config, item)`` in JSON form, so it crosses process
    and machine boundaries. A :class:`PrunelabError` becomes a ``failed`` result (one line);
    anything else propagates (a bug must be seen). A fifth element (from
    :meth:`RemoteSession.payloads`) runs the item against a journaling
    :class:`~prunelab.experiments.remote_store.RemoteStore` and returns its envelope (result,
    journal, files) for the driver to store.
    """
    runs_dir, kind, raw, item_raw, *remote = payload
    study = parse_study(raw, kind)
    item = Item.model_validate(item_raw)
    try:
        store = RemoteStore(item.run_id, remote[0]) if remote else Store(runs_dir)
    except (
        PrunelabError
    ) as err:  # a damaged store, an unsafe journal: one line, the run marked failed
        failed = item_result(item, "failed", str(err), exit_code=err.exit_code)
        journal = (
            [("set_status", (item.run_id, "failed", str(err)), {})] if study.items_are_runs else []
        )
        return (
            {
                "run_id": item.run_id,
                "result": failed,
                "journal": journal,
                "files": [],
                "seconds": 0.0,
            }
            if remote
            else failed
        )
    try:
        result = study.run_item(item, store, emit)
    except PrunelabError as err:
        result = item_result(item, "failed", str(err), exit_code=err.exit_code)
    except OSError as err:
        if not is_disk_error(err):
            raise
        # a full or read-only disk is the environment, not a bug: one line, like any bad input
        failure = disk_error(err, getattr(err, "filename", None) or runs_dir)
        result = item_result(item, "failed", str(failure), exit_code=failure.exit_code)
    return store.envelope(result) if isinstance(store, RemoteStore) else result


@dataclass
class StudyRun:
    """What :func:`run_study` did.

    Attributes
    ----------
    study : Study
    results : list of dict
        One :func:`item_result` per item, in completion order.
    seconds : float
        Wall time of this call (s).
    backup : Path or None
        The backup of the database written after the study.
    backup_error : str
        Why no backup was written ("" when one was).
    """

    study: Study
    results: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    backup: Path | None = None
    backup_error: str = ""

    @property
    def bad(self) -> list[dict[str, Any]]:
        """Results whose status is failed, diverged or interrupted."""
        return [r for r in self.results if r["status"] in ("failed", "diverged", "interrupted")]


def run_study(
    study: Study,
    store: Store,
    executor: Executor | None = None,
    on_event: Emit | None = None,
    on_result: Callable[[dict[str, Any]], None] | None = None,
    on_stage: Callable[[list[Item]], None] | None = None,
) -> StudyRun:
    """Run every item of ``study`` through ``executor`` (default serial); resumable.

    Every item of a stage is registered as ``pending`` before the first one starts, so
    ``prunelab ls`` shows the whole study; the study is recorded in the store with its runs.

    Parameters
    ----------
    study : Study
    store : Store
    executor : Executor, optional
        Default :class:`~prunelab.experiments.executors.SerialExecutor`.
    on_event : callable, optional
        Receives progress events (``{"run_id", "event", ...}``) from the items.
    on_result : callable, optional
        Receives each item's result as it completes.
    on_stage : callable, optional
        Receives each stage's items before they run (e.g. to size a progress bar).

    Returns
    -------
    StudyRun
        Failed items are reported in its results (``StudyRun.bad``), not raised; so is a backup
        that could not be written (``StudyRun.backup_error``).

    Raises
    ------
    StoreError
        The store's database fails its quick integrity check: nothing is written into it.
    """
    study.check()
    store.verify()
    started = time.time()
    outcome = StudyRun(study)
    run_ids: list[str] = []
    for stage in study.plan(store):
        members = [
            it.run_id if study.items_are_runs else it.params.get("run", it.run_id) for it in stage
        ]
        run_ids += [r for r in dict.fromkeys(members) if r not in run_ids]
        store.register_study(study.study_id(), study.kind, study.name, study.raw(), run_ids)
        fault_point("study.registered")
        if on_stage is not None:
            on_stage(stage)
        outcome.results += run_items(study, stage, store, executor, on_event, on_result)
    outcome.seconds = time.time() - started
    try:
        outcome.backup = store.backup()
    except PrunelabError as err:  # the study's work is stored; a missing backup must not fail it
        outcome.backup_error = str(err)
    return outcome


def run_items(
    study: Study,
    items: list[Item],
    store: Store,
    executor: Executor | None = None,
    on_event: Emit | None = None,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Run a list of items of ``study`` through ``executor`` (registered ``pending`` first).

    The one path by which any item runs, whatever the executor; :func:`run_study` calls it once
    per stage.
    """
    executor = executor or make_executor("serial")
    if study.items_are_runs:
        for it in items:
            store.register_run(it.run_id, it.name, it.content)
    raw = study.raw()
    dumped = [it.model_dump(mode="json") for it in items]
    if getattr(executor, "remote", False):
        return _run_remote(study, dumped, store, executor, on_event, on_result)
    payloads = [(str(store.root), study.kind, raw, it) for it in dumped]
    results = []
    for res in executor.map_unordered(execute_item, payloads, on_event):
        results.append(res)
        if on_result is not None:
            on_result(res)
    return results


def _run_remote(
    study: Study,
    items: list[dict[str, Any]],
    store: Store,
    executor: Executor,
    on_event: Emit | None,
    on_result: Callable[[dict[str, Any]], None] | None,
) -> list[dict[str, Any]]:
    """Items through a remote executor: this process claims, ships, and is the store's only writer."""
    session = RemoteSession(store, getattr(executor, "checkpoint_dir", None))
    payloads = session.payloads(study.kind, study.raw(), items, claim=study.items_are_runs)
    stream = executor.map_unordered(execute_item, payloads, on_event)
    results = []
    try:
        for out in stream:
            res = (
                session.lost(out.payload[3], out.message)
                if isinstance(out, ItemLost)
                else session.apply(out)
            )
            results.append(res)
            if on_result is not None:
                on_result(res)
    except BaseException:
        close = getattr(stream, "close", None)
        if close is not None:
            close()  # cancels what is still running
        session.interrupt()
        raise
    return results


def study_tables(store: Store, study: Study) -> dict[str, pd.DataFrame]:
    """The tables of :meth:`Study.analyse` that are DataFrames (for export and reports)."""
    return {k: v for k, v in study.analyse(store).items() if isinstance(v, pd.DataFrame)}

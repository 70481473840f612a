"""Where study items execute. Study code calls ``executor.map_unordered`` and never branches on it.

An executor runs ``fn(payload, emit)`` for every payload and yields the results as they
complete (any order). ``emit(event)`` sends a progress event (a small dict, e.g. one per epoch)
back to the driver, where ``on_event`` receives it; executors that cannot forward events in real
time may drop them, never results.

Executors are chosen by name from :data:`EXECUTORS` (``--executor`` on the command line):

- ``serial``: in the calling process, one item at a time;
- ``local``: a pool of spawned worker processes on this machine (cores split evenly);
- ``ray``: Ray tasks on a local or remote Ray cluster (optional extra ``prunelab[ray]``).

Adding an executor is one class with ``workers`` and ``map_unordered`` plus one registration.

An executor whose items run away from the driver's store sets ``remote = True``: the study
driver then gives its items a journaling store and replays what they return (see
:mod:`prunelab.experiments.remote_store`), and the executor may yield :class:`ItemLost` for an
item that it could not run at all (e.g. every Ray attempt died with its worker).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from prunelab.core.registry import Registry
from prunelab.errors import ConfigError

Event = dict[str, Any]
Emit = Callable[[Event], None]
ItemFn = Callable[[Any, Emit], Any]


def _ignore(_event: Event) -> None:
    return None


@dataclass(frozen=True)
class ItemLost:
    """What a remote executor yields for a payload that no attempt could finish.

    Attributes
    ----------
    payload : object
        The payload as given to ``map_unordered``.
    message : str
        One line: why (e.g. ``"lost on the Ray cluster after 4 attempts: WorkerCrashedError"``).
    """

    payload: Any
    message: str


class Executor(Protocol):
    """Runs ``fn(payload, emit)`` for each payload; yields results as they complete."""

    workers: int

    def map_unordered(
        self, fn: ItemFn, payloads: Iterable[Any], on_event: Emit | None = None
    ) -> Iterator[Any]: ...


class SerialExecutor:
    """In-process, one item at a time; events reach ``on_event`` immediately."""

    workers = 1

    def __init__(self, workers: int = 1, **_options: Any) -> None:
        if int(workers) != 1:
            raise ConfigError(
                f"the serial executor runs one item at a time; got --workers {workers}; use --executor local"
            )

    def map_unordered(
        self, fn: ItemFn, payloads: Iterable[Any], on_event: Emit | None = None
    ) -> Iterator[Any]:
        emit = on_event or _ignore
        for payload in payloads:
            yield fn(payload, emit)


_EVENTS: Any = None  # the worker's end of the event queue (set by _init_worker)


def _init_worker(threads: int, events: Any) -> None:
    import numba
    import torch

    global _EVENTS
    # numba's pool (the csr and link-prediction kernels) would otherwise start one thread per core
    # in every worker and oversubscribe the machine; start it first, since starting it can reset
    # the OpenMP thread count torch uses
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    torch.set_num_threads(threads)
    os.environ["PRUNELAB_WORKER"] = "1"
    _EVENTS = events


def _emit_to_queue(event: Event) -> None:
    if _EVENTS is not None:
        try:
            _EVENTS.put_nowait(event)
        except Exception:  # noqa: BLE001 - progress is best effort; results never go this way
            pass


def _call_in_worker(fn: ItemFn, payload: Any) -> Any:
    return fn(payload, _emit_to_queue)


class LocalPoolExecutor:
    """A pool of ``workers`` spawned processes (safe with torch threads); cores split evenly.

    Each worker gets ``cpu_count // workers`` torch threads (at least one), so items do not
    oversubscribe the machine. Events travel through a multiprocessing queue that the driver
    drains while it waits for results.
    """

    def __init__(self, workers: int = 2, **_options: Any) -> None:
        if int(workers) < 1:
            raise ConfigError(f"--workers must be >= 1, got {workers}")
        self.workers = int(workers)

    def map_unordered(
        self, fn: ItemFn, payloads: Iterable[Any], on_event: Emit | None = None
    ) -> Iterator[Any]:
        payloads = list(payloads)
        if not payloads:
            return
        threads = max(1, (os.cpu_count() or 1) // self.workers)
        ctx = mp.get_context("spawn")
        events = ctx.Queue()
        emit = on_event or _ignore

        def drain() -> None:
            while True:
                try:
                    emit(events.get_nowait())
                except queue.Empty:
                    return

        with ProcessPoolExecutor(
            min(self.workers, len(payloads)),
            mp_context=ctx,
            initializer=_init_worker,
            initargs=(threads, events),
        ) as pool:
            pending = {pool.submit(_call_in_worker, fn, p) for p in payloads}
            try:
                while pending:
                    done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                    drain()
                    for fut in done:
                        yield fut.result()
            except BaseException:
                for fut in pending:
                    fut.cancel()
                raise
            finally:
                drain()


#: executors by name
EXECUTORS: Registry[Callable[..., Executor]] = Registry("executor")
EXECUTORS.register("serial", SerialExecutor, help="in this process, one item at a time")
EXECUTORS.register("local", LocalPoolExecutor, help="a pool of worker processes on this machine")
EXECUTORS.register(
    "ray",
    "prunelab.experiments.ray_executor:RayExecutor",
    help="Ray tasks on a local or remote cluster",
)


class ExecutorSection(BaseModel):
    """The optional ``executor:`` section of a config: where its items run (never part of a run id).

    Command-line options (``--executor``, ``--workers``, ``--address``, ...) override it.
    """

    model_config = ConfigDict(extra="forbid")

    name: str | None = None  # checked by make_executor (with the closest name when unknown)
    workers: int | None = None
    address: str | None = None
    checkpoint_dir: Path | None = None
    cpus_per_item: float | None = None
    max_retries: int | None = None

    def options(self) -> dict[str, Any]:
        """The executor options this section sets (for :func:`make_executor`)."""
        keys = ("address", "checkpoint_dir", "cpus_per_item", "max_retries")
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}


def make_executor(name: str | None = None, workers: int = 1, **options: Any) -> Executor:
    """The executor named ``name`` with ``workers`` parallel items.

    ``name=None`` picks ``serial`` for one worker and ``local`` otherwise. Options (e.g. a Ray
    ``address``) go to the executor's constructor.
    """
    if name is None:
        name = "serial" if int(workers) <= 1 else "local"
    return EXECUTORS.get(name)(workers=workers, **options)

"""Where runs execute. Experiment code calls ``executor.map`` and never branches on the platform.

The embedded default is a local process pool; a Ray executor for clusters can implement the
same two-method interface (:class:`Executor`).
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Protocol


class Executor(Protocol):
    """Runs ``fn(item)`` for each item; yields results as they complete (any order)."""

    workers: int

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]: ...


class SerialExecutor:
    """In-process, one item at a time (the default for ``--workers 1``)."""

    workers = 1

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        for item in items:
            yield fn(item)


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    os.environ["PRUNELAB_WORKER"] = "1"


class LocalPoolExecutor:
    """A pool of ``workers`` processes (spawned: safe with torch threads); cores split evenly."""

    def __init__(self, workers: int) -> None:
        self.workers = max(1, int(workers))

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        threads = max(1, (os.cpu_count() or 1) // self.workers)
        ctx = mp.get_context("spawn")
        with ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker, initargs=(threads,)) as pool:
            futures = [pool.submit(fn, item) for item in items]
            for fut in as_completed(futures):
                yield fut.result()


def make_executor(workers: int = 1) -> Executor:
    """Serial for one worker, a local process pool otherwise."""
    return SerialExecutor() if workers <= 1 else LocalPoolExecutor(workers)

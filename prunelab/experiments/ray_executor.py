"""The ``ray`` executor: study items as Ray tasks on a local instance or an existing cluster.

``prunelab run CONFIG --executor ray`` starts a local Ray instance (``--workers N`` caps it at
N CPUs); ``--address HOST:PORT`` joins a running cluster (the GCS address that ``ray start
--head`` prints). Install with ``pip install 'prunelab[ray]'``.

How an item runs (see :mod:`prunelab.experiments.remote_store` for the store side):

- the executor is *remote* (:attr:`RayExecutor.remote`): :func:`~prunelab.studies.run_study`
  claims each run in the driver's store, ships the item with a snapshot of its run, and workers
  get a journaling :class:`~prunelab.experiments.remote_store.RemoteStore`; the driver replays
  each returned journal, so it is the only writer of the SQLite store;
- items are submitted as CPUs free up (``cluster CPUs // num_cpus`` in flight, re-read as
  nodes join or leave), each with ``num_cpus`` CPUs and as many torch threads, and results are
  yielded (and stored) as they arrive;
- a worker process or node that dies mid-item is a *system* failure: Ray retries the task
  (``max_retries``), and the retry resumes from the item's checkpoint and journal when it can
  reach them (the checkpoint directory) or restarts; an item whose every attempt died is
  yielded as :class:`~prunelab.experiments.executors.ItemLost` (its run becomes ``failed``);
- progress events go to a small actor on the driver's node (``emit`` is fire-and-forget, step
  events at most two a second) that the driver drains while it waits; the same actor serves
  reads of the driver's store that an item was not shipped;
- Ctrl-C (or any error in the driver) cancels every outstanding task.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from importlib import import_module
from pathlib import Path
from typing import Any

from prunelab.errors import ConfigError
from prunelab.experiments.executors import Emit, ItemFn, ItemLost

INSTALL_HINT = "the ray executor needs Ray, which is not installed: pip install 'prunelab[ray]'"
_STEP_INTERVAL = 0.5  # s between forwarded step events of one item (epoch events always go)
_DRAIN_INTERVAL = 0.5  # s between the driver's requests for progress events


def import_ray() -> Any:
    """The ``ray`` module, or a one-line :class:`ConfigError` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(INSTALL_HINT) from None
    return ray


def parse_address(address: str) -> tuple[str, int]:
    """``HOST:PORT`` of a Ray cluster (its GCS), checked for form only."""
    if address.startswith("ray://"):
        raise ConfigError(
            f"--address {address}: Ray Client (ray://) is not supported; pass the cluster's "
            "HOST:PORT, the address `ray start --head` prints"
        )
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError(f"--address must be HOST:PORT (e.g. 127.0.0.1:6379), got {address!r}")
    return host.strip("[]"), int(port)


def check_reachable(address: str, timeout: float = 3.0) -> None:
    """Fail in one line, before any work, when nothing listens at a cluster address."""
    host, port = parse_address(address)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise ConfigError(
            f"no Ray cluster reachable at --address {address} ({reason}); start one there with "
            f"`ray start --head --port={port}`, or drop --address to start a local Ray instance"
        ) from None


def _is_loopback(host: str | None) -> bool:
    return host is None or host in ("localhost", "::1") or host.startswith("127.")


@contextmanager
def _loopback(active: bool) -> Iterator[None]:
    """Keep a single-machine Ray on 127.0.0.1.

    Ray replaces 127.0.0.1 by the machine's network address (so that other nodes could reach
    it); for a local instance, or a cluster this machine reaches on loopback, that would expose
    the instance and send its traffic over the network interface. Ray's own switch for this
    (used on macOS and Windows) is a module constant read when addresses are resolved.
    """
    if not active:
        yield
        return
    from ray._private import ray_constants

    saved = getattr(ray_constants, "ENABLE_RAY_CLUSTER", True)
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved


def _source_path() -> str:
    """PYTHONPATH for workers: this process's prunelab first, so they run the same code."""
    here = str(Path(__file__).resolve().parents[2])
    rest = os.environ.get("PYTHONPATH", "")
    return os.pathsep.join([here, *(p for p in rest.split(os.pathsep) if p and p != here)])


class _Hub:
    """Actor on the driver's node: collects progress events and answers calls workers make there."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def put(self, event: dict[str, Any]) -> None:
        with self.lock:
            if len(self.events) < 100_000:  # a driver that stopped draining must not exhaust memory
                self.events.append(event)

    def drain(self) -> list[dict[str, Any]]:
        with self.lock:
            out, self.events = self.events, []
        return out

    def call(self, target: str, *args: Any, **kwargs: Any) -> Any:
        module, _, name = target.partition(":")
        if not module.startswith("prunelab."):
            raise ValueError(f"the driver's node only runs prunelab functions, not {target}")
        return getattr(import_module(module), name)(*args, **kwargs)


class _Emitter:
    """A worker's ``emit``: fire-and-forget to the hub, step events thinned out."""

    def __init__(self, hub: Any) -> None:
        self.hub, self.last = hub, 0.0

    def __call__(self, event: dict[str, Any]) -> None:
        if event.get("event") == "step":
            now = time.monotonic()
            if now - self.last < _STEP_INTERVAL:
                return
            self.last = now
        self.hub.put.remote(event)


def run_task(fn: ItemFn, payload: Any, hub: Any, threads: int) -> Any:
    """Body of every Ray task: torch threads, driver channel and progress for one item."""
    import ray
    import torch

    from prunelab.experiments.remote_store import set_driver_call

    torch.set_num_threads(threads)
    os.environ["PRUNELAB_WORKER"] = "1"
    set_driver_call(lambda target, *args: ray.get(hub.call.remote(target, *args)))
    try:
        return fn(payload, _Emitter(hub))
    finally:
        set_driver_call(None)


class RayExecutor:
    """Study items as Ray tasks (see the module docstring).

    Parameters
    ----------
    workers : int
        With no ``address``: the CPUs of the local instance (1 means all of this machine's).
        With an ``address`` it must stay 1: the cluster's CPUs decide.
    address : str, optional
        ``HOST:PORT`` of a running cluster, or ``auto`` (``RAY_ADDRESS`` / a cluster started
        on this machine); None starts a local instance.
    checkpoint_dir : path, optional
        Where workers write checkpoints and files (default: the runs directory). Mid-item resume
        after a worker dies needs it to be reachable from the node that retries the item.
    cpus_per_item : float
        Ray ``num_cpus`` of each item; its torch threads are the same number (at least 1).
    max_retries : int
        Attempts after the first when a worker process or node dies.
    """

    #: items get a journaling store; the driver writes (see :mod:`prunelab.experiments.remote_store`)
    remote = True

    def __init__(
        self,
        workers: int = 1,
        address: str | None = None,
        checkpoint_dir: str | Path | None = None,
        cpus_per_item: float = 1.0,
        max_retries: int = 3,
        **_options: Any,
    ) -> None:
        import_ray()
        if address and int(workers) > 1:
            raise ConfigError(
                f"--workers {workers} conflicts with --address: a cluster runs as many items as its "
                "CPUs allow; drop --workers (--cpus-per-item sets each item's share)"
            )
        if not float(cpus_per_item) > 0:
            raise ConfigError(f"--cpus-per-item must be > 0, got {cpus_per_item}")
        if int(max_retries) < 0:
            raise ConfigError(f"max_retries must be >= 0, got {max_retries}")
        if address and address != "auto":
            check_reachable(address)
        self.address = address
        self.workers = int(workers)
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.cpus_per_item = float(cpus_per_item)
        self.threads = max(1, int(round(self.cpus_per_item)))
        self.max_retries = int(max_retries)
        self._hub: Any = None

    # --- connection ------------------------------------------------------------------------------
    def connect(self) -> Any:
        """Start or join Ray once per process; returns the ``ray`` module."""
        ray = import_ray()
        if ray.is_initialized():
            return ray
        host = (
            None if not self.address or self.address == "auto" else parse_address(self.address)[0]
        )
        options: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
        if self.address:
            # a running cluster's workers have their own environment: give them this prunelab
            options.update(
                address=self.address, runtime_env={"env_vars": {"PYTHONPATH": _source_path()}}
            )
        else:
            options.update(
                address="local",
                include_dashboard=False,
                num_cpus=self.workers if self.workers > 1 else None,
            )
        try:
            with _loopback(_is_loopback(host) and self.address != "auto"):
                ray.init(**options)
        except Exception as err:  # noqa: BLE001 - Ray's connection errors: one line, the rest propagates
            text = f"{type(err).__name__} {err} {err.__cause__ or ''} {err.__context__ or ''}"
            if not isinstance(err, ConnectionError) and "Authentication" not in text:
                raise
            if "Authentication" in text or "auth token" in text.lower():
                raise ConfigError(
                    f"the Ray cluster at --address {self.address} wants a token: export RAY_AUTH_MODE=token "
                    "and RAY_AUTH_TOKEN (or put it in ~/.ray/auth_token), as for `ray start`"
                ) from None
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ConfigError(
                f"could not join the Ray cluster at --address {self.address} ({first}); start one with "
                "`ray start --head`, or drop --address to start a local Ray instance"
            ) from None
        return ray

    def _hub_actor(self, ray: Any) -> Any:
        if self._hub is None:
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            here = NodeAffinitySchedulingStrategy(
                node_id=ray.get_runtime_context().get_node_id(), soft=False
            )
            self._hub = (
                ray.remote(_Hub)
                .options(num_cpus=0, max_concurrency=8, scheduling_strategy=here)
                .remote()
            )
        return self._hub

    def slots(self) -> int:
        """Items that fit on the cluster now: its CPUs over ``cpus_per_item`` (at least one)."""
        ray = self.connect()
        return max(1, int(ray.cluster_resources().get("CPU", 1) // self.cpus_per_item))

    # --- the executor protocol -------------------------------------------------------------------
    def map_unordered(
        self, fn: ItemFn, payloads: Iterable[Any], on_event: Emit | None = None
    ) -> Iterator[Any]:
        """Run ``fn(payload, emit)`` as Ray tasks; yield results (or :class:`ItemLost`) as they arrive."""
        ray = self.connect()
        hub = self._hub_actor(ray)
        task = ray.remote(run_task).options(
            num_cpus=self.cpus_per_item, max_retries=self.max_retries, retry_exceptions=False
        )
        source = iter(payloads)
        inflight: dict[Any, Any] = {}
        exhausted, slots, checked = False, self.slots(), time.monotonic()

        # one drain request in flight, renewed at most twice a second: never wait on progress
        drain: list[Any] = [hub.drain.remote(), time.monotonic()]

        def forward(wait: float = 0.0) -> None:
            if on_event is None:
                return
            if drain[0] is None:
                if time.monotonic() - drain[1] < _DRAIN_INTERVAL and not wait:
                    return
                drain[:] = [hub.drain.remote(), time.monotonic()]
            ready, _ = ray.wait([drain[0]], timeout=wait)
            if ready:
                for event in ray.get(ready[0]):
                    on_event(event)
                drain[0] = None

        try:
            while True:
                if time.monotonic() - checked > 2.0:  # nodes join and leave
                    slots, checked = self.slots(), time.monotonic()
                while not exhausted and len(inflight) < slots:
                    payload = next(source, _END)
                    if payload is _END:
                        exhausted = True
                    else:
                        inflight[task.remote(fn, payload, hub, self.threads)] = payload
                if not inflight:
                    break
                ready, _ = ray.wait(list(inflight), num_returns=1, timeout=0.25)
                forward()
                for ref in ready:
                    payload = inflight.pop(ref)
                    try:
                        yield ray.get(ref)
                    except (
                        ray.exceptions.RayTaskError
                    ) as err:  # a bug in the item: seen, as in the local pool
                        raise err.as_instanceof_cause() from None
                    except ray.exceptions.RayError as err:  # worker or node gone after every retry
                        yield ItemLost(
                            payload,
                            f"lost on the Ray cluster after {self.max_retries + 1} attempts: "
                            f"{type(err).__name__}",
                        )
            forward(wait=2.0)
        finally:
            for ref in inflight:  # Ctrl-C, a driver error or an abandoned iteration
                ray.cancel(ref, force=True)

    def close(self) -> None:
        """Disconnect from Ray (a local instance started here stops)."""
        ray = import_ray()
        self._hub = None
        if ray.is_initialized():
            ray.shutdown()


_END = object()

"""Fault injection for the reliability tests: kill the process, or fail a write, at a named point.

The environment variable ``PRUNELAB_FAULT=<point>:<n>[:<action>][,<point>:<n>[:<action>]...]``
makes the ``n``-th call of :func:`fault_point` with that point, counted in this process, either
send this process ``SIGKILL`` (action ``kill``, the default: what ``kill -9``, the OOM killer or
a power cut do), raise ``OSError`` as a full disk (``enospc``) or a read-only file system
(``erofs``) would, or raise ``KeyboardInterrupt`` as Ctrl-C would (``interrupt``). The points name the places where a fault is most likely to leave damage
behind: inside a checkpoint or metrics write, between epochs, in a topology update, in a phase
study step (see :data:`POINTS`).

With the variable unset, :func:`fault_point` is one global lookup and a return; the points sit
outside inner loops (one per write, epoch or topology update, never one per minibatch).

Examples
--------
>>> configure("checkpoint.write:2:enospc")
>>> fault_point("checkpoint.write")            # first hit: nothing happens
>>> fault_point("checkpoint.write")            # second hit: the injected fault
Traceback (most recent call last):
...
OSError: [Errno 28] No space left on device (injected at checkpoint.write)
>>> configure(None)
"""

from __future__ import annotations

import errno
import os
import signal

from prunelab.errors import ConfigError

ENV = "PRUNELAB_FAULT"

#: every injection point: name -> where it sits
POINTS: dict[str, str] = {
    "store.write": "inside any store transaction, before its COMMIT",
    "metrics.write": "inside an epoch's (or step's) metrics transaction, before its COMMIT",
    "metrics.done": "after an epoch's metrics are committed, before its checkpoint is written",
    "run.claimed": "after a run is claimed, before any work",
    "checkpoint.write": "a checkpoint's temporary file is written, not yet renamed into place",
    "checkpoint.rotate": "the previous checkpoint was moved aside, the new one is not yet in place",
    "epoch.trained": "after an epoch's optimizer steps, before its evaluation and hooks",
    "epoch.end": "between epochs: after an epoch's checkpoint, before the next epoch",
    "dst.apply": "inside a topology update, after one layer changed and before the next",
    "dst.update": "after a topology update changed the network, before the epoch's metrics",
    "run.trained": "training finished, before the run's artefacts are written",
    "topology.write": "a topology artefact's temporary file is written, not yet renamed",
    "run.finish": "the run's artefacts are stored, before its final status",
    "study.registered": "the study's row is written, before its items run",
    "backup.write": "the database backup is copied, not yet renamed into place",
    "phase.pretrained": "a trajectory's pretraining finished, before its rewind state is saved",
    "phase.step": "a phase step's observables are stored, before its masks and checkpoint",
    "masks.write": "a mask artefact's temporary file is written, not yet renamed",
    "phase.null": "a null network is trained, before its row is stored",
    "table.write": "an analysis table's temporary file is written, not yet renamed",
}

ACTIONS = ("kill", "enospc", "erofs", "interrupt")

_plan: dict[str, tuple[int, str]] | None = None
_hits: dict[str, int] = {}


def parse_spec(spec: str) -> dict[str, tuple[int, str]]:
    """``"point:n[:action],..."`` as ``{point: (n, action)}``; one-line :class:`ConfigError` when invalid."""
    plan: dict[str, tuple[int, str]] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        fields = part.split(":")
        if len(fields) not in (2, 3) or not fields[1].isdigit() or int(fields[1]) < 1:
            raise ConfigError(
                f"{ENV} entry {part!r} must be <point>:<n>[:<action>] with n >= 1, e.g. epoch.end:2"
            )
        point, n, action = fields[0], int(fields[1]), fields[2] if len(fields) == 3 else "kill"
        if point not in POINTS:
            raise ConfigError(
                f"{ENV} names unknown point {point!r}; choose one of: {', '.join(POINTS)}"
            )
        if action not in ACTIONS:
            raise ConfigError(
                f"{ENV} action {action!r} is unknown; choose one of: {', '.join(ACTIONS)}"
            )
        plan[point] = (n, action)
    return plan


def configure(spec: str | None) -> None:
    """Arm the faults of ``spec`` (the :data:`ENV` syntax) in this process; ``None`` disarms them."""
    global _plan
    _hits.clear()
    _plan = parse_spec(spec) if spec else None


def hits(point: str) -> int:
    """How often ``point`` was reached since the last :func:`configure` (0 when disarmed)."""
    return _hits.get(point, 0)


def fault_point(point: str) -> None:
    """Mark an injection point; does nothing unless a fault is armed for ``point``.

    Raises
    ------
    OSError
        ``ENOSPC`` or ``EROFS`` at the armed hit when the action is ``enospc`` or ``erofs``.
    KeyboardInterrupt
        At the armed hit when the action is ``interrupt``.
    """
    if _plan is None:
        return
    _hits[point] = _hits.get(point, 0) + 1
    armed = _plan.get(point)
    if armed is None or _hits[point] != armed[0]:
        return
    action = armed[1]
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if action == "interrupt":
        raise KeyboardInterrupt(f"injected at {point}")
    code = errno.ENOSPC if action == "enospc" else errno.EROFS
    raise OSError(code, f"{os.strerror(code)} (injected at {point})")


configure(os.environ.get(ENV))

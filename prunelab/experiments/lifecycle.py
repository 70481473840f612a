"""The run lifecycle, written once: register → skip if finished → claim → running → final status.

Every study kind runs its items through :class:`RunLifecycle`, so that every kind skips finished
work, resumes unfinished work, never trains a run that another live process holds (the claim is
one write transaction, see :meth:`Store.claim_run`) and records the wall time and the versions
of every run in the same way.

Examples
--------
>>> run = RunLifecycle(store, run_id, name, content)          # doctest: +SKIP
>>> if run.claim() != "claimed":                              # doctest: +SKIP
...     return run.outcome()        # "skipped" or "running elsewhere"
>>> try:                                                      # doctest: +SKIP
...     ...                         # train, storing metrics as they come
...     run.finish("finished")
... except BaseException as err:
...     run.abort(err)
...     raise
"""

from __future__ import annotations

import time
from contextlib import suppress
from typing import Any

from prunelab.core.faults import fault_point
from prunelab.core.files import disk_error, is_disk_error, remove_leftovers
from prunelab.errors import PrunelabError
from prunelab.experiments.provenance import git_revision, package_versions
from prunelab.experiments.store import Store

#: statuses a study summary can report for an item
OUTCOMES = ("finished", "skipped", "running elsewhere", "diverged", "interrupted", "failed")


class RunLifecycle:
    """One run's passage through the store.

    Parameters
    ----------
    store : Store
    run_id : str
        Content hash of ``content`` (see :func:`prunelab.experiments.config.config_hash`).
    name : str
        Human label (not part of the id).
    content : dict
        What defines the run (stored as its config).
    """

    def __init__(self, store: Store, run_id: str, name: str, content: dict[str, Any]) -> None:
        self.store, self.run_id, self.name = store, run_id, name
        store.register_run(run_id, name, content)
        self.row = store.get_run(run_id) or {}
        self.state: str = "finished" if self.row.get("status") == "finished" else "registered"
        self.started: float | None = None
        self.closed = False  # a final status was recorded in this session

    @property
    def finished(self) -> bool:
        """True when the run was already finished before this call."""
        return self.state == "finished"

    def claim(self, message: str = "") -> str:
        """Take the run for this process: ``"claimed"``, ``"finished"`` or ``"elsewhere"``.

        A claimed run is ``running`` with this process as owner, its start time, the package
        versions and the git revision recorded; temporary files that killed processes left in its
        folder are removed (nobody else writes there while the claim holds).
        """
        if self.state == "finished":
            return "finished"
        self.started = time.time()
        self.state = self.store.claim_run(
            self.run_id,
            message,
            started=self.started,
            versions=package_versions(),
            git_revision=git_revision(),
        )
        if self.state == "claimed" and getattr(self.store, "root", None) is not None:
            remove_leftovers(self.store.root / self.run_id)
            fault_point("run.claimed")
        return self.state

    def note(self, message: str) -> None:
        """Replace the run's message while it runs (e.g. ``"resumed at epoch 7"``)."""
        self.store.set_status(self.run_id, "running", message)

    def finish(self, status: str = "finished", message: str = "") -> None:
        """Record the final status; the run's ``seconds`` accumulate over resumed sessions."""
        now = time.time()
        prior = self.row.get("seconds") or 0.0
        spent = now - self.started if self.started is not None else 0.0
        fields: dict[str, Any] = {"seconds": prior + spent}
        if status == "finished":
            fields["finished"] = now
        self.store.set_status(self.run_id, status, message, **fields)
        self.state = status
        self.closed = True

    def abort(self, err: BaseException) -> None:
        """Record why the run stopped: ``interrupted`` for Ctrl-C, ``failed`` otherwise.

        Does nothing when the run already recorded a final status (e.g. ``interrupted`` by a
        progress callback that raised). Never raises: when the store cannot take the status (a
        full disk), the run stays ``running`` with this process as owner, which a rerun treats
        as a run whose process is gone and resumes.
        """
        if self.closed:
            return
        if isinstance(err, KeyboardInterrupt):
            status, message = "interrupted", "interrupted; rerun to resume"
        elif isinstance(err, PrunelabError):
            status, message = "failed", str(err)
        elif is_disk_error(err):
            status, message = (
                "failed",
                str(disk_error(err, getattr(err, "filename", None) or self.store.root)),
            )  # type: ignore[arg-type]
        else:
            status, message = "failed", f"{type(err).__name__}: {err}"
        with suppress(PrunelabError, OSError):
            self.finish(status, message)

    def outcome(self) -> str:
        """The summary status of a run that was not claimed: ``skipped`` or ``running elsewhere``."""
        return {"finished": "skipped", "elsewhere": "running elsewhere"}.get(self.state, self.state)

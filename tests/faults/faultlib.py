"""Helpers of the fault-injection suite (``tests/faults``): tiny studies, forked children that die, store comparisons.

A child process is forked from a fork server that imported torch and prunelab once (so a child
costs milliseconds instead of the seconds of a fresh interpreter); it arms a fault with
:func:`prunelab.core.faults.configure` and runs a study until the fault SIGKILLs it. The slow
tests do the same through ``python -m prunelab.cli.main`` and the ``PRUNELAB_FAULT`` variable.
"""

from __future__ import annotations

import copy
import json
import multiprocessing as mp
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from prunelab.core import faults
from prunelab.experiments import Store
from prunelab.experiments.integrity import check_store
from prunelab.studies import parse_study, run_study

#: a 3-epoch dynamic-sparse-training run: two sparse layers, topology updates after epochs 1 and 2
TRAIN = {
    "name": "faults",
    "data": {"name": "digits"},
    "model": {"sizes": [64, 24, 24, 10], "density": 0.3},
    "train": {"epochs": 3, "batch_size": 64, "lr": 0.1, "seed": 0, "train_subset": 256},
    "dst": {"zeta": 0.3},
}

#: a one-trajectory phase study: pretraining, then 4 pruning steps with a fine-tuning epoch each
PHASE = {
    "kind": "phase",
    "name": "faults-phase",
    "data": {"name": "digits"},
    "family": "fc",
    "widths": [12],
    "seeds": [0],
    "schedule": {"start": 1.0, "stop": 0.05, "n_steps": 4},
    "pretrain_epochs": 2,
    "finetune_epochs": 1,
    "train_subset": 256,
    "train": {"lr": 0.1, "batch_size": 64},
    "null": {"enabled": False},
    "analysis": {"n_boot": 0, "n_boot_collapse": 0},
}

#: the phase study with its degree-preserving null: one rewired mask retrained at one density
NULL = {
    **PHASE,
    "name": "faults-null",
    "null": {
        "enabled": True,
        "n_rewired": 1,
        "from": ["same-init"],
        "er": False,
        "densities": [0.13572088],
        "epochs": 1,
    },
}

STUDIES = {"train": TRAIN, "phase": PHASE, "null": NULL}


def sweep(seeds: list[int], epochs: int = 2) -> dict[str, Any]:
    """A sweep over ``seeds`` of a small static sparse run (runs of equal seed are equal runs)."""
    raw = copy.deepcopy(TRAIN)
    raw.pop("dst")
    raw["train"]["epochs"] = epochs
    raw["name"] = "sweep-" + "-".join(map(str, seeds))
    raw["sweep"] = {"seeds": seeds}
    return raw


def run(raw: dict[str, Any], root: str | Path):
    """Run the study ``raw`` into the store at ``root`` (a :class:`~prunelab.studies.StudyRun`)."""
    return run_study(parse_study(copy.deepcopy(raw)), Store(root))


#: modules the fork server imports once; its children start with them loaded
PRELOAD = [
    "torch",
    "torch._dynamo",
    "torch.optim",
    "prunelab.studies",
    "prunelab.studies.phase.study",
    "prunelab.studies.train",
    "prunelab.dst",
    "prunelab.data",
    "faults.faultlib",
]
_CONTEXT: Any = None


def _context():
    """The ``forkserver`` multiprocessing context (started once per test session).

    Children cannot be forked from the test process itself: it has run OpenMP parallel regions,
    and a child forked after that hangs in its first one. The fork server imported torch and
    prunelab but never ran a tensor operation, so its children are safe and start in
    milliseconds.
    """
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = mp.get_context("forkserver")
        _CONTEXT.set_forkserver_preload(PRELOAD)
    return _CONTEXT


def child_run(raw: dict[str, Any], root: str, fault: str | None, out: str | None) -> None:
    """In a child process: arm ``fault``, run the study ``raw`` into ``root``, dump results to ``out``."""
    torch.set_num_threads(1)
    faults.configure(fault)
    outcome = run(raw, root)
    if out is not None:
        Path(out).write_text(json.dumps(outcome.results, default=str))


def start_child(
    raw: dict[str, Any], root: str | Path, fault: str | None = None, out: str | Path | None = None
):
    """Start :func:`child_run` in a child process (``.join()`` it; ``.exitcode`` -9 means SIGKILL)."""
    proc = _context().Process(
        target=child_run, args=(copy.deepcopy(raw), str(root), fault, str(out) if out else None)
    )
    proc.start()
    return proc


def in_child(
    raw: dict[str, Any], root: str | Path, fault: str | None = None, timeout: float = 900
) -> int:
    """Run the study ``raw`` into ``root`` in a child process with ``fault`` armed; its exit code."""
    proc = start_child(raw, root, fault)
    proc.join(timeout)
    if proc.exitcode is None:
        proc.kill()
        proc.join()
        raise AssertionError(
            f"the child running {raw.get('name')} with {fault} did not end within {timeout} s"
        )
    return proc.exitcode


def killed(exitcode: int) -> bool:
    """The exit code of a child process that SIGKILL ended."""
    return exitcode == -signal.SIGKILL


def comparable_metrics(root: str | Path) -> pd.DataFrame:
    """Every metric row of the store except wall times (which differ between any two runs)."""
    df = Store(root).metrics()
    return df[~df.name.str.contains("seconds")].reset_index(drop=True)


def model_tensors(path: Path) -> dict[str, torch.Tensor]:
    """The model tensors of a checkpoint (run or trajectory)."""
    state = torch.load(path, weights_only=True)
    return state["model"] if "model" in state else state["trainer"]["model"]


def assert_same_store(got: Path, want: Path) -> None:
    """``got`` holds exactly the rows and final networks of ``want``, bit for bit, and is sound."""
    report = check_store(got)
    assert report.ok and not report.leftovers and not report.stale, report
    with sqlite3.connect(got / "prunelab.sqlite") as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    a, b = Store(got), Store(want)
    runs_a, runs_b = a.runs().set_index("id"), b.runs().set_index("id")
    assert sorted(runs_a.index) == sorted(runs_b.index)
    assert (runs_a.status == "finished").all(), runs_a[["status", "message"]]
    ma, mb = comparable_metrics(got), comparable_metrics(want)
    pd.testing.assert_frame_equal(
        ma, mb, check_exact=True
    )  # no row lost, none duplicated, same numbers
    for run_id in runs_b.index:
        arts_a, arts_b = a.artefacts(run_id), b.artefacts(run_id)
        pd.testing.assert_frame_equal(arts_a, arts_b)
        for name in ("checkpoint.pt", "trajectory.pt"):
            if (want / run_id / name).exists():
                ta, tb = model_tensors(got / run_id / name), model_tensors(want / run_id / name)
                assert ta.keys() == tb.keys()
                for key in tb:
                    assert torch.equal(ta[key], tb[key]), f"{run_id} {name} {key}"

"""``kill -9`` at 29 points of a run; after each, a rerun gives the uninterrupted run's store bit for bit.

Each case starts a child process that arms ``PRUNELAB_FAULT``-style fault ``<point>:<n>`` and runs a study
until the fault SIGKILLs it (the test fails if the point is never reached, so no case can pass
vacuously); the test process then reruns the same study and compares the store with one that
an uninterrupted run wrote: the same rows (none lost, none duplicated), the same metric values
and final networks bit for bit, every run finished, a sound database and no temporary files left.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml

from faults.faultlib import STUDIES, assert_same_store, in_child, killed, run
from prunelab.core import faults
from prunelab.experiments import Store

#: (study, point, n): the n-th hit of the point in the killed process
CASES = [
    ("train", "store.write", 1),  # the study's row, before its COMMIT
    ("train", "store.write", 3),  # the claim of the run, before its COMMIT
    ("train", "study.registered", 1),
    ("train", "run.claimed", 1),
    ("train", "checkpoint.write", 1),  # during the first checkpoint write
    ("train", "checkpoint.rotate", 2),  # previous checkpoint moved aside, new one not yet in place
    ("train", "checkpoint.write", 3),  # during the last checkpoint write
    ("train", "metrics.write", 1),  # inside the first metrics transaction
    ("train", "metrics.write", 3),
    ("train", "metrics.done", 2),  # metrics of epoch 2 committed, its checkpoint not written
    ("train", "epoch.trained", 2),
    ("train", "epoch.end", 1),  # between epochs
    ("train", "dst.update", 1),  # a topology update done in memory only
    ("train", "dst.apply", 1),  # inside a topology update: one layer changed, the other not
    ("train", "dst.apply", 4),  # inside the second update
    ("train", "run.trained", 1),
    ("train", "topology.write", 1),
    ("train", "run.finish", 1),  # artefacts stored, final status not
    ("train", "backup.write", 1),  # the database backup after the study
    ("phase", "phase.pretrained", 1),
    ("phase", "phase.step", 2),  # a phase-study step: observables stored, masks not
    ("phase", "masks.write", 3),
    ("phase", "checkpoint.write", 2),  # a trajectory checkpoint write
    ("phase", "checkpoint.rotate", 3),
    ("phase", "metrics.write", 4),
    ("phase", "epoch.end", 3),  # between fine-tuning epochs of a step
    ("phase", "store.write", 6),
    ("null", "phase.null", 1),  # a null network retrained, its row not stored
    ("null", "phase.null", 2),  # the second null item, after the first is finished
]
#: the cases of the fast suite (one per kind of place); the slow suite runs every case
FAST = {
    ("train", "checkpoint.write", 1),
    ("train", "checkpoint.rotate", 2),
    ("train", "metrics.write", 3),
    ("train", "metrics.done", 2),
    ("train", "epoch.end", 1),
    ("train", "dst.apply", 1),
    ("train", "run.finish", 1),
    ("phase", "phase.step", 2),
}


def _param(case):
    marks = () if case in FAST else (pytest.mark.slow,)
    return pytest.param(*case, id="-".join(map(str, case)), marks=marks)


def test_the_points_of_the_cases_exist():
    assert {point for _, point, _ in CASES} <= set(faults.POINTS)
    assert len(CASES) >= 20 and len({(k, p) for k, p, _ in CASES}) >= 20


@pytest.mark.parametrize(("kind", "point", "n"), [_param(c) for c in CASES])
def test_kill_then_rerun_equals_an_uninterrupted_run(kind, point, n, tmp_path, reference):
    want = reference(kind)
    root = tmp_path / "runs"
    code = in_child(STUDIES[kind], root, f"{point}:{n}")
    assert killed(code), (
        f"the child was not killed at {point}:{n} (exit code {code}): the point is never reached"
    )
    outcome = run(STUDIES[kind], root)
    # killed after the study's work (while backing it up), the rerun finds every run finished;
    # else it finishes the killed run (items finished before the kill are skipped)
    statuses = [r["status"] for r in outcome.results]
    assert set(statuses) <= {"finished", "skipped"}, outcome.results
    assert ("finished" in statuses) == (point != "backup.write"), outcome.results
    assert outcome.backup is not None and outcome.backup_error == ""
    assert_same_store(root, want)


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["checkpoint.write:2", "metrics.write:2", "dst.apply:3"])
def test_kill_9_of_the_command_line_then_rerun(fault, tmp_path, reference):
    """The same through ``prunelab run`` in fresh interpreters and the ``PRUNELAB_FAULT`` variable."""
    config = tmp_path / "study.yaml"
    config.write_text(yaml.safe_dump(STUDIES["train"]))
    root = tmp_path / "runs"
    cmd = [sys.executable, "-m", "prunelab.cli.main", "run", str(config), "--runs-dir", str(root)]
    env = {**os.environ, "PRUNELAB_FAULT": fault, "OMP_NUM_THREADS": "1"}
    first = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert first.returncode == -9, first.stderr
    env.pop("PRUNELAB_FAULT")
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert second.returncode == 0, second.stderr
    assert "finished" in second.stdout
    assert_same_store(root, reference("train"))
    assert Store(root).runs().status.tolist() == ["finished"]


def test_an_armed_point_kills_a_fresh_interpreter(tmp_path):
    """The environment variable arms the point at import, in any process (cheap: no torch)."""
    code = "from prunelab.core.faults import fault_point as f; f('epoch.end'); print('survived', flush=True); f('epoch.end')"
    env = {**os.environ, "PRUNELAB_FAULT": "epoch.end:2"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == -9 and out.stdout == "survived\n", out.stderr

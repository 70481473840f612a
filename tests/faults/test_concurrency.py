"""Several processes on one store over overlapping sweeps: every run trained exactly once, no row lost.

Four processes start together, each running a sweep whose seeds overlap the others' (runs of
equal seed are the same run). Every run must be reported ``finished`` by exactly one process
(the others report it ``skipped`` or ``running elsewhere``), and the store must equal the store
of one process running the union of the sweeps: the same runs, every metric row, bit for bit.
"""

from __future__ import annotations

import copy
import json
import os
import re
import socket
import subprocess
import sys
from collections import Counter

import pytest
import yaml

from faults.faultlib import PHASE, assert_same_store, run, start_child, sweep
from prunelab.experiments import Store
from prunelab.experiments.executors import SerialExecutor, make_executor
from prunelab.studies import parse_study, run_study

SWEEPS = [[0, 1, 2], [1, 2, 3], [2, 3, 0], [3, 0, 1]]


def _check_exactly_once(results: list[list[dict]], expected_ids: set[str]) -> Counter:
    finished = Counter(r["run_id"] for res in results for r in res if r["status"] == "finished")
    others = Counter(r["status"] for res in results for r in res if r["status"] != "finished")
    assert set(finished) == expected_ids and set(finished.values()) == {1}, (
        finished
    )  # exactly once each
    assert set(others) <= {"skipped", "running elsewhere"}, others
    return others


@pytest.fixture(scope="module")
def union(tmp_path_factory):
    """The store of one process running every seed of :data:`SWEEPS`, and its run ids."""
    root = tmp_path_factory.mktemp("union") / "runs"
    outcome = run(sweep(sorted({s for seeds in SWEEPS for s in seeds})), root)
    assert {r["status"] for r in outcome.results} == {"finished"}
    return root, {r["run_id"] for r in outcome.results}


def test_four_processes_on_overlapping_sweeps(tmp_path, union):
    want, ids = union
    root = tmp_path / "runs"
    Store(root)  # created once, as the first command on a new runs directory would
    outs = [tmp_path / f"results{k}.json" for k in range(len(SWEEPS))]
    procs = [
        start_child(sweep(seeds), root, out=out) for seeds, out in zip(SWEEPS, outs, strict=True)
    ]
    for proc in procs:
        proc.join(900)
    assert [p.exitcode for p in procs] == [0] * len(procs)
    results = [json.loads(out.read_text()) for out in outs]
    _check_exactly_once(results, ids)
    assert sum(len(r) for r in results) == sum(
        len(s) for s in SWEEPS
    )  # every process reported every item
    assert len(Store(root).studies()) == len(SWEEPS)
    assert_same_store(root, want)


@pytest.mark.slow
def test_two_processes_on_one_phase_study(tmp_path):
    raw = {**PHASE, "widths": [12, 16], "seeds": [0, 1]}  # each trains above chance in 2 epochs
    want = tmp_path / "want"
    assert {r["status"] for r in run(raw, want).results} == {"finished"}
    root = tmp_path / "runs"
    Store(root)
    outs = [tmp_path / "a.json", tmp_path / "b.json"]
    procs = [start_child(raw, root, out=out) for out in outs]
    for proc in procs:
        proc.join(900)
    assert [p.exitcode for p in procs] == [0, 0]
    _check_exactly_once([json.loads(o.read_text()) for o in outs], set(Store(want).runs().id))
    assert_same_store(root, want)


_ROW = re.compile(r"^│ ([0-9a-f]{12}) +│ .*? │ (finished|skipped|running elsewhere) +│", re.M)


@pytest.mark.slow
def test_four_command_line_processes_on_overlapping_sweeps(tmp_path, union):
    """The same with ``prunelab run`` in four fresh interpreters (one with a local pool of two workers)."""
    want, ids = union
    root = tmp_path / "runs"
    env = {**os.environ, "COLUMNS": "200", "OMP_NUM_THREADS": "1"}
    procs = []
    for k, seeds in enumerate(SWEEPS):
        config = tmp_path / f"sweep{k}.yaml"
        config.write_text(yaml.safe_dump(sweep(seeds)))
        extra = ["--workers", "2"] if k == 0 else []
        cmd = [
            sys.executable,
            "-m",
            "prunelab.cli.main",
            "run",
            str(config),
            "--runs-dir",
            str(root),
            *extra,
        ]
        procs.append(
            subprocess.Popen(
                cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
    outputs = [p.communicate(timeout=1800) for p in procs]
    assert [p.returncode for p in procs] == [0] * len(procs), [o[1] for o in outputs]
    results = [[{"run_id": m[0], "status": m[1]} for m in _ROW.findall(out)] for out, _ in outputs]
    assert [len(r) for r in results] == [len(s) for s in SWEEPS], outputs
    _check_exactly_once(results, ids)
    assert_same_store(root, want)


class _RemoteSerial(SerialExecutor):
    """In this process, but through the remote path of the Ray executor (the driver claims, ships, replays)."""

    remote = True
    checkpoint_dir = None


@pytest.mark.parametrize(
    "executor", ["serial", "remote", pytest.param("local", marks=pytest.mark.slow)]
)
@pytest.mark.parametrize("kind", ["train", "phase"])
def test_a_run_held_by_a_live_process_is_left_alone_then_taken_over(kind, executor, tmp_path):
    """Every executor: a run another live process owns is ``running elsewhere`` (untouched); once that
    process is gone the next study takes the run over and finishes it."""
    raw = sweep([0, 1]) if kind == "train" else {**PHASE, "seeds": [0, 1]}
    root = tmp_path / "runs"
    store = Store(root)
    study = parse_study(copy.deepcopy(raw))
    held = next(iter(study.plan(store)))[0]
    store.register_run(held.run_id, held.name, held.content)
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        with store._connect() as con:  # what another process's claim leaves
            con.execute(
                "UPDATE runs SET status = 'running', owner = ? WHERE id = ?",
                (f"{socket.gethostname()}:{owner.pid}", held.run_id),
            )
        pool = {"serial": SerialExecutor, "remote": _RemoteSerial}.get(executor)
        pool = pool() if pool else make_executor("local", workers=2)
        first = {r["run_id"]: r["status"] for r in run_study(study, store, pool).results}
        assert first.pop(held.run_id) == "running elsewhere"
        assert set(first.values()) == {"finished"}
        assert (
            store.metrics([held.run_id]).empty
            and not (root / held.run_id / "checkpoint.pt").exists()
        )
        assert store.get_run(held.run_id)["owner"].endswith(
            f":{owner.pid}"
        )  # the claim was not taken
    finally:
        owner.kill()
        owner.wait()
    again = {
        r["run_id"]: r["status"]
        for r in run_study(parse_study(copy.deepcopy(raw)), store, pool).results
    }
    assert again[held.run_id] == "finished" and not store.metrics([held.run_id]).empty
    assert {s for r, s in again.items() if r != held.run_id} <= {"skipped"}

"""The ray executor on a real two-node Ray cluster on 127.0.0.1 (one cluster for the module).

The cluster is a head (``ray start --head`` on a free port) plus a second node process joining
it, both started without PYTHONPATH so that the executor must hand the workers this worktree's
prunelab. Every test uses tiny digits configs; the fixture stops the cluster's processes by
their process group, also when a test fails. A machine that cannot start Ray fails these tests:
CI installs the extra (``.[dev,ray]``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from ray_cluster import AUTH, LocalCluster
from test_remote_store import TINY, numbers

import prunelab
from prunelab.experiments import Store
from prunelab.experiments.executors import LocalPoolExecutor
from prunelab.studies import parse_study, run_study

WORKTREE = str(Path(prunelab.__file__).resolve().parents[1])


@pytest.fixture(scope="module")
def cluster():
    saved = {k: os.environ.get(k) for k in AUTH}
    os.environ.update(AUTH)  # this process and the drivers it starts authenticate to the cluster
    c = LocalCluster(nodes=2, cpus=1)
    try:
        yield c.start()
    finally:
        c.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="module")
def driver(cluster):
    """This test process joined to the cluster through the executor (disconnected at the end)."""
    from prunelab.experiments.ray_executor import RayExecutor

    executor = RayExecutor(address=cluster.address)
    executor.connect()
    try:
        yield executor
    finally:
        executor.close()


def sweep_config(tmp_path: Path, name: str, lrs: list[float], epochs: int) -> Path:
    cfg = {
        **TINY,
        "name": name,
        "train": {**TINY["train"], "epochs": epochs},
        "sweep": {"grid": {"train.lr": lrs}},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def cli(*args: str, **popen: object) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": WORKTREE, "COLUMNS": "200"}
    return subprocess.Popen(
        [sys.executable, "-m", "prunelab.cli.main", *args],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **popen,
    )


def assert_each_epoch_once(store: Store, epochs: int) -> None:
    m = store.metrics()
    per_epoch = m.groupby(["run_id", "epoch"]).size()
    assert per_epoch.nunique() == 1  # every epoch has the same metric names, once each
    assert (
        m.groupby("run_id").epoch.apply(lambda e: sorted(set(e)))
        == pd.Series({r: list(range(1, epochs + 1)) for r in m.run_id.unique()})
    ).all()


def test_workers_on_every_node_import_this_worktree(cluster, driver):
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = [n["NodeID"] for n in ray.nodes() if n["Alive"]]
    assert len(nodes) == 2

    def where() -> str:
        import prunelab as p

        return p.__file__

    refs = [
        ray.remote(where)
        .options(scheduling_strategy=NodeAffinitySchedulingStrategy(n, soft=False))
        .remote()
        for n in nodes
    ]
    assert ray.get(refs, timeout=300) == [prunelab.__file__] * 2


def test_digits_sweep_via_address_equals_the_local_pool_bit_for_bit(cluster, tmp_path):
    config = sweep_config(tmp_path, "bits", [0.05, 0.1, 0.2, 0.3], epochs=3)
    proc = cli(
        "run",
        str(config),
        "--executor",
        "ray",
        "--address",
        cluster.address,
        "--runs-dir",
        str(tmp_path / "ray"),
    )
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert out.count("finished") >= 4 and "final test accuracy" in out  # progress and summary table
    local = Store(tmp_path / "local")
    run_study(parse_study(yaml.safe_load(config.read_text())), local, LocalPoolExecutor(2))
    remote = Store(tmp_path / "ray")
    assert sorted(remote.runs().id) == sorted(local.runs().id)
    assert set(remote.runs().status) == {"finished"}
    pd.testing.assert_frame_equal(numbers(local), numbers(remote))
    for run_id in local.runs().id:
        assert remote.artefacts(run_id).equals(local.artefacts(run_id))
        assert (remote.root / run_id / "checkpoint.pt").exists()


def run_with_fault(study, store: Store, driver, fault) -> list[dict]:
    """Run ``study`` on the cluster while ``fault()`` is called once a run is mid-item.

    Mid-item: ``running`` with a checkpoint on disk (an epoch done, not finished). ``fault``
    returns True when it struck (e.g. it found a worker to kill); it is not called again then.
    """
    struck = threading.Event()

    def watch() -> None:
        while not struck.is_set():
            runs = store.runs()
            mid = [
                r
                for r in runs[runs.status == "running"].id
                if (store.root / r / "checkpoint.pt").exists()
            ]
            if mid and fault():
                struck.set()
            time.sleep(0.05)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        outcome = run_study(study, store, driver)
    finally:
        done = struck.is_set()
        struck.set()
        thread.join(30)
    assert done, "the fault never found an item mid-run"
    return outcome.results


def test_worker_sigkilled_mid_item_is_retried_and_every_epoch_stored_once(
    cluster, driver, tmp_path
):
    # enough epochs that an item is surely mid-run for a while also on a fast machine (a digits
    # epoch takes ~0.1 s; with 8 epochs the watcher missed every item in 1 of 4 runs)
    epochs = 30
    store = Store(tmp_path / "runs")
    study = parse_study(
        yaml.safe_load(sweep_config(tmp_path, "kill", [0.05, 0.1, 0.2], epochs).read_text())
    )

    def kill_workers() -> bool:  # SIGKILL every worker process running an item now
        pids = cluster.task_pids()
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        return bool(pids)

    results = run_with_fault(study, store, driver, kill_workers)
    assert [r["status"] for r in results] == ["finished"] * 3
    assert set(store.runs().status) == {"finished"}
    assert_each_epoch_once(store, epochs)


def test_node_lost_mid_item_its_items_finish_on_the_other_nodes(cluster, driver, tmp_path):
    # more items than the first node has CPUs and enough epochs each, so that the extra node
    # surely runs one mid-item also on a fast machine, where a digits epoch takes well under
    # 0.1 s and the extra node's worker needs seconds to start (with 12 epochs the first node
    # finished every item before it, in 1 of 2 runs of the suite on an Intel Xeon)
    epochs, lrs = 40, [0.05, 0.1, 0.15, 0.2, 0.25, 0.3]
    node = cluster.add_node()
    store = Store(tmp_path / "runs")
    study = parse_study(yaml.safe_load(sweep_config(tmp_path, "node", lrs, epochs).read_text()))

    def lose_node() -> bool:  # the whole extra node goes once it runs an item
        if not cluster.task_pids(node=node):
            return False
        cluster.kill_node(node)
        return True

    results = run_with_fault(study, store, driver, lose_node)
    assert node.poll() is not None
    assert [r["status"] for r in results] == ["finished"] * len(lrs)
    assert_each_epoch_once(store, epochs)


def test_driver_kill_9_mid_sweep_then_rerun_redoes_no_finished_run(cluster, tmp_path):
    # items long enough (~1 s) that the kill lands while some are still unfinished, also on a
    # fast machine (3-epoch items took ~0.3 s, close to the watcher's reaction time)
    epochs, runs_dir = 10, tmp_path / "runs"
    config = sweep_config(tmp_path, "driverkill", [0.05, 0.1, 0.15, 0.2, 0.25, 0.3], epochs)
    args = (
        "run",
        str(config),
        "--executor",
        "ray",
        "--address",
        cluster.address,
        "--runs-dir",
        str(runs_dir),
    )
    proc = cli(*args, start_new_session=True)
    deadline = time.time() + 600
    finished: dict[str, float] = {}
    try:
        while time.time() < deadline and proc.poll() is None:
            if (runs_dir / "prunelab.sqlite").exists():
                rows = Store(runs_dir).runs()
                if 2 <= (rows.status == "finished").sum() < len(rows) == 6:
                    break
            time.sleep(0.05)
        assert proc.poll() is None, (
            "the driver ended before it could be killed: " + proc.communicate()[1][-2000:]
        )
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    store = Store(runs_dir)
    before = store.runs().set_index("id")
    finished = before[before.status == "finished"].finished.to_dict()
    assert 2 <= len(finished) < 6, before.status.tolist()
    again = cli(*args)
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    after = store.runs().set_index("id")
    assert set(after.status) == {"finished"}
    assert {r: after.finished[r] for r in finished} == finished  # not redone
    rows = [line for line in out.splitlines() if line.startswith("│")]  # the summary table
    assert sum("skipped" in line for line in rows) >= len(finished)
    assert (after.started[list(finished)] == before.started[list(finished)]).all()
    assert_each_epoch_once(store, epochs)


@pytest.mark.slow
def test_sufficiency_study_on_the_cluster_equals_serial(driver, tmp_path):
    """A sufficiency study, whose items read files of earlier items (``trained.pt``, the mode
    cache, a down sweep's last state), stores the same numbers through Ray as in this process."""
    from test_sufficiency import TINY

    from prunelab.experiments.executors import SerialExecutor

    raw = {
        **TINY,
        "seeds": [0],
        "arms": [{"protocols": ["lr-rewind"]}, {"masks": ["er"], "protocols": ["scratch"]}],
        "equivalent": {},
    }
    serial, remote = Store(tmp_path / "serial"), Store(tmp_path / "ray")
    run_study(parse_study(raw), serial, SerialExecutor())
    run_study(parse_study(raw), remote, driver)
    assert set(remote.runs().status) == {"finished"}
    assert sorted(remote.runs().id) == sorted(serial.runs().id)
    pd.testing.assert_frame_equal(
        numbers(serial).sort_values(["run_id", "epoch", "name"]).reset_index(drop=True),
        numbers(remote).sort_values(["run_id", "epoch", "name"]).reset_index(drop=True),
    )

"""The driver as the only writer: journaling store, replay, retries after a kill (no Ray needed).

A ``remote`` executor that runs items in this process (or in a child that is SIGKILLed) drives
the same code path as the Ray executor: :class:`RemoteSession` claims and ships, workers get a
:class:`RemoteStore`, the driver replays the envelopes.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import sys

import pandas as pd
import pytest
from conftest import DIGITS_CONFIG

from prunelab.errors import ConfigError, StoreError
from prunelab.experiments import Store
from prunelab.experiments.executors import ItemLost, SerialExecutor
from prunelab.experiments.remote_store import (
    ReadOnlyStore,
    RemoteSession,
    RemoteStore,
    driver_read,
    journal_path,
    set_driver_call,
)
from prunelab.studies import execute_item, parse_study, run_study

TINY = {
    **DIGITS_CONFIG,
    "model": {"sizes": [64, 32, 10], "density": 0.2},
    "train": {**DIGITS_CONFIG["train"], "epochs": 3},
}


def sweep(name: str = "s", epochs: int = 3) -> dict:
    return {
        **TINY,
        "name": name,
        "train": {**TINY["train"], "epochs": epochs},
        "sweep": {"grid": {"train.lr": [0.05, 0.1]}},
    }


class RemoteSerial(SerialExecutor):
    """In-process, but through the remote path (journal, replay)."""

    remote = True
    checkpoint_dir = None


def numbers(store: Store) -> pd.DataFrame:
    """Stored metrics without wall times (the only values allowed to differ between executors)."""
    m = store.metrics()
    return m[~m.name.str.endswith("seconds")].reset_index(drop=True)


def test_remote_path_stores_the_same_numbers_files_and_owner(tmp_path):
    local, remote = Store(tmp_path / "local"), Store(tmp_path / "remote")
    a = run_study(parse_study(sweep()), local, SerialExecutor())
    b = run_study(parse_study(sweep()), remote, RemoteSerial())
    assert [r["test_accuracy"] for r in a.results] == [r["test_accuracy"] for r in b.results]
    pd.testing.assert_frame_equal(numbers(local), numbers(remote))
    for res in b.results:
        row = remote.get_run(res["run_id"])
        assert row["status"] == "finished" and row["owner"].endswith(f":{os.getpid()}")
        assert row["versions"]["torch"] and row["seconds"] > 0
        assert remote.artefacts(res["run_id"]).equals(local.artefacts(res["run_id"]))
        assert (remote.root / res["run_id"] / "checkpoint.pt").exists()
        assert not journal_path(remote.root, res["run_id"]).exists()  # applied, then removed
    assert [
        r["status"] for r in run_study(parse_study(sweep()), remote, RemoteSerial()).results
    ] == ["skipped"] * 2


def _killed_attempt(payload, kill_at: int) -> None:
    """A worker that dies (SIGKILL, no cleanup) once epoch ``kill_at`` is stored and checkpointed."""

    def emit(event):
        if event.get("event") == "step" and seen["epochs"] >= kill_at:
            os.kill(os.getpid(), 9)
        if event.get("event") == "epoch":
            seen["epochs"] = event["done"]

    seen = {"epochs": 0}
    execute_item(payload, emit)


def test_attempt_killed_mid_item_resumes_from_its_checkpoint_and_stores_each_epoch_once(tmp_path):
    ref, store = Store(tmp_path / "ref"), Store(tmp_path / "runs")
    study = parse_study({**TINY, "name": "k", "train": {**TINY["train"], "epochs": 4}})
    run_study(study, ref, SerialExecutor())
    item = next(iter(study.plan(store)))[0]
    store.register_run(item.run_id, item.name, item.content)
    session = RemoteSession(store, tmp_path / "ckpt")  # a checkpoint dir apart from the runs dir
    payload = next(session.payloads(study.kind, study.raw(), [item.model_dump(mode="json")]))
    child = mp.get_context("spawn").Process(target=_killed_attempt, args=(payload, 2))
    child.start()
    child.join(300)
    assert child.exitcode == -9
    assert store.metrics([item.run_id]).empty  # the dead attempt wrote nothing to the store
    assert (tmp_path / "ckpt" / item.run_id / "checkpoint.pt").exists()
    envelope = execute_item(payload, lambda e: None)  # the retry: same payload, as Ray resends it
    messages = [a[2] for m, a, _ in envelope["journal"] if m == "set_status"]
    assert "resumed at epoch 2" in messages
    assert session.apply(envelope)["status"] == "finished"
    counts = store.metrics([item.run_id]).groupby("epoch").size()
    assert list(counts.index) == [1, 2, 3, 4] and counts.nunique() == 1
    pd.testing.assert_frame_equal(numbers(ref), numbers(store))
    assert (store.root / item.run_id / "checkpoint.pt").exists()  # files came back with the result
    assert set(store.artefacts(item.run_id).name) == set(ref.artefacts(item.run_id).name)


class Interrupting(RemoteSerial):
    def map_unordered(self, fn, payloads, on_event=None):
        it = iter(payloads)
        yield fn(next(it), lambda e: None)
        next(it)  # the second run is claimed (submitted), then Ctrl-C
        raise KeyboardInterrupt


class Losing(RemoteSerial):
    def map_unordered(self, fn, payloads, on_event=None):
        for payload in payloads:
            yield ItemLost(payload, "lost on the Ray cluster after 4 attempts: WorkerCrashedError")


def test_ctrl_c_marks_submitted_runs_interrupted_and_lost_items_failed(tmp_path):
    store = Store(tmp_path / "runs")
    with pytest.raises(KeyboardInterrupt):
        run_study(parse_study(sweep()), store, Interrupting())
    assert sorted(store.runs().status) == ["finished", "interrupted"]
    out = run_study(parse_study(sweep("lost")), Store(tmp_path / "lost"), Losing())
    assert {r["status"] for r in out.results} == {"failed"}
    assert set(Store(tmp_path / "lost").runs().message) == {
        "lost on the Ray cluster after 4 attempts: WorkerCrashedError"
    }


def test_reads_of_runs_not_shipped_go_to_the_driver_store(tmp_path):
    store = Store(tmp_path / "runs")
    run_study(parse_study(TINY), store, SerialExecutor())
    trained = store.runs().id[0]
    store.save_table(trained, "curve", pd.DataFrame({"x": [1.0, 2.0]}))
    spec = {
        "claim": "claimed",
        "snapshots": {},
        "runs_dir": str(store.root),
        "checkpoint_dir": str(tmp_path / "ckpt"),
        "driver_host": "elsewhere",
    }
    set_driver_call(lambda target, *args: driver_read(*args))
    try:
        remote = RemoteStore("new", spec)
        assert remote.get_run(trained)["status"] == "finished"
        assert len(remote.metrics([trained])) == len(store.metrics([trained]))
        assert remote.load_table(trained, "curve").x.tolist() == [
            1.0,
            2.0,
        ]  # not in the checkpoint dir
        assert remote.resolve(trained)[0] == "run"
    finally:
        set_driver_call(None)
    remote.log_metrics(trained, 99, {"x": 1.0})
    assert 99 not in set(store.metrics([trained]).epoch)  # journaled, not written
    with pytest.raises(StoreError):
        ReadOnlyStore(store.root).log_metrics(trained, 1, {"x": 1.0})
    with pytest.raises(StoreError):
        driver_read(str(store.root), "log_metrics", trained, 1, {"x": 1.0})


def test_ray_missing_is_one_line_with_the_install_hint(monkeypatch):
    from prunelab.experiments.executors import make_executor

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ConfigError, match=r"pip install 'prunelab\[ray\]'"):
        make_executor("ray", 1)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--executor", "rya"], "did you mean 'ray'"),
        (["--address", "127.0.0.1:1"], "--address only apply with --executor ray"),
        (
            ["--executor", "ray", "--address", "127.0.0.1:9", "--workers", "2"],
            "--workers 2 conflicts with --address",
        ),
        (
            ["--executor", "ray", "--address", "127.0.0.1:9"],
            "no Ray cluster reachable at --address 127.0.0.1:9",
        ),
        (["--executor", "ray", "--address", "nohost"], "--address must be HOST:PORT"),
    ],
)
def test_bad_executor_options_give_one_line(tmp_path, args, message):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "data: {name: digits}\nmodel: {sizes: [64, 10], density: 0.5}\ntrain: {epochs: 1}\n"
    )
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "prunelab.cli.main",
            "run",
            str(cfg),
            "--runs-dir",
            str(tmp_path / "r"),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1 and message in lines[0], out.stderr


def test_executor_section_is_not_part_of_the_study_and_is_validated(tmp_path):
    from prunelab.studies import load_study
    from prunelab.studies.base import load_executor_section

    plain, placed = tmp_path / "plain.yaml", tmp_path / "placed.yaml"
    body = "data: {name: digits}\nmodel: {sizes: [64, 10], density: 0.5}\ntrain: {epochs: 1}\n"
    plain.write_text(body)
    placed.write_text(body + "executor: {name: ray, address: '127.0.0.1:6379', cpus_per_item: 2}\n")
    assert load_study(placed).study_id() == load_study(plain).study_id()
    section = load_executor_section(placed)
    assert section.name == "ray" and section.options() == {
        "address": "127.0.0.1:6379",
        "cpus_per_item": 2.0,
    }
    assert load_executor_section(plain).options() == {}
    placed.write_text(body + "executor: {nmae: ray}\n")
    with pytest.raises(ConfigError, match="nmae"):
        load_executor_section(placed)


def test_a_checkpoint_dir_this_node_cannot_create_falls_back_to_its_temp_dir(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text(
        ""
    )  # a file where the folder should be: mkdir fails as on a node without the path
    spec = {
        "claim": "claimed",
        "snapshots": {},
        "runs_dir": str(blocked / "runs"),
        "checkpoint_dir": str(blocked / "runs"),
        "driver_host": "driver",
    }
    store = RemoteStore("r1", spec)
    assert store.root.is_dir() and "prunelab-checkpoints" in str(store.root) and not store.in_place
    (store.run_dir("r1") / "x.bin").write_bytes(b"abc")
    assert ("r1/x.bin", b"abc") in store.envelope({"run_id": "r1"})["files"]


PHASE = {
    "kind": "phase",
    "name": "tinyphase",
    "data": {"name": "digits"},
    "family": "fc",
    "widths": [8, 16],
    "seeds": [0],
    "schedule": {"start": 1.0, "stop": 2e-2, "n_steps": 4},
    "pretrain_epochs": 2,
    "finetune_epochs": 1,
    "train": {"lr": 0.05, "batch_size": 64},
    "null": {
        "n_rewired": 1,
        "densities": "auto",
        "n_auto": 1,
        "widths": [16],
        "seeds": [0],
        "epochs": 1,
    },
    "analysis": {"n_boot": 5, "n_boot_collapse": 0},
}


ROBUST = {
    "kind": "robustness",
    "name": "r",
    "runs": parse_study(TINY).runs()[0].run_id(),
    "kinds": ["random_pruning", "weight_noise"],
    "strengths": [0.0, 0.5],
}


def test_phase_and_robustness_kinds_store_the_same_through_the_remote_path(tmp_path):
    """Every kind goes through the journal: trajectories, null models (they read the trajectories'
    masks and metrics) and robustness curves (tables of trained runs that the items only read)."""
    torch_threads = __import__("torch").get_num_threads()
    __import__("torch").set_num_threads(1)
    try:
        stores = {}
        for label, executor in (("local", SerialExecutor()), ("remote", RemoteSerial())):
            store = stores[label] = Store(tmp_path / label)
            assert not run_study(parse_study(PHASE), store, executor).bad
            run_study(parse_study(TINY), store, SerialExecutor())
            assert not run_study(parse_study(ROBUST), store, executor).bad
        local, remote = stores["local"], stores["remote"]
        pd.testing.assert_frame_equal(numbers(local), numbers(remote))
        assert sorted(remote.runs().id) == sorted(local.runs().id) and set(
            remote.runs().status
        ) == {"finished"}
        for run_id in local.runs().id:
            for name in local.artefacts(run_id).name:
                assert name in set(remote.artefacts(run_id).name)
        for study in (parse_study(PHASE), parse_study(ROBUST)):
            ours, theirs = study.analyse(local), study.analyse(remote)
            for name, table in ours.items():
                if isinstance(table, pd.DataFrame) and not any(
                    "seconds" in str(c) for c in table.columns
                ):
                    pd.testing.assert_frame_equal(table, theirs[name], check_like=True)
            assert len(ours["curves" if study.kind == "robustness" else next(iter(ours))])
    finally:
        __import__("torch").set_num_threads(torch_threads)

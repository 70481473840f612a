"""Damaged, missing and unsafe checkpoints: fall back to the previous one, else restart; never a traceback.

Each case stops a run after epoch 2 (``epoch.end:2:interrupt``: ``checkpoint.pt`` holds epoch 2,
``checkpoint.prev.pt`` epoch 1; a phase trajectory in its third step), damages the files, reruns, and compares with an uninterrupted
run bit for bit; the run's message says what happened.
"""

from __future__ import annotations

import copy
import io
import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from faults.faultlib import PHASE, STUDIES, TRAIN, assert_same_store, run
from prunelab.core import faults
from prunelab.errors import UnsafeFileError
from prunelab.experiments import Store
from prunelab.experiments.journal import read_records, write_record
from prunelab.experiments.runner import load_run_model
from prunelab.training.checkpoints import previous_path, safe_load


def _stopped_after_epoch_2(root: Path, kind: str = "train") -> Path:
    """A run (or trajectory) interrupted after its second checkpoint; returns its folder."""
    # train: after epoch 2's checkpoint; phase: in step 2's fine-tuning (checkpoints of steps 0 and 1 exist)
    faults.configure("epoch.end:2:interrupt" if kind == "train" else "epoch.end:4:interrupt")
    outcome = run(STUDIES[kind], root)
    faults.configure(None)
    assert [r["status"] for r in outcome.results] == ["interrupted"], outcome.results
    (run_id,) = [r["run_id"] for r in outcome.results]
    return root / run_id


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


DAMAGE = {
    "truncated": _truncate,
    "garbage": lambda p: p.write_bytes(os.urandom(p.stat().st_size)),
    "empty": lambda p: p.write_bytes(b""),
    "text": lambda p: p.write_text("not a checkpoint\n"),
    "other network": lambda p: torch.save({"epoch": 2, "model": {"w": torch.zeros(3)}}, p),
    "not a dict": lambda p: torch.save([1, 2, 3], p),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_checkpoint_falls_back_to_the_previous_one(damage, tmp_path, reference):
    root = tmp_path / "runs"
    folder = _stopped_after_epoch_2(root)
    DAMAGE[damage](folder / "checkpoint.pt")
    outcome = run(TRAIN, root)
    (res,) = outcome.results
    assert res["status"] == "finished", res
    assert (
        "checkpoint.pt did not load" in res["message"] and "resumed at epoch 1" in res["message"]
    ), res["message"]
    assert "\n" not in res["message"]
    assert Store(root).get_run(res["run_id"])["message"] == res["message"]
    assert_same_store(root, reference("train"))


def test_both_checkpoints_damaged_restart_from_epoch_0(tmp_path, reference):
    root = tmp_path / "runs"
    folder = _stopped_after_epoch_2(root)
    _truncate(folder / "checkpoint.pt")
    (folder / "checkpoint.prev.pt").write_bytes(b"\x00" * 64)
    (res,) = run(TRAIN, root).results
    assert res["status"] == "finished"
    assert (
        "checkpoint.prev.pt did not load" in res["message"]
        and "starting from scratch" in res["message"]
    )
    assert_same_store(root, reference("train"))


def test_a_missing_newest_checkpoint_uses_the_previous_one(tmp_path, reference):
    # what a kill between moving the old checkpoint aside and renaming the new one leaves
    root = tmp_path / "runs"
    folder = _stopped_after_epoch_2(root)
    (folder / "checkpoint.pt").unlink()
    (res,) = run(TRAIN, root).results
    assert (
        res["status"] == "finished"
        and "missing" in res["message"]
        and "resumed at epoch 1" in res["message"]
    )
    assert_same_store(root, reference("train"))


def test_a_checkpoint_ahead_of_the_store_restarts(tmp_path, reference):
    # e.g. the database was restored from a backup older than the checkpoint: its epochs' metrics are gone
    root = tmp_path / "runs"
    folder = _stopped_after_epoch_2(root)
    store = Store(root)
    store.drop_metrics_after(folder.name, 0)
    (res,) = run(TRAIN, root).results
    assert res["status"] == "finished" and "starting from scratch" in res["message"], res["message"]
    assert_same_store(root, reference("train"))


def test_a_damaged_trajectory_checkpoint_falls_back(tmp_path, reference):
    root = tmp_path / "runs"
    folder = _stopped_after_epoch_2(root, "phase")
    assert previous_path(folder / "trajectory.pt").exists()
    _truncate(folder / "trajectory.pt")
    (res,) = run(PHASE, root).results
    assert res["status"] == "finished"
    assert "trajectory.pt did not load" in res["message"] and "resumed at step" in res["message"], (
        res["message"]
    )
    assert_same_store(root, reference("phase"))


def test_a_damaged_rewind_state_restarts_the_trajectory(tmp_path):
    raw = copy.deepcopy(PHASE)
    raw["rewind"] = "init"
    want = tmp_path / "want"
    run(raw, want)
    root = tmp_path / "runs"
    faults.configure("epoch.end:4:interrupt")  # the rewind state and two steps are stored
    (res,) = run(raw, root).results
    faults.configure(None)
    assert res["status"] == "interrupted"
    _truncate(root / res["run_id"] / "rewind.pt")
    (res,) = run(raw, root).results
    assert (
        res["status"] == "finished"
        and "rewind.pt" in res["message"]
        and "starting from scratch" in res["message"]
    )
    assert_same_store(root, want)


class _Payload:
    """Unpickling it would create a file: the proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_checkpoint_that_needs_unpickling_is_refused(tmp_path):
    root = tmp_path / "runs"
    folder = _stopped_after_epoch_2(root)
    marker = tmp_path / "code-ran"
    state = torch.load(folder / "checkpoint.pt", weights_only=True)
    state["hooks"] = [_Payload(marker)]
    torch.save(state, folder / "checkpoint.pt")
    (res,) = run(TRAIN, root).results
    assert res["status"] == "failed" and not marker.exists()
    assert (
        res["message"].startswith("refusing to load") and "arbitrary unpickling" in res["message"]
    )
    assert "\n" not in res["message"]
    assert Store(root).get_run(res["run_id"])["status"] == "failed"


def test_a_run_model_that_needs_unpickling_is_refused(tmp_path, reference):
    root = tmp_path / "runs"
    import shutil

    shutil.copytree(reference("train"), root)
    (run_id,) = Store(root).runs().id
    marker = tmp_path / "code-ran"
    ckpt = root / run_id / "checkpoint.pt"
    torch.save({"model": _Payload(marker)}, ckpt)
    with pytest.raises(UnsafeFileError, match="refusing to load .*arbitrary unpickling"):
        load_run_model(Store(root), run_id)
    assert not marker.exists()


def test_checkpoints_hold_only_tensors_and_plain_containers(reference):
    root = reference("train")
    (run_id,) = Store(root).runs().id
    state = safe_load(root / run_id / "checkpoint.pt")  # weights_only=True
    rng = state["rng"]
    assert rng["bit_generator"] == "PCG64" and isinstance(rng["state"]["state"], int)
    assert isinstance(state["torch_rng"], torch.Tensor)
    assert state["hooks"][0]["n_updates"] == 2  # the DST hook's state
    with pytest.raises(pickle.UnpicklingError):  # and the loader really is the restricted one
        torch.load(_unsafe_file(root.parent / "unsafe.pt"), weights_only=True)


def _unsafe_file(path: Path) -> Path:
    torch.save({"x": _Payload(path.with_suffix(".marker"))}, path)
    return path


def test_journal_records_round_trip_as_plain_containers(tmp_path):
    table = pd.DataFrame({"strength": [0.0, 0.5], "accuracy": [0.9, np.nan]})
    entry = (
        "op",
        "save_table",
        ("abc", "curve", table),
        {"epoch": np.int64(3), "x": [np.float32(0.5), None], "v": torch.__version__},
    )
    buf = io.BytesIO()
    write_record(buf, entry)
    path = tmp_path / "j.pkl"
    path.write_bytes(buf.getvalue() + buf.getvalue()[:10])  # a second record cut short by a kill
    (got,) = read_records(path)
    assert got[:2] == ("op", "save_table") and got[3] == {
        "epoch": 3,
        "x": [0.5, None],
        "v": str(torch.__version__),
    }
    assert type(got[3]["v"]) is str
    pd.testing.assert_frame_equal(got[2][2], table)
    with pytest.raises(TypeError, match="cannot hold a .*Path"):
        write_record(io.BytesIO(), ("op", Path("x")))


def test_a_journal_that_needs_unpickling_is_refused(tmp_path):
    """A remote item's journal (in the shared checkpoint directory) never runs code when it is read."""
    from prunelab.experiments.executors import SerialExecutor
    from prunelab.experiments.remote_store import journal_path
    from prunelab.studies import parse_study, run_study

    class RemoteSerial(SerialExecutor):
        remote = True
        checkpoint_dir = None

    raw = copy.deepcopy(TRAIN)
    store = Store(tmp_path / "runs")
    (item,) = next(iter(parse_study(copy.deepcopy(raw)).plan(store)))
    marker = tmp_path / "code-ran"
    path = journal_path(store.root, item.run_id)
    path.parent.mkdir(parents=True)
    path.write_bytes(
        pickle.dumps(("op", "log_metrics", (item.run_id, 1, {"x": _Payload(marker)}), {}))
    )
    (res,) = run_study(parse_study(copy.deepcopy(raw)), store, RemoteSerial()).results
    assert not marker.exists()
    assert res["status"] == "failed" and res["message"].startswith("refusing to read journal"), res
    assert "\n" not in res["message"] and store.get_run(item.run_id)["status"] == "failed"
    assert not path.exists()  # discarded by the driver: the rerun restarts the item
    (res,) = run_study(parse_study(copy.deepcopy(raw)), store, RemoteSerial()).results
    assert res["status"] == "finished"

"""A disk that fills up or turns read-only mid-run: the run stops ``failed`` with one line, the
database and the last checkpoint stay intact, and a rerun after space is freed resumes to the
numbers of an uninterrupted run.

Most cases inject the error at a write (``<point>:<n>:enospc``); one fills a real, tiny tmpfs
(when this process may mount one).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from faults.faultlib import STUDIES, TRAIN, assert_same_store, run
from prunelab.cli.main import main
from prunelab.core import faults
from prunelab.experiments import Store
from prunelab.experiments.integrity import backups
from prunelab.studies import parse_study, run_study

#: (study, fault, what the failure message names)
CASES = [
    ("train", "checkpoint.write:2:enospc", "checkpoint.pt: no space left on device"),
    ("train", "checkpoint.rotate:2:enospc", "checkpoint.pt: no space left on device"),
    ("train", "metrics.write:2:enospc", "prunelab.sqlite: no space left on device"),
    ("train", "topology.write:1:erofs", "layer0.npz: read-only file system"),
    (
        "train",
        "store.write:5:enospc",
        "prunelab.sqlite: no space left on device",
    ),  # the first write after the claim
    ("phase", "masks.write:2:enospc", "step001.npz: no space left on device"),
    ("phase", "checkpoint.write:3:erofs", "trajectory.pt: read-only file system"),
]


def _sound(root: Path) -> None:
    with sqlite3.connect(root / "prunelab.sqlite") as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert not list(root.rglob(".*.tmp-*")), "a failed write left its temporary file"


@pytest.mark.parametrize(("kind", "fault", "names"), CASES, ids=[c[1] for c in CASES])
def test_a_full_disk_fails_the_run_in_one_line_and_a_rerun_resumes(
    kind, fault, names, tmp_path, reference
):
    root = tmp_path / "runs"
    faults.configure(fault)
    (res,) = run(STUDIES[kind], root).results
    faults.configure(None)
    assert res["status"] == "failed" and names in res["message"], res
    assert "\n" not in res["message"] and "rerun" in res["message"]
    _sound(root)
    row = Store(root).get_run(res["run_id"])
    assert row["status"] == "failed" and row["message"] == res["message"]
    for name in ("checkpoint.pt", "trajectory.pt"):  # the last complete checkpoint loads
        ckpt = root / res["run_id"] / name
        if ckpt.exists():
            torch.load(ckpt, weights_only=True)
    (again,) = run(STUDIES[kind], root).results
    assert again["status"] == "finished", again
    assert_same_store(root, reference(kind))


def test_the_checkpoint_kept_is_the_last_complete_one(tmp_path):
    root = tmp_path / "runs"
    faults.configure("checkpoint.write:3:enospc")
    (res,) = run(TRAIN, root).results
    faults.configure(None)
    assert res["status"] == "failed"
    folder = root / res["run_id"]
    assert torch.load(folder / "checkpoint.pt", weights_only=True)["epoch"] == 2
    assert torch.load(folder / "checkpoint.prev.pt", weights_only=True)["epoch"] == 1
    assert sorted(Store(root).metrics([res["run_id"]]).epoch.unique()) == [
        1,
        2,
        3,
    ]  # epoch 3 is redone


def test_the_command_line_says_it_in_one_line(tmp_path, monkeypatch, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(TRAIN))
    monkeypatch.setattr(
        sys, "argv", ["prunelab", "run", str(config), "--runs-dir", str(tmp_path / "runs")]
    )
    faults.configure("checkpoint.write:1:enospc")
    with pytest.raises(SystemExit) as ex:
        main()
    err = capsys.readouterr().err
    assert ex.value.code == 1 and "Traceback" not in err
    (line,) = [x for x in err.strip().splitlines() if not x.startswith("warning")]
    assert (
        line.startswith("run ")
        and "failed: could not write" in line
        and "no space left on device" in line
    )


def test_a_backup_that_does_not_fit_fails_nothing(tmp_path):
    root = tmp_path / "runs"
    faults.configure("backup.write:1:enospc")
    outcome = run(TRAIN, root)
    faults.configure(None)
    assert [r["status"] for r in outcome.results] == ["finished"]
    assert outcome.backup is None and "no space left on device" in outcome.backup_error
    assert backups(root) == [] and not list((root / "backups").iterdir())


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True)
    if shutil.which("mount") is None:
        return False
    out = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    return out.returncode == 0


def _fill(folder: Path) -> Path:
    """Write zeros into ``folder`` until its file system is full; returns the filler file."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 65536) > 0:
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    return filler


def test_a_real_full_disk(tmp_path, reference):
    mount = tmp_path / "small"
    if not _mount_tmpfs(mount, "24m"):
        pytest.skip("mounting a tmpfs needs root (CAP_SYS_ADMIN)")
    try:
        root = mount / "runs"
        filled: list[Path] = []

        def on_event(event: dict) -> None:
            if event.get("event") == "epoch" and event.get("done") == 2 and not filled:
                filled.append(_fill(mount))  # the disk fills up while epoch 2 is stored

        outcome = run_study(parse_study(dict(TRAIN)), Store(root), on_event=on_event)
        (res,) = outcome.results
        assert res["status"] == "failed" and "no space left on device" in res["message"], res
        assert outcome.backup is None and outcome.backup_error
        assert torch.load(root / res["run_id"] / "checkpoint.pt", weights_only=True)["epoch"] == 1
        filled[0].unlink()  # space is freed
        _sound(root)
        (again,) = run(TRAIN, root).results
        assert again["status"] == "finished"
        assert_same_store(root, reference("train"))
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)

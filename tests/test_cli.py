"""The command line: the issue's digits config as written, store commands, one-line errors."""

from __future__ import annotations

import sys

import pandas as pd
import pytest
import yaml

from prunelab.cli.main import main

DIGITS_YAML = """\
data: {name: digits}
model: {sizes: [64, 128, 128, 10], density: 0.1}
train: {epochs: 5, batch_size: 64, lr: 0.05, seed: 0}
"""


def cli(monkeypatch, capsys, *args):
    monkeypatch.setattr(sys, "argv", ["prunelab", *map(str, args)])
    code = 0
    try:
        main()
    except SystemExit as ex:
        code = ex.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def digits_yaml(tmp_path):
    path = tmp_path / "digits.yaml"
    path.write_text(DIGITS_YAML)
    return path


def test_issue_config_runs_and_store_commands(monkeypatch, capsys, tmp_path, digits_yaml):
    runs = tmp_path / "runs"
    code, out, err = cli(monkeypatch, capsys, "run", digits_yaml, "--runs-dir", runs)
    assert code == 0, err
    assert "finished" in out
    code, out, _ = cli(monkeypatch, capsys, "run", digits_yaml, "--runs-dir", runs)
    assert code == 0 and "skipped" in out
    code, out, _ = cli(monkeypatch, capsys, "ls", "--runs-dir", runs)
    assert code == 0 and "digits" in out and "finished" in out
    code, out, _ = cli(monkeypatch, capsys, "show", "digits", "--runs-dir", runs)
    assert code == 0 and "test_accuracy" in out
    csv = tmp_path / "m.csv"
    assert (
        cli(monkeypatch, capsys, "export", "--format", "csv", "--out", csv, "--runs-dir", runs)[0]
        == 0
    )
    pq = tmp_path / "m.parquet"
    assert (
        cli(monkeypatch, capsys, "export", "--format", "parquet", "--out", pq, "--runs-dir", runs)[
            0
        ]
        == 0
    )
    a, b = pd.read_csv(csv), pd.read_parquet(pq)
    assert len(a) == len(b) > 0
    acc = a[a.metric == "test_accuracy"].sort_values("epoch")
    assert acc.epoch.tolist() == [1, 2, 3, 4, 5] and acc.value.iloc[-1] > 0.5
    code, out, _ = cli(monkeypatch, capsys, "report", "digits", "--runs-dir", runs)
    assert code == 0
    report = runs / "reports" / "digits"
    html = (report / "index.html").read_text()
    assert "accuracy_loss.png" in html and (report / "accuracy_loss.png").stat().st_size > 5000
    assert (report / "density.png").exists()


def test_sweep_with_overrides(monkeypatch, capsys, tmp_path, digits_yaml):
    raw = yaml.safe_load(DIGITS_YAML)
    raw["train"]["epochs"] = 1
    raw["sweep"] = {"grid": {"model.density": [0.1, 0.3]}, "seeds": [0, 1]}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(raw))
    runs = tmp_path / "runs"
    code, out, err = cli(
        monkeypatch, capsys, "run", path, "--runs-dir", runs, "--set", "train.lr=0.1"
    )
    assert code == 0, err
    from prunelab.experiments import Store

    store = Store(runs)
    kind, _, ids = store.resolve("sweep")
    assert kind == "sweep" and len(ids) == 4
    assert set(store.runs().status) == {"finished"}
    assert cli(monkeypatch, capsys, "report", "sweep", "--runs-dir", runs)[0] == 0


@pytest.mark.parametrize(
    "extra, match",
    [
        (["--set", "train.lrr=1"], "did you mean 'train.lr'"),
        (["--set", "model.density=2"], r"\(0, 1\]"),
        (["--set", "data.name=fashion-mnis"], "fashion-mnist"),
        (["--set", "train.optimizer=lbfgs"], "train.optimizer"),
        (["--set", "model.sizes=[64]"], "at least two"),
        (["--set", "model.backend=tpu"], "model.backend"),
    ],
)
def test_bad_input_exits_2_with_one_line(monkeypatch, capsys, tmp_path, digits_yaml, extra, match):
    import re

    code, out, err = cli(
        monkeypatch, capsys, "run", digits_yaml, "--runs-dir", tmp_path / "runs", *extra
    )
    assert code == 2
    assert re.search(match, err), err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_missing_config_and_unwritable_runs_dir(monkeypatch, capsys, tmp_path, digits_yaml):
    code, _, err = cli(monkeypatch, capsys, "run", tmp_path / "none.yaml")
    assert code == 2 and "not found" in err
    blocker = tmp_path / "f"
    blocker.write_text("")
    code, _, err = cli(monkeypatch, capsys, "run", digits_yaml, "--runs-dir", blocker / "runs")
    assert code == 2 and "not writable" in err


def test_unknown_option_is_a_usage_error(monkeypatch, capsys):
    code, _, err = cli(monkeypatch, capsys, "run", "--bogus")
    assert code == 2 and "bogus" in err


def test_diverging_run_exits_1(monkeypatch, capsys, tmp_path, digits_yaml):
    code, _, err = cli(
        monkeypatch,
        capsys,
        "run",
        digits_yaml,
        "--runs-dir",
        tmp_path / "r",
        "--set",
        "train.lr=1e30",
    )
    assert code == 1 and "diverged" in err and "lower train.lr" in err


def test_ls_renders_pending_runs_without_seconds_or_message(monkeypatch, capsys, tmp_path):
    from prunelab.experiments.store import Store

    runs = tmp_path / "runs"
    store = Store(runs)
    store.register_run(
        "abc123def456", "sweep/x=1", {"name": "sweep"}
    )  # pending: no seconds, no message
    store.register_run("fed654cba321", "sweep/x=2", {"name": "sweep"})
    store.set_status("fed654cba321", "failed", "boom")  # a string message makes NULL messages NaN
    store.register_run("0dead0000000", "sweep/x=3", {"name": "sweep"})
    with store._connect() as con:  # running, owned by a process that no longer exists on this host
        import socket

        con.execute(
            "UPDATE runs SET status = 'running', owner = ? WHERE id = '0dead0000000'",
            (f"{socket.gethostname()}:999999999",),
        )
    code, out, err = cli(monkeypatch, capsys, "ls", "--runs-dir", runs)
    assert code == 0, err
    assert "abc123def456" in out and "pending" in out and "boom" in out
    assert "process gone" in out

"""`prunelab robustness` on stored runs: curves cached in the store, figures in the report."""

from __future__ import annotations

import yaml
from test_cli import cli


def test_robustness_command_end_to_end(monkeypatch, capsys, tmp_path):
    raw = {
        "name": "rob",
        "data": {"name": "digits"},
        "model": {"sizes": [64, 96, 96, 10], "density": 0.2},
        "train": {"epochs": 3, "batch_size": 64, "lr": 0.05},
        "dst": {"regrowth": "random"},
        "sweep": {"grid": {"dst.regrowth": ["random", "ch3l3"]}, "seeds": [0]},
    }
    cfg = tmp_path / "rob.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    runs = tmp_path / "runs"
    assert cli(monkeypatch, capsys, "run", cfg, "--runs-dir", runs)[0] == 0
    code, out, err = cli(
        monkeypatch,
        capsys,
        "robustness",
        "rob",
        "--runs-dir",
        runs,
        "--kinds",
        "reverse_weight_order_pruning,weight_order_pruning",
        "--kinds",
        "weight_noise",
        "--strengths",
        "0,0.5,1",
    )
    assert code == 0, err
    from prunelab.experiments import Store

    store = Store(runs)
    ids = store.resolve("rob")[2]
    t = store.load_table(ids[0], "robustness/weight_order_pruning")
    assert sorted(t.strength.unique()) == [0.0, 0.5, 1.0]
    base = t[t.strength == 0].accuracy.iloc[0]
    assert base == t.baseline_accuracy.iloc[0] > 0.3
    assert (
        t[t.strength == 1].accuracy.iloc[0] < base
    )  # removing every sparse link destroys the network
    assert set(store.load_table(ids[1], "robustness/weight_noise").group) <= {"RLR", "CH3-L3"}
    assert cli(monkeypatch, capsys, "report", "rob", "--runs-dir", runs)[0] == 0
    html = (runs / "reports" / "rob" / "index.html").read_text()
    assert (
        "robustness_pruning.png" in html
        and "robustness_weights.png" in html
        and "weight_densities.png" in html
    )
    # cached: a rerun computes nothing new and gives the same table
    assert (
        cli(
            monkeypatch,
            capsys,
            "robustness",
            "rob",
            "--runs-dir",
            runs,
            "--kinds",
            "weight_order_pruning",
            "--strengths",
            "0,0.5,1",
        )[0]
        == 0
    )
    assert store.load_table(ids[0], "robustness/weight_order_pruning").equals(t)


def test_robustness_bad_input(monkeypatch, capsys, tmp_path):
    raw = {
        "name": "r2",
        "data": {"name": "digits"},
        "model": {"sizes": [64, 32, 10], "density": 0.3},
        "train": {"epochs": 1},
    }
    cfg = tmp_path / "r2.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    runs = tmp_path / "runs"
    assert cli(monkeypatch, capsys, "run", cfg, "--runs-dir", runs)[0] == 0
    code, _, err = cli(
        monkeypatch, capsys, "robustness", "r2", "--runs-dir", runs, "--kinds", "random_prunning"
    )
    assert code == 2 and "unknown perturbation kind" in err
    code, _, err = cli(
        monkeypatch,
        capsys,
        "robustness",
        "r2",
        "--runs-dir",
        runs,
        "--kinds",
        "random_pruning",
        "--strengths",
        "0,1.5",
    )
    assert code == 2 and "[0, 1]" in err, err
    code, _, err = cli(
        monkeypatch,
        capsys,
        "robustness",
        "r2",
        "--runs-dir",
        runs,
        "--kinds",
        "weight_noise",
        "--strengths",
        "-1",
    )
    assert code == 2 and len(err.strip().splitlines()) == 1

"""The Sulyok 2026 reproduction page is generated from a stored DST sweep (small digits stand-in)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from test_cli import cli

from reproductions.sulyok2026 import epochs_to_plateau, write_page


def test_epochs_to_plateau_known_answers():
    acc = np.array([0.1, 0.5, 0.8, 0.85, 0.86, 0.86, 0.86, 0.86, 0.86])
    assert epochs_to_plateau(acc) == 5  # final 0.86, threshold 0.855: first reached at epoch 5
    acc2 = np.array([0.2, 0.9, 0.9, 0.9, 0.9, 0.9])
    assert epochs_to_plateau(acc2) == 2


def test_page_from_sweep(monkeypatch, capsys, tmp_path):
    raw = {
        "name": "sulyok2026",
        "data": {"name": "digits"},
        "model": {"sizes": [64, 64, 64, 10], "density": 0.2},
        "train": {"epochs": 6, "batch_size": 64, "lr": 0.05},
        "dst": {"regrowth": "random", "stop_overlap": None},
        "sweep": {
            "grid": {"dst.regrowth": ["random", "ch3l3"], "dst.chain_removal": [False, True]},
            "seeds": [0, 1],
        },
    }
    cfg = tmp_path / "s.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    runs = tmp_path / "runs"
    assert cli(monkeypatch, capsys, "run", cfg, "--runs-dir", runs)[0] == 0
    assert (
        cli(
            monkeypatch,
            capsys,
            "robustness",
            "sulyok2026",
            "--runs-dir",
            runs,
            "--strengths",
            "0,0.3,0.6,1",
        )[0]
        == 0
    )
    from prunelab.experiments import Store

    page = write_page(Store(runs), "sulyok2026", tmp_path / "docs")
    text = page.read_text()
    for needle in (
        "RLR",
        "CH3-L3",
        "epochs to plateau",
        "ratio RLR/CH3-L3",
        "ratio RLR + chain/CH3-L3 + chain",
        "Chain removal with RLR",
        "active hidden neurons",
        "f½ weight-order",
        "89.00",
    ):
        assert needle in text, needle
    figs = tmp_path / "docs" / "figures" / "sulyok2026"
    for name in (
        "accuracy_vs_epoch.png",
        "update_time.png",
        "robustness_pruning.png",
        "robustness_weights.png",
    ):
        assert (figs / name).stat().st_size > 5000
    import pandas as pd

    summary = pd.read_csv(figs / "summary.csv").set_index("method")
    assert sorted(summary.index) == ["CH3-L3", "CH3-L3 + chain", "RLR", "RLR + chain"]
    # the update time is the stored total per update, not the total plus its stages
    store = Store(runs)
    wide = store.metrics(wide=True)
    rlr_ids = [
        r
        for r in store.resolve("sulyok2026")[2]
        if store.get_run(r)["config"]["dst"]["regrowth"] == "random"
        and not store.get_run(r)["config"]["dst"]["chain_removal"]
    ]
    per_run = wide[wide.run_id.isin(rlr_ids)].groupby("run_id")["dst/total_seconds"].median()
    assert summary.loc["RLR", "topology update (s, median)"] == pytest.approx(
        float(np.median(per_run)), abs=1e-4
    )
    assert 0 < summary.loc["RLR + chain", "active hidden neurons (median)"] <= 3 * 64

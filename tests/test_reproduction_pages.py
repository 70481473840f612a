"""The Sulyok 2026 reproduction page is generated from a stored DST sweep (small digits stand-in)."""

from __future__ import annotations

import numpy as np
import yaml
from test_cli import cli

from prunelab.report.sulyok2026 import epochs_to_plateau, write_page


def test_epochs_to_plateau_known_answers():
    acc = np.array([0.1, 0.5, 0.8, 0.85, 0.86, 0.86, 0.86, 0.86, 0.86])
    assert epochs_to_plateau(acc) == 5  # final 0.86, threshold 0.855: first reached at epoch 5
    acc2 = np.array([0.2, 0.9, 0.9, 0.9, 0.9, 0.9])
    assert epochs_to_plateau(acc2) == 2


def test_page_from_sweep(monkeypatch, capsys, tmp_path):
    raw = {"name": "sulyok2026", "data": {"name": "digits"}, "model": {"sizes": [64, 64, 64, 10], "density": 0.2},
           "train": {"epochs": 6, "batch_size": 64, "lr": 0.05}, "dst": {"regrowth": "random", "stop_overlap": None},
           "sweep": {"grid": {"dst.regrowth": ["random", "ch3l3"]}, "seeds": [0, 1]}}
    cfg = tmp_path / "s.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    runs = tmp_path / "runs"
    assert cli(monkeypatch, capsys, "run", cfg, "--runs-dir", runs)[0] == 0
    assert cli(monkeypatch, capsys, "robustness", "sulyok2026", "--runs-dir", runs, "--strengths", "0,0.3,0.6,1")[0] == 0
    from prunelab.experiments import Store

    page = write_page(Store(runs), "sulyok2026", tmp_path / "docs")
    text = page.read_text()
    for needle in ("RLR", "CH3-L3", "epochs to plateau", "ratio RLR/CH3-L3", "f½ weight-order", "89.00"):
        assert needle in text, needle
    figs = tmp_path / "docs" / "figures" / "sulyok2026"
    for name in ("accuracy_vs_epoch.png", "update_time.png", "robustness_pruning.png", "robustness_weights.png"):
        assert (figs / name).stat().st_size > 5000
    summary = (figs / "summary.csv").read_text()
    assert summary.count("\n") == 3  # header + RLR + CH3-L3

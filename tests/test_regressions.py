"""Bugs found while unifying the architecture; each test failed before its fix."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prunelab.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_robustness_curves_are_cached_per_seed(tmp_path, digits):
    """A second robustness study with another seed must not return the first one's curves."""
    from prunelab.experiments import Store, parse_config, run_experiment
    from prunelab.studies.base import run_study
    from prunelab.studies.robustness import RobustnessStudy

    cfg = parse_config(
        {
            "name": "net",
            "data": {"name": "digits"},
            "model": {"sizes": [64, 32, 10], "density": 0.3},
            "train": {"epochs": 1, "batch_size": 64},
        }
    )
    store = Store(tmp_path / "runs")
    run_experiment(cfg, store)
    tables = {}
    for seed in (0, 1, 0):
        study = RobustnessStudy(
            name=f"rob{seed}",
            runs="net",
            kinds=["random_pruning"],
            strengths=[0.0, 0.3, 0.6, 0.9],
            seed=seed,
        )
        run_study(study, store)
        tables.setdefault(seed, []).append(
            study.analyse(store)["curves"].sort_values("strength").accuracy.to_numpy()
        )
    assert not np.array_equal(tables[0][0], tables[1][0])  # other random removals
    np.testing.assert_array_equal(tables[0][0], tables[0][1])  # the seed-0 curve is still there


def test_backend_auto_follows_the_training_device():
    """``backend: auto`` with ``train.device: cuda`` must build the masked backend (csr is CPU only)."""
    from prunelab.experiments import model_of
    from prunelab.experiments.config import ModelConfig

    cfg = ModelConfig(sizes=[8, 6, 3], density=0.5)
    assert {layer.backend_name for layer in model_of(cfg, 0, device="cuda").sparse_layers()} == {
        "masked"
    }
    assert {layer.backend_name for layer in model_of(cfg, 0, device="cpu").sparse_layers()} == {
        "csr"
    }


@pytest.mark.parametrize(
    "train, match",
    [
        ({"epochs": 7}, "train.epochs is not used by a phase study"),
        ({"train_subset": 100}, "set train_subset at the top level"),
    ],
)
def test_phase_configs_reject_keys_they_would_ignore(train, match):
    from prunelab.studies.phase import parse_study_config

    with pytest.raises(ConfigError, match=match):
        parse_study_config(
            {"name": "p", "data": {"name": "digits"}, "widths": [8, 16, 24], "train": train}
        )


def test_make_clean_keeps_the_results():
    out = subprocess.run(
        ["make", "-n", "clean"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert "rm -rf" in out and "runs" not in out.split()


def test_one_evaluate_with_named_fields(digits):
    import torch

    from prunelab.nn import SparseMLP
    from prunelab.nn.inference import InferencePlan
    from prunelab.perturb import evaluate as perturb_evaluate
    from prunelab.training import evaluate

    assert perturb_evaluate is evaluate
    model = SparseMLP([64, 32, 10], density=0.3, seed=0)
    x, y = torch.as_tensor(digits.x_test), torch.as_tensor(digits.y_test)
    result = evaluate(model, x, y)
    plan = InferencePlan(model)
    compiled = plan.evaluate(plan.prepare_inputs(x, 64), y)
    assert result.accuracy == pytest.approx(compiled.accuracy) and result.loss == pytest.approx(
        compiled.loss, rel=1e-5
    )
    assert 0.0 <= result.accuracy <= 1.0 and result.loss > 0.5  # an untrained network: loss ~ ln 10


def test_update_time_figure_does_not_stack_the_total_and_skips_compilation():
    from prunelab.report.figures import update_time_table

    rows = []
    for run in ("r0", "r1"):
        for epoch in (1, 2, 3, 4):
            first = 3.0 if epoch == 1 else 0.0  # numba compiles during the first update
            rows += [
                ("RLR", run, epoch, "dst/removal_seconds", 0.01 + first),
                ("RLR", run, epoch, "dst/regrowth_seconds", 0.02),
                ("RLR", run, epoch, "dst/total_seconds", 0.03 + first),
            ]
    stages, totals = update_time_table(
        pd.DataFrame(rows, columns=["group", "run_id", "epoch", "name", "value"])
    )
    assert list(stages.columns) == ["dst/regrowth_seconds", "dst/removal_seconds"]
    assert stages.loc["RLR"].sum() == pytest.approx(0.03) and totals.loc["RLR"] == pytest.approx(
        0.03
    )

"""docs/extending.md, executed: each extension is one snippet plus one registration, and works end to end."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"


@pytest.fixture(scope="module")
def extensions():
    """Run every ```python block of the document in one namespace; unregister the toys afterwards."""
    from prunelab.core.scoring import LINK_SCORES
    from prunelab.dst.regrowth import REGROWTH_RULES
    from prunelab.experiments.executors import EXECUTORS
    from prunelab.perturb import KINDS
    from prunelab.phase.observables import OBSERVABLES
    from prunelab.studies import STUDY_KINDS

    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) == 6
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)
    yield namespace
    for registry, name in (
        (LINK_SCORES, "toy_cubed"),
        (REGROWTH_RULES, "toy_low_inputs"),
        (OBSERVABLES, "toy_links"),
        (KINDS, "toy_sign_flip"),
        (STUDY_KINDS, "toy"),
        (EXECUTORS, "toy_reversed"),
    ):
        registry.unregister(name)


def test_a_registered_link_score_is_a_pruning_method(extensions):
    from prunelab.pruning import make_fc, prunable_layers, prune_model

    a, b = make_fc(10, 3, 8, depth=2, seed=0), make_fc(10, 3, 8, depth=2, seed=0)
    prune_model(a, 0.3, method="toy_cubed")
    prune_model(b, 0.3, method="magnitude")  # |w|^3 ranks like |w|
    for la, lb in zip(prunable_layers(a), prunable_layers(b), strict=True):
        assert torch.equal(la.mask(), lb.mask())


def test_a_registered_regrowth_rule_runs_in_dst(extensions):
    from prunelab.dst import DSTConfig, update_topology
    from prunelab.nn import SparseMLP

    model = SparseMLP([30, 20, 20, 4], density=0.2, seed=0)
    before = [layer.n_links for layer in model.sparse_layers()]
    stats = update_topology(
        model, DSTConfig(regrowth="toy_low_inputs", stop_overlap=None), np.random.default_rng(0)
    )
    assert [layer.n_links for layer in model.sparse_layers()] == before
    assert stats["regrown/layer0"] > 0
    with pytest.raises(Exception, match="did you mean 'toy_low_inputs'"):
        DSTConfig(regrowth="toy_low_input")


def test_a_registered_observable_is_logged_by_training_runs(extensions, tmp_path):
    from prunelab.experiments import Store, parse_config, run_experiment

    cfg = parse_config(
        {
            "data": {"name": "digits"},
            "model": {"sizes": [64, 16, 10], "density": 0.5},
            "train": {"epochs": 1, "batch_size": 64},
            "observe": ["toy_links"],
        }
    )
    store = Store(tmp_path / "runs")
    run_experiment(cfg, store)
    m = store.metrics([cfg.run_id()], wide=True)
    assert float(m["obs/toy_links"].iloc[0]) == 64 * 16 * 0.5  # the one sparse layer's links


def test_a_registered_perturbation_draws_a_curve(extensions, digits):
    from prunelab.nn import SparseMLP
    from prunelab.perturb import robustness_curve

    model = SparseMLP([64, 32, 10], density=0.5, seed=0)
    table = robustness_curve(model, digits, "toy_sign_flip", [0.0, 0.5, 1.0])
    assert list(table.strength) == [0.0, 0.5, 1.0] and table.accuracy.between(0, 1).all()


def test_a_registered_study_kind_runs_through_a_registered_executor(extensions, tmp_path):
    from prunelab.experiments import Store, make_executor
    from prunelab.studies import parse_study, run_study

    study = parse_study({"kind": "toy", "name": "toys", "n": 4})
    store = Store(tmp_path / "runs")
    outcome = run_study(study, store, make_executor("toy_reversed"))
    assert [r["name"] for r in outcome.results] == ["toys/3", "toys/2", "toys/1", "toys/0"]
    assert sorted(study.analyse(store)["squares"].square) == [0, 1, 4, 9]
    again = run_study(study, store, make_executor("toy_reversed"))
    assert {r["status"] for r in again.results} == {"skipped"}
    assert store.resolve("toys")[0] == "toy"

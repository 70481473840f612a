"""InferencePlan: the compiled evaluation path of robustness curves must equal model(x)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from prunelab.errors import ConfigError
from prunelab.nn import BACKENDS, SparseMLP
from prunelab.nn.inference import InferencePlan, plan_unsupported_reason
from prunelab.perturb import robustness_curve
from prunelab.perturb.targets import select_layers


def _model(backend: str, **kwargs) -> SparseMLP:
    model = SparseMLP([20, 30, 25, 4], density=0.3, seed=1, backend=backend, **kwargs).eval()
    with torch.no_grad():  # non-zero biases so the fused bias is exercised
        for p in model.parameters():
            if p.dim() == 1 and p.shape[0] in (30, 25, 4):
                p.uniform_(-0.5, 0.5)
    return model


def _plan_logits(plan: InferencePlan, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    return torch.cat([plan.logits_t(b).t() for b in plan.prepare_inputs(x, batch_size)])


@pytest.mark.parametrize("backend", sorted(BACKENDS))
@pytest.mark.parametrize(
    "kwargs",
    [{}, {"activation": "tanh"}, {"sparse_readout": True}, {"bias": False}],
    ids=["relu", "tanh", "sparse-readout", "no-bias"],
)
def test_plan_logits_equal_model_logits(backend, kwargs):
    model = _model(backend, **kwargs)
    x = torch.randn(37, 20)
    with torch.no_grad():
        expected = model(x)
    plan = InferencePlan(model)
    for batch_size in (1, 8, 512):  # 37 is not a multiple of 8: a ragged last batch
        torch.testing.assert_close(
            _plan_logits(plan, x, batch_size), expected, rtol=1e-5, atol=1e-5
        )


def test_zero_weights_are_skipped_and_match_the_model():
    model = _model("csr")
    plan = InferencePlan(model)
    rng = np.random.default_rng(0)
    x = torch.randn(50, 20)
    for target in select_layers(model, "all"):
        values = target.values()
        values[rng.random(values.size) < 0.6] = 0.0
        target.set_values(values)
        plan.set_link_values(target.name, values)
    for name, stage in plan.stages.items():
        if hasattr(stage, "values_out"):
            layer = model.layers[int(name.removeprefix("layer"))]
            assert stage.values_out.size == int((layer.link_values() != 0).sum())  # compacted
            assert stage.indptr[-1] == stage.values_out.size
    with torch.no_grad():
        torch.testing.assert_close(_plan_logits(plan, x, 16), model(x), rtol=1e-5, atol=1e-5)


def test_evaluate_matches_cross_entropy_and_accuracy():
    model = _model("csr")
    x, y = torch.randn(101, 20), torch.randint(0, 4, (101,))
    plan = InferencePlan(model)
    result = plan.evaluate(plan.prepare_inputs(x, 32), y)
    accuracy, loss = result.accuracy, result.loss
    with torch.no_grad():
        logits = model(x)
    assert loss == pytest.approx(float(nn.functional.cross_entropy(logits, y)), rel=1e-5)
    assert accuracy == pytest.approx(float((logits.argmax(1) == y).float().mean()))


def test_plan_never_writes_to_the_model():
    model = _model("csr")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    plan = InferencePlan(model)
    plan.set_link_values("layer0", np.zeros(model.layers[0].n_links, np.float32))
    plan.evaluate(plan.prepare_inputs(torch.randn(5, 20)), torch.zeros(5, dtype=torch.int64))
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_unsupported_models_and_bad_input_are_one_line():
    assert "not a SparseMLP" in plan_unsupported_reason(nn.Sequential(nn.Linear(3, 2)))
    with pytest.raises(ConfigError, match="not a SparseMLP"):
        InferencePlan(nn.Sequential(nn.Linear(3, 2)))
    plan = InferencePlan(_model("csr"))
    with pytest.raises(ConfigError, match="expects 20 input features"):
        plan.prepare_inputs(torch.zeros(3, 7))
    with pytest.raises(ConfigError, match="unknown layer 'layer9'"):
        plan.set_link_values("layer9", np.zeros(3))
    with pytest.raises(ConfigError, match="labels"):
        plan.evaluate(plan.prepare_inputs(torch.zeros(3, 20)), torch.zeros(4, dtype=torch.int64))


@pytest.mark.parametrize(
    "kind", ["reverse_weight_order_pruning", "weight_shuffling", "weight_noise"]
)
def test_compiled_curve_equals_model_curve(kind):
    model = _model("csr")
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((300, 20)).astype(np.float32), rng.integers(0, 4, 300)
    strengths = np.linspace(0, 1, 7)
    fast = robustness_curve(model, (x, y), kind, strengths, n_draws=2, seed=5, layers="all")
    slow = robustness_curve(
        model, (x, y), kind, strengths, n_draws=2, seed=5, layers="all", compiled=False
    )
    np.testing.assert_allclose(fast.accuracy, slow.accuracy, atol=1 / len(y))
    np.testing.assert_allclose(fast.loss, slow.loss, rtol=1e-5, atol=1e-6)
    assert fast.loss.nunique() > 3  # the perturbation really changes the network

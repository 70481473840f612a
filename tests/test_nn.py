"""Sparse layers and models: topology, initialisation, topology operations, state round trips."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from prunelab.errors import ConfigError
from prunelab.nn import BACKENDS, SparseLinear, SparseMLP
from prunelab.nn.topology import erdos_renyi_links, sample_missing_links, set_epsilon_density

BACKEND_NAMES = sorted(BACKENDS)


def test_erdos_renyi_exact_count_and_uniformity():
    rng = np.random.default_rng(1)
    counts = np.zeros((6, 5))
    for _ in range(4000):
        r, c = erdos_renyi_links(6, 5, 0.2, rng)
        assert len(r) == 6  # round(0.2 * 30)
        assert len(set(zip(r.tolist(), c.tolist()))) == 6
        counts[r, c] += 1
    # each slot has probability 6/30 = 0.2; binomial std over 4000 draws ~ 25
    assert np.abs(counts - 800).max() < 5 * math.sqrt(4000 * 0.2 * 0.8)


def test_sample_missing_links_excludes_existing_and_fills_layer():
    rng = np.random.default_rng(0)
    existing = np.array([0, 3, 7])
    drawn = sample_missing_links(3, 4, 9, rng, existing)
    assert sorted(drawn.tolist()) == [1, 2, 4, 5, 6, 8, 9, 10, 11]
    with pytest.raises(ConfigError, match="at most 9"):
        sample_missing_links(3, 4, 10, rng, existing)


def test_large_layer_sampling_never_materialises_dense():
    rng = np.random.default_rng(0)
    r, c = erdos_renyi_links(100_000, 100_000, 1e-4, rng)  # 1e6 links of 1e10 slots
    assert len(r) == 1_000_000
    assert len(np.unique(r * 100_000 + c)) == 1_000_000


def test_set_epsilon_density():
    assert set_epsilon_density(1000, 1000, 20) == pytest.approx(0.04)


@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_forward_matches_dense_reference(backend):
    layer = SparseLinear(30, 20, density=0.2, backend=backend, seed=3)
    with torch.no_grad():
        layer.bias.copy_(torch.randn(20))
    x = torch.randn(7, 30)
    ref = x @ layer.dense_weight() + layer.bias
    torch.testing.assert_close(layer(x), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_kaiming_dense_fan_in_std(backend):
    layer = SparseLinear(400, 500, density=0.1, backend=backend, seed=0)
    assert layer.link_values().std().item() == pytest.approx(math.sqrt(2 / 400), rel=0.03)
    swi = SparseLinear(400, 500, density=0.1, backend=backend, init="swi", seed=0)
    assert swi.link_values().std().item() == pytest.approx(math.sqrt(2 / (0.1 * 400)), rel=0.03)


@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_gradient_only_on_links(backend):
    layer = SparseLinear(12, 9, density=0.3, backend=backend, seed=0)
    x = torch.randn(5, 12)
    layer(x).pow(2).sum().backward()
    w = layer.dense_weight().requires_grad_(True)
    (x @ w + layer.bias.detach()).pow(2).sum().backward()
    rows, cols = layer.link_index()
    torch.testing.assert_close(layer.link_grad(), w.grad[rows, cols], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_remove_and_add_links_with_optimizer_state(backend):
    torch.manual_seed(0)
    layer = SparseLinear(10, 8, density=0.25, backend=backend, seed=0)
    opt = torch.optim.SGD(layer.parameters(), lr=0.1, momentum=0.9)
    layer(torch.randn(4, 10)).sum().backward()
    opt.step()
    rows, cols = layer.link_index()
    n = layer.n_links
    (param,) = [p for p in layer.kernel.weight_parameters()]
    old_values = dict(zip(zip(rows.tolist(), cols.tolist()), layer.link_values().tolist()))
    mom = opt.state[param]["momentum_buffer"]
    old_mom = {
        k: float(mom.reshape(-1)[i] if mom.dim() == 1 else mom[k])
        for i, k in enumerate(zip(rows.tolist(), cols.tolist()))
    }
    # remove the first 3 links, add 2 missing ones
    mask = layer.mask()
    missing = (~mask).nonzero()[:2]
    layer.update_topology(
        keep=torch.arange(n) >= 3,
        add_rows=missing[:, 0],
        add_cols=missing[:, 1],
        add_values=torch.tensor([0.5, -0.5]),
        optimizer=opt,
    )
    assert layer.n_links == n - 1
    new_rows, new_cols = layer.link_index()
    new_mask = layer.mask()
    for r, c in zip(rows[:3].tolist(), cols[:3].tolist()):
        assert not new_mask[r, c]
    mom = opt.state[param]["momentum_buffer"]
    for i, (r, c) in enumerate(zip(new_rows.tolist(), new_cols.tolist())):
        value = layer.link_values()[i].item()
        m = float(mom.reshape(-1)[i] if mom.dim() == 1 else mom[r, c])
        if (r, c) in old_values:
            assert value == pytest.approx(old_values[(r, c)])
            assert m == pytest.approx(old_mom[(r, c)])
        else:
            assert abs(value) == 0.5
            assert m == 0.0  # new links start with zero optimizer state


@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_empty_layer_and_isolated_units_are_legal(backend):
    layer = SparseLinear(5, 4, density=0.05, backend=backend, seed=0)  # 1 link
    layer.remove_links([0])
    assert layer.n_links == 0
    out = layer(torch.randn(3, 5))
    torch.testing.assert_close(out, layer.bias.expand(3, 4))


@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_adding_existing_link_is_rejected(backend):
    layer = SparseLinear(5, 4, density=0.5, backend=backend, seed=0)
    r, c = layer.link_index()
    with pytest.raises(ConfigError, match="already exists"):
        layer.add_links(r[:1], c[:1])


def test_state_dict_round_trips_topology_across_link_counts():
    a = SparseMLP([20, 16, 16, 3], density=0.2, seed=0, backend="masked")
    a.sparse_layers()[0].remove_links([0, 1, 2])
    b = SparseMLP([20, 16, 16, 3], density=0.2, seed=5, backend="masked")
    b.load_state_dict(a.state_dict())
    for la, lb in zip(a.sparse_layers(), b.sparse_layers()):
        assert torch.equal(la.mask(), lb.mask())
        assert torch.equal(la.link_values(), lb.link_values())
    x = torch.randn(4, 20)
    torch.testing.assert_close(a(x), b(x))


def test_mlp_public_contract_and_seeding():
    model = SparseMLP([784, 1000, 1000, 1000, 10], density=0.01, seed=0)
    assert isinstance(model, torch.nn.Module)
    x = torch.rand(3, 784)
    assert model(x).shape == (3, 10)
    assert [layer.n_links for layer in model.sparse_layers()] == [7840, 10000, 10000]
    again = SparseMLP([784, 1000, 1000, 1000, 10], density=0.01, seed=0)
    torch.testing.assert_close(model(x), again(x))
    other = SparseMLP([784, 1000, 1000, 1000, 10], density=0.01, seed=1)
    assert not torch.equal(model.sparse_layers()[0].mask(), other.sparse_layers()[0].mask())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"sizes": [10], "density": 0.1}, "at least two"),
        ({"sizes": [10, 5], "density": 0.0}, r"\(0, 1\]"),
        ({"sizes": [10, 5, 2], "density": 1.5}, r"\(0, 1\]"),
        ({"sizes": [10, 5, 2], "backend": "cuda-magic"}, "unknown backend"),
        ({"sizes": [10, 5, 2], "activation": "sigmoidal"}, "unknown activation"),
    ],
)
def test_bad_model_arguments(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        SparseMLP(**kwargs)

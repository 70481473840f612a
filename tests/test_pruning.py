"""Mask selection for pruning, density schedules and the prunable model families."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from prunelab.errors import ConfigError
from prunelab.graph import structure_summary
from prunelab.pruning import (
    MaskedConv2d,
    geometric_schedule,
    layer_masks,
    magnitude_keep,
    make_cnn,
    make_fc,
    model_density,
    prunable_layers,
    prune_model,
    random_keep,
    validate_schedule,
)

# --- schedules ------------------------------------------------------------------------------


def test_geometric_schedule_endpoints_and_constant_ratio():
    d = geometric_schedule(1.0, 1e-4, 9)
    assert d[0] == 1.0 and np.isclose(d[-1], 1e-4)
    np.testing.assert_allclose(d[1:] / d[:-1], 10**-0.5)
    np.testing.assert_array_equal(validate_schedule(d, n_possible=[10**5, 10**6]), d)


@pytest.mark.parametrize(
    "densities,n_possible,match",
    [
        ([1.0, 0.5, 0.7], None, "strictly decrease"),
        ([0.5, 0.5], None, "strictly decrease"),
        ([1.0, 0.0], None, "in \\(0, 1\\]"),
        ([1.2], None, "in \\(0, 1\\]"),
        ([], None, "empty"),
        ([1.0, 1e-4], [100, 10**6], "leaves 0 links in a layer of 100"),
    ],
)
def test_validate_schedule_errors_are_one_line(densities, n_possible, match):
    with pytest.raises(ConfigError, match=match) as info:
        validate_schedule(densities, n_possible)
    assert "\n" not in str(info.value)


def test_geometric_schedule_is_the_same_bits_on_every_cpu():
    # The quick phase study's schedule as the C library's log10/pow give it (these bits are in
    # the run ids of stored studies). np.geomspace on an AVX-512 CPU gives 0.4783417586279627
    # for the second entry (1 ulp lower), which changed every trajectory id on such machines.
    expected = [
        1.0,
        0.47834175862796274,
        0.22881083804729213,
        0.10944977866467968,
        0.052354399607904153,
        0.02504329558035599,
        0.011979254049747373,
        0.0057301774492073045,
        0.002740983158304115,
        0.0013111267043128174,
        0.0006271666535250778,
        0.0003,
    ]
    d = geometric_schedule(1.0, 3e-4, 12)
    assert d.dtype == np.float64 and d.tolist() == expected
    # the values themselves: a constant ratio (3e-4) ** (1 / 11) to double precision
    np.testing.assert_allclose(d[1:] / d[:-1], 3e-4 ** (1 / 11), rtol=1e-14)


def test_geometric_schedule_bad_arguments():
    with pytest.raises(ConfigError):
        geometric_schedule(1.0, 1e-4, 1)
    with pytest.raises(ConfigError):
        geometric_schedule(0.1, 0.5, 5)


# --- mask selection -------------------------------------------------------------------------


def layer_values(seed=0, sizes=(50, 30, 20)):
    rng = np.random.default_rng(seed)
    return [rng.normal(scale=s, size=n) for s, n in zip((1.0, 2.0, 0.5), sizes, strict=False)]


def test_global_magnitude_keeps_the_largest_overall():
    values = layer_values()
    keep = magnitude_keep(values, 0.3)
    assert [k.shape for k in keep] == [v.shape for v in values]
    flat_abs, flat_keep = np.abs(np.concatenate(values)), np.concatenate(keep)
    assert flat_keep.sum() == 30
    assert flat_abs[flat_keep].min() > flat_abs[~flat_keep].max()
    # relative to n_possible: 0.01 of 3000 possible links = 30 links
    assert np.concatenate(magnitude_keep(values, 0.01, n_possible=[1500, 900, 600])).sum() == 30


def test_layer_magnitude_keeps_each_layer_fraction():
    values = layer_values()
    keep = magnitude_keep(values, 0.2, scope="layer")
    assert [int(k.sum()) for k in keep] == [10, 6, 4]
    for v, k in zip(values, keep, strict=False):
        assert np.abs(v[k]).min() > np.abs(v[~k]).max()


def test_magnitude_ties_are_deterministic_and_torch_accepted():
    keep = magnitude_keep([torch.ones(4), torch.ones(4)], 0.5)
    np.testing.assert_array_equal(np.concatenate(keep), [True] * 4 + [False] * 4)


def test_random_keep_counts_and_uniformity():
    values = layer_values()
    keep = random_keep(values, 0.2, scope="layer", rng=1)
    assert [int(k.sum()) for k in keep] == [10, 6, 4]
    np.testing.assert_array_equal(
        np.concatenate(keep), np.concatenate(random_keep(values, 0.2, "layer", rng=1))
    )
    freq = np.mean([np.concatenate(random_keep(values, 0.5, rng=s)) for s in range(400)], axis=0)
    assert abs(freq.mean() - 0.5) < 1e-9 and np.abs(freq - 0.5).max() < 0.12


@pytest.mark.parametrize("scope", ["global", "layer"])
def test_mask_selection_errors(scope):
    values = layer_values()
    with pytest.raises(ConfigError, match="must not increase"):
        magnitude_keep(values, 0.9, scope, n_possible=[60, 40, 20])
    with pytest.raises(ConfigError, match="leaves 0 links"):
        magnitude_keep(values, 1e-3, scope)
    with pytest.raises(ConfigError, match="unknown pruning scope"):
        magnitude_keep(values, 0.5, "neuron")


# --- models and prune_model -----------------------------------------------------------------


def test_make_fc_is_dense_and_fully_prunable():
    model = make_fc(20, 3, width=16, depth=4, seed=0)
    assert model.sizes == [20, 16, 16, 16, 3]
    layers = prunable_layers(model)
    assert len(layers) == 4 and all(layer.backend_name == "masked" for layer in layers)
    assert model_density(model) == 1.0
    assert model(torch.zeros(5, 20)).shape == (5, 3)


@pytest.mark.parametrize("scope", ["global", "layer"])
def test_prune_model_magnitude_keeps_largest_and_clears_optimizer_state(scope):
    torch.manual_seed(0)
    model = make_fc(20, 3, width=16, seed=0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    torch.nn.functional.cross_entropy(
        model(torch.randn(8, 20)), torch.randint(0, 3, (8,))
    ).backward()
    opt.step()
    before = [layer.dense_weight().abs() for layer in prunable_layers(model)]
    keeps = prune_model(model, 0.1, scope=scope, optimizer=opt)
    total = sum(layer.n_in * layer.n_out for layer in prunable_layers(model))
    if scope == "global":
        assert sum(int(k.sum()) for k in keeps) == round(0.1 * total)
    assert abs(model_density(model) - 0.1) < 0.01
    kept_min = min(
        float(b[layer.mask()].min())
        for b, layer in zip(before, prunable_layers(model), strict=False)
    )
    gone_max = max(
        float(b[~layer.mask()].max())
        for b, layer in zip(before, prunable_layers(model), strict=False)
    )
    if scope == "global":
        assert kept_min >= gone_max
    for layer in prunable_layers(model):
        w = layer.kernel.weight
        assert float(w.detach()[~layer.mask()].abs().max()) == 0.0
        assert float(opt.state[w]["momentum_buffer"][~layer.mask()].abs().max()) == 0.0
    assert torch.isfinite(model(torch.randn(4, 20))).all()


def test_prune_model_random_and_bad_method():
    model = make_fc(10, 2, width=8, seed=0)
    prune_model(model, 0.25, scope="layer", method="random", rng=0)
    assert [layer.n_links for layer in prunable_layers(model)] == [20, 16, 16, 4]
    with pytest.raises(
        ConfigError, match="unknown pruning method 'magnitud'; did you mean 'magnitude'"
    ):
        prune_model(model, 0.1, method="magnitud")
    # a registered score that needs data says so instead of pruning by something else
    with pytest.raises(ConfigError, match="link score 'snip' needs batches"):
        prune_model(model, 0.1, method="snip")
    with pytest.raises(ConfigError, match="must not increase"):
        prune_model(model, 0.5)


def test_masked_conv_matches_conv2d_and_row_order():
    conv = MaskedConv2d(2, 3, 3, padding=1, density=0.5, seed=0)
    x = torch.randn(2, 2, 7, 7)
    ref = F.conv2d(x, conv.conv_weight().detach(), conv.bias.detach(), padding=1)
    torch.testing.assert_close(conv(x), ref)
    assert conv.mask().shape == (18, 3) and conv.conv_mask().shape == (3, 2, 3, 3)
    assert float(conv.conv_weight().detach()[~conv.conv_mask()].abs().max()) == 0.0
    # a single link: row c*9 + u*3 + v of output channel 0 copies input channel c shifted by (u, v)
    one = MaskedConv2d(2, 1, 3, bias=False, seed=0)
    c, u, v = 1, 2, 1
    keep = torch.zeros(18, dtype=torch.bool)
    keep[c * 9 + u * 3 + v] = True
    one.update_topology(keep=keep)
    one.set_link_values(torch.ones(1))
    img = torch.zeros(1, 2, 6, 6)
    img[0, c, 3, 3] = 1.0
    out = one(img)[0, 0]  # out[p, q] = img[c, p + u, q + v] (no padding)
    assert out.sum() == 1.0 and out[3 - u, 3 - v] == 1.0


def test_cnn_shapes_and_pruning_invariants():
    model = make_cnn(1, 10, width=4, depth=5, seed=0)
    assert len(model.convs) == 4 and model.channels == [4, 4, 8, 8]
    assert model(torch.randn(3, 1, 28, 28)).shape == (3, 10)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    F.cross_entropy(model(torch.randn(3, 1, 28, 28)), torch.tensor([0, 1, 2])).backward()
    opt.step()
    prune_model(model, 0.05, scope="layer", optimizer=opt)
    for layer in prunable_layers(model):
        expected = max(1, round(0.05 * layer.n_in * layer.n_out))
        assert layer.n_links == expected
    out = model(torch.randn(2, 1, 28, 28))
    assert torch.isfinite(out).all()
    masks = layer_masks(model)
    assert [m.shape for m in masks] == [(1, 4), (4, 4), (4, 8), (8, 8), (8, 10)]
    assert 0.0 <= structure_summary(masks)["path_fraction"] <= 1.0

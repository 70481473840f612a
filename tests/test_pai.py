"""Pruning at initialisation: scores and masks against an independent reference, invariants, bad input."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from prunelab.core.scoring import ScoreContext, layer_view, score_links
from prunelab.errors import ConfigError
from prunelab.nn import SparseMLP, sparse_layers
from prunelab.pai import apply_masks, prune, ranking_keys, score
from prunelab.pai.prune import SCHEDULES
from prunelab.pruning import make_cnn, make_fc


@pytest.fixture(autouse=True)
def _one_thread(_threads):
    # tiny tensors on a shared two-core machine: one thread avoids spin-waiting for the other
    torch.set_num_threads(1)


# --- an independent reference: the Synaptic-Flow semantics written out for a plain MLP ----------


def _mlp(seed=0, sizes=(6, 5, 4, 3)):
    torch.manual_seed(seed)
    layers = []
    for k in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[k], sizes[k + 1]))
        if k < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _params(model, dtype=torch.float64):
    lin = [m for m in model if isinstance(m, nn.Linear)]
    return [m.weight.detach().to(dtype).clone() for m in lin], [
        m.bias.detach().to(dtype).clone() for m in lin
    ]


def _ref_forward(ws, bs, ms, x):
    h = x
    for k, (w, b, m) in enumerate(zip(ws, bs, ms)):
        h = h @ (w * m).T + b
        if k < len(ws) - 1:
            h = torch.relu(h)
    return h


def _ref_snip(model, batches):
    ws, bs = _params(model)
    ms = [torch.ones_like(w, requires_grad=True) for w in ws]
    for x, y in batches:
        F.cross_entropy(_ref_forward(ws, bs, ms, x.double()), y).backward()
    s = [m.grad.abs() for m in ms]
    total = sum(v.sum() for v in s)
    return [v / total for v in s]


def _ref_grasp(model, batches, temp=200.0):
    ws, bs = _params(model)
    ws = [w.requires_grad_(True) for w in ws]
    ones = [torch.ones_like(w) for w in ws]
    g = [torch.zeros_like(w) for w in ws]
    for x, y in batches:
        grads = torch.autograd.grad(
            F.cross_entropy(_ref_forward(ws, bs, ones, x.double()) / temp, y), ws
        )
        g = [a + b for a, b in zip(g, grads)]
    for x, y in batches:
        grads = torch.autograd.grad(
            F.cross_entropy(_ref_forward(ws, bs, ones, x.double()) / temp, y), ws, create_graph=True
        )
        sum((a * b).sum() for a, b in zip(g, grads)).backward()
    s = [(w.grad * w).detach() for w in ws]
    norm = abs(sum(v.sum() for v in s)) + 1e-10
    return [v / norm for v in s]


def _ref_synflow(model, masks, n_in):
    ws, bs = _params(model)
    ws = [w.abs().requires_grad_(True) for w in ws]
    bs = [b.abs() for b in bs]
    _ref_forward(ws, bs, masks, torch.ones(1, n_in, dtype=torch.float64)).sum().backward()
    return [(w.grad * w).abs().detach() for w in ws]


def _ref_mask(scores, density):
    """Synaptic-Flow's global rule: k = int((1-d) N); everything <= the k-th smallest goes."""
    flat = torch.cat([s.flatten() for s in scores])
    k = int((1.0 - density) * flat.numel())
    if k < 1:
        return [torch.ones_like(s, dtype=torch.bool) for s in scores]
    threshold = torch.kthvalue(flat, k).values
    return [s > threshold for s in scores]


def _data(n=40, d=6, c=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.randint(0, c, (n,), generator=g)


NAMES = ["0.weight", "2.weight", "4.weight"]


def test_snip_and_grasp_match_the_reference():
    model = _mlp()
    x, y = _data()
    batches = [(x[:25], y[:25]), (x[25:], y[25:])]
    for method, ref in (("snip", _ref_snip(model, batches)), ("grasp", _ref_grasp(model, batches))):
        ours = score(model, method, batches)
        assert list(ours) == NAMES
        for name, r in zip(NAMES, ref):
            np.testing.assert_allclose(
                ours[name], r.numpy(), rtol=2e-3, atol=1e-7 * float(r.abs().max())
            )
        masks = prune(model, method, 0.3, batches)
        for name, r in zip(NAMES, _ref_mask(ref, 0.3)):
            np.testing.assert_array_equal(masks[name], r.numpy(), err_msg=method)
    assert sum(float(v.sum()) for v in score(model, "snip", batches).values()) == pytest.approx(1.0)
    grasp = score(model, "grasp", batches)
    # |Σ score| / (|Σ score| + 1e-10): just below 1 because the raw GraSP scores are small at T = 200
    assert 0.99 < abs(sum(float(v.sum()) for v in grasp.values())) < 1.0
    assert min(float(v.min()) for v in grasp.values()) < 0  # signed


def test_iterative_synflow_matches_the_reference_loop():
    model = _mlp(seed=3)
    density, rounds = 0.15, 8
    ws, _ = _params(model)
    masks = [torch.ones_like(w) for w in ws]
    for e in range(rounds):
        keep = _ref_mask(_ref_synflow(model, masks, 6), density ** ((e + 1) / rounds))
        masks = [k.double() for k in keep]
    ours = prune(model, "synflow", density, rounds=rounds)
    for name, m in zip(NAMES, masks):
        np.testing.assert_array_equal(ours[name], m.bool().numpy())
    n = sum(m.numel() for m in masks)
    assert sum(int(v.sum()) for v in ours.values()) <= n - int((1 - density) * n)


def test_synflow_on_live_links_equals_autograd():
    """ReLU MLPs take the live-link path (prunelab.pai.chain); wrapping the model forces autograd."""
    for model, weights in (
        (make_fc(9, 3, width=12, depth=4, seed=1), None),
        (SparseMLP([9, 12, 12, 3], density=0.5, seed=2, backend="csr"), None),
        (_mlp(seed=5, sizes=(9, 8, 7, 3)), ["0.weight", "4.weight"]),
    ):
        for p in model.parameters():
            if p.dim() == 1:
                torch.nn.init.uniform_(p, -0.5, 0.5)  # non-zero biases enter the flow
        fast = prune(model, "synflow", 0.05, rounds=20, weights=weights)
        wrapped = nn.Sequential(model)
        slow = prune(
            wrapped,
            "synflow",
            0.05,
            rounds=20,
            weights=None if weights is None else [f"0.{w}" for w in weights],
        )
        assert list(slow) == [f"0.{n}" for n in fast]
        for name in fast:
            np.testing.assert_array_equal(fast[name], slow[f"0.{name}"], err_msg=name)


def test_synflow_conserves_flow_through_every_unit_and_layer():
    """Tanaka et al. 2020, theorems 1-2: with zero biases the scores into a unit equal those out of it,
    and every layer's scores sum to R = 1ᵀ|W1||W2||W3|1."""
    model = make_fc(7, 3, width=5, depth=3, bias=False, seed=2)
    s = score(model, "synflow")
    mats = [layer.dense_weight().double().abs().numpy() for _, layer in sparse_layers(model)]
    r = float(np.ones(7) @ mats[0] @ mats[1] @ mats[2] @ np.ones(3))
    for k in range(3):
        assert s[f"layers.{k}.weight"].sum() == pytest.approx(r, rel=1e-10)
    for k in range(2):
        into = s[f"layers.{k}.weight"].sum(axis=0)
        out_of = s[f"layers.{k + 1}.weight"].sum(axis=1)
        np.testing.assert_allclose(into, out_of, rtol=1e-10)


def test_ties_at_the_threshold_are_removed():
    lin = nn.Linear(4, 3, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0] * 4, [2.0] * 4, [3.0] * 4]))
    mask = prune(lin, "magnitude", 0.5)["weight"]
    # k = int(0.5 * 12) = 6: the 6th smallest |w| is 2, so every weight of magnitude <= 2 goes
    np.testing.assert_array_equal(mask, np.array([[False] * 4, [False] * 4, [True] * 4]))


def test_layer_scope_and_exact_counts_for_signed_scores():
    model = _mlp(seed=4, sizes=(10, 8, 6, 3))
    sizes = {"0.weight": 80, "2.weight": 48, "4.weight": 18}
    masks = prune(model, "random", 0.4, scope="layer", seed=0)
    for name, n in sizes.items():
        assert int(masks[name].sum()) == n - int(0.6 * n)
    # iterative pruning with signed scores: pruned weights never come back and the count is exact
    x, y = _data(d=10)
    n = sum(sizes.values())
    for method in ("random", "grasp"):
        masks = prune(model, method, 0.3, (x, y), rounds=4, seed=1)
        assert sum(int(m.sum()) for m in masks.values()) == n - int(0.7 * n), method
    one = prune(model, "random", 0.5, seed=7)
    assert all(np.array_equal(one[k], prune(model, "random", 0.5, seed=7)[k]) for k in one)
    assert not all(np.array_equal(one[k], prune(model, "random", 0.5, seed=8)[k]) for k in one)


def test_ranking_keys_keep_pruned_weights_at_the_bottom():
    live = np.array([True, False, True, True])
    np.testing.assert_array_equal(
        ranking_keys([np.array([0.5, 0.0, 0.2, 0.1])], [live])[0], [0.5, 0.0, 0.2, 0.1]
    )
    keys = ranking_keys([np.array([0.5, 0.0, -0.2, 0.1])], [live])[0]
    assert keys[1] == -np.inf and keys[2] == -0.2


def test_selection_among_live_weights_equals_ranking_all_keys():
    from prunelab.core.selection import keep_top
    from prunelab.pai import masks_from_scores

    rng = np.random.default_rng(9)
    for case in range(60):
        n = int(rng.integers(5, 40))
        scores = (
            np.round(rng.normal(size=n), 1) if case % 2 else np.round(np.abs(rng.normal(size=n)), 1)
        )
        scores[rng.random(n) < 0.2] = 0.0  # live zeros (SynFlow's dead paths)
        live = rng.random(n) < rng.uniform(0.2, 1.0)
        density = float(rng.uniform(0.05, 1.0))
        got = masks_from_scores({"w": scores}, density, current={"w": live})["w"]
        keys = ranking_keys([np.where(live, scores, 0.0)], [live])[0]
        removed = int((1 - density) * n)
        want = (
            keep_top(keys, n - removed, ties="drop") if removed >= 1 else np.ones(n, bool)
        ) & live
        np.testing.assert_array_equal(got, want, err_msg=str(case))


def test_default_scoring_data():
    from prunelab.pai import scoring_batches

    x, y = torch.rand(1000, 5), torch.arange(1000) % 10
    one = scoring_batches(x, y, np.random.default_rng(0))
    assert [len(b[1]) for b in one] == [100]  # 10 samples x 10 classes, one batch of at most 256
    more = scoring_batches(x, y, np.random.default_rng(0), samples_per_class=30)
    assert [len(b[1]) for b in more] == [256, 44]
    again = scoring_batches(x, y, np.random.default_rng(0))
    assert torch.equal(one[0][0], again[0][0])  # seeded


def test_schedules():
    exp, lin = SCHEDULES.get("exponential"), SCHEDULES.get("linear")
    assert exp(0.01, 0, 2) == pytest.approx(0.1) and exp(0.01, 1, 2) == pytest.approx(0.01)
    assert lin(0.2, 0, 4) == pytest.approx(0.8) and lin(0.2, 3, 4) == pytest.approx(0.2)


def test_sparse_layers_any_backend_missing_links_score_zero():
    x, y = _data(n=30, d=12, c=4)
    models = [
        SparseMLP([12, 16, 16, 4], density=0.4, seed=5, backend=b, sparse_readout=True)
        for b in ("csr", "masked")
    ]
    for method in ("magnitude", "snip", "grasp", "synflow"):
        a, b = (score(m, method, (x, y)) for m in models)
        assert list(a) == ["layers.0.weight", "layers.1.weight", "layers.2.weight"]
        for name in a:
            np.testing.assert_allclose(a[name], b[name], rtol=1e-4, atol=1e-9)
            absent = ~dict(models[0].named_modules())[name[:-7]].mask().numpy()
            assert np.all(a[name][absent] == 0), (method, name)
    masks = prune(models[0], "synflow", 0.2, rounds=10)
    model = copy.deepcopy(models[0])
    apply_masks(model, masks)
    for name, layer in sparse_layers(model):
        np.testing.assert_array_equal(layer.mask().numpy(), masks[f"layers.{name[-1]}.weight"])
    assert (
        sum(layer.n_links for _, layer in sparse_layers(model))
        <= int(0.2 * (12 * 16 + 16 * 16 + 16 * 4)) + 1
    )


def test_model_is_untouched():
    model = SparseMLP([12, 16, 4], density=0.5, seed=0, backend="csr")
    model.train()
    before = copy.deepcopy(model.state_dict())
    x, y = _data(n=20, d=12, c=4)
    for method in ("random", "magnitude", "snip", "grasp", "synflow"):
        prune(model, method, 0.3, (x, y), rounds=2)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert model.training and all(p.grad is None for p in model.parameters())


def test_conv_weights_are_prunable():
    x, y = torch.rand(12, 1, 8, 8), torch.randint(0, 3, (12,))
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(72, 3))
    masks = prune(net, "snip", 0.5, (x, y))
    assert masks["0.weight"].shape == (2, 1, 3, 3) and masks["3.weight"].shape == (3, 72)
    assert sum(int(m.sum()) for m in masks.values()) == 234 - int(0.5 * 234)
    with pytest.raises(ConfigError, match="input shape"):
        score(net, "synflow")
    assert score(net, "synflow", (x, y))["0.weight"].shape == (2, 1, 3, 3)
    cnn = make_cnn(1, 3, width=2, depth=3)
    masks = prune(cnn, "synflow", 0.3, (x, y), rounds=5)
    assert [m.shape for m in masks.values()] == [(9, 2), (18, 4), (4, 3)]
    apply_masks(cnn, masks)
    assert cnn.convs[1].n_links == int(masks["convs.1.weight"].sum())


def test_link_score_entries_match_pai_scores():
    model = SparseMLP([12, 16, 16, 4], density=0.5, seed=1)
    x, y = _data(n=20, d=12, c=4)
    layers = [layer_view(n, layer) for n, layer in sparse_layers(model)]
    names = ["layers.0.weight", "layers.1.weight"]
    for method in ("synflow", "snip"):
        ref = score(model, method, (x, y), weights=names)
        got = score_links(method, layers, ScoreContext(model=model, batches=[(x, y)]))
        for view, name, s in zip(layers, names, got):
            np.testing.assert_allclose(s, ref[name][view.links.rows, view.links.cols])
    with pytest.raises(ConfigError, match="needs batches"):
        score_links("grasp", layers, ScoreContext(model=model))


def test_bad_input_one_line_and_model_untouched():
    model = _mlp()
    before = copy.deepcopy(model.state_dict())
    x, y = _data()
    cases = [
        (lambda: prune(model, "snipp", 0.1, (x, y)), "did you mean 'snip'"),
        (lambda: prune(model, "magnitude", 0.0), "density must be in \\(0, 1\\]"),
        (lambda: prune(model, "magnitude", 1.5), "density must be in \\(0, 1\\]"),
        (lambda: prune(nn.Sequential(nn.ReLU()), "magnitude", 0.5), "no prunable weights"),
        (lambda: prune(model, "snip", 0.5), "needs scoring data"),
        (lambda: score(model, "grasp"), "needs scoring data"),
        (lambda: prune(model, "synflow", 0.5, rounds=0), "rounds must be"),
        (lambda: prune(model, "synflow", 0.5, schedule="cosine"), "unknown pruning schedule"),
        (lambda: prune(model, "synflow", 0.5, scope="local"), "unknown pruning scope"),
        (lambda: prune(model, "snip", 0.5, batch=x), "batch must be"),
        (
            lambda: prune(SparseMLP([6, 8, 3], density=0.2), "magnitude", 0.5),
            "above the current density",
        ),
        (lambda: prune(model, "magnitude", 0.5, weights=["9.weight"]), "not a prunable weight"),
        (lambda: apply_masks(model, {"0.weight": np.ones((5, 6), bool)}), "not a sparse layer"),
    ]
    for call, pattern in cases:
        with pytest.raises(ConfigError, match=pattern) as err:
            call()
        assert "\n" not in str(err.value)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_training_config_starts_from_a_pai_mask(tmp_path):
    from prunelab.experiments import Store, parse_config, run_experiment

    raw = {
        "data": {"name": "digits"},
        "train": {"epochs": 1, "batch_size": 64, "lr": 0.05, "train_subset": 256},
        "model": {"sizes": [64, 64, 64, 10], "topology": {"pai": "snip", "density": 0.1}},
        "dst": {"regrowth": "random", "stop_overlap": None},
        "observe": ["graphon"],
    }
    cfg = parse_config(raw)
    assert cfg.run_config()["model"]["topology"]["pai"] == "snip"
    assert parse_config({"model": {"sizes": [2, 3]}}).run_config()["model"]["topology"] == "er"
    store = Store(tmp_path / "runs")
    assert run_experiment(cfg, store)["status"] == "finished"
    m = store.metrics(wide=True)
    links = m["links/layer0"].iloc[0] + m["links/layer1"].iloc[0]
    assert links == pytest.approx(0.1 * 2 * 64 * 64, abs=1)  # DST keeps the PaI link count
    assert 0 < m["obs/graphon_dist/layer0"].iloc[0] < 1  # the graphon observable of a training run
    with pytest.raises(ConfigError, match="did you mean 'synflow'"):
        parse_config(
            {**raw, "model": {"sizes": [64, 10], "topology": {"pai": "synflw", "density": 0.1}}}
        )

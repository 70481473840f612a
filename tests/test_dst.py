"""Dynamic sparse training: removal, chain removal, regrowth, the update and the hook."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
import torch

from prunelab.core.links import Links
from prunelab.dst import DSTConfig, chain_removal, regrow, removal_keep, update_topology
from prunelab.dst.gradients import batch_grad_provider, layer_gradients
from prunelab.dst.hook import DSTHook
from prunelab.dst.regrowth import gradient_top_links
from prunelab.errors import ConfigError
from prunelab.linkpred import ch3_l3_scores
from prunelab.nn import SparseMLP

LOSS = torch.nn.functional.cross_entropy


def small_model(seed=0, density=0.1, sizes=(20, 30, 30, 30, 4)):
    return SparseMLP(list(sizes), density=density, seed=seed, backend="masked")


# --- removal -----------------------------------------------------------------------------------


def test_magnitude_removal_drops_smallest():
    rng = np.random.default_rng(0)
    values = rng.standard_normal(1000)
    keep = removal_keep(values, 0.3, "magnitude", rng)
    assert (~keep).sum() == 300
    assert np.abs(values[~keep]).max() <= np.abs(values[keep]).min()


def test_magnitude_removal_ties_at_random():
    values = np.ones(10)
    picks = {
        tuple(removal_keep(values, 0.5, "magnitude", np.random.default_rng(s))) for s in range(10)
    }
    assert len(picks) > 3


def test_set_removal_splits_by_sign():
    rng = np.random.default_rng(1)
    values = np.concatenate([-rng.random(100) - 0.01, rng.random(300) + 0.01])
    keep = removal_keep(values, 0.3, "set", rng)
    neg, pos = values < 0, values > 0
    assert (~keep & neg).sum() == 30 and (~keep & pos).sum() == 90
    assert values[~keep & neg].min() >= values[keep & neg].max()  # negatives closest to zero
    assert values[~keep & pos].max() <= values[keep & pos].min()


@pytest.mark.parametrize("zeta", [0.0, 1.0, -0.1, 1.5, "x"])
def test_bad_zeta(zeta):
    with pytest.raises(ConfigError) as err:
        removal_keep(np.ones(4), zeta, "magnitude", np.random.default_rng(0))
    assert "\n" not in str(err.value)


# --- chain removal -----------------------------------------------------------------------------


def _brute_on_path(links, sizes):
    """Units on an input->output path by explicit DFS over the layered graph."""
    n_layers = len(links)
    succ = [{u: set() for u in range(sizes[k])} for k in range(n_layers + 1)]
    pred = [{u: set() for u in range(sizes[k])} for k in range(n_layers + 1)]
    for k, (r, c) in enumerate(links):
        for a, b in zip(r.tolist(), c.tolist(), strict=True):
            succ[k][a].add(b)
            pred[k + 1][b].add(a)

    def reach(level, unit, step, table, last):
        if level == last:
            return True
        return any(reach(level + step, v, step, table, last) for v in table[level][unit])

    return [
        np.array(
            [reach(k, u, 1, succ, n_layers) and reach(k, u, -1, pred, 0) for u in range(sizes[k])]
        )
        for k in range(n_layers + 1)
    ]


def test_chain_removal_matches_brute_force():
    rng = np.random.default_rng(4)
    for _ in range(20):
        sizes = [int(s) for s in rng.integers(3, 8, size=4)]
        links = []
        for k in range(3):
            m = rng.random((sizes[k], sizes[k + 1])) < 0.2
            links.append(tuple(np.nonzero(m)))
        keep, on_path = chain_removal(
            [Links(r, c, (sizes[k], sizes[k + 1])) for k, (r, c) in enumerate(links)]
        )
        brute = _brute_on_path(links, sizes)
        for k in range(1, 3):
            np.testing.assert_array_equal(on_path[k], brute[k])
        for k, (r, c) in enumerate(links):
            expected = brute[k][r] & brute[k + 1][c] if k > 0 else brute[1][c] & brute[0][r]
            np.testing.assert_array_equal(keep[k], expected)
        # fixed point: applying it again removes nothing
        kept = [
            Links(r[kp], c[kp], (sizes[k], sizes[k + 1]))
            for k, ((r, c), kp) in enumerate(zip(links, keep, strict=True))
        ]
        assert all(k2.all() for k2 in chain_removal(kept)[0])


def test_chain_removal_cascades():
    # hidden unit 1 of level 2 has no outgoing link -> its input link goes -> level-1 unit 1 dead
    links = [
        Links(np.array([0, 0]), np.array([0, 1]), (1, 2)),
        Links(np.array([0, 1]), np.array([0, 1]), (2, 2)),
        Links(np.array([0]), np.array([0]), (2, 1)),
    ]
    keep, on_path = chain_removal(links)
    assert keep[0].tolist() == [True, False] and keep[1].tolist() == [True, False]
    assert on_path[1].tolist() == [True, False]


# --- regrowth ----------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", ["random", "ch3l3", "l3"])
def test_regrow_adds_exactly_k_missing_links(rule):
    rng = np.random.default_rng(0)
    mask = rng.random((30, 40)) < 0.1
    rows, cols = np.nonzero(mask)
    g = regrow(rule, Links(rows, cols, (30, 40)), 50, rng)
    assert g.rows.size == 50 and not mask[g.rows, g.cols].any()
    assert len(set(zip(g.rows.tolist(), g.cols.tolist(), strict=True))) == 50


def test_regrow_fills_shortfall_at_random():
    # a perfect matching has no path of length 3: every CH3-L3 score is 0
    rows = cols = np.arange(10)
    g = regrow("ch3l3", Links(rows, cols, (10, 10)), 7, np.random.default_rng(0))
    assert g.n_random_fill == 7 and g.rows.size == 7 and not np.any(g.rows == g.cols)
    mask = np.zeros((6, 6), bool)
    mask[[0, 1, 1, 4], [0, 0, 1, 5]] = True  # exactly one positively scored candidate: (0, 1)
    assert np.count_nonzero(ch3_l3_scores(mask)) == 1
    g = regrow("ch3l3", Links.from_mask(mask), 3, np.random.default_rng(0))
    assert g.n_random_fill == 2 and (0, 1) in set(
        zip(g.rows.tolist(), g.cols.tolist(), strict=True)
    )


def test_regrow_allowed_units_and_overfull_request():
    rows, cols = np.array([0]), np.array([0])
    allowed = np.array([True, True, False])
    g = regrow(
        "random",
        Links(rows, cols, (3, 3)),
        3,
        np.random.default_rng(0),
        allowed_in=allowed,
        allowed_out=allowed,
    )
    assert allowed[g.rows].all() and allowed[g.cols].all()
    with pytest.raises(ConfigError, match="cannot grow 4 links"):
        regrow(
            "random",
            Links(rows, cols, (3, 3)),
            4,
            np.random.default_rng(0),
            allowed_in=allowed,
            allowed_out=allowed,
        )
    with pytest.raises(ConfigError, match="unknown regrowth rule"):
        regrow("magic", Links(rows, cols, (3, 3)), 1, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="needs layer gradients"):
        regrow("rigl", Links(rows, cols, (3, 3)), 1, np.random.default_rng(0))


def test_gradient_regrowth_matches_dense_in_chunks():
    torch.manual_seed(0)
    x, gy = torch.randn(16, 25), torch.randn(16, 18)
    rng = np.random.default_rng(0)
    mask = rng.random((25, 18)) < 0.2
    rows, cols = np.nonzero(mask)
    dense = (x.T @ gy).abs().numpy()
    dense[mask] = -1
    expected = set(
        zip(*np.unravel_index(np.argsort(-dense, axis=None)[:30], dense.shape), strict=True)
    )
    r, c = gradient_top_links(x, gy, rows, cols, 30, rng, chunk_entries=50)  # 2 rows per chunk
    assert set(zip(r.tolist(), c.tolist(), strict=True)) == {(int(a), int(b)) for a, b in expected}


def test_layer_gradients_equal_autograd_weight_gradient():
    model = small_model()
    x, y = torch.randn(8, 20), torch.randint(0, 4, (8,))
    grads = layer_gradients(model, x, y, LOSS)
    model.zero_grad()
    LOSS(model(x), y).backward()
    for name, layer in model.named_sparse_layers():
        xin, gy = grads[name]
        r, c = layer.link_index()
        np.testing.assert_allclose(
            (xin.T @ gy)[r, c].numpy(), layer.link_grad().numpy(), rtol=1e-4, atol=1e-6
        )


def test_gradients_on_frozen_model_are_a_config_error():
    model = small_model()
    for p in model.parameters():
        p.requires_grad_(False)
    with pytest.raises(ConfigError, match="needs gradients"):
        layer_gradients(model, torch.randn(4, 20), torch.zeros(4, dtype=torch.long), LOSS)


# --- config ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"zeta": 1.0}, "zeta"),
        ({"zeta": 0}, "zeta"),
        ({"regrowth": "magic"}, "regrowth"),
        ({"soft": True}, "soft"),
        ({"zeta_schedule": "cosine"}, "update_until"),
        ({"zeta_typo": 1}, "unknown DST option"),
    ],
)
def test_config_errors_are_one_line(kwargs, match):
    with pytest.raises(ConfigError, match=match) as err:
        DSTConfig(**kwargs)
    assert "\n" not in str(err.value)


def test_presets_and_schedule():
    with pytest.raises(ConfigError, match="update_until"):
        DSTConfig.from_preset("rigl")
    with pytest.raises(ConfigError, match="unknown DST preset"):
        DSTConfig.from_preset("nope")
    rigl = DSTConfig.from_preset("rigl", update_until=1000)
    assert rigl.regrowth == "rigl" and rigl.init == "zeros" and rigl.update_unit == "step"
    assert rigl.zeta_at(0) == pytest.approx(0.3) and rigl.zeta_at(500) == pytest.approx(0.15)
    assert (
        rigl.is_update_time(100) and not rigl.is_update_time(150) and not rigl.is_update_time(1100)
    )
    assert DSTConfig.from_preset("set").removal == "set"
    assert DSTConfig.from_preset("chts").soft and DSTConfig.from_preset("cht").chain_removal
    assert DSTConfig.model_validate({"regrowth": "ch3l3"}).regrowth == "ch3l3"


# --- the update --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rule,chain", [("random", False), ("ch3l3", True), ("l3", False), ("ch3l3", False)]
)
def test_update_preserves_link_counts_and_logs(rule, chain):
    model = small_model()
    before = [layer.n_links for layer in model.sparse_layers()]
    stats = update_topology(
        model, DSTConfig(regrowth=rule, chain_removal=chain), np.random.default_rng(0)
    )
    assert [layer.n_links for layer in model.sparse_layers()] == before
    for name, layer in model.named_sparse_layers():
        assert stats[f"links/{name}"] == layer.n_links
        assert stats[f"removed/{name}"] == stats[f"regrown/{name}"] >= int(0.3 * layer.n_links)
        assert 0 <= stats[f"regrown_was_removed/{name}"] <= 1
        for key in (
            "random_fill",
            "active_neurons",
            "mean_in_degree",
            "max_in_degree",
            "mean_out_degree",
            "max_out_degree",
        ):
            assert f"{key}/{name}" in stats
    for stage in ("removal", "chain", "regrowth", "apply", "total"):
        assert stats[f"dst/{stage}_seconds"] >= 0


def test_update_changes_links_and_resets_optimizer_state_of_new_links():
    model = small_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = torch.randn(8, 20), torch.randint(0, 4, (8,))
    LOSS(model(x), y).backward()
    opt.step()
    layer = model.sparse_layers()[0]
    old = set(zip(*(a.tolist() for a in layer.link_index()), strict=True))
    update_topology(model, DSTConfig(regrowth="random"), np.random.default_rng(0), optimizer=opt)
    new = set(zip(*(a.tolist() for a in layer.link_index()), strict=True))
    added = new - old
    assert len(old - new) == len(added) > 0
    buf = opt.state[layer.kernel.weight]["momentum_buffer"]
    r, c = zip(*added, strict=True)
    assert torch.all(buf[list(r), list(c)] == 0)
    survivors = old & new
    r, c = zip(*survivors, strict=True)
    assert torch.any(buf[list(r), list(c)] != 0)


def test_reinstated_links_keep_their_weight():
    model = small_model(density=0.5, sizes=(6, 6, 4))
    layer = model.sparse_layers()[0]
    w_before = layer.dense_weight().clone()
    # l3 on a dense-ish layer regrows many of the just-removed links
    stats = update_topology(
        model,
        DSTConfig(regrowth="l3", reinstate_weights=True, init="zeros"),
        np.random.default_rng(0),
    )
    w_after = layer.dense_weight()
    assert stats["regrown_was_removed/layer0"] > 0
    mask_after = layer.mask()
    was = w_before != 0
    kept_or_back = was & mask_after
    torch.testing.assert_close(w_after[kept_or_back], w_before[kept_or_back])
    assert torch.all(w_after[mask_after & ~was] == 0)


def test_regrow_dead_false_grows_only_between_units_on_a_path():
    model = small_model(density=0.05)
    update_topology(
        model,
        DSTConfig(regrowth="random", chain_removal=True, regrow_dead=False),
        np.random.default_rng(1),
    )
    links = [layer.links() for layer in model.sparse_layers()]
    _, on_path = chain_removal(links)
    for k, layer_links in enumerate(links[1:], start=1):
        assert on_path[k][layer_links.rows].all()


def test_update_bad_input():
    model = small_model()
    with pytest.raises(ConfigError, match="needs gradients"):
        update_topology(model, DSTConfig(regrowth="rigl"), np.random.default_rng(0))
    with pytest.raises(ConfigError, match="zeta"):
        update_topology(model, DSTConfig(), np.random.default_rng(0), zeta=1.0)
    with pytest.raises(ConfigError, match="sparse layers"):
        update_topology(torch.nn.Linear(3, 3), DSTConfig(), np.random.default_rng(0))


def test_rigl_update_grows_by_gradient():
    model = small_model()
    x, y = torch.randn(32, 20), torch.randint(0, 4, (32,))
    provider = batch_grad_provider(model, lambda: (x, y), LOSS)
    before = [layer.n_links for layer in model.sparse_layers()]
    stats = update_topology(
        model,
        DSTConfig.from_preset("rigl", update_until=10),
        np.random.default_rng(0),
        grad_provider=provider,
    )
    assert [layer.n_links for layer in model.sparse_layers()] == before
    assert stats["dst/gradients_seconds"] > 0


def test_update_is_reproducible():
    def run():
        model = small_model()
        update_topology(
            model, DSTConfig(regrowth="ch3l3", chain_removal=True), np.random.default_rng(3)
        )
        return [layer.mask() for layer in model.sparse_layers()]

    assert all(torch.equal(a, b) for a, b in zip(run(), run(), strict=True))


# --- the hook ----------------------------------------------------------------------------------


@dataclass
class FakeContext:
    """Stand-in for prunelab.training.TrainContext (the fields the hook uses)."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    rng: np.random.Generator
    epoch: int = 0
    step: int = 0
    loss_fn: object = LOSS
    device: torch.device = torch.device("cpu")
    logged: dict = field(default_factory=dict)

    def sample_batch(self, batch_size=None):
        g = torch.Generator().manual_seed(int(self.rng.integers(1 << 30)))
        return torch.randn(batch_size or 16, 20, generator=g), torch.randint(
            0, 4, (batch_size or 16,), generator=g
        )

    def log(self, name, value):
        self.logged[name] = float(value)


def _ctx():
    model = small_model()
    return FakeContext(
        model, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), np.random.default_rng(0)
    )


def test_hook_updates_every_k_epochs_and_logs():
    ctx = _ctx()
    hook = DSTHook(DSTConfig(regrowth="ch3l3", update_every=2, stop_overlap=None))
    ctx.epoch = 1
    hook.on_epoch_end(ctx)
    assert ctx.logged["dst/updates"] == 0
    ctx.epoch = 2
    hook.on_epoch_end(ctx)
    assert (
        ctx.logged["dst/updates"] == 1
        and "removed/layer0" in ctx.logged
        and "dst/regrowth_seconds" in ctx.logged
    )


def test_hook_step_mode_sums_over_the_epoch():
    ctx = _ctx()
    hook = DSTHook(DSTConfig.from_preset("rigl", update_every=2, update_until=100))
    n = ctx.model.sparse_layers()[0].n_links
    for step in range(1, 6):
        ctx.step = step
        hook.on_step_end(ctx)
    ctx.epoch = 1
    hook.on_epoch_end(ctx)
    assert ctx.logged["dst/updates"] == 2
    assert ctx.logged["links/layer0"] == n
    # two updates with cosine-decayed zeta at steps 2 and 4
    expected = int(DSTConfig.from_preset("rigl", update_until=100).zeta_at(2) * n) + int(
        DSTConfig.from_preset("rigl", update_until=100).zeta_at(4) * n
    )
    assert ctx.logged["removed/layer0"] == expected


def test_hook_stops_on_overlap_and_state_roundtrip():
    ctx = _ctx()
    hook = DSTHook(DSTConfig(regrowth="l3", stop_overlap=1e-9))
    for epoch in range(1, 11):  # every layer must once regrow a just-removed link
        ctx.epoch = epoch
        hook.on_epoch_end(ctx)
        if hook.stopped:
            break
    assert hook.stopped and ctx.logged["dst/stopped"] == 1.0 and all(hook.overlap_flags.values())
    masks = [layer.mask() for layer in ctx.model.sparse_layers()]
    ctx.epoch += 1
    hook.on_epoch_end(ctx)
    assert ctx.logged["dst/updates"] == 0
    assert all(
        torch.equal(a, layer.mask())
        for a, layer in zip(masks, ctx.model.sparse_layers(), strict=True)
    )
    fresh = DSTHook(hook.config)
    fresh.load_state_dict(hook.state_dict())
    assert fresh.stopped and fresh.overlap_flags == hook.overlap_flags


def test_hook_inside_the_training_engine():
    from types import SimpleNamespace

    from prunelab.training import TrainConfig, Trainer

    rng = np.random.default_rng(0)
    data = SimpleNamespace(
        x_train=rng.standard_normal((64, 20)).astype(np.float32),
        y_train=rng.integers(0, 4, 64),
        x_test=rng.standard_normal((16, 20)).astype(np.float32),
        y_test=rng.integers(0, 4, 16),
    )
    for config in (
        DSTConfig.from_preset("cht"),
        DSTConfig.from_preset("rigl", update_every=2, update_until=100),
    ):
        model = small_model()
        links = [layer.n_links for layer in model.sparse_layers()]
        trainer = Trainer(
            model, data, TrainConfig(epochs=2, batch_size=16), hooks=[DSTHook(config)]
        )
        result = trainer.fit()
        assert result.status == "finished"
        first = result.history[0]  # epoch-wise updates skip the last epoch, so look at the first
        assert first["dst/updates"] >= 1 and "regrown_was_removed/layer0" in first
        assert [layer.n_links for layer in model.sparse_layers()] == links


def test_preset_key_in_a_config_mapping():
    cfg = DSTConfig.model_validate({"preset": "cht", "soft": True})
    assert cfg.regrowth == "ch3l3" and cfg.chain_removal and cfg.soft
    with pytest.raises(ConfigError, match="unknown DST preset"):
        DSTConfig(preset="nope")


def test_no_topology_update_after_the_last_epoch(digits):
    """The final network is the trained, evaluated one: no regrown (untrained) links after the last epoch."""
    from prunelab.dst import DSTConfig, DSTHook
    from prunelab.nn import SparseMLP
    from prunelab.training import TrainConfig, Trainer

    model = SparseMLP([64, 64, 64, 10], density=0.2, seed=0, backend="masked")
    result = Trainer(
        model,
        digits,
        TrainConfig(epochs=3, batch_size=64, lr=0.05),
        hooks=[DSTHook(DSTConfig(regrowth="random", stop_overlap=None))],
    ).fit()
    assert [h["dst/updates"] for h in result.history] == [1.0, 1.0, 0.0]
    from prunelab.training import evaluate

    x = __import__("torch").as_tensor(digits.x_test)
    y = __import__("torch").as_tensor(digits.y_test)
    assert evaluate(model, x, y)[1] == result.history[-1]["test_accuracy"]

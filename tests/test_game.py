"""Pruning as a game: utilities, best responses, equilibria, gates, hard pruning, the hook, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from prunelab.errors import ConfigError
from prunelab.game import (
    GameParams,
    GateSet,
    LayerGame,
    benefit_coefficient,
    best_response,
    check_equilibrium,
    contraction_factor,
    deviation_gains,
    dominated,
    hard_prune,
    keep_units,
    solve_best_response,
    utility,
)
from prunelab.game.equilibrium import row_abs_sums
from prunelab.game.utility import competition
from prunelab.nn import SparseMLP
from prunelab.nn.families import ImageInput, make_cnn

GRID = np.linspace(0.0, 1.0, 20001)


# --- utilities and best responses ------------------------------------------------------------


@pytest.mark.parametrize(
    "alpha,beta,gamma,eta",
    [
        (1.0, 0.5, 0.0, 0.0),
        (1.0, 0.05, 0.05, 0.0),
        (2.0, 0.001, 0.1, 0.3),
        (1.0, 0.0, 0.02, 0.0),
        (0.5, 1.0, 0.0, 1.0),
    ],
)
def test_best_response_matches_brute_force_grid(alpha, beta, gamma, eta):
    rng = np.random.default_rng(1)
    n = 200
    b = rng.normal(0, 1, n)
    norm_sq = rng.uniform(0.0, 3.0, n)
    norm_sq[:5] = 0.0  # linear utilities: the best response sits at an end of [0, 1]
    c = rng.normal(0, 0.5, n)
    best = best_response(b, norm_sq, c, alpha, beta, gamma, eta)
    u_grid = utility(
        GRID[None, :], b[:, None], norm_sq[:, None], c[:, None], alpha, beta, gamma, eta
    )
    u_best = utility(best, b, norm_sq, c, alpha, beta, gamma, eta)
    # the closed form is at least as good as every grid point, and equals the grid maximum to grid accuracy
    assert np.all(u_best >= u_grid.max(1) - 1e-12)
    assert np.allclose(best, GRID[u_grid.argmax(1)], atol=1e-4)
    assert np.all((best >= 0) & (best <= 1))


def test_best_response_known_values_and_torch():
    b = np.array([1.0, -1.0, 0.2, 5.0])
    out = best_response(b, np.ones(4), 0.0, alpha=1.0, beta=1.0, gamma=0.0, eta=0.0)
    assert out.tolist() == [0.5, 0.0, 0.1, 1.0]
    t = best_response(torch.tensor(b), torch.ones(4), 0.0, 1.0, 1.0, 0.0, 0.0)
    assert torch.allclose(t, torch.tensor(out))


def test_benefit_signs_and_gradients():
    dl_ds = np.array([-0.5, 0.2, 0.0])
    s = np.array([0.5, 0.0, 1.0])
    assert benefit_coefficient(dl_ds, s, "paper", "effective").tolist() == [-0.5, 0.2, 0.0]
    assert benefit_coefficient(dl_ds, s, "descent", "effective").tolist() == [0.5, -0.2, 0.0]
    assert benefit_coefficient(dl_ds, s, "abs", "effective").tolist() == [0.5, 0.2, 0.0]
    # raw gradient: <dL/dθ, θ> = s dL/ds, so a player at s = 0 has no benefit (s = 0 is absorbing)
    assert benefit_coefficient(dl_ds, s, "descent", "raw").tolist() == [0.25, -0.0, -0.0]


def test_competition_is_the_gram_sum_without_self():
    rng = np.random.default_rng(0)
    theta, s = rng.normal(size=(7, 4)), rng.uniform(size=7)
    gram = theta @ theta.T
    expected = gram @ s - np.diag(gram) * s
    assert np.allclose(competition(theta, s, "raw"), expected)
    unit = theta / np.linalg.norm(theta, axis=1, keepdims=True)
    cos = unit @ unit.T
    assert np.allclose(competition(theta, s, "cosine"), cos @ s - s)
    assert np.allclose(row_abs_sums(theta), np.abs(gram).sum(1) - np.abs(np.diag(gram)))
    w = rng.normal(size=(9, 1))
    assert np.allclose(row_abs_sums(w), np.abs(w @ w.T).sum(1) - w[:, 0] ** 2)


# --- the equilibrium checker on hand-built games ------------------------------------------------


def _layer(s, b, norm_sq=None, theta=None):
    s = np.asarray(s, float)
    return LayerGame(
        "layer0",
        s,
        np.asarray(b, float),
        np.ones_like(s) if norm_sq is None else np.asarray(norm_sq, float),
        None if theta is None else np.asarray(theta, float),
    )


def test_deviation_gain_known_answer():
    # U(s) = s - s^2: best response 0.5 with U = 0.25; at s = 1, U = 0; at s = 0.5 the gain is 0
    layer = _layer([1.0, 0.5, 0.0], [1.0, 1.0, 1.0])
    best, gain = deviation_gains(layer, GameParams(alpha=1, beta=1, gamma=0, eta=0))
    assert np.allclose(best, 0.5) and np.allclose(gain, [0.25, 0.0, 0.25])


def test_dominated_players_match_brute_force():
    p = GameParams(alpha=1.0, beta=0.5, gamma=0.1, eta=0.0)
    # slopes at 0: a = b - γ = 0.9, 0, -0.3, 0.1 - 0.1 = 0 (with β‖θ‖² > 0) and a player with no quadratic cost
    layer = _layer([1, 1, 1, 1, 1], [1.0, 0.1, -0.2, 0.1, 0.1], norm_sq=[1, 1, 1, 2, 0])
    dom = dominated(layer, p)
    u0 = utility(0.0, layer.b, layer.norm_sq, 0.0, 1.0, 0.5, 0.1, 0.0)
    u = utility(GRID[1:, None], layer.b, layer.norm_sq, 0.0, 1.0, 0.5, 0.1, 0.0)
    brute = np.all(u0 > u, axis=0)
    assert dom.tolist() == brute.tolist() == [False, True, True, True, False]


def test_check_equilibrium_classifies_and_counts():
    p = GameParams(alpha=1, beta=1, gamma=0, eta=0)
    # at their best responses: 0 (b<0), 0.5 (b=1), 1 (b=4); a player off equilibrium at s=1 with b=1
    layer = _layer([0.0, 0.5, 1.0, 1.0], [-1.0, 1.0, 4.0, 1.0])
    rep = check_equilibrium([layer], p, tolerance=1e-9, epsilon=0.01)
    s = rep.summary
    assert s["within_tol"] == 0.75
    assert s["frac_at0"] == 0.25 and s["frac_at1"] == 0.5 and s["frac_between"] == 0.25
    assert s["within_tol_at1"] == 0.5 and s["within_tol_at0"] == 1.0
    assert s["dominated"] == 0.25 and s["dominated_at0"] == 1.0
    assert s["max_gain"] == pytest.approx(0.25) and s["kappa"] == 0.0 and s["contraction"] == 1.0


def test_contraction_bound_and_solver_on_two_competing_players():
    theta = [[1.0, 0.0], [1.0, 0.0]]  # parallel groups: <θ1, θ2> = 1, ‖θ‖² = 1
    # κ = η Σ|K_ij| / (2β‖θ‖²) = η / 2
    for eta, kappa in [(1.0, 0.5), (4.0, 2.0)]:
        assert contraction_factor(
            [_layer([1, 1], [1, 1], theta=theta)], GameParams(1, 1, 0, eta)
        ) == pytest.approx(kappa)
    # κ < 1: unique equilibrium s = αb / (2β + η) = 1/3, reached from any start
    p = GameParams(1.0, 1.0, 0.0, 1.0)
    for start in ([1.0, 1.0], [0.0, 0.9], [0.7, 0.0]):
        res = solve_best_response(
            [_layer(start, [1, 1], theta=theta)], p, iterations=200, damping=1.0, tol=1e-12
        )
        assert res.converged and np.allclose(res.s[0], 1 / 3, atol=1e-9)
        rep = check_equilibrium([_layer(res.s[0], [1, 1], theta=theta)], p, tolerance=1e-12)
        assert rep.summary["within_tol"] == 1.0 and rep.summary["contraction"] == 1.0
    # κ = 2: several equilibria (the bound is not met): symmetric 1/6 and asymmetric (1/2, 0)
    p = GameParams(1.0, 1.0, 0.0, 4.0)
    sym = solve_best_response(
        [_layer([0.5, 0.5], [1, 1], theta=theta)], p, iterations=200, damping=0.5, tol=1e-12
    )
    asym = solve_best_response(
        [_layer([0.6, 0.0], [1, 1], theta=theta)], p, iterations=200, damping=0.5, tol=1e-12
    )
    assert np.allclose(sym.s[0], 1 / 6) and np.allclose(asym.s[0], [0.5, 0.0])
    for s in (sym.s[0], asym.s[0]):
        rep = check_equilibrium([_layer(s, [1, 1], theta=theta)], p, tolerance=1e-12)
        assert rep.summary["within_tol"] == 1.0 and rep.summary["contraction"] == 0.0


def test_solver_recomputes_benefit_through_callback():
    calls = []

    def benefit(
        s,
    ):  # a benefit that falls as the player participates: b(s) = 1 - s; BR = (1 - s)/2 -> s = 1/3
        calls.append(1)
        return [1.0 - s[0]]

    res = solve_best_response(
        [_layer([1.0], [0.0])],
        GameParams(1, 1, 0, 0),
        iterations=100,
        damping=1.0,
        tol=1e-10,
        benefit_fn=benefit,
    )
    assert res.converged and res.s[0][0] == pytest.approx(1 / 3) and len(calls) == res.iterations


# --- gates -------------------------------------------------------------------------------------


def _mlp(backend="masked", sizes=(6, 5, 4, 3), seed=0):
    return SparseMLP(list(sizes), density=1.0, backend=backend, seed=seed)


@pytest.mark.parametrize("group", ["in", "in_out"])
def test_gate_gradient_is_the_inner_product_of_the_effective_gradient(group):
    """dL/ds_i = <dL/d(s_i θ_i), θ_i>, and <dL/dθ_i, θ_i> on the raw θ is s_i dL/ds_i."""
    torch.manual_seed(0)
    model = _mlp()
    gates = GateSet(model, group=group).attach()
    s_val = {
        "layer0": np.array([0.3, 1.0, 0.7, 0.0, 0.5]),
        "layer1": np.array([0.9, 0.2, 1.0, 0.4]),
    }
    gates.load(s_val)
    x, y = torch.randn(11, 6), torch.randint(0, 3, (11,))
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    layer = gates.layers[0]
    k = model.layers[0].kernel
    # raw gradient: <dL/dθ_0, θ_0> summed over the unit's incoming weights and bias (and outgoing weights)
    raw = (k.weight.grad * k.weight).sum(0) + model.layers[0].bias.grad * model.layers[0].bias
    if group == "in_out":
        nxt = model.layers[1].kernel
        raw = raw + (nxt.weight.grad * nxt.weight).sum(1)
    s0 = torch.as_tensor(s_val["layer0"], dtype=torch.float32)
    assert torch.allclose(raw.detach(), s0 * layer.s.grad, atol=1e-6)
    # the effective gradient: the ungated network with θ̃ = s θ folded in (nothing removed); the
    # gate sits after the ReLU, so at s = 0 dL/ds is the one-sided derivative, i.e. that at s = 0+
    gates.detach()
    s_ref = {n: np.maximum(v, 1e-7) for n, v in s_val.items()}
    eff = keep_units(model, {n: np.arange(v.size) for n, v in s_val.items()}, s_ref, group).model
    torch.nn.functional.cross_entropy(eff(x), y).backward()
    # dL/ds_0i = Σ over unit i's folded weights of (dL/dw̃ · w̃) / s_0i (the folded weights are linear in s_0i)
    e0, e1 = eff.layers[0], eff.layers[1]
    effective = (e0.kernel.weight.grad * e0.kernel.weight).sum(0) + e0.bias.grad * e0.bias
    if group == "in_out":
        effective = effective + (e1.kernel.weight.grad * e1.kernel.weight).sum(1)
    effective = effective / torch.as_tensor(s_ref["layer0"], dtype=torch.float32)
    assert torch.allclose(effective.detach(), layer.s.grad, atol=1e-5)
    # a closed gate still has an effective gradient with group "in"; with "in_out" the path carries s²
    assert bool(layer.s.grad[3] != 0) == (group == "in")


def test_gate_before_relu_would_make_zero_absorbing():
    """Why ReLU gates sit after the activation: before it, relu'(0) = 0 kills dL/ds at s = 0."""
    torch.manual_seed(0)
    x, y = torch.randn(11, 6), torch.randint(0, 3, (11,))
    grads = {}
    for position in ("pre", "post"):
        model = _mlp()
        gates = GateSet(model, position=position).attach()
        gates.load({"layer0": np.array([0.0, 1, 1, 1, 1]), "layer1": np.ones(4)})
        torch.nn.functional.cross_entropy(model(x), y).backward()
        grads[position] = gates.layers[0].s.grad.clone()
    assert grads["pre"][0] == 0 and grads["post"][0] != 0
    assert torch.allclose(
        grads["pre"][1:], grads["post"][1:], atol=1e-6
    )  # same network, same gradient for s > 0


def test_gated_network_equals_scaled_weights_and_keeps_state_dict():
    torch.manual_seed(0)
    model = _mlp()
    keys = set(model.state_dict())
    gates = GateSet(model).attach()
    gates.load({"layer0": np.full(5, 0.5), "layer1": np.ones(4)})
    x = torch.randn(4, 6)
    gated = model(x)
    assert set(model.state_dict()) == keys  # gates are not model state: checkpoints stay compatible
    gates.detach()
    with torch.no_grad():
        model.layers[0].kernel.weight.mul_(0.5)
        model.layers[0].bias.mul_(0.5)
    assert torch.allclose(model(x), gated, atol=1e-6)


def test_no_gateable_groups_is_one_line_config_error():
    with pytest.raises(ConfigError, match="no hidden units"):
        GateSet(SparseMLP([6, 3], density=1.0, backend="masked"))
    with pytest.raises(ConfigError, match="no gateable units"):
        GateSet(torch.nn.Sequential(torch.nn.Linear(3, 2)))


# --- hard pruning ------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["masked", "csr"])
@pytest.mark.parametrize("group", ["in", "in_out"])
def test_hard_pruning_gives_smaller_mlp_with_identical_logits(backend, group):
    torch.manual_seed(0)
    model = SparseMLP([8, 12, 10, 4], density=0.6, backend=backend, seed=3)
    rng = np.random.default_rng(0)
    s = {
        "layer0": (rng.uniform(size=12) > 0.5).astype(float),
        "layer1": (rng.uniform(size=10) > 0.4).astype(float),
    }
    gates = GateSet(model, group=group).attach()
    gates.load(s)
    x = torch.randn(20, 8)
    with torch.no_grad():
        gated = model(x)
    gates.detach()
    res = hard_prune(model, s, 0.01, group=group)
    assert res.model.sizes == [8, int(s["layer0"].sum()), int(s["layer1"].sum()), 4]
    assert res.n_kept == int(s["layer0"].sum() + s["layer1"].sum()) < 22
    with torch.no_grad():
        pruned = res.model(x)
    # 0/1 gates: the same numbers up to float summation order (removed terms were exact zeros)
    assert torch.allclose(pruned, gated, rtol=0, atol=1e-6) and torch.equal(
        pruned.argmax(1), gated.argmax(1)
    )
    # fractional survivors fold into the weights: equal to the gated net with the pruned gates at 0
    s2 = {k: v * rng.uniform(0.2, 1.0, v.size) + (v == 0) * 0.005 for k, v in s.items()}
    gates.load({k: np.where(v < 0.01, 0.0, v) for k, v in s2.items()})
    gates.attach()
    with torch.no_grad():
        ref = model(x)
    gates.detach()
    with torch.no_grad():
        assert torch.allclose(hard_prune(model, s2, 0.01, group=group).model(x), ref, atol=1e-5)


def test_hard_pruning_a_layer_to_nothing_keeps_a_dead_unit():
    model = _mlp()
    s = {"layer0": np.zeros(5), "layer1": np.ones(4)}
    res = hard_prune(model, s, 0.01)
    assert res.kept["layer0"].size == 0 and res.model.sizes == [6, 1, 4, 3]
    gates = GateSet(model).attach()
    gates.load(s)
    x = torch.randn(5, 6)
    with torch.no_grad():
        assert torch.allclose(res.model(x), model(x))


def test_hard_pruning_cnn_channels():
    torch.manual_seed(0)
    model = ImageInput(make_cnn(1, 3, width=4, depth=4, seed=0), (1, 8, 8))
    s = {
        "layer0": np.array([1, 0, 1, 1.0]),
        "layer1": np.array([0, 1, 1, 0.0]),
        "layer2": np.array([1, 1, 0, 1, 0, 1, 0, 1.0]),
    }
    gates = GateSet(model).attach()
    assert [layer.n for layer in gates.layers] == [4, 4, 8]
    gates.load(s)
    x = torch.randn(3, 64)
    with torch.no_grad():
        gated = model(x)
    gates.detach()
    res = hard_prune(model, s, 0.01)
    assert res.model.net.channels == [3, 2, 5]
    with torch.no_grad():
        assert torch.allclose(res.model(x), gated, atol=1e-6)


@pytest.mark.parametrize("backend", ["masked", "csr"])
def test_link_players_gate_and_prune_links(backend):
    torch.manual_seed(0)
    model = SparseMLP([6, 5, 3], density=0.5, backend=backend, seed=1)
    gates = GateSet(model, players="links").attach()
    n = model.layers[0].n_links
    s = {"layer0": (np.arange(n) % 3 != 0).astype(float)}
    gates.load(s)
    x = torch.randn(4, 6)
    loss = model(x).sum()
    loss.backward()
    # dL/ds_l = w_l dL/dw̃_l: nonzero for the links whose gate is closed too (effective gradient)
    assert gates.layers[0].s.grad.shape == (n,) and bool((gates.layers[0].s.grad != 0).any())
    with torch.no_grad():
        gated = model(x)
    gates.detach()
    res = hard_prune(model, s, 0.01, players="links")
    assert res.model.layers[0].n_links == int(s["layer0"].sum()) < n
    with torch.no_grad():
        assert torch.allclose(res.model(x), gated, atol=1e-6)


def test_game_utility_link_score_known_answer():
    from prunelab.core.scoring import ArrayLayer, ScoreContext, score_links

    layer = ArrayLayer("layer0", np.array([1.0, -2.0, 0.5]))
    ctx = ScoreContext(
        link_grads={"layer0": np.array([-0.1, 0.3, 0.0])},
        options={"beta": 0.5, "gamma": 0.01, "benefit": "descent"},
    )
    # b = -(w g) = [0.1, 0.6, 0]; U(1) = b - 0.5 w² - 0.01
    assert np.allclose(
        score_links("game_utility", [layer], ctx)[0],
        [0.1 - 0.5 - 0.01, 0.6 - 2.0 - 0.01, -0.125 - 0.01],
    )


# --- the hook in a training run ------------------------------------------------------------------


def _game_trainer(data, ckpt, extra=()):
    from prunelab.game import GameConfig
    from prunelab.game.hook import GameHook
    from prunelab.training import TrainConfig, Trainer

    model = SparseMLP([64, 32, 16, 10], density=1.0, backend="masked", seed=0, init="torch")
    cfg = TrainConfig(epochs=4, batch_size=64, optimizer="sgd", lr=0.05, seed=0)
    # Adam on s and an update every 3 steps (23 steps per epoch): optimiser state and pending
    # gradients cross the epoch boundary where the run is cut
    game = GameConfig(
        beta=0.5,
        gamma=0.01,
        lr_s=0.02,
        benefit="descent",
        gradient="effective",
        s_optimizer="adam",
        update_every=3,
        check_samples=256,
        solver={"iterations": 3},
    )
    hook = GameHook(game)
    return Trainer(model, data, cfg, hooks=[hook, *extra], checkpoint_path=ckpt), hook


def _numbers(history):
    """Every logged number but wall times (NaN as a string, so that equal runs compare equal)."""
    return [
        {k: ("nan" if v != v else v) for k, v in h.items() if "seconds" not in k} for h in history
    ]


def test_resume_after_interruption_gives_identical_numbers(digits, tmp_path):
    from prunelab.training import Hook

    straight, hook = _game_trainer(digits, tmp_path / "a.pt")
    full = straight.fit()
    assert full.status == "finished"

    class Kill(Hook):
        def on_step_end(self, ctx):
            if ctx.epoch == 3 and ctx.step == 2 * 23 + 10:
                raise KeyboardInterrupt

    first, _ = _game_trainer(digits, tmp_path / "b.pt", extra=[Kill()])
    assert first.fit().status == "interrupted"
    again, hook2 = _game_trainer(digits, tmp_path / "b.pt")
    assert again.resume_if_possible() and again.epoch == 2
    rest = again.fit()
    assert rest.status == "finished"
    assert _numbers(rest.history) == _numbers(full.history[2:])
    for a, b in zip(hook.gates.values().values(), hook2.gates.values().values()):
        assert np.array_equal(a, b)
    for name, table in hook.tables().items():
        assert table.equals(hook2.tables()[name]), name
    last = full.history[-1]
    # the final analysis ran: equilibrium check, solver and hard pruning are logged
    for key in (
        "game/eq/within_tol",
        "game/br/iterations",
        "game/hard_test_accuracy",
        "game/kept/layer0",
    ):
        assert key in last
    assert last["game/kept"] == sum(last[f"game/kept/layer{k}"] for k in range(2))
    assert last["game/alive"] == last["game/kept"]


# --- bad input -------------------------------------------------------------------------------------

BAD_GAME = [
    ({"beta": -0.1}, "game.beta"),
    ({"gamma": -1}, "game.gamma"),
    ({"eta": -0.5}, "game.eta"),
    ({"epsilon": 1.0}, "game.epsilon"),
    ({"epsilon": 0}, "game.epsilon"),
    ({"lr_s": 0.0}, "game.lr_s"),
    ({"lr_s": 1.5}, "game.lr_s"),
    ({"benefit": "descnt"}, "did you mean 'descent'"),
    ({"gradient": "efective"}, "did you mean 'effective'"),
    ({"s_optimizer": "adamw"}, "did you mean 'adam'"),
    ({"players": "unit"}, "did you mean 'units'"),
    ({"bta": 0.1}, "did you mean 'game.beta'"),
]


@pytest.mark.parametrize("game,match", BAD_GAME)
def test_bad_game_section_is_one_line_and_writes_nothing(
    monkeypatch, capsys, tmp_path, game, match
):
    import yaml
    from test_cli import cli

    raw = {
        "data": {"name": "digits"},
        "model": {"sizes": [64, 16, 10], "density": 1.0, "backend": "masked"},
        "train": {"epochs": 1},
        "game": game,
    }
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    runs = tmp_path / "runs"
    code, _, err = cli(monkeypatch, capsys, "run", path, "--runs-dir", runs)
    assert code == 2 and match in err and len(err.strip().splitlines()) == 1, err
    assert not runs.exists()


def test_game_without_gateable_groups_and_bad_study_are_rejected_before_the_store(
    monkeypatch, capsys, tmp_path
):
    import yaml
    from test_cli import cli

    runs = tmp_path / "runs"
    cases = [
        ({"data": {"name": "digits"}, "model": {"sizes": [64, 10]}, "game": {}}, "no hidden layer"),
        (
            {
                "data": {"name": "digits"},
                "model": {"sizes": [64, 10]},
                "game": {"players": "links"},
            },
            "no sparse layer",
        ),
        (
            {
                "data": {"name": "digits"},
                "model": {"sizes": [64, 16, 10]},
                "game": {"players": "links"},
                "dst": {"zeta": 0.3},
            },
            "cannot be combined with dst",
        ),
        (
            {
                "kind": "game",
                "data": {"name": "digits"},
                "model": {"sizes": [64, 16, 10]},
                "configurations": {"bad": {"beta": -1}},
            },
            "configuration 'bad'",
        ),
        (
            {
                "kind": "game",
                "data": {"name": "digits"},
                "model": {"sizes": [64, 16, 10]},
                "baselines": {"budgets": [500]},
            },
            "budget of 500 units",
        ),
        (
            {
                "kind": "game",
                "data": {"name": "digits"},
                "model": {"sizes": [64, 16, 10]},
                "baselines": {"methods": ["magnitud"]},
            },
            "did you mean 'magnitude'",
        ),
        (
            {
                "kind": "game",
                "data": {"name": "digits"},
                "model": {"sizes": [64, 16, 10]},
                "benefits": ["signed"],
            },
            "unknown benefit sign",
        ),
    ]
    for k, (raw, match) in enumerate(cases):
        path = tmp_path / f"bad{k}.yaml"
        path.write_text(yaml.safe_dump(raw))
        code, _, err = cli(monkeypatch, capsys, "run", path, "--runs-dir", runs)
        assert code == 2 and match in err and len(err.strip().splitlines()) == 1, (match, err)
    assert not runs.exists()


# --- the digits grid: study, baselines, page -------------------------------------------------------

DIGITS_QUICK = [
    "configurations={'Very High Beta': {beta: 0.1, gamma: 0.0}, 'Extreme Beta': {beta: 0.5, gamma: 0.0}}",
    "benefits=[descent]",
    "seeds=[0]",
    "train.epochs=8",
    "game.lr_s=0.035",
    "baselines.budgets=[16]",
    "baselines.finetune_epochs=1",
    "game.check_samples=256",
    "game.solver.iterations=10",
]


def test_digits_game_study_baselines_and_page(monkeypatch, capsys, tmp_path):
    from pathlib import Path

    torch.set_num_threads(
        1
    )  # a 64-64-32-10 MLP: a second thread only adds synchronisation (reset after)

    from test_cli import cli

    from prunelab.experiments import Store
    from prunelab.studies import load_study, run_study

    config = Path(__file__).resolve().parents[1] / "configs" / "shah2025_digits.yaml"
    runs = tmp_path / "runs"
    args = [a for s in DIGITS_QUICK for a in ("--set", s)]
    code, out, err = cli(monkeypatch, capsys, "run", config, *args, "--runs-dir", runs)
    assert code == 0, err
    study = load_study(config, DIGITS_QUICK)
    store = Store(runs)
    tables = study.analyse(store)
    game = tables["game"].set_index("configuration")
    assert (tables["game"].status == "finished").all()
    # a five times larger L2 cost leaves fewer neurons alive
    assert game.loc["Extreme Beta", "kept"] < game.loc["Very High Beta", "kept"] <= 96
    # with a negligible benefit, s decays by (1 - 2β‖θ‖² lr_s) per step: 45 steps per epoch
    wide = store.metrics([game.loc["Extreme Beta", "run_id"]], wide=True).sort_values("epoch")
    norm_sq = (
        64 * wide["game/theta_norm/layer0"] ** 2 + 32 * wide["game/theta_norm/layer1"] ** 2
    ) / 96
    predicted = (1 - 2 * 0.5 * norm_sq * 0.035) ** 45
    measured = wide["game/s_mean"].to_numpy()[1:] / wide["game/s_mean"].to_numpy()[:-1]
    assert np.allclose(measured[1:6], predicted.to_numpy()[2:7], rtol=0.04)
    # hard pruning removes only players with s < 0.01: accuracy moves little
    assert np.allclose(tables["game"].hard_accuracy, tables["game"].soft_accuracy, atol=0.03)
    base = tables["baselines"]
    assert (
        set(base.method) == {"magnitude", "slimming", "scratch"}
        and (base.status == "finished").all()
    )
    matched = {
        "+".join(str(int(game.loc[c, f"kept_layer{k}"])) for k in range(2))
        for c in game.index
        if 0 < game.loc[c, "kept"] < 96
    }
    assert matched <= set(base.counts) and "11+5" in set(
        base.counts
    )  # 16 split 2:1 over 64 and 32 units
    assert (base[base.counts == "11+5"].accuracy > 0.5).all()  # a 16-neuron network learns digits
    fine = base[base.method != "scratch"]
    assert (fine.accuracy_before_ft.notna()).all()
    assert len(tables["comparison"]) == 3 * len(matched)
    # the study is resumable: a second run does nothing
    again = run_study(study, store)
    assert {r["status"] for r in again.results} == {"skipped"}
    # the reproduction page, from the store only
    from reproductions.shah2025 import write_page

    page = write_page(
        store,
        config,
        tmp_path / "docs",
        overrides=DIGITS_QUICK,
        also=[(store, config, DIGITS_QUICK)],
    )
    text = page.read_text()
    assert (
        "## Also on digits: the smaller network [64, 64, 32, 10]" in text
        and "with a smaller network" in text
    )
    for needle in (
        "arXiv:2512.22106",
        "96.64",
        "95.18",
        "Which benefit sign reproduces",
        "Equilibrium of the final state",
        "Sparsity–accuracy frontier",
        "hard-pruned",
        "MNIST's files are not present",
    ):
        assert needle in text, needle
    figs = tmp_path / "docs" / "figures" / "shah2025"
    for name in (
        "frontier.png",
        "trajectories_descent.png",
        "histograms_descent.png",
        "norms_descent.png",
        "digits_frontier.png",
        "digits_trajectories_descent.png",
    ):
        assert (figs / name).stat().st_size > 5000, name


def test_game_package_is_pure():
    """prunelab.game builds on core, nn and training only (no experiments, studies, report or cli)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "prunelab" / "game"
    forbidden = ("prunelab.experiments", "prunelab.studies", "prunelab.report", "prunelab.cli")
    for path in root.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else ([node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            )
            for name in names:
                assert not name.startswith(forbidden), f"{path.name} imports {name}"
        assert len(path.read_text().splitlines()) <= 500, path.name


@pytest.mark.slow
def test_digits_full_grid_with_seed_intervals(monkeypatch, capsys, tmp_path):
    """The whole digits grid (4 configurations x 3 signs x 3 seeds, baselines) and its page."""
    from pathlib import Path

    from test_cli import cli

    from prunelab.experiments import Store
    from prunelab.studies import load_study
    from reproductions.shah2025 import write_page

    config = Path(__file__).resolve().parents[1] / "configs" / "shah2025_digits.yaml"
    runs = tmp_path / "runs"
    code, _, err = cli(monkeypatch, capsys, "run", config, "--workers", "2", "--runs-dir", runs)
    assert code == 0, err
    tables = load_study(config).analyse(Store(runs))
    assert len(tables["game"]) == 36 and (tables["game"].status == "finished").all()
    assert (tables["summary"].seeds == 3).all()
    assert (tables["summary"].hard_accuracy_high > tables["summary"].hard_accuracy_low).any()
    assert not tables["comparison"].verdict.str.contains("1 seed").any()
    text = write_page(Store(runs), config, tmp_path / "docs").read_text()
    assert "36 of 36 game runs finished" in text


def test_page_compute_line_sums_the_studys_finished_runs(tmp_path):
    """The reproduction page's compute bullet: worker-minutes, median game run, wall span."""
    from prunelab.experiments import Store
    from reproductions.shah2025 import compute_line

    store = Store(tmp_path / "runs")
    assert "no finished run" in compute_line(store, "g")
    rows = [  # (name, status, started, finished, seconds)
        ("g/A/paper/seed=0", "finished", 0.0, 90.0, 90.0),
        ("g/A/abs/seed=0", "finished", 0.0, 150.0, 150.0),
        ("g/magnitude/k=8+4/seed=0", "finished", 150.0, 300.0, 60.0),
        ("g/A/descent/seed=0", "failed", 0.0, 10.0, 10.0),  # not finished: left out
        ("other/A/paper/seed=0", "finished", 0.0, 9000.0, 9000.0),  # another study
    ]
    for k, (name, status, started, finished, seconds) in enumerate(rows):
        store.register_run(f"r{k}", name, {})
        store.set_status(f"r{k}", status, started=started, finished=finished, seconds=seconds)
    line = compute_line(store, "g")
    assert "3 finished runs took 5 worker-minutes" in line  # (90 + 150 + 60) s
    assert "a game run 120 s, median of 2" in line
    assert "5 min of wall time" in line  # 0 -> 300 s

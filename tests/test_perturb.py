"""Tests of prunelab.perturb: the five perturbations, robustness curves, ensembles, weights, plots."""

from __future__ import annotations

import copy
import itertools
import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from prunelab.errors import ConfigError
from prunelab.nn import BACKENDS, SparseMLP
from prunelab.perturb import (
    KINDS,
    REMOVAL_KINDS,
    WEIGHT_KINDS,
    curve_auc,
    curve_summary,
    f_half,
    kinds_of,
    magnitude_density,
    random_pruning,
    reverse_weight_order_pruning,
    robustness_curve,
    select_layers,
    summarize_curves,
    weight_density_table,
    weight_moments,
    weight_moments_table,
    weight_noise,
    weight_order_pruning,
    weight_shuffling,
)
from prunelab.perturb.plots import (
    plot_removal_curves,
    plot_weight_densities,
    plot_weight_perturbation_curves,
)

# --- fixtures ----------------------------------------------------------------------------------


def _digits():
    from prunelab.data import load_dataset

    ds = load_dataset("digits")
    return ds.x_train, ds.y_train, ds.x_test, ds.y_test


@pytest.fixture(scope="module")
def digits_arrays():
    return _digits()


def _train(backend: str, digits_arrays, seed: int = 0) -> SparseMLP:
    x_train, y_train, _, _ = digits_arrays
    torch.manual_seed(seed)
    model = SparseMLP([64, 96, 96, 10], density=0.3, seed=seed, backend=backend, init="swi")
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = torch.as_tensor(x_train), torch.as_tensor(y_train)
    for _ in range(120):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return model.eval()


@pytest.fixture(scope="module")
def trained_masked(digits_arrays):
    return _train("masked", digits_arrays)


def _on_backend(model: SparseMLP, backend: str) -> SparseMLP:
    """The same trained network on another backend (same seed -> same topology; copy the weights)."""
    twin = SparseMLP([64, 96, 96, 10], density=0.3, seed=0, backend=backend, init="swi").eval()
    for (_, src), (_, dst) in zip(
        model.named_sparse_layers(), twin.named_sparse_layers(), strict=True
    ):
        assert all(
            torch.equal(a, b) for a, b in zip(src.link_index(), dst.link_index(), strict=True)
        )
        dst.set_link_values(src.link_values())
    with torch.no_grad():
        for k in range(len(model.layers)):
            if model.layers[k].bias is not None:
                twin.layers[k].bias.copy_(model.layers[k].bias)
        twin.layers[-1].weight.copy_(model.layers[-1].weight)
    return twin


@pytest.fixture(scope="module", params=sorted(BACKENDS))
def trained(request, trained_masked):
    # Every backend must give the same curves; training once (masked) keeps the file fast.
    return (
        trained_masked if request.param == "masked" else _on_backend(trained_masked, request.param)
    )


@pytest.fixture(scope="module")
def test_data(digits_arrays):
    return digits_arrays[2], digits_arrays[3]


def _accuracy(model, x, y) -> float:
    with torch.no_grad():
        return float(np.mean(model(torch.as_tensor(x)).argmax(1).numpy() == y))


def _state(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same_state(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# --- the pure perturbations ----------------------------------------------------------------------

RNG_WEIGHTS = np.random.default_rng(123).normal(0, 0.3, size=500).astype(np.float32)


@pytest.mark.parametrize("kind", REMOVAL_KINDS)
@pytest.mark.parametrize("fraction", [0.0, 0.013, 0.25, 0.5, 0.999, 1.0])
def test_removal_removes_rounded_fraction_per_layer(kind, fraction):
    layers = [RNG_WEIGHTS[:300], RNG_WEIGHTS[300:] * 5]
    out = KINDS[kind].prepare(layers, rng=1)(fraction)
    for before, after in zip(layers, out.values, strict=True):
        removed = (after == 0) & (before != 0)
        assert removed.sum() == math.floor(fraction * before.size + 0.5)
        np.testing.assert_array_equal(after[~removed], before[~removed])  # survivors untouched
    assert out.n_removed == sum(math.floor(fraction * v.size + 0.5) for v in layers)


@pytest.mark.parametrize("kind", REMOVAL_KINDS)
def test_removals_are_nested(kind):
    apply = KINDS[kind].prepare([RNG_WEIGHTS], rng=7)
    previous = np.zeros(RNG_WEIGHTS.size, dtype=bool)
    for f in np.linspace(0, 1, 41):
        removed = apply(f).values[0] == 0
        assert np.all(removed >= previous)  # superset of the smaller fraction's removals
        previous = removed
    # The named functions with one seed give the same nesting.
    f1 = random_pruning(RNG_WEIGHTS, 0.2, rng=3) == 0
    f2 = random_pruning(RNG_WEIGHTS, 0.6, rng=3) == 0
    assert np.all(f2 >= f1) and f2.sum() > f1.sum()


def test_weight_order_brute_force():
    w = np.array([0.5, -1.0, 0.1, 2.0, -0.3], dtype=np.float32)
    np.testing.assert_array_equal(weight_order_pruning(w, 0.4), w * [1, 0, 1, 0, 1])
    np.testing.assert_array_equal(reverse_weight_order_pruning(w, 0.4), w * [1, 1, 0, 1, 0])
    for f in np.linspace(0, 1, 11):
        k = math.floor(f * w.size + 0.5)
        largest = set(np.argsort(-np.abs(w))[:k])
        assert set(np.flatnonzero(weight_order_pruning(w, f) == 0)) == largest
        smallest = set(np.argsort(np.abs(w))[:k])
        assert set(np.flatnonzero(reverse_weight_order_pruning(w, f) == 0)) == smallest


def test_global_scope_pools_layers():
    small, large = np.full(100, 0.1, np.float32), np.full(100, 1.0, np.float32)
    per_layer = weight_order_pruning([small, large], 0.5)
    pooled = weight_order_pruning([small, large], 0.5, scope="global")
    assert [int((v == 0).sum()) for v in per_layer] == [50, 50]
    assert [int((v == 0).sum()) for v in pooled] == [0, 100]  # the 100 largest overall
    assert [v.shape for v in pooled] == [(100,), (100,)]


def test_random_pruning_is_uniform():
    w = np.arange(1, 21, dtype=np.float32)
    counts = np.zeros(20)
    rng = np.random.default_rng(0)
    for _ in range(3000):
        counts += random_pruning(w, 0.25, rng=rng) == 0
    np.testing.assert_allclose(counts / 3000, 0.25, atol=0.035)


def _bins(w: np.ndarray, p: float) -> np.ndarray:
    width = p * (w.max() - w.min())
    n_bins = math.ceil(1 / p - 1e-9)
    return np.array([min(int((float(v) - float(w.min())) // width), n_bins - 1) for v in w])


@pytest.mark.parametrize("p", [0.05, 0.1, 0.3, 0.37, 1.0])
def test_shuffling_preserves_each_bin_multiset(p):
    out = weight_shuffling(RNG_WEIGHTS, p, rng=5)
    bins = _bins(RNG_WEIGHTS, p)
    for b in np.unique(bins):
        np.testing.assert_array_equal(np.sort(out[bins == b]), np.sort(RNG_WEIGHTS[bins == b]))
    width = p * (RNG_WEIGHTS.max() - RNG_WEIGHTS.min())
    assert np.max(np.abs(out - RNG_WEIGHTS)) <= width + 1e-6
    assert not np.array_equal(out, RNG_WEIGHTS)


def test_shuffling_extremes_and_uniformity():
    np.testing.assert_array_equal(weight_shuffling(RNG_WEIGHTS, 0.0, rng=0), RNG_WEIGHTS)
    w = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    seen = {}
    rng = np.random.default_rng(0)
    for _ in range(3000):
        key = tuple(weight_shuffling(w, 1.0, rng=rng))
        seen[key] = seen.get(key, 0) + 1
    assert set(seen) == set(itertools.permutations([1.0, 2.0, 3.0]))
    assert all(abs(c / 3000 - 1 / 6) < 0.03 for c in seen.values())


def test_noise_std_is_mp_times_mean_abs_per_layer():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 0.1, 40_000).astype(np.float32)
    b = rng.normal(0, 2.0, 40_000).astype(np.float32)
    out = weight_noise([a, b], 0.5, rng=1)
    for before, after in zip([a, b], out, strict=True):
        delta = after.astype(np.float64) - before
        sigma = 0.5 * np.abs(before).mean()
        assert abs(delta.std() / sigma - 1) < 0.02
        assert abs(delta.mean()) < 0.03 * sigma
    np.testing.assert_array_equal(weight_noise(a, 0.0, rng=1), a)


@pytest.mark.parametrize(
    "kind", kinds_of("weights")
)  # the input kinds act on inputs (tests/test_adversarial.py)
def test_pure_functions_do_not_modify_input(kind):
    w_np = RNG_WEIGHTS.copy()
    w_t = torch.from_numpy(RNG_WEIGHTS.copy())
    strength = 0.5
    out_np = KINDS[kind].prepare([w_np], rng=0)(strength).values[0]
    from prunelab.perturb import apply_perturbation

    out_t = apply_perturbation(kind, w_t, strength, rng=0)
    np.testing.assert_array_equal(w_np, RNG_WEIGHTS)
    np.testing.assert_array_equal(w_t.numpy(), RNG_WEIGHTS)
    assert isinstance(out_t, torch.Tensor) and out_t.dtype == torch.float32
    np.testing.assert_array_equal(out_t.numpy(), out_np)
    assert out_np is not w_np and not np.shares_memory(out_np, w_np)


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: random_pruning(RNG_WEIGHTS, 1.5), "fraction"),
        (lambda: weight_order_pruning(RNG_WEIGHTS, -0.1), "fraction"),
        (lambda: weight_shuffling(RNG_WEIGHTS, 2.0), "p "),
        (lambda: weight_noise(RNG_WEIGHTS, -0.5), "m_p"),
        (lambda: weight_noise(RNG_WEIGHTS, float("nan")), "m_p"),
        (lambda: random_pruning(RNG_WEIGHTS.reshape(20, 25), 0.5), "1-D"),
        (lambda: random_pruning(RNG_WEIGHTS, 0.5, scope="net"), "scope"),
        (lambda: KINDS["random_pruning"].prepare([], 0), "no layers"),
    ],
)
def test_bad_input_is_one_clear_line(call, words):
    with pytest.raises(ConfigError) as info:
        call()
    assert "\n" not in str(info.value) and words in str(info.value)


# --- robustness curves ---------------------------------------------------------------------------


def test_fraction_zero_is_unperturbed_and_model_untouched(trained, test_data):
    x, y = test_data
    before = _state(trained)
    for kind in kinds_of("weights"):  # input kinds: tests/test_adversarial.py
        table = robustness_curve(trained, (x, y), kind, [0.0, 0.3, 0.7], n_draws=2, seed=0)
        assert len(table) == 6
        assert (table.loc[table.strength == 0, "accuracy"] == _accuracy(trained, x, y)).all()
    assert _same_state(before, _state(trained))


def test_backends_give_the_same_curve(trained, trained_masked, test_data):
    x, y = test_data
    strengths = np.linspace(0, 1, 6)
    for kind in ("random_pruning", "weight_noise"):
        ours = robustness_curve(trained, (x, y), kind, strengths, seed=2)
        reference = robustness_curve(trained_masked, (x, y), kind, strengths, seed=2)
        np.testing.assert_allclose(ours.accuracy, reference.accuracy, atol=2 / len(y))
        np.testing.assert_allclose(ours.loss, reference.loss, rtol=1e-4, atol=1e-5)


def test_fraction_one_of_all_sparse_layers_gives_constant_output(trained, test_data):
    x, y = test_data
    work = copy.deepcopy(trained)
    for target in select_layers(work):
        target.set_values(np.zeros(target.n_links, np.float32))
    with torch.no_grad():
        logits = work(torch.as_tensor(x))
    assert torch.allclose(logits, logits[:1].expand_as(logits))  # same output for every input
    predicted = int(logits[0].argmax())
    expected = float(np.mean(y == predicted))
    for kind in REMOVAL_KINDS:
        table = robustness_curve(trained, (x, y), kind, [1.0], seed=0)
        assert table.accuracy.iloc[0] == pytest.approx(expected)
        assert table.removed_fraction.iloc[0] == 1.0


def test_curve_matches_pure_function_with_documented_rng(trained, test_data):
    x, y = test_data
    table = robustness_curve(trained, (x, y), "random_pruning", [0.4], n_draws=2, seed=11)
    work = copy.deepcopy(trained)
    targets = select_layers(work)
    new = random_pruning([t.values() for t in targets], 0.4, rng=np.random.default_rng([11, 0, 1]))
    for t, v in zip(targets, new, strict=True):
        t.set_values(v)
    assert table.accuracy.iloc[1] == _accuracy(work, x, y)


def test_table_layout_reproducibility_and_networks(trained_masked, test_data):
    x, y = test_data
    other = copy.deepcopy(trained_masked)
    with torch.no_grad():
        other.layers[-1].bias.add_(0.5)
    strengths = np.linspace(0, 1, 6)
    nets = {"a": trained_masked, "b": other}
    table = robustness_curve(
        nets, (x, y), "random_pruning", strengths, n_draws=3, seed=4, group="RLR"
    )
    assert list(table.columns) == [
        "group",
        "network",
        "kind",
        "draw",
        "strength",
        "accuracy",
        "loss",
        "removed_fraction",
        "baseline_accuracy",
        "baseline_loss",
        "chance",
    ]
    assert (
        len(table) == 2 * 3 * 6 and set(table.group) == {"RLR"} and set(table.network) == {"a", "b"}
    )
    assert table.chance.iloc[0] == pytest.approx(0.1)
    again = robustness_curve(
        nets, (x, y), "random_pruning", strengths, n_draws=3, seed=4, group="RLR"
    )
    pd.testing.assert_frame_equal(table, again)
    for _, curve in table.groupby(["network", "draw"]):
        assert np.all(np.diff(curve.removed_fraction.to_numpy()) >= 0)
    noise = robustness_curve(trained_masked, (x, y), "weight_noise", [0.0, 1.0], seed=0)
    assert noise.removed_fraction.isna().all()


def test_weight_order_hurts_more_than_reverse(trained_masked, test_data):
    x, y = test_data
    base = _accuracy(trained_masked, x, y)
    assert base > 0.85
    worst = robustness_curve(
        trained_masked, (x, y), "weight_order_pruning", [0.3], seed=0
    ).accuracy.iloc[0]
    mild = robustness_curve(
        trained_masked, (x, y), "reverse_weight_order_pruning", [0.3], seed=0
    ).accuracy.iloc[0]
    assert worst < 0.5 < base - 0.05 < mild


def test_layer_selection_and_readout(trained_masked, test_data):
    x, y = test_data
    assert [t.name for t in select_layers(trained_masked)] == ["layer0", "layer1"]
    assert [t.name for t in select_layers(trained_masked, "all")] == ["layer0", "layer1", "layer2"]
    assert [t.name for t in select_layers(trained_masked, "readout")] == ["layer2"]
    readout = select_layers(trained_masked, "readout")[0]
    np.testing.assert_array_equal(
        readout.values(), trained_masked.layers[2].weight.detach().t().reshape(-1).numpy()
    )
    before = _state(trained_masked)
    table = robustness_curve(trained_masked, (x, y), "random_pruning", [1.0], layers="readout")
    predicted = int(trained_masked.layers[2].bias.detach().argmax())  # logits = readout bias only
    assert table.accuracy.iloc[0] == pytest.approx(np.mean(y == predicted))
    assert _same_state(before, _state(trained_masked))
    with pytest.raises(ConfigError, match="unknown layer names"):
        select_layers(trained_masked, ["layer7"])


def test_model_specs_loaders_and_dataset(trained_masked, test_data):
    x, y = test_data

    class Run:
        name = "run-17"

        def load_model(self):
            return trained_masked

    class Data:
        x_test, y_test, n_classes = x, y, 10

    table = robustness_curve(
        [Run(), "runs/abc"],
        Data(),
        "weight_shuffling",
        [0.0, 0.5],
        seed=0,
        load_model=lambda path: trained_masked,
    )
    assert list(table.network.unique()) == ["run-17", "abc"]
    assert table.accuracy.iloc[0] == table.accuracy.iloc[2] == _accuracy(trained_masked, x, y)
    with pytest.raises(ConfigError, match="no run loader"):
        robustness_curve("runs/abc", (x, y), "random_pruning", [0.5])


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(kind="random_prune"), "unknown perturbation kind"),
        (dict(strengths=[0.1, 1.2]), "fraction"),
        (dict(kind="weight_noise", strengths=[-1.0]), "m_p"),
        (dict(strengths=[]), "non-empty"),
        (dict(n_draws=0), "n_draws"),
        (dict(layers="hidden"), "layer selection"),
        (dict(data=np.zeros(3)), "x_test"),
    ],
)
def test_curve_bad_input(trained_masked, test_data, kwargs, words):
    args = dict(model_or_run=trained_masked, data=test_data, kind="random_pruning", strengths=[0.5])
    args.update(kwargs)
    with pytest.raises(ConfigError) as info:
        robustness_curve(**args)
    assert "\n" not in str(info.value) and words in str(info.value)


def test_model_without_sparse_layers_is_rejected(test_data):
    dense = nn.Sequential(nn.Linear(64, 10))
    with pytest.raises(ConfigError, match="no sparse layers"):
        robustness_curve(dense, test_data, "random_pruning", [0.5])


# --- ensembles -----------------------------------------------------------------------------------


def test_auc_and_f_half_known_answers():
    s = np.linspace(0, 1, 11)
    assert curve_auc(s, np.ones_like(s)) == pytest.approx(1.0)
    assert curve_auc(s, 1 - s) == pytest.approx(0.5)
    assert curve_auc(s, 1 - s, normalize=False) == pytest.approx(0.5)
    assert f_half(s, 1 - s, chance=0.0) == pytest.approx(0.5)
    assert f_half(s, 1 - s, chance=0.1) == pytest.approx(0.45)
    curves = np.stack([1 - s, 1 - s / 2, np.ones_like(s)])
    np.testing.assert_allclose(f_half(s, curves, chance=0.0), [0.5, 1.0, np.nan])
    # baseline prepended when the grid starts above 0
    assert f_half(s[1:], (1 - s)[1:], chance=0.0, baseline=1.0) == pytest.approx(0.5)
    with pytest.raises(ConfigError):
        curve_auc(s[::-1], s)


def _synthetic_table(n_networks=8, n_draws=4, noise=0.02, seed=0):
    rng = np.random.default_rng(seed)
    s = np.linspace(0, 1, 21)
    rows = []
    for g, slope in (("CH3-L3", 0.9), ("RLR", 0.6)):
        for n in range(n_networks):
            for d in range(n_draws):
                acc = np.clip(1 - slope * s + rng.normal(0, noise, s.size), 0, 1)
                acc[0] = 1.0
                for si, a in zip(s, acc, strict=True):
                    rows.append(
                        (g, f"net{n}", "random_pruning", d, si, a, 1 - a, si, 1.0, 0.0, 0.1)
                    )
    return pd.DataFrame(
        rows,
        columns=[
            "group",
            "network",
            "kind",
            "draw",
            "strength",
            "accuracy",
            "loss",
            "removed_fraction",
            "baseline_accuracy",
            "baseline_loss",
            "chance",
        ],
    )


def test_summarize_curves_matches_numpy():
    table = _synthetic_table()
    summary = summarize_curves(table, percentiles=(25, 75))
    row = summary[(summary.group == "RLR") & np.isclose(summary.strength, 0.5)].iloc[0]
    values = table[(table.group == "RLR") & np.isclose(table.strength, 0.5)].accuracy.to_numpy()
    assert row.n == 32
    assert row["mean"] == pytest.approx(values.mean())
    assert row["std"] == pytest.approx(values.std(ddof=1))
    assert row["lo"] == pytest.approx(np.percentile(values, 25))
    per_net = summarize_curves(table, per_network=True)
    assert per_net.n.max() == 8


def test_curve_summary_bootstrap_brackets_truth():
    summary = curve_summary(_synthetic_table(), n_boot=400, seed=1).set_index("group")
    # true curve 1 - slope*s, chance 0.1: f_half = 0.45 / slope, auc = 1 - slope/2
    for group, slope in (("CH3-L3", 0.9), ("RLR", 0.6)):
        r = summary.loc[group]
        assert r.n_units == 8
        assert r.f_half_lo <= 0.45 / slope <= r.f_half_hi
        assert r.auc_lo <= 1 - slope / 2 <= r.auc_hi
        assert r.f_half_hi - r.f_half_lo < 0.05
    exact = curve_summary(_synthetic_table(noise=0.0), n_boot=50).set_index("group").loc["CH3-L3"]
    assert exact.f_half_lo == pytest.approx(exact.f_half) and exact.f_half == pytest.approx(0.5)


# --- weight distributions ------------------------------------------------------------------------


def test_magnitude_density_normalisation_and_shape():
    rng = np.random.default_rng(0)
    w = rng.exponential(0.3, 50_000) * rng.choice([-1, 1], 50_000)
    for scale, method in (("log", "hist"), ("log", "kde"), ("linear", "hist")):
        value_range = (1e-5, 20.0) if scale == "log" else (0.0, 5.0)
        m, dens = magnitude_density(
            w, bins=200, scale=scale, method=method, value_range=value_range
        )
        edges_width = np.gradient(m)
        assert np.sum(dens * edges_width) == pytest.approx(1.0, abs=0.05)
        # the density of |w| is the exponential pdf (checked at |w| = 0.3 and 0.9)
        for point in (0.3, 0.9):
            i = np.argmin(np.abs(m - point))
            assert dens[i] == pytest.approx(np.exp(-m[i] / 0.3) / 0.3, rel=0.15)


def test_weight_moments_known_values():
    w = np.array([0.0, 0.1, -0.3, 0.5, -2.0], dtype=np.float32)
    m = weight_moments(w)
    assert m["n_links"] == 5 and m["frac_zero"] == pytest.approx(0.2)
    assert m["frac_mid"] == pytest.approx(0.4) and m["frac_large"] == pytest.approx(0.2)
    assert m["mean_abs"] == pytest.approx(0.58)
    rng = np.random.default_rng(0)
    gamma = rng.gamma(3.0, 0.1, 20_000)  # mode 0.2; above the mode roughly exponential
    g = weight_moments(gamma)
    assert g["mode_abs"] == pytest.approx(0.2, rel=0.2)
    expo = weight_moments(rng.exponential(0.25, 20_000) + 0.05)
    assert expo["tail_rate"] == pytest.approx(4.0, rel=0.1)


def test_weight_tables(trained_masked):
    moments = weight_moments_table([trained_masked, trained_masked], group="RLR")
    assert len(moments) == 4 and set(moments.layer) == {"layer0", "layer1"}
    values = select_layers(trained_masked)[0].values()
    assert moments.mean_abs.iloc[0] == pytest.approx(np.abs(values).mean())
    dens = weight_density_table(trained_masked, bins=30)
    assert len(dens) == 2 * 30 and (dens.density >= 0).all()


# --- plots ---------------------------------------------------------------------------------------


def test_plots_write_png(tmp_path, trained_masked):
    table = _synthetic_table(n_networks=3, n_draws=2)
    frames = [table.assign(kind=k) for k in REMOVAL_KINDS + WEIGHT_KINDS]
    curves = pd.concat(frames, ignore_index=True)
    dens = pd.concat(
        [weight_density_table(trained_masked, group=g, bins=20) for g in ("CH3-L3", "RLR")]
    )
    paths = [
        plot_removal_curves(curves, tmp_path / "removal.png"),
        plot_weight_perturbation_curves(curves, tmp_path / "sub" / "weights.png", band="std"),
        plot_weight_densities(dens, tmp_path / "density.png"),
    ]
    for path in paths:
        assert path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ConfigError, match="no rows"):
        plot_removal_curves(curves[curves.kind == "weight_noise"], tmp_path / "x.png")


def test_scope_and_non_nested_options(trained_masked, test_data):
    x, y = test_data
    pooled = robustness_curve(trained_masked, (x, y), "weight_order_pruning", [0.1], scope="global")
    work = copy.deepcopy(trained_masked)
    targets = select_layers(work)
    for t, v in zip(
        targets,
        weight_order_pruning([t.values() for t in targets], 0.1, scope="global"),
        strict=True,
    ):
        t.set_values(v)
    assert pooled.accuracy.iloc[0] == _accuracy(work, x, y)
    fresh = robustness_curve(
        trained_masked, (x, y), "random_pruning", np.linspace(0, 1, 5), n_draws=2, nested=False
    )
    n_links = sum(t.n_links for t in targets)
    expected = [
        sum(math.floor(f * t.n_links + 0.5) for t in targets) / n_links
        for f in np.linspace(0, 1, 5)
    ]
    np.testing.assert_allclose(fresh.removed_fraction.to_numpy()[:5], expected)
    assert not fresh.accuracy.equals(
        robustness_curve(
            trained_masked, (x, y), "random_pruning", np.linspace(0, 1, 5), n_draws=2
        ).accuracy
    )


@pytest.mark.slow
def test_paper_sized_network_invariants():
    rng = np.random.default_rng(0)
    x = rng.random((2000, 784), dtype=np.float32)
    y = rng.integers(0, 10, 2000)
    model = SparseMLP([784, 1000, 1000, 1000, 10], density=0.01, seed=0).eval()
    before = _state(model)
    table = robustness_curve(model, (x, y), "reverse_weight_order_pruning", [0.0, 0.5, 1.0], seed=0)
    assert table.accuracy.iloc[0] == _accuracy(model, x, y)
    assert table.removed_fraction.tolist() == [0.0, pytest.approx(0.5, abs=1e-4), 1.0]
    assert _same_state(before, _state(model))

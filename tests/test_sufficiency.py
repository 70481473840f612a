"""Minimal structural sufficiency: spectra, mode-preserving scores, F_min, the Rosenfeld fit, the
graded tests, the study kind end to end on digits, and bad input."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
import yaml

from prunelab.core.links import Links
from prunelab.core.scoring import LINK_SCORES, ArrayLayer, ScoreContext, score_links
from prunelab.errors import ConfigError
from prunelab.sufficiency import (
    PROTOCOLS,
    exact_change,
    f_min,
    first_order_change,
    fit_rosenfeld,
    plateau_exit,
    rosenfeld_error,
    singular_values,
    subspace_overlap,
    top_modes,
)
from prunelab.sufficiency.fmin import bootstrap_threshold, f_min_table
from prunelab.sufficiency.networks import (
    build_model,
    dense_network,
    equivalent_sizes,
    model_state,
    prune_links,
    structure_row,
)
from prunelab.sufficiency.rosenfeld import fit_with_intervals
from prunelab.sufficiency.spectral import effective_rank, energy_modes, layer_matrix, null_edge
from prunelab.sufficiency.tables import hysteresis, irreversibility

ROOT = Path(__file__).resolve().parents[1]


def sparse_layer(
    n_in: int, n_out: int, density: float, seed: int
) -> tuple[Links, np.ndarray, np.ndarray]:
    a = sp.random(n_in, n_out, density=density, random_state=seed, format="coo")
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(a.nnz)
    links = Links(a.row, a.col, (n_in, n_out))
    dense = np.zeros((n_in, n_out))
    dense[a.row, a.col] = w
    return links, w, dense


# --- the Rosenfeld et al. functional form -------------------------------------------------------


def test_rosenfeld_fit_recovers_known_parameters():
    d = np.geomspace(1.0, 1e-3, 16)
    true = {"eps_np": 0.11, "eps_up": 0.9, "p": 0.02, "gamma": 1.7}
    e = rosenfeld_error(d, **true)
    fit = fit_rosenfeld(d, e)
    for k, v in true.items():
        assert getattr(fit, k) == pytest.approx(v, rel=1e-4), k
    # with 1% multiplicative noise: the plateaus and the plateau exit come back within a few
    # percent; γ and p trade off against each other, so they are only loosely determined
    for seed in range(3):
        noisy = e * np.exp(np.random.default_rng(seed).normal(0, 0.01, d.size))
        fit = fit_rosenfeld(d, noisy)
        assert fit.eps_np == pytest.approx(true["eps_np"], rel=0.02)
        assert fit.eps_up == pytest.approx(true["eps_up"], rel=0.02)
        assert fit.plateau_exit(0.2) == pytest.approx(plateau_exit(**true, kappa=0.2), rel=0.05)
        assert fit.gamma == pytest.approx(true["gamma"], rel=0.25)
        assert fit.p == pytest.approx(true["p"], rel=0.2)
    # the high plateau fixed: three parameters
    fixed = fit_rosenfeld(d, e, eps_up=0.9)
    assert fixed.eps_up == 0.9 and fixed.gamma == pytest.approx(1.7, rel=1e-4)


def test_rosenfeld_limits_and_plateau_exit():
    e_np, e_up, p, g = 0.1, 0.9, 0.01, 1.5
    assert rosenfeld_error(1e3, e_np, e_up, p, g) == pytest.approx(e_np, rel=1e-4)
    assert rosenfeld_error(1e-9, e_np, e_up, p, g) == pytest.approx(e_up, rel=1e-4)
    dk = plateau_exit(e_np, e_up, p, g, 0.1)
    assert rosenfeld_error(dk, e_np, e_up, p, g) == pytest.approx(1.1 * e_np, rel=1e-9)
    assert np.isnan(plateau_exit(e_np, 0.105, p, g, 0.1))  # never rises by 10%
    with pytest.raises(ConfigError):
        plateau_exit(e_np, e_up, p, g, 0.0)


def test_rosenfeld_bootstrap_interval_covers_truth():
    d = np.geomspace(1.0, 1e-3, 12)
    rng = np.random.default_rng(0)
    rows = [
        {"seed": s, "density": x, "error": y * np.exp(rng.normal(0, 0.02))}
        for s in range(5)
        for x, y in zip(d, rosenfeld_error(d, 0.1, 0.9, 0.01, 1.5), strict=True)
    ]
    out = fit_with_intervals(pd.DataFrame(rows), kappa=0.2, eps_up=0.9, n_boot=40)
    true_dk = plateau_exit(0.1, 0.9, 0.01, 1.5, 0.2)
    assert out["d_kappa_lo"] <= true_dk <= out["d_kappa_hi"]
    assert out["gamma_lo"] <= out["gamma"] <= out["gamma_hi"]


# --- spectra -------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape,density", [((40, 30), 0.2), ((30, 70), 0.05), ((25, 25), 1.0)])
def test_sparse_singular_values_match_dense_svd(shape, density):
    links, w, dense = sparse_layer(*shape, density, seed=1)
    want = np.linalg.svd(dense, compute_uv=False)
    got = singular_values(links, w)
    assert got.shape == (min(shape),)
    np.testing.assert_allclose(got, want, atol=1e-9 * want[0])
    # the top k through ARPACK on the sparse matrix (forced by a small max_dense)
    np.testing.assert_allclose(singular_values(links, w, k=3, max_dense=4), want[:3], rtol=1e-7)
    with pytest.raises(ConfigError):
        singular_values(links, w, max_dense=4)


def test_top_modes_match_dense_svd_and_empty_rows():
    links, w, dense = sparse_layer(60, 40, 0.05, seed=2)  # several empty rows and columns
    assert layer_matrix(links, w).matrix.shape[0] < 60
    u, s, vt = np.linalg.svd(dense)
    for max_dense in (512, 4):  # dense SVD of the compressed matrix, and ARPACK
        m = top_modes(links, w, 5, max_dense=max_dense)
        np.testing.assert_allclose(m.s, s[:5], rtol=1e-8)
        assert subspace_overlap(u[:, :5], m.u) == pytest.approx(1.0, abs=1e-8)
        assert subspace_overlap(vt[:5].T, m.v) == pytest.approx(1.0, abs=1e-8)
    with pytest.raises(ConfigError, match="rank at most 40"):
        top_modes(links, w, 41)


def test_modes_beyond_rank_are_absent():
    links = Links(np.array([0, 1]), np.array([0, 1]), (5, 4))  # rank 2
    m = top_modes(links, np.array([2.0, 1.0]), 3)
    assert m.rank == 2 and m.s.tolist() == [2.0, 1.0, 0.0]
    assert np.all(m.u[:, 2] == 0) and np.all(m.v[:, 2] == 0)


def test_subspace_overlap_identical_orthogonal_and_random():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((200, 20)))
    a, b = q[:, :5], q[:, 5:10]
    assert subspace_overlap(a, a) == pytest.approx(1.0)
    assert subspace_overlap(a, a @ np.linalg.qr(rng.standard_normal((5, 5)))[0]) == pytest.approx(
        1.0
    )  # a rotation
    assert subspace_overlap(a, b) == pytest.approx(0.0, abs=1e-12)
    r, _ = np.linalg.qr(rng.standard_normal((200, 5)))
    assert subspace_overlap(a, r) == pytest.approx(5 / 200, abs=0.03)  # random subspaces: ~k/n
    with pytest.raises(ConfigError):
        subspace_overlap(a, b, k=6)


def test_effective_rank_energy_modes_null_edge():
    assert effective_rank(np.ones(7)) == pytest.approx(7.0)
    assert effective_rank(np.array([1.0, 0, 0])) == pytest.approx(1.0)
    assert energy_modes(np.array([3.0, 1.0, 1.0]), 0.9) == 2  # 9/11 < 0.9 <= 10/11
    assert energy_modes(np.array([3.0]), 0.9, total_energy=20.0) == 2  # truncated: not reached
    # a rank-1 layer stands far above the edge of its permuted weights
    u, v = (
        np.random.default_rng(0).standard_normal(50),
        np.random.default_rng(1).standard_normal(40),
    )
    links = Links.from_mask(np.ones((50, 40), bool))
    w = np.outer(u, v).ravel() + 0.1 * np.random.default_rng(2).standard_normal(2000)
    s = singular_values(links, w)
    edge = null_edge(links, w, n_draws=3, seed=0)
    assert s[0] > 3 * edge and s[1] < edge


# --- mode-preserving pruning ------------------------------------------------------------------


def separated(n_in: int, n_out: int, seed: int, top=(10.0, 6.0, 3.0)) -> np.ndarray:
    """A matrix whose top singular values are ``top`` and whose others are below 0.5."""
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.standard_normal((n_in, n_in)))
    v, _ = np.linalg.qr(rng.standard_normal((n_out, n_out)))
    s = np.concatenate([top, np.geomspace(0.5, 0.1, min(n_in, n_out) - len(top))])
    return (u[:, : s.size] * s) @ v[:, : s.size].T


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_first_order_mode_change_matches_exact_on_tiny_matrices(seed):
    w = separated(8, 6, seed).ravel()
    links = Links.from_mask(np.ones((8, 6), bool))
    fo, ex = first_order_change(links, w, 3), exact_change(links, w, 3)
    assert np.corrcoef(fo.ravel(), ex.ravel())[0, 1] > 0.95
    # first order is exact as the removed weight goes to 0: the smaller half of the links agree
    # within 5% of the largest change, the larger half only roughly (their removal is no small step)
    small = np.abs(w) <= np.median(np.abs(w))
    assert np.max(np.abs(fo - ex)[:, small]) < 0.05 * np.max(np.abs(ex))
    # the remainder is second order: removing a link of half the weight leaves a quarter of the error
    errs = []
    for scale in (0.2, 0.1):
        w2 = w.copy()
        w2[7] = scale
        errs.append(abs(first_order_change(links, w2, 1)[0, 7] - exact_change(links, w2, 1)[0, 7]))
    assert errs[1] == pytest.approx(errs[0] / 4, rel=0.15)
    # contributions of all links sum to the singular values
    np.testing.assert_allclose(-fo.sum(axis=1), singular_values(links, w)[:3], rtol=1e-10)


def test_mode_preserving_score_keeps_the_dominant_modes():
    assert "mode_preserving" in LINK_SCORES
    w = separated(40, 30, seed=1) + 0.3 * np.random.default_rng(2).standard_normal((40, 30))
    links = Links.from_mask(np.ones((40, 30), bool))
    layer = ArrayLayer("layer0", w.ravel(), links)
    ref = top_modes(links, w.ravel(), 3)
    k = 150
    overlaps = {}
    for name in ("mode_preserving", "magnitude", "random"):
        score = score_links(
            name, [layer], ScoreContext(rng=np.random.default_rng(0), options={"k": 3})
        )[0]
        keep = np.zeros(score.size, bool)
        keep[np.argsort(-score)[:k]] = True
        m = top_modes(links.subset(keep), w.ravel()[keep], 3)
        overlaps[name] = subspace_overlap(ref.u, m.u)
    assert overlaps["mode_preserving"] > overlaps["magnitude"] > overlaps["random"]
    with pytest.raises(ConfigError, match="mode_preserving"):
        score_links("mode_preserving", [ArrayLayer("x", np.ones(3))], ScoreContext())


# --- F_min -------------------------------------------------------------------------------------


def test_f_min_known_answers():
    d = [0.1, 0.01, 0.001]
    # Ψ falls from 1.0 at 0.01 to 0.0 at 0.001: 1 − ε = 0.99 is crossed 1% of the way down in log ρ
    th = f_min(d, [1.0, 1.0, 0.0], eps=0.01)
    assert th.status == "bracketed" and th.above == 0.01 and th.below == 0.001
    assert th.value == pytest.approx(10 ** (-2 - 0.01), rel=1e-12)
    assert f_min(d, [1.0, 1.0, 1.0]).status == "below_range"
    assert f_min(d, [0.5, 1.0, 1.0]).status == "above_range"
    # a failure at a higher density ends the sufficient range there, whatever follows
    th = f_min([0.3, 0.1, 0.03, 0.01], [1.0, 0.9, 1.0, 1.0], eps=0.05)
    assert 0.1 < th.value < 0.3 and th.below == 0.1
    with pytest.raises(ConfigError, match="in \\(0, 1\\)"):
        f_min(d, [1, 1, 1], eps=1.5)


def synthetic_psi(
    fmin: float, seeds=range(5), noise: float = 0.0, protocols=("a", "b")
) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for s in seeds:
        for d in np.geomspace(0.3, 1e-3, 12):
            for p in protocols:
                base = 1.0 if d >= fmin else max(0.0, 1.0 + 0.8 * np.log10(d / fmin))
                shift = 0.0 if p == "a" else -0.2  # protocol "b" is always worse
                rows.append(
                    {
                        "seed": s,
                        "density": d,
                        "protocol": p,
                        "psi": base + shift + noise * rng.normal(),
                    }
                )
    return pd.DataFrame(rows)


def test_f_min_table_on_synthetic_surfaces():
    grid = np.geomspace(0.3, 1e-3, 12)
    exact = grid[7]  # Ψ = 1 down to this grid density, then falls steeply
    out = f_min_table(synthetic_psi(exact), eps=0.01, n_boot=50, possible_links=1e5)
    assert out["status"] == "bracketed"
    assert out["above"] == pytest.approx(exact) and out["below"] == pytest.approx(grid[8])
    assert out["lo"] == out["hi"] == pytest.approx(out["value"])  # identical seeds: no spread
    assert out["links"] == pytest.approx(out["value"] * 1e5)
    noisy = f_min_table(synthetic_psi(exact, noise=0.003), eps=0.01, n_boot=100)
    assert (
        noisy["lo"] <= noisy["value"] <= noisy["hi"]
        and noisy["hi"] / noisy["lo"] < grid[5] / grid[9]
    )
    # only the best protocol counts: dropping the worse one changes nothing
    alone = f_min_table(synthetic_psi(exact, protocols=("a",)), eps=0.01, n_boot=0)
    assert alone["value"] == pytest.approx(out["value"])
    half = bootstrap_threshold(
        synthetic_psi(exact).query("protocol == 'a'"), 0.5, "psi", None, n_boot=0
    )
    assert half["value"] < out["value"]


# --- graded tests and hysteresis on synthetic tables ---------------------------------------------


def test_irreversibility_grades_and_hysteresis_area():
    rows = []
    for seed in (0, 1):
        for d, psi_b in (
            (0.1, {0: 0.5, 5: 0.995, 20: 1.0}),
            (0.01, {0: 0.1, 5: 0.6, 20: 0.8}),
            (0.001, {0: 0.0, 5: 0.300, 20: 0.305}),
        ):
            for b, v in psi_b.items():
                for proto, shift in (("finetune", -0.05), ("lr-rewind", 0.0)):
                    rows.append(
                        {
                            "network": "n",
                            "criterion": "magnitude",
                            "mask": "pruned",
                            "protocol": proto,
                            "density": d,
                            "budget": b,
                            "seed": seed,
                            "psi_test": v + shift,
                            "psi_train": v,
                            "acc_test": v,
                            "hard_floor": float(d == 0.001 and seed == 0),
                        }
                    )
    out = irreversibility(pd.DataFrame(rows), [0, 5, 20], eps=0.01).set_index("density")
    assert out.loc[0.1, "grade"] == "recovered" and out.loc[0.1, "best_protocol"] == "lr-rewind"
    assert out.loc[0.01, "grade"] == "not saturated" and out.loc[0.01, "gain"] == pytest.approx(0.2)
    assert out.loc[0.001, "hard_floor"] == 0.5 and out.loc[0.001, "grade"] == "hard floor"
    assert out.loc[0.01, "protocols_failing"] == 2

    pre = pd.DataFrame(
        {
            "network": ["n"],
            "seed": [0],
            "acc_test": [0.9],
            "acc_train": [0.9],
            "n_classes": [10],
            "possible_links": [1000],
        }
    )
    dens = [0.1, 0.01, 0.001]
    acc_down = [0.9, 0.5, 0.1]  # Ψ 1, 0.5, 0
    down = pd.DataFrame(
        {
            "network": "n",
            "seed": 0,
            "step": range(3),
            "target_density": dens,
            "acc_test": acc_down,
            "acc_train": acc_down,
        }
    )
    up = pd.DataFrame(
        {
            "network": "n",
            "seed": 0,
            "rule": "random",
            "step": range(2),
            "target_density": [0.01, 0.1],
            "acc_test": [0.1, 0.5],
            "acc_train": [0.1, 0.5],
        }
    )
    loops, areas = hysteresis(down, up, pre)
    # gaps Ψ_down − Ψ_up: 0 at 1e-3, 0.5 at 1e-2, 0.5 at 1e-1 → area 0.25 + 0.5 per decade
    assert areas.iloc[0]["area"] == pytest.approx(0.75)
    assert len(loops) == 3


# --- networks ----------------------------------------------------------------------------------


def test_prune_links_counts_rounds_and_backends():
    model = dense_network([20, 16, 12, 5], seed=0)
    possible = 20 * 16 + 16 * 12 + 12 * 5
    one = dense_network([20, 16, 12, 5], seed=0)
    prune_links(one, 0.1, "magnitude", "global", rounds=1)
    counts = prune_links(model, 0.1, "magnitude", "global", rounds=4)
    assert sum(counts) == round(0.1 * possible)
    # magnitude pruning in rounds keeps the same links as one shot
    assert all(
        torch.equal(a.mask(), b.mask())
        for a, b in zip(model.sparse_layers(), one.sparse_layers(), strict=True)
    )
    layerwise = dense_network([20, 16, 12, 5], seed=0)
    assert prune_links(layerwise, 0.25, "magnitude", "layer") == [80, 48, 15]
    state = model_state(model)
    x = torch.randn(7, 20)
    with torch.no_grad():
        ref = model(x)
        for backend in ("masked", "csr"):
            assert torch.allclose(build_model(state, backend)(x), ref, atol=1e-5)
        # by default one backend for the whole network, by its density (0.1 < CSR_BELOW)
        assert {layer.backend_name for layer in build_model(state).sparse_layers()} == {"csr"}
        dense = model_state(dense_network([20, 16, 12, 5], seed=0))
        assert {layer.backend_name for layer in build_model(dense).sparse_layers()} == {"masked"}
    with pytest.raises(ConfigError, match="did you mean 'magnitude'"):
        prune_links(model, 0.05, "magnitud")
    with pytest.raises(ConfigError, match="only"):
        prune_links(model, 0.5)
    row = structure_row(state)
    assert row["links"] == sum(counts) and row["hard_floor"] in (0.0, 1.0)


def test_protocol_start_states():
    from prunelab.sufficiency.retrain import protocol_train_config, start_state
    from prunelab.training import TrainConfig

    init = dense_network([10, 8, 4], seed=0)
    init_state = model_state(init)
    trained = model_state(init)
    trained.values = [v + 1.0 for v in trained.values]
    model = build_model(trained, "masked")
    prune_links(model, 0.3)
    pruned = model_state(model)
    rewound = start_state(PROTOCOLS.get("rewind"), pruned, init_state, 0)
    assert all(np.allclose(r + 1.0, p) for r, p in zip(rewound.values, pruned.values, strict=True))
    assert start_state(PROTOCOLS.get("lr-rewind"), pruned, init_state, 0) is pruned
    fresh = start_state(PROTOCOLS.get("scratch"), pruned, init_state, 0)
    assert [lk == pk for lk, pk in zip(fresh.links, pruned.links, strict=True)] == [True, True]
    dst = start_state(PROTOCOLS.get("dst"), pruned, init_state, 0)
    assert [lk.n_links for lk in dst.links] == [lk.n_links for lk in pruned.links]
    pre = TrainConfig(epochs=10, lr=0.1, schedule="cosine", lr_min=0.001)
    ft = protocol_train_config(PROTOCOLS.get("finetune"), pre, 20)
    assert ft.schedule == "constant" and ft.lr < 0.01 and ft.epochs == 20
    assert protocol_train_config(PROTOCOLS.get("lr-rewind"), pre, 20).lr == 0.1


def test_equivalent_sizes():
    sizes = equivalent_sizes([784, 300, 100, 10], 30000)
    weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    assert sizes[0] == 784 and sizes[-1] == 10 and abs(weights - 30000) < 1000
    assert equivalent_sizes([784, 300, 10], 100) is None


def test_sufficiency_package_is_pure_analysis():
    forbidden = ("prunelab.experiments", "prunelab.studies", "prunelab.report", "prunelab.cli")
    for path in (ROOT / "prunelab" / "sufficiency").glob("*.py"):
        tree = ast.parse(path.read_text())
        names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert not [m for m in names if m.startswith(forbidden)], path.name
        assert len(path.read_text().splitlines()) <= 500, path.name
    assert len((ROOT / "prunelab" / "studies" / "sufficiency.py").read_text().splitlines()) <= 500


# --- the study kind ----------------------------------------------------------------------------

TINY = {
    "kind": "sufficiency",
    "name": "suff-tiny",
    "data": {"name": "digits"},
    "networks": [{"name": "w16", "hidden": [16, 16]}],
    "seeds": [0, 1],
    "train": {
        "epochs": 2,
        "batch_size": 64,
        "lr": 0.1,
        "schedule": "cosine",
        "lr_min": 0.0005,
        "train_subset": 512,
    },
    "prune": {"rounds": 2, "grid": {"densities": [0.3, 0.1, 0.03]}},
    "retrain": {"budgets": [0, 1, 2]},
    "arms": [
        {"protocols": ["finetune", "lr-rewind"]},
        {"criterion": "mode_preserving", "protocols": ["lr-rewind"]},
        {"masks": ["er"], "protocols": ["scratch"]},
    ],
    "hysteresis": {"networks": ["w16"], "rules": ["random"], "step_epochs": 1},
    "equivalent": {"networks": ["w16"]},
    "spectral": {"k": 4, "null_draws": 2},
    "analysis": {"n_boot": 20},
}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from prunelab.experiments import Store
    from prunelab.studies import parse_study, run_study

    study = parse_study(dict(TINY))
    store = Store(tmp_path_factory.mktemp("suff") / "runs")
    outcome = run_study(study, store)
    return study, store, outcome


def test_tiny_study_end_to_end(tiny_run, tmp_path):
    from prunelab.studies import run_study

    study, store, outcome = tiny_run
    assert not outcome.bad, outcome.bad
    kinds = pd.Series([r["what"] for r in outcome.results]).value_counts().to_dict()
    # the dense same-weights control exists at 0.3 and 0.1 (at 0.03 even hidden widths of 1 have too many weights)
    assert kinds == {"pretrain": 2, "retrain": 24, "equivalent": 4, "down": 2, "up": 2}
    again = run_study(study, store)
    assert {r["status"] for r in again.results} == {"skipped"}
    t = study.analyse(store)
    s = t["surface"]
    assert set(s.budget) == {0, 1, 2} and len(s) == 24 * 3
    # Ψ is the normalised accuracy against the same seed's dense network
    row = s.iloc[0]
    assert row.psi_test == pytest.approx((row.acc_test - 0.1) / (row.dense_test - 0.1))
    # fine-tuning and LR rewinding start from the same pruned weights
    b0 = s[(s.budget == 0) & (s.criterion == "magnitude") & (s["mask"] == "pruned")]
    piv = b0.pivot_table(index=["seed", "density"], columns="protocol", values="acc_test")
    assert np.allclose(piv["finetune"], piv["lr-rewind"])
    assert np.allclose(b0.links, np.round(b0.density * b0.possible_links))
    f = t["fmin"]
    assert {"best", "finetune", "lr-rewind", "scratch"} <= set(f.protocol)
    assert set(f.status) <= {"bracketed", "below_range", "above_range"}
    assert np.all(np.isfinite(f.links))
    assert set(t["irreversibility"].grade) <= {
        "recovered",
        "hard floor",
        "not saturated",
        "mask-specific",
        "irreversible",
    }
    assert len(t["loops"]) == 3 and len(t["areas"]) == 1
    assert {"overlap_min", "retained_min"} <= set(t["spectra"].columns)
    assert len(t["equivalent"]) == 2 and len(t["rosenfeld"]) >= 1
    c = t["collapse"].set_index("criterion").loc["magnitude"]
    best = f[(f.criterion == "magnitude") & (f.protocol == "best") & (f.split == "test")].iloc[0]
    assert c.rho_c <= best.fmin  # Ψ = ½ is reached at or below where Ψ = 1 − ε ends
    page = study.report(store, tmp_path / "report")
    assert page.name == "index.html" and "F_min" in page.read_text()
    assert "Graded irreversibility tests" in (tmp_path / "report" / "summary.md").read_text()
    assert (tmp_path / "report" / "fmin.csv").exists()


def test_reproduction_page_from_the_store(tiny_run, tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "bresciano2026", ROOT / "reproductions" / "bresciano2026.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    study, store, _ = tiny_run
    from prunelab.experiments import Store

    empty = Store(tmp_path / "empty")  # several stores: each study from the first that holds it
    page = mod.write_page(
        [empty, store], tmp_path / "docs", names=(("suff-tiny", "digits"), ("suff-absent", "none"))
    )
    text = page.read_text()
    assert "Studies found: `suff-tiny`." in text and "absent from this page: `suff-absent`" in text
    for needle in (
        "What the data say",
        "F_min exists",
        "Rosenfeld",
        "Graded irreversibility",
        "Hysteresis",
        "doi:10.5281/zenodo.18485476",
        "arXiv:2006.10621",
    ):
        assert needle in text, needle
    figs = tmp_path / "docs" / "figures" / "bresciano2026" / "suff-tiny"
    assert (figs / "psi_vs_density.png").stat().st_size > 5000 and (
        figs / "hysteresis.png"
    ).exists()
    assert "NOTES" not in text and "issue" not in text.lower()


def test_retraining_resumes_after_an_interrupt(tmp_path):
    """A retraining run killed after budget 1 resumes from its checkpoint and stores the same rows."""
    from prunelab.experiments import Store
    from prunelab.studies import parse_study

    raw = {
        **TINY,
        "arms": [{"protocols": ["lr-rewind"]}],
        "hysteresis": {},
        "equivalent": {},
        "seeds": [0],
        "prune": {"grid": {"densities": [0.1]}},
    }
    study = parse_study(raw)
    pre = study.pretrain_item(study.networks[0], 0)
    item = study.retrain_items()[0]

    def emit(_event):
        return None

    results = {}
    for label in ("straight", "interrupted"):
        store = Store(tmp_path / label)
        for it in (pre, item):
            store.register_run(it.run_id, it.name, it.content)
        study.run_item(pre, store, emit)
        if label == "interrupted":
            original = store.log_metrics

            def boom(run_id, epoch, metrics, original=original):
                original(run_id, epoch, metrics)
                if run_id == item.run_id and epoch == 1:
                    raise KeyboardInterrupt

            store.log_metrics = boom
            with pytest.raises(KeyboardInterrupt):
                study.run_item(item, store, emit)
            assert store.get_run(item.run_id)["status"] == "interrupted"
            store.log_metrics = original
        assert study.run_item(item, store, emit)["status"] == "finished"
        # a finished item leaves no checkpoint (nor its previous version) behind
        assert not list(store.run_dir(item.run_id).glob("checkpoint*"))
        assert not list(store.run_dir(pre.run_id).glob("checkpoint*"))
        results[label] = store.metrics([item.run_id], wide=True).drop(columns="run_id")
    pd.testing.assert_frame_equal(
        results["straight"][["epoch", "acc_test", "acc_train"]],
        results["interrupted"][["epoch", "acc_test", "acc_train"]],
    )


BAD = [
    (
        {"analysis": {"eps": 1.5}},
        "analysis.eps (Ψ ≥ 1 − ε counts as recovered) must be in (0, 1), got 1.5",
    ),
    ({"analysis": {"eps": 0}}, "analysis.eps"),
    ({"retrain": {"budgets": [0, 2.5]}}, "retrain.budgets must be whole numbers"),
    ({"retrain": {"budgets": [-1, 5]}}, "retrain.budgets must be whole numbers"),
    ({"retrain": {"budgets": [0]}}, "largest budget"),
    ({"prune": {"grid": {"densities": [0.003, 0.001]}}}, "leaves layer2 (16x10) without links"),
    ({"arms": [{"protocols": ["finetun"]}]}, "did you mean 'finetune'"),
    ({"arms": [{"criterion": "magnitud"}]}, "did you mean 'magnitude'"),
    ({"spectral": {"k": 11}}, "exceeds the rank 10 of layer2"),
    ({"arms": [{"networks": ["w17"]}]}, "not one of ['w16']"),
    ({"prune": {"grid": {"densities": [0.1, 0.3]}}}, "strictly decrease"),
]


@pytest.mark.parametrize("change,message", BAD)
def test_bad_input_is_one_line_and_writes_nothing(monkeypatch, capsys, tmp_path, change, message):
    from test_cli import cli

    raw = {**TINY, **change}
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    runs = tmp_path / "runs"
    code, _, err = cli(monkeypatch, capsys, "run", cfg, "--runs-dir", runs)
    assert code == 2, err
    lines = [ln for ln in err.strip().splitlines() if ln]
    assert len(lines) == 1 and message in lines[0], err
    assert not (runs / "prunelab.sqlite").exists()  # not even an empty store


@pytest.mark.slow
def test_quick_config_runs_through_the_command_line(monkeypatch, capsys, tmp_path):
    from test_cli import cli

    runs = tmp_path / "runs"
    code, out, err = cli(
        monkeypatch,
        capsys,
        "run",
        ROOT / "configs" / "bresciano2026_quick.yaml",
        "--runs-dir",
        runs,
    )
    assert code == 0, err
    assert "report:" in out and "index.html" in out  # the study writes its report after the run
    from prunelab.experiments import Store
    from prunelab.studies import load_study

    study = load_study(ROOT / "configs" / "bresciano2026_quick.yaml")
    t = study.analyse(Store(runs))
    assert len(t["fmin"]) and len(t["loops"]) and len(t["equivalent"])
    summary = (runs / "reports" / "bresciano2026-quick" / "summary.md").read_text()
    assert "Graded irreversibility tests" in summary


def test_a_dst_trained_sparse_network_as_the_source(tmp_path):
    from prunelab.experiments import Store
    from prunelab.studies import parse_study, run_study
    from prunelab.sufficiency.networks import NetworkState

    raw = {
        **TINY,
        "seeds": [0],
        "hysteresis": {},
        "equivalent": {},
        "arms": [{"protocols": ["lr-rewind"]}],
        "networks": [
            {"name": "w16-dst", "hidden": [16, 16], "start_density": 0.2, "dst": {"zeta": 0.2}}
        ],
    }
    study = parse_study(raw)
    assert [it.content["density"] for it in study.retrain_items()] == [
        0.1,
        0.03,
    ]  # only below the start
    store = Store(tmp_path / "runs")
    assert not run_study(study, store).bad
    pre = study.pretrain_item(study.networks[0], 0)
    trained = NetworkState.load(store.run_dir(pre.run_id) / "trained.pt")
    assert trained.density == pytest.approx(0.2, abs=0.01)  # DST keeps the number of links
    assert store.metrics([pre.run_id], wide=True)["dst/updates"].max() >= 1
    assert len(study.analyse(store)["fmin"])
    with pytest.raises(ConfigError, match="no density below it"):
        parse_study({**raw, "networks": [{**raw["networks"][0], "start_density": 0.02}]}).check()


def test_the_remote_path_stores_the_same_rows(tmp_path):
    """Through the journal of remote executors (Ray's path, run here in-process, with the channel
    to the driver's store that Ray's workers get): the same stored numbers and the same analysis as
    the serial executor; retraining reads its pretraining run, the up sweep its down sweep."""
    from prunelab.experiments import Store
    from prunelab.experiments.executors import SerialExecutor
    from prunelab.experiments.remote_store import driver_read, set_driver_call
    from prunelab.studies import parse_study, run_study

    class RemoteSerial(SerialExecutor):
        remote = True
        checkpoint_dir = None

    raw = {
        **TINY,
        "seeds": [0],
        "arms": [{"protocols": ["lr-rewind"]}],
        "equivalent": {},
        "prune": {"grid": {"densities": [0.3, 0.1]}},
        "hysteresis": {"networks": ["w16"], "rules": ["random"], "step_epochs": 1},
    }
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    set_driver_call(lambda target, *args: driver_read(*args))
    try:
        stores = {}
        for label, executor in (("local", SerialExecutor()), ("remote", RemoteSerial())):
            stores[label] = Store(tmp_path / label)
            assert not run_study(parse_study(raw), stores[label], executor).bad
    finally:
        set_driver_call(None)
        torch.set_num_threads(threads)

    def numbers(store: Store) -> pd.DataFrame:
        m = store.metrics()
        return (
            m[~m.name.str.contains("seconds")]
            .sort_values(["run_id", "epoch", "name"])
            .reset_index(drop=True)
        )

    pd.testing.assert_frame_equal(numbers(stores["local"]), numbers(stores["remote"]))
    assert set(stores["remote"].runs().status) == {"finished"} and len(stores["remote"].runs()) == 5
    ours, theirs = (parse_study(raw).analyse(s) for s in (stores["local"], stores["remote"]))
    pd.testing.assert_frame_equal(ours["surface"], theirs["surface"], check_like=True)
    assert len(ours["loops"]) == 2

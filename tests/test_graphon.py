"""Graphon estimation of layer masks: brute-force reference, invariants, limits, the observable, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from prunelab.core.links import Links
from prunelab.errors import ConfigError
from prunelab.graphon import chain_graphons, distance, estimate, sample_mask, sample_network_masks
from prunelab.phase.observables import Observation, observe


@pytest.fixture(autouse=True)
def _one_thread(_threads):
    # tiny tensors on a shared two-core machine: one thread avoids spin-waiting for the other
    torch.set_num_threads(1)


def _brute_estimate(mask: np.ndarray, k: int) -> np.ndarray:
    """The estimator written out with Python loops (sort keys (-degree, index))."""
    n_in, n_out = mask.shape
    row_order = sorted(range(n_in), key=lambda i: (-int(mask[i].sum()), i))
    col_order = sorted(range(n_out), key=lambda j: (-int(mask[:, j].sum()), j))
    row_block = {u: (r * k) // n_in for r, u in enumerate(row_order)}
    col_block = {u: (r * k) // n_out for r, u in enumerate(col_order)}
    links = np.zeros((k, k))
    size = np.zeros((k, k))
    for i in range(n_in):
        for j in range(n_out):
            links[row_block[i], col_block[j]] += mask[i, j]
            size[row_block[i], col_block[j]] += 1
    with np.errstate(invalid="ignore"):
        return np.where(size > 0, links / np.maximum(size, 1), np.nan)


@pytest.mark.parametrize(
    "shape,k,p", [((13, 7), 3, 0.4), ((20, 20), 6, 0.15), ((5, 9), 8, 0.5), ((30, 11), 1, 0.3)]
)
def test_estimate_matches_brute_force(shape, k, p):
    rng = np.random.default_rng(sum(shape) + k)
    mask = rng.random(shape) < p
    np.testing.assert_array_equal(estimate(mask, k), _brute_estimate(mask, k))
    np.testing.assert_array_equal(estimate(Links.from_mask(mask), k), _brute_estimate(mask, k))


def test_estimate_known_answers_and_invariance():
    mask = np.zeros((4, 6), dtype=bool)
    mask[:2, :3] = True
    mask[3, 5] = True
    # rows by out-degree: 0, 1 (3 links), 3 (1), 2 (0); columns 0, 1, 2 (2 links), 5 (1), 3, 4 (0)
    np.testing.assert_array_equal(estimate(mask, 2), [[1.0, 0.0], [0.0, 1 / 6]])
    h = estimate(mask, 8)  # n < k: empty blocks are NaN
    assert np.isnan(h).sum() == 64 - 4 * 6 and np.nansum(h) == mask.sum()
    # relabelling units does not change the estimate when degrees are distinct
    rng = np.random.default_rng(0)
    tri = np.tri(10, 10, 0, dtype=bool)  # row i has i + 1 links, column j has 10 - j
    np.testing.assert_array_equal(
        estimate(tri[rng.permutation(10)][:, rng.permutation(10)], 3), estimate(tri, 3)
    )


def test_random_masks_converge_to_the_constant_graphon():
    rng = np.random.default_rng(1)
    d = [
        distance(estimate(rng.random((n, n)) < 0.2, 16), np.full((16, 16), 0.2))
        for n in (64, 256, 1024)
    ]
    assert d[0] > d[1] > d[2] and d[2] < 0.02


def test_sampled_block_graphon_is_recovered():
    w = np.array(
        [[0.9, 0.6, 0.4, 0.2], [0.6, 0.4, 0.2, 0.1], [0.4, 0.2, 0.1, 0.05], [0.2, 0.1, 0.05, 0.0]]
    )
    mask = sample_mask(w, 800, 800, np.random.default_rng(2))
    assert mask.shape == (800, 800)
    assert distance(estimate(mask, 4), w) < 0.02  # degree order = block order for this graphon


def test_distance_definition():
    a, b = np.zeros((4, 4)), np.ones((4, 4))
    assert distance(a, b) == 1.0 and distance(b, b) == 0.0
    c = np.zeros((4, 4))
    c[0, 0] = 1.0
    assert distance(a, c) == pytest.approx(0.25) and distance(c, a) == distance(a, c)
    assert np.isnan(distance(a, np.full((4, 4), np.nan)))
    with pytest.raises(ConfigError, match="same shape"):
        distance(np.zeros((4, 4)), np.zeros((3, 3)))


def test_chain_graphons_of_sampled_networks():
    rng = np.random.default_rng(3)
    g = [rng.random((4, 5)), rng.random((3, 4)), rng.random((1, 3))]
    masks = sample_network_masks(g, [40, 30], rng)
    assert [m.shape for m in masks] == [(5, 40), (40, 30), (30, 1)]
    chained = chain_graphons(masks, k=4)
    assert [c.shape for c in chained] == [(4, 5), (4, 4), (1, 4)]
    for c, m in zip(chained, masks):
        assert np.all((c >= 0) & (c <= 1))
        # each block graphon averages to the layer's density (equal-sized blocks)
        assert c.mean() == pytest.approx(m.mean(), abs=0.02)
    with pytest.raises(ConfigError, match="do not chain"):
        chain_graphons([masks[0], masks[2]])


def test_graphon_observable():
    rng = np.random.default_rng(4)
    flat = rng.random((192, 192)) < 1 / 12
    skewed = np.zeros((192, 192), dtype=bool)
    skewed[:16] = True  # the same density on the first of 12 blocks of 16 rows
    out = observe(["graphon"], Observation(masks=[flat, skewed]))
    assert out["graphon_dist/layer0"] < 0.05
    # one block row at 1, the rest at 0, against p = 1/12: sqrt(p (1 - p)²  + (1 - p) p²) = sqrt(p (1 - p))
    assert out["graphon_dist/layer1"] == pytest.approx(np.sqrt(1 / 12 * 11 / 12), rel=1e-9)
    assert out["graphon_dist"] == pytest.approx(
        (out["graphon_dist/layer0"] + out["graphon_dist/layer1"]) / 2
    )


def test_convergence_tools_known_answers():
    from prunelab.graphon.convergence import (
        convergence_curve,
        fit_rate,
        shape_summary,
        trial_spread,
    )

    n = np.array([100, 200, 400])
    assert fit_rate(n, 3.0 * n**-0.5) == pytest.approx(0.5)
    assert np.isnan(fit_rate(n[:1], np.array([0.1])))
    # trials scattered around a flat graphon with noise ∝ 1/width: the distance to the widest falls
    rng = np.random.default_rng(6)
    by_w = {w: 0.3 + rng.normal(scale=1.0 / w, size=(8, 4, 4)) for w in (10, 40, 160)}
    curve, boot = convergence_curve(by_w, n_boot=200, seed=1)
    assert list(curve.width) == [10, 40] and curve.distance.iloc[0] > curve.distance.iloc[1] > 0
    assert boot.shape == (200, 2) and np.all(
        (curve.lo <= curve.distance_bc) & (curve.distance_bc <= curve.hi)
    )
    # the flat limits are equal: the bias correction removes most of the noise-made distance
    assert np.all(curve.distance_bc < curve.distance)
    same = {w: np.full((3, 4, 4), 0.2) for w in (10, 20)}
    assert convergence_curve(same, n_boot=10)[0].distance.iloc[0] == 0.0
    spread = trial_spread(np.stack([np.zeros((4, 4)), np.ones((4, 4))]))
    assert spread["block_std"] == pytest.approx(np.sqrt(0.5)) and spread[
        "trial_distance"
    ] == pytest.approx(0.5)
    flat = shape_summary(np.full((8, 8), 0.1), 0.1)
    assert flat["flatness"] == 0 and flat["zero_blocks"] == 0 and np.isnan(flat["row_trend"])
    tri = np.tril(np.ones((8, 8)))[::-1] * 0.2  # density falls with degree rank, a corner emptied
    steep = shape_summary(tri, float(tri.mean()))
    assert steep["row_trend"] == pytest.approx(-1.0) and steep["zero_blocks"] == pytest.approx(
        28 / 64
    )


def test_bad_input_one_line():
    cases = [
        (lambda: estimate(np.ones((4, 4)), 2), "2-D boolean"),
        (lambda: estimate(np.ones((2, 2, 2), bool), 2), "2-D boolean"),
        (lambda: estimate(np.ones((4, 4), bool), 0), "k \\(number of blocks\\) must be"),
        (lambda: estimate(np.ones((4, 4), bool), 2.5), "k \\(number of blocks\\) must be"),
        (lambda: sample_mask(np.full((2, 2), 1.5), 4, 4, np.random.default_rng()), "probabilities"),
    ]
    for call, pattern in cases:
        with pytest.raises(ConfigError, match=pattern) as err:
            call()
        assert "\n" not in str(err.value)


def _run_quick_studies(monkeypatch, capsys, runs, convergence_set=(), ntk_set=()):
    from pathlib import Path

    from test_cli import cli

    root = Path(__file__).resolve().parents[1]
    for name, extra in (
        ("pham2025_quick_convergence", convergence_set),
        ("pham2025_quick_ntk", ntk_set),
    ):
        args = [a for kv in extra for a in ("--set", kv)]
        code, out, err = cli(
            monkeypatch, capsys, "run", root / "configs" / f"{name}.yaml", "--runs-dir", runs, *args
        )
        assert code == 0, err
    from reproductions import pham2025 as page_mod

    return root, page_mod


def test_small_studies_resume_and_build_the_page(monkeypatch, capsys, tmp_path):
    """Both study kinds run through `prunelab run`, a rerun skips everything, the page comes from the store."""
    import pandas as pd
    import torch
    from test_cli import cli

    from prunelab.experiments import Store

    torch.set_num_threads(1)  # tiny networks: one thread is fastest on a shared machine
    runs = tmp_path / "runs"
    conv = ("methods=[random,synflow]", "sparsities=[0.9]", "widths=[16,32]")
    ntk = ("methods=[random,synflow]", "sparsities=[0.9]", "train.steps=5", "train.seeds=[0]")
    root, page_mod = _run_quick_studies(monkeypatch, capsys, runs, conv, ntk)
    code, out, _ = cli(
        monkeypatch,
        capsys,
        "run",
        root / "configs" / "pham2025_quick_convergence.yaml",
        "--runs-dir",
        runs,
        *[a for kv in conv for a in ("--set", kv)],
    )
    assert code == 0 and "skipped" in out and "finished" not in out
    page = page_mod.write_page(
        Store(runs), tmp_path / "docs", "pham2025-quick-convergence", "pham2025-quick-ntk"
    )
    text = page.read_text()
    for needle in (
        "arXiv:2510.17515",
        "## What the data show",
        "Random and Magnitude estimates are flat",
        "SynFlow is block-like",
        "fall monotonically",
        "Random's NTK is c^L",
        "train faster than Random",
        # the page names every difference from the default (full-grid) configs, and the work done
        "**Reduced grid.**",
        "`trials` 2 (default 20)",
        "`widths` [16, 32] (default [100, 250, 500, 1000, 2000])",
        "`width` 32 (default 1024)",
        "--set trials=2 --set widths=[16,32]",
        "8 of 8 items finished",
        "5 of 5 items finished",
    ):
        assert needle in text, needle
    figs = tmp_path / "docs" / "figures" / "pham2025"
    for name in ("heatmaps_hidden.png", "convergence.png", "ntk_metrics.png", "ntk_loss.png"):
        assert (figs / name).stat().st_size > 5000, name
    units = pd.read_csv(figs / "convergence_units.csv")
    rnd = units[(units.method == "random") & (units.layer == "layer1")]
    assert np.allclose(
        rnd.density, 0.1, atol=0.03
    )  # Random's hidden layers sit at the global density
    spectra = pd.read_csv(figs / "ntk_spectra.csv")
    row = spectra[spectra.method == "random"].iloc[0]
    # the Graphon NTK of Random's chained graphons is Π c_l times the dense one (a constant graphon per layer)
    assert row["gntk/ratio_dense"] == pytest.approx(row["density_product"], rel=0.25)


@pytest.mark.slow
def test_quick_configs_and_the_full_page(monkeypatch, capsys, tmp_path):
    import pandas as pd

    from prunelab.experiments import Store

    runs = tmp_path / "runs"
    _, page_mod = _run_quick_studies(monkeypatch, capsys, runs)
    page = page_mod.write_page(
        Store(runs), tmp_path / "docs", "pham2025-quick-convergence", "pham2025-quick-ntk"
    )
    text = page.read_text()
    assert "SNIP and GraSP show smooth gradients" in text and "Scale, not only shape" in text
    rates = pd.read_csv(tmp_path / "docs" / "figures" / "pham2025" / "convergence_rates.csv")
    assert set(rates.method) == {"random", "magnitude", "snip", "grasp", "synflow"} and set(
        rates.layer
    ) == {"layer1", "layer2"}


def test_page_names_the_grid_cut_and_its_rerun_command():
    """The page's rerun line rebuilds exactly the study it was made from (same study id)."""
    import shlex
    from pathlib import Path

    from prunelab.studies import load_study
    from reproductions import pham2025 as page_mod

    root = Path(__file__).resolve().parents[1]
    sets = ["trials=3", "widths=[100,250]", "pai.rounds=5", "data.name=digits"]
    study = load_study(root / "configs" / "pham2025_convergence.yaml", sets)
    cut = page_mod.grid_cut(study)
    assert [(k, v) for k, v, _ in cut] == [
        ("data.name", "digits"),
        ("pai.rounds", 5),
        ("trials", 3),
        ("widths", [100, 250]),
    ]
    words = shlex.split(page_mod.rerun_command(study, cut))
    assert words[:2] == ["prunelab", "run"] and words[3::2] == ["--set"] * len(cut)
    again = load_study(root / words[2], words[4::2])
    assert again.study_id() == study.study_id()
    assert page_mod.grid_cut(load_study(root / "configs" / "pham2025_ntk.yaml")) == []

"""Order parameters, critical points and finite-size scaling against known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from prunelab.errors import ConfigError
from prunelab.phase import (
    accuracy,
    chi_peak,
    compare_transitions,
    critical_points,
    fit_collapse,
    inflection,
    normalized_accuracy,
    order_parameters,
    outcome_entropy,
    prediction_entropy,
    site_percolation,
    susceptibility,
    weight_statistics,
)
from prunelab.phase.percolation import BETA, NU, P_C

# --- order parameters -----------------------------------------------------------------------


def test_accuracy_and_normalized_accuracy():
    logits = np.array([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 1.0], [5.0, 0.0, 0.0]])
    labels = np.array([0, 1, 1, 0])
    assert accuracy(logits, labels) == 0.75
    assert accuracy(np.array([0, 1, 2, 0]), labels) == 0.75
    assert normalized_accuracy(0.9, 0.9, 10) == 1.0
    assert normalized_accuracy(0.1, 0.9, 10) == 0.0
    np.testing.assert_allclose(normalized_accuracy(np.array([0.5, 0.1]), 0.9, 10), [0.5, 0.0])
    with pytest.raises(ConfigError, match="not above chance"):
        normalized_accuracy(0.5, 0.1, 10)


def test_entropies_at_their_extremes():
    n, C = 50, 10
    assert np.isclose(prediction_entropy(np.zeros((n, C))), np.log(C))
    assert prediction_entropy(np.eye(C)[np.arange(n) % C] * 1e3) < 1e-6
    probs = np.full((n, C), 1.0 / C)
    assert np.isclose(prediction_entropy(probs, from_logits=False), np.log(C))
    assert outcome_entropy(np.tile([5.0] + [0.0] * (C - 1), (n, 1))) == 0.0
    assert np.isclose(outcome_entropy(np.eye(C)[np.arange(n) % C]), np.log(C))
    assert np.isclose(outcome_entropy(np.array([0, 0, 1, 1]), n_classes=4), np.log(2))


def test_weight_statistics_known_values():
    s = weight_statistics([np.array([1.0, -1.0]), np.array([3.0, -3.0])])
    assert s["n_links"] == 4 and s["mean_abs"] == 2.0 and s["max_abs"] == 3.0
    assert np.isclose(s["rms"], np.sqrt(5.0)) and np.isclose(s["std"], np.sqrt(5.0))
    assert np.isclose(s["kurtosis"], stats.kurtosis([1, -1, 3, -3]))


def test_order_parameters_record():
    rng = np.random.default_rng(0)
    logits, labels = rng.normal(size=(40, 4)), rng.integers(0, 4, 40)
    masks = [rng.random((5, 6)) < 0.5, rng.random((6, 4)) < 0.5]
    row = order_parameters(logits, labels, acc_dense=0.9, masks=masks, weights=[rng.normal(size=7)])
    assert np.isclose(row["m"], (row["accuracy"] - 0.25) / 0.65)
    assert {"path_fraction", "lcc_fraction", "log_paths", "w_rms", "prediction_entropy"} <= set(row)


# --- susceptibility and critical points -----------------------------------------------------


def sigmoid_runs(widths, xc, n_seeds, spread, seed=0, x=None):
    """m(x) = logistic((x - xc_s) / w) per seed, xc_s ~ N(xc, spread^2 / width)."""
    rng = np.random.default_rng(seed)
    x = np.linspace(-3, -1, 41) if x is None else x
    rows = []
    for n in widths:
        for s in range(n_seeds):
            shift = rng.normal(0, spread / np.sqrt(n))
            m = 1 / (1 + np.exp(-(x - xc - shift) / 0.1))
            rows += [
                {"width": n, "log_density": xi, "density": 10**xi, "seed": s, "m": mi}
                for xi, mi in zip(x, m, strict=False)
            ]
    return pd.DataFrame(rows)


def test_susceptibility_is_width_times_variance():
    df = pd.DataFrame({"width": [10] * 3 + [20] * 3, "density": [0.1] * 6, "m": [0, 1, 2, 1, 1, 4]})
    chi = susceptibility(df)
    np.testing.assert_allclose(chi["var"], [1.0, 3.0])
    np.testing.assert_allclose(chi["chi"], [10.0, 60.0])
    assert list(chi["n_runs"]) == [3, 3]


def test_chi_peak_and_inflection_exact():
    x = np.linspace(0, 1, 11)
    assert np.isclose(chi_peak(x, -((x - 0.37) ** 2)), 0.37)
    assert chi_peak(x, x) == 1.0  # peak at the edge: the edge
    assert np.isclose(inflection(x, 0.2 + 0.7 / (1 + np.exp(-(x - 0.43) / 0.05))), 0.43, atol=1e-6)


def test_critical_points_recover_shared_threshold():
    xc = -2.0
    df = sigmoid_runs([16, 64], xc, n_seeds=12, spread=0.5)
    cp = critical_points(df, control="log_density", n_boot=100)
    assert list(cp["width"]) == [16, 64]
    for _, r in cp.iterrows():
        assert abs(r["xc_chi"] - xc) < 0.08 and abs(r["xc_inflection"] - xc) < 0.05
        assert r["xc_chi_lo"] <= r["xc_chi"] <= r["xc_chi_hi"]
        assert r["xc_inflection_lo"] - 0.02 <= xc <= r["xc_inflection_hi"] + 0.02
    # the same in density units via log_control
    cp2 = critical_points(df, control="density", log_control=True, n_boot=0)
    np.testing.assert_allclose(np.log10(cp2["xc_inflection"]), cp["xc_inflection"], atol=1e-6)


def test_compare_transitions_long_table():
    df = sigmoid_runs([16, 32], -2.0, n_seeds=4, spread=0.5)
    df["path_fraction"] = 1 / (1 + np.exp(-(df["log_density"] + 2.5) / 0.1))
    out = compare_transitions(
        df, observables=("m", "path_fraction"), control="log_density", n_boot=0
    )
    infl = out[out.method == "inflection"].groupby("observable")["xc"].mean()
    assert abs(infl["m"] + 2.0) < 0.05 and abs(infl["path_fraction"] + 2.5) < 1e-3


def test_critical_points_errors():
    df = sigmoid_runs([16], -2.0, n_seeds=1, spread=0.1)
    with pytest.raises(ConfigError, match="needs >= 2 seeds"):
        critical_points(df)
    with pytest.raises(ConfigError, match="missing column") as info:
        critical_points(df.drop(columns="seed"))
    assert "\n" not in str(info.value)


# --- finite-size scaling --------------------------------------------------------------------


def scaling_data(
    xc=0.3,
    nu=1.5,
    a=0.25,
    sizes=(16, 32, 64, 128),
    control="x",
    n_rep=3,
    noise=2e-3,
    seed=0,
    half=0.15,
    n_x=61,
):
    """O = N^-a F((x - xc) N^(1/nu)) with F(z) = 0.5 + 1/(1 + e^z), plus relative noise.

    The grid is fine enough that linear interpolation between neighbouring points of the largest
    size errs far less than the noise (the collapse quality assumes that).
    """
    rng = np.random.default_rng(seed)
    x = np.linspace(xc - half, xc + half, n_x)
    rows = []
    for n in sizes:
        z = (x - xc) * n ** (1 / nu)
        clean = n ** (-a) * (0.5 + 1 / (1 + np.exp(z)))
        for r in range(n_rep):
            o = clean * (1 + noise * rng.standard_normal(x.size))
            rows += [
                {"width": n, control: xi, "seed": r, "m": oi, "m_err": noise * ci}
                for xi, oi, ci in zip(x, o, clean, strict=False)
            ]
    return pd.DataFrame(rows)


def test_fit_collapse_recovers_analytic_exponents_with_seed_bootstrap():
    df = scaling_data()
    res = fit_collapse(df, size="width", control="x", observable="m", err=None, n_boot=12)
    assert abs(res.xc - 0.3) < 0.003 and abs(res.nu - 1.5) < 0.05 and abs(res.a - 0.25) < 0.01
    assert 0.3 < res.quality < 3.0  # within the error bars
    assert set(res.ci) == {"xc", "nu", "a"}
    for name, truth in (("xc", 0.3), ("nu", 1.5), ("a", 0.25)):
        lo, hi = res.ci[name]
        width = hi - lo
        assert lo - width <= truth <= hi + width, (name, res.ci[name])


def test_fit_collapse_any_control_and_error_column():
    # log density as control: x_c = log10(0.01) = -2
    df = scaling_data(xc=-2.0, nu=1.0, a=0.0, control="log_density", n_rep=1, half=0.1, n_x=129)
    res = fit_collapse(
        df, size="width", control="log_density", observable="m", err="m_err", n_boot=10
    )
    assert abs(res.xc + 2.0) < 0.003 and abs(res.nu - 1.0) < 0.03 and abs(res.a) < 0.01
    assert 0.3 < res.quality < 3.0
    assert res.boot.shape == (10, 3)
    fixed = fit_collapse(
        df, size="width", control="log_density", observable="m", fixed={"a": 0.0}, n_boot=0
    )
    assert fixed.a == 0.0 and abs(fixed.xc + 2.0) < 0.003
    x, y = fixed.scale(df["width"], df["log_density"], df["m"])
    assert x.shape == y.shape == (len(df),)


def test_fit_collapse_finds_a_critical_point_at_zero_density():
    # O = F(rho N): the transition drifts to ever lower density with size (rho_c = 0, nu = 1), as
    # in magnitude pruning of wider networks; the densities are a geometric schedule 1e-4..1, so
    # x_c = 0 lies just outside the sampled controls and far from a uniform grid of starts
    rng = np.random.default_rng(1)
    rho = np.geomspace(1e-4, 1.0, 26)
    rows = []
    for n in (32, 64, 128, 256):
        clean = 1.0 / (1.0 + (0.1 / (rho * n)) ** 2)
        for r in range(3):
            o = clean + 0.005 * rng.standard_normal(rho.size)
            rows += [
                {"width": n, "density": x, "seed": r, "m": y} for x, y in zip(rho, o, strict=True)
            ]
    df = pd.DataFrame(rows)
    res = fit_collapse(df, size="width", control="density", observable="m", n_boot=0)
    assert abs(res.xc) < 5e-5 and abs(res.nu - 1.0) < 0.1 and abs(res.a) < 0.02
    assert not res.xc_at_edge and res.x_range[0] < 0 < res.x_range[1]
    # in log10 density the curves only shift with size: x_c runs to the edge of the search range
    df_log = df.assign(log10_density=np.log10(df["density"]))
    log = fit_collapse(df_log, size="width", control="log10_density", observable="m", n_boot=0)
    assert log.xc_at_edge and log.x_range == (-6.0, 2.0)
    # linear interpolation on the coarse geometric grid limits S; a wrong x_c is far worse
    wrong = fit_collapse(
        df, size="width", control="density", observable="m", fixed={"xc": 2e-3}, n_boot=0
    )
    assert res.quality < wrong.quality / 3


def test_fit_collapse_input_errors_are_one_line():
    df = scaling_data(sizes=(32, 64), n_rep=1, n_x=11)
    with pytest.raises(ConfigError, match="at least 3 distinct values of 'width'") as info:
        fit_collapse(df, control="x")
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="missing column\\(s\\) 'density'") as info:
        fit_collapse(df)
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="unknown parameter"):
        fit_collapse(scaling_data(n_rep=1, n_x=11), control="x", fixed={"beta": 1.0})


def test_site_percolation_generator_limits():
    df = site_percolation([8], [0.0, 1.0], 2, seed=0)
    assert list(df.largest_fraction) == [0.0, 1.0, 0.0, 1.0] and list(df.spans) == [
        0.0,
        1.0,
        0.0,
        1.0,
    ]


def test_fit_collapse_2d_percolation_fast():
    df = site_percolation([16, 24, 32, 48, 64], np.linspace(0.55, 0.64, 12), 150, seed=0)
    # spanning probability does not scale with size (a = 0): x_c and nu
    span = fit_collapse(df, size="L", control="p", observable="spans", fixed={"a": 0.0}, n_boot=0)
    assert abs(span.xc - P_C) < 0.012 and abs(span.nu - NU) < 0.25
    # largest-cluster fraction at the known x_c, nu: a = beta/nu = 5/48 (small sizes bias it up)
    largest = fit_collapse(
        df,
        size="L",
        control="p",
        observable="largest_fraction",
        fixed={"xc": P_C, "nu": NU},
        n_boot=0,
    )
    assert 0.05 < largest.a < 0.22


@pytest.mark.slow
def test_fit_collapse_2d_percolation_all_free_slow():
    df = site_percolation([32, 48, 64, 96, 128], np.linspace(0.56, 0.63, 15), 300, seed=1)
    res = fit_collapse(df, size="L", control="p", observable="largest_fraction", n_boot=30)
    assert abs(res.xc - P_C) < 0.006
    assert abs(res.nu - NU) < 0.15
    assert abs(res.a - BETA / NU) < 0.06
    assert res.ci["xc"][0] - 0.005 <= P_C <= res.ci["xc"][1] + 0.005

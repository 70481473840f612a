"""Weight-magnitude distributions of trained networks, per layer (Sulyok et al. 2026, fig. 6).

The paper reports, for the density of ``|w|`` per layer and training method: a narrow minimum
near the origin (weakest links pruned every epoch), a narrow global maximum just after it, a
near-exponential decay towards large ``|w|``, more mass for RLR than CH3-L3 in
``0.2 <= |w| < 1`` and a dataset-dependent excess above ``|w| = 1``. :func:`weight_moments`
measures exactly these features, plus the ordinary moments.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from prunelab.errors import ConfigError
from prunelab.perturb.targets import RunLoader, resolve_networks, select_layers

DENSITY_METHODS = ("hist", "kde")
DEFAULT_LOG_RANGE = (1e-4, 10.0)


def magnitude_density(
    values: np.ndarray,
    bins: int | np.ndarray = 80,
    scale: str = "log",
    method: str = "hist",
    value_range: tuple[float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Probability density of the weight magnitude ``|w|`` of one layer.

    Parameters
    ----------
    values : ndarray of shape (n_links,), float
        Link weights (sign ignored). Zero weights are left out on a log scale.
    bins : int or ndarray
        Number of bins / evaluation points, or explicit increasing bin edges.
    scale : {"log", "linear"}
        Spacing of bins (log: for a logarithmic ``|w|`` axis).
    method : {"hist", "kde"}
        Histogram, or a Gaussian KDE (on ``log10 |w|`` for the log scale, transformed back).
    value_range : (float, float), optional
        Range of ``|w|``; default :data:`DEFAULT_LOG_RANGE` on a log scale, ``(0, max|w|)``
        on a linear one.

    Returns
    -------
    magnitude : ndarray of shape (n_points,)
        Bin centres (geometric on a log scale) or evaluation points, weight units.
    density : ndarray of shape (n_points,)
        Density of ``|w|`` per unit weight, normalised over all non-zero magnitudes (so it
        integrates to the fraction of them inside the range).
    """
    if scale not in ("log", "linear"):
        raise ConfigError(f"unknown scale {scale!r}; choose 'log' or 'linear'")
    if method not in DENSITY_METHODS:
        raise ConfigError(
            f"unknown density method {method!r}; choose one of {', '.join(DENSITY_METHODS)}"
        )
    magnitude = np.abs(np.asarray(values, dtype=np.float64).reshape(-1))
    magnitude = magnitude[magnitude > 0] if scale == "log" else magnitude
    if isinstance(bins, (int, np.integer)):
        if bins < 2:
            raise ConfigError(f"bins must be >= 2, got {bins}")
        low, high = value_range or (
            DEFAULT_LOG_RANGE if scale == "log" else (0.0, float(magnitude.max(initial=1.0)))
        )
        if scale == "log" and low <= 0:
            raise ConfigError(f"a log-scale range must start above 0, got {value_range}")
        edges = (
            np.geomspace(low, high, int(bins) + 1)
            if scale == "log"
            else np.linspace(low, high, int(bins) + 1)
        )
    else:
        edges = np.asarray(bins, dtype=np.float64)
    centres = np.sqrt(edges[:-1] * edges[1:]) if scale == "log" else (edges[:-1] + edges[1:]) / 2
    if magnitude.size == 0:
        return centres, np.zeros_like(centres)
    if method == "hist":
        counts, _ = np.histogram(magnitude, bins=edges)
        return centres, counts / (magnitude.size * np.diff(edges))
    from scipy import stats  # imported here: scipy.stats costs ~1 s at import

    if magnitude.size < 2 or np.ptp(magnitude) == 0:
        raise ConfigError("a KDE needs at least two distinct weight magnitudes; use method='hist'")
    if scale == "log":
        kde = stats.gaussian_kde(np.log10(magnitude))
        return centres, kde(np.log10(centres)) / (centres * np.log(10.0))
    return centres, stats.gaussian_kde(magnitude)(centres)


def weight_moments(
    values: np.ndarray,
    mid_range: tuple[float, float] = (0.2, 1.0),
    large: float = 1.0,
) -> dict[str, float]:
    """Summary numbers of one layer's weights.

    Parameters
    ----------
    values : ndarray of shape (n_links,), float
    mid_range : (float, float)
        The intermediate ``|w|`` range where the paper finds RLR above CH3-L3.
    large : float
        Threshold of "extremely large" weights.

    Returns
    -------
    dict
        ``n_links``; ``mean``, ``std`` of ``w``; ``mean_abs``, ``std_abs``, ``median_abs``,
        ``rms``, ``skewness_abs``, ``kurtosis_abs`` (excess) of ``|w|``; ``frac_zero``;
        ``frac_mid`` (``mid_range[0] <= |w| < mid_range[1]``); ``frac_large`` (``|w| >= large``);
        ``mode_abs`` (location of the maximum of the log-KDE density of ``|w|``);
        ``tail_rate`` (rate of an exponential fitted by maximum likelihood to ``|w|`` above
        the mode, per weight unit). Undefined entries are NaN.
    """
    from scipy import stats  # imported here: scipy.stats costs ~1 s at import

    w = np.asarray(values, dtype=np.float64).reshape(-1)
    a = np.abs(w)
    n = a.size
    nan = float("nan")
    out: dict[str, float] = {"n_links": float(n)}
    if n == 0:
        return out | dict.fromkeys(
            (
                "mean",
                "std",
                "mean_abs",
                "std_abs",
                "median_abs",
                "rms",
                "skewness_abs",
                "kurtosis_abs",
                "frac_zero",
                "frac_mid",
                "frac_large",
                "mode_abs",
                "tail_rate",
            ),
            nan,
        )
    varied = n > 1 and np.ptp(a) > 0
    out.update(
        mean=float(w.mean()),
        std=float(w.std(ddof=1)) if n > 1 else nan,
        mean_abs=float(a.mean()),
        std_abs=float(a.std(ddof=1)) if n > 1 else nan,
        median_abs=float(np.median(a)),
        rms=float(np.sqrt(np.mean(w * w))),
        skewness_abs=float(stats.skew(a)) if varied else nan,
        kurtosis_abs=float(stats.kurtosis(a)) if varied else nan,
        frac_zero=float(np.mean(a == 0)),
        frac_mid=float(np.mean((a >= mid_range[0]) & (a < mid_range[1]))),
        frac_large=float(np.mean(a >= large)),
    )
    positive = a[a > 0]
    mode = nan
    if positive.size > 1 and np.ptp(positive) > 0:
        grid = np.linspace(np.log10(positive.min()), np.log10(positive.max()), 512)
        log_density = stats.gaussian_kde(np.log10(positive))(grid) / (10.0**grid * np.log(10.0))
        mode = float(10.0 ** grid[np.argmax(log_density)])
    tail = a[a > mode] - mode if np.isfinite(mode) else np.empty(0)
    out.update(
        mode_abs=mode, tail_rate=float(1.0 / tail.mean()) if tail.size and tail.mean() > 0 else nan
    )
    return out


def weight_moments_table(
    networks: Any,
    layers: str | Sequence[str] = "sparse",
    group: str = "all",
    load_model: RunLoader | None = None,
) -> pd.DataFrame:
    """:func:`weight_moments` of every layer of every network, as a tidy table.

    Parameters
    ----------
    networks : model, run, or list/dict of them (see :mod:`prunelab.perturb.targets`)
    layers : {"sparse", "readout", "all"} or list of layer names
    group : str
        Label for the ``group`` column (e.g. the training method).
    load_model : callable, optional

    Returns
    -------
    DataFrame
        One row per network and layer: ``group``, ``network``, ``layer``, then the moments.
    """
    rows = []
    for name, load in resolve_networks(networks, load_model):
        for target in select_layers(load(), layers):
            rows.append(
                {
                    "group": group,
                    "network": name,
                    "layer": target.name,
                    **weight_moments(target.values()),
                }
            )
    return pd.DataFrame(rows)


def weight_density_table(
    networks: Any,
    layers: str | Sequence[str] = "sparse",
    group: str = "all",
    bins: int | np.ndarray = 80,
    scale: str = "log",
    method: str = "hist",
    value_range: tuple[float, float] | None = None,
    load_model: RunLoader | None = None,
) -> pd.DataFrame:
    """:func:`magnitude_density` of every layer of every network on a common grid, tidy.

    Parameters are those of :func:`weight_moments_table` and :func:`magnitude_density`; on a
    linear scale the default range is ``(0, 2)`` so that all networks share one grid.

    Returns
    -------
    DataFrame
        Columns ``group``, ``network``, ``layer``, ``magnitude`` (weight units), ``density``
        (per weight unit).
    """
    if value_range is None and scale == "linear" and isinstance(bins, (int, np.integer)):
        value_range = (0.0, 2.0)
    frames = []
    for name, load in resolve_networks(networks, load_model):
        for target in select_layers(load(), layers):
            magnitude, density = magnitude_density(
                target.values(), bins, scale, method, value_range
            )
            frames.append(
                pd.DataFrame(
                    {
                        "group": group,
                        "network": name,
                        "layer": target.name,
                        "magnitude": magnitude,
                        "density": density,
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)

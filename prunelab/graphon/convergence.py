"""Convergence of graphon estimates with width: distances to the widest estimate, rates, shape summaries.

Pure functions on arrays of estimates (no store, no models), used by the ``graphon`` study kind:

- :func:`convergence_curve`: distance of the trial-mean estimate at each width to the one at the
  largest width, with basic-bootstrap intervals (trials resampled at both widths);
- :func:`fit_rate`: the exponent r of distance ∝ width^−r (least squares in log-log);
- :func:`shape_summary`: numbers that describe what a graphon looks like (flatness, empty blocks,
  how strongly density falls with degree rank).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from prunelab.errors import ConfigError
from prunelab.graphon.blocks import distance


def trial_spread(estimates: np.ndarray) -> dict[str, float]:
    """How much single trials differ from their mean.

    Parameters
    ----------
    estimates : ndarray (trials, k, k), float

    Returns
    -------
    dict
        ``block_std``: mean over blocks of the standard deviation across trials (density units);
        ``trial_distance``: mean over trials of the distance of a trial to the trial mean.
    """
    e = np.asarray(estimates, dtype=np.float64)
    mean = np.nanmean(e, axis=0)
    std = np.nanstd(e, axis=0, ddof=1) if e.shape[0] > 1 else np.zeros_like(mean)
    return {
        "block_std": float(np.nanmean(std)),
        "trial_distance": float(np.mean([distance(t, mean) for t in e])),
    }


def convergence_curve(
    by_width: Mapping[int, np.ndarray], n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[pd.DataFrame, np.ndarray]:
    """Distance of each width's mean estimate to the mean estimate at the largest width.

    Parameters
    ----------
    by_width : mapping of int to ndarray (trials, k, k)
        Estimates of one layer (one method, one sparsity) at every width.
    n_boot : int
        Bootstrap replicates; in each, the trials of every width are resampled with replacement.
    seed : int
        Seeds the bootstrap.
    level : float
        Coverage of the intervals.

    Returns
    -------
    table : DataFrame
        One row per width below the largest: ``width``; ``distance`` d, the plug-in distance of the
        two trial means (L2 distance of step graphons, density units); ``distance_bc``, the
        bootstrap bias-corrected distance ``max(0, 2d − median(d*))``; ``lo``, ``hi``, the basic
        (reverse percentile) interval ``[2d − q_hi, 2d − q_lo]`` clipped at 0, which brackets
        ``distance_bc``; ``trials``. Trial noise in either mean adds to a distance, so d and the
        resampled d* sit above the distance of the limits; the correction removes that bias to
        first order (d itself may lie outside the interval when the noise dominates).
    replicates : ndarray (n_boot, n_widths - 1)
        The bootstrap distances (for intervals of derived quantities such as the rate).
    """
    widths = sorted(int(w) for w in by_width)
    if len(widths) < 2:
        raise ConfigError(f"a convergence curve needs at least two widths, got {widths}")
    ref_w = widths[-1]
    data = {w: np.asarray(by_width[w], dtype=np.float64) for w in widths}
    ref = data[ref_w].mean(axis=0)
    rng = np.random.default_rng(seed)
    boot = np.empty((int(n_boot), len(widths) - 1))
    for b in range(int(n_boot)):
        r = data[ref_w][rng.integers(0, data[ref_w].shape[0], data[ref_w].shape[0])].mean(axis=0)
        for j, w in enumerate(widths[:-1]):
            e = data[w]
            boot[b, j] = distance(e[rng.integers(0, e.shape[0], e.shape[0])].mean(axis=0), r)
    alpha = (1.0 - level) / 2.0
    rows = []
    for j, w in enumerate(widths[:-1]):
        d = distance(data[w].mean(axis=0), ref)
        if n_boot:
            q_lo, q_mid, q_hi = np.quantile(boot[:, j], [alpha, 0.5, 1 - alpha])
        else:
            q_lo = q_mid = q_hi = np.nan
        rows.append(
            {
                "width": w,
                "distance": d,
                "distance_bc": float(max(0.0, 2 * d - q_mid)),
                "lo": float(max(0.0, 2 * d - q_hi)),
                "hi": float(max(0.0, 2 * d - q_lo)),
                "trials": int(data[w].shape[0]),
            }
        )
    return pd.DataFrame(rows), boot


def fit_rate(widths: np.ndarray, distances: np.ndarray) -> float:
    """Exponent r of ``distance ∝ width^−r``: minus the least-squares slope of log d on log n.

    Parameters
    ----------
    widths : ndarray (m,), int
    distances : ndarray (m,), float
        Non-positive or non-finite distances are left out.

    Returns
    -------
    float
        r (dimensionless); NaN with fewer than two usable points.
    """
    w, d = np.asarray(widths, dtype=np.float64), np.asarray(distances, dtype=np.float64)
    ok = np.isfinite(d) & (d > 0)
    if ok.sum() < 2:
        return float("nan")
    return float(-np.polyfit(np.log(w[ok]), np.log(d[ok]), 1)[0])


def shape_summary(graphon: np.ndarray, density: float) -> dict[str, float]:
    """What a (mean) graphon estimate looks like.

    Parameters
    ----------
    graphon : ndarray (k_rows, k_cols), float
        Blocks sorted by decreasing degree (as :func:`~prunelab.graphon.estimate` makes them); NaN
        blocks (empty) are ignored.
    density : float
        The layer's density (fraction of links).

    Returns
    -------
    dict
        ``flatness``: distance to the constant graphon of ``density`` (0 = flat);
        ``zero_blocks``: fraction of blocks below 1% of ``density`` (whole regions emptied);
        ``row_trend``, ``col_trend``: Spearman correlation of block means with block rank along
        rows and columns (−1 = density falls steadily from high- to low-degree units, 0 = no trend);
        ``top_bottom``: mean of the first block row over the mean of the last (how much the
        highest-degree inputs get), NaN when the last is 0.
    """
    g = np.asarray(graphon, dtype=np.float64)
    g = g[~np.all(np.isnan(g), axis=1)][:, ~np.all(np.isnan(g), axis=0)]
    flat = np.full_like(g, float(density))
    rows, cols = np.nanmean(g, axis=1), np.nanmean(g, axis=0)
    return {
        "flatness": distance(np.nan_to_num(g, nan=density), flat),
        "zero_blocks": float(np.mean(g < 0.01 * density)),
        "row_trend": _spearman(rows),
        "col_trend": _spearman(cols),
        "top_bottom": float(rows[0] / rows[-1]) if rows[-1] > 0 else float("nan"),
    }


def _spearman(values: np.ndarray) -> float:
    """Spearman correlation of ``values`` with their position (NaN for a constant sequence)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size < 2 or np.all(v == v[0]):
        return float("nan")
    ranks = pd.Series(v).rank().to_numpy()
    return float(np.corrcoef(ranks, np.arange(v.size))[0, 1])

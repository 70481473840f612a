"""F_min: the lowest density from which the network still recovers, with bootstrap intervals.

Definition (``docs/definitions.md``, *Minimal structural sufficiency*): on a grid of densities,
F_min is the lowest density ρ such that Ψ ≥ 1 − ε holds at ρ and at every higher density tested,
for the curve of the best retraining protocol at the largest budget. Scanning from the highest
density down, the first density that fails and the one above it bracket F_min; inside the
bracket Ψ is interpolated linearly in log ρ to the crossing of 1 − ε.

- every density passes: F_min is at most the lowest density tested (``status = "below_range"``,
  ``value`` = that density, an upper bound);
- the highest density fails: F_min is above the grid (``status = "above_range"``, ``value`` =
  the highest density, a lower bound);
- otherwise ``status = "bracketed"``.

The bootstrap resamples seeds with replacement, averages Ψ over the resampled seeds per
(density, protocol), takes the best protocol per density, and recomputes F_min; the interval is
the percentile interval of those values (censored values enter as their bounds).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from prunelab.core.rng import Seed, as_generator
from prunelab.errors import ConfigError, check_open_fraction

STATUSES = ("bracketed", "below_range", "above_range")


def check_eps(eps: Any, name: str = "epsilon") -> float:
    """ε as a float in (0, 1), else a one-line :class:`ConfigError`."""
    return check_open_fraction(eps, name, "Ψ ≥ 1 − ε counts as recovered", "0.01")


@dataclass(frozen=True)
class Threshold:
    """Where a curve over density stops meeting a level.

    Attributes
    ----------
    value : float
        The density (fraction of the possible links); see ``status`` for censoring.
    status : {"bracketed", "below_range", "above_range"}
    above, below : float
        The tested densities that bracket ``value`` (both equal to ``value`` when censored).
    """

    value: float
    status: str
    above: float
    below: float


def threshold_density(density: Any, value: Any, level: float) -> Threshold:
    """Lowest density at which ``value >= level`` holds there and at every higher density.

    Parameters
    ----------
    density : array of shape (n,)
        Densities in (0, 1], any order, distinct.
    value : array of shape (n,)
        The curve (e.g. Ψ, or a subspace overlap), aligned with ``density``; NaN counts as failing.
    level : float
        The level to stay at or above.

    Returns
    -------
    Threshold
        Interpolated linearly in ``log(density)`` between the bracketing densities.
    """
    d = np.asarray(density, dtype=np.float64).ravel()
    y = np.asarray(value, dtype=np.float64).ravel()
    if d.shape != y.shape or d.size == 0:
        raise ConfigError(
            f"density and value must be non-empty and aligned, got {d.shape} and {y.shape}"
        )
    if np.any(d <= 0) or np.unique(d).size != d.size:
        raise ConfigError("densities must be positive and distinct")
    order = np.argsort(-d)
    d, y = d[order], y[order]
    ok = np.nan_to_num(y, nan=-np.inf) >= level
    if ok.all():
        return Threshold(float(d[-1]), "below_range", float(d[-1]), float(d[-1]))
    j = int(np.argmin(ok))  # the first failing density from the top
    if j == 0:
        return Threshold(float(d[0]), "above_range", float(d[0]), float(d[0]))
    x0, x1 = np.log(d[j - 1]), np.log(d[j])
    y0, y1 = y[j - 1], y[j]
    t = 1.0 if not np.isfinite(y1) or y0 == y1 else (y0 - level) / (y0 - y1)
    return Threshold(
        float(np.exp(x0 + np.clip(t, 0.0, 1.0) * (x1 - x0))),
        "bracketed",
        float(d[j - 1]),
        float(d[j]),
    )


def f_min(density: Any, psi: Any, eps: float = 0.01) -> Threshold:
    """F_min of one Ψ curve: :func:`threshold_density` at the level ``1 − eps``.

    Examples
    --------
    >>> f_min([0.1, 0.01, 0.001], [1.0, 0.995, 0.2], eps=0.01).status
    'bracketed'
    """
    return threshold_density(density, psi, 1.0 - check_eps(eps))


def best_curve(table: pd.DataFrame, value: str = "psi", by: str = "protocol") -> pd.DataFrame:
    """Per density, the seed-mean ``value`` of the best ``by`` group.

    Parameters
    ----------
    table : DataFrame
        Columns ``seed``, ``density``, ``by``, ``value`` (one row per seed, density and group).

    Returns
    -------
    DataFrame
        ``density``, ``value`` (the best group's mean), ``by`` (its name), ``n_seeds``;
        descending density.
    """
    means = table.groupby(["density", by], sort=False)[value].agg(["mean", "size"]).reset_index()
    means = means.sort_values(["density", "mean"], ascending=[False, False], kind="stable")
    best = means.groupby("density", sort=False).head(1)
    return (
        best.rename(columns={"mean": value, "size": "n_seeds"})[["density", value, by, "n_seeds"]]
        .sort_values("density", ascending=False)
        .reset_index(drop=True)
    )


def _pivot(
    table: pd.DataFrame, value: str, by: str
) -> tuple[np.ndarray, np.ndarray, list[Any], np.ndarray]:
    """(densities, seeds, groups, values[seed, density, group]) with NaN where a run is missing."""
    dens = np.sort(table["density"].unique())[::-1]
    seeds = np.sort(table["seed"].unique())
    groups = sorted(table[by].unique(), key=str)
    cube = np.full((seeds.size, dens.size, len(groups)), np.nan)
    si = {s: k for k, s in enumerate(seeds)}
    di = {d: k for k, d in enumerate(dens)}
    gi = {g: k for k, g in enumerate(groups)}
    for s, d, g, v in zip(table["seed"], table["density"], table[by], table[value], strict=True):
        cube[si[s], di[d], gi[g]] = v
    return dens, seeds, groups, cube


def bootstrap_threshold(
    table: pd.DataFrame,
    level: float,
    value: str = "psi",
    by: str | None = "protocol",
    n_boot: int = 200,
    confidence: float = 0.95,
    seed: Seed = 0,
) -> dict[str, Any]:
    """Threshold density of the best group's seed-mean curve, with a bootstrap over seeds.

    Parameters
    ----------
    table : DataFrame
        ``seed``, ``density``, ``value`` and (when ``by`` is given) ``by``.
    level : float
        ``1 − ε`` for F_min, ½ for the overlap threshold.
    n_boot : int
        Bootstrap resamples (0: no interval).
    confidence : float
        Central interval coverage in (0, 1).

    Returns
    -------
    dict
        ``value``, ``lo``, ``hi`` (densities), ``status``, ``above``, ``below`` (the bracket),
        ``n_seeds``, ``censored_share`` (fraction of resamples that fell outside the grid).
    """
    if table.empty:
        raise ConfigError("no rows to estimate a threshold from; run the study first")
    t = table if by is not None else table.assign(_group=0)
    by = by or "_group"
    dens, seeds, _groups, cube = _pivot(t, value, by)
    with np.errstate(all="ignore"):
        point = threshold_density(dens, np.nanmax(np.nanmean(cube, axis=0), axis=1), level)
    out = {
        "value": point.value,
        "status": point.status,
        "above": point.above,
        "below": point.below,
        "n_seeds": int(seeds.size),
        "lo": np.nan,
        "hi": np.nan,
        "censored_share": np.nan,
    }
    if n_boot > 0 and seeds.size > 1:
        rng = as_generator(seed)
        values, censored = [], 0
        for _ in range(int(n_boot)):
            pick = rng.integers(0, seeds.size, seeds.size)
            with np.errstate(all="ignore"):
                curve = np.nanmax(np.nanmean(cube[pick], axis=0), axis=1)
            th = threshold_density(dens, curve, level)
            values.append(th.value)
            censored += th.status != "bracketed"
        alpha = (1.0 - confidence) / 2.0
        lo, hi = np.quantile(np.log(values), [alpha, 1.0 - alpha])
        out.update(lo=float(np.exp(lo)), hi=float(np.exp(hi)), censored_share=censored / n_boot)
    return out


def f_min_table(
    table: pd.DataFrame,
    eps: float = 0.01,
    value: str = "psi",
    by: str = "protocol",
    n_boot: int = 200,
    confidence: float = 0.95,
    seed: Seed = 0,
    possible_links: float | None = None,
) -> dict[str, Any]:
    """F_min (:func:`bootstrap_threshold` at ``1 − eps``) plus the same in surviving links.

    Parameters
    ----------
    possible_links : float, optional
        Links of the dense network; adds ``links``, ``links_lo``, ``links_hi`` (counts).
    """
    out = bootstrap_threshold(table, 1.0 - check_eps(eps), value, by, n_boot, confidence, seed)
    if possible_links is not None:
        for key in ("value", "lo", "hi"):
            out["links" if key == "value" else f"links_{key}"] = out[key] * float(possible_links)
    return out

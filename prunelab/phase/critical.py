"""Critical points from runs over seeds: susceptibility peak and inflection of the order parameter.

Input is a long table with one row per run: a size column (e.g. ``width``), a control column
(e.g. ``density``), a seed column and an observable (e.g. ``m``). The susceptibility is
``χ(x) = N · Var_seeds(O(x))``; the critical control value is estimated per size (i) at the peak
of χ and (ii) at the inflection point of the seed-averaged ``O(x)``, with percentile bootstrap
intervals from resampling seeds (:func:`scipy.stats.bootstrap`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import optimize, stats

from prunelab.core.rng import as_generator
from prunelab.errors import ConfigError
from prunelab.phase._tables import require_columns


def susceptibility(
    df: pd.DataFrame,
    size: str = "width",
    control: str = "density",
    observable: str = "m",
) -> pd.DataFrame:
    """Mean, variance over runs and susceptibility ``χ = N · Var`` at every (size, control).

    Returns
    -------
    pandas.DataFrame
        Columns ``size``, ``control`` (named as in the input), ``mean``, ``var`` (ddof=1; nan with a
        single run), ``chi`` (size × var, units of O² × size) and ``n_runs``.
    """
    require_columns(df, [size, control, observable], "susceptibility table")
    g = df[[size, control, observable]].dropna().groupby([size, control], sort=True)[observable]
    out = g.agg(mean="mean", var=lambda v: v.var(ddof=1), n_runs="size").reset_index()
    out["chi"] = out[size].astype(float) * out["var"]
    return out[[size, control, "mean", "var", "chi", "n_runs"]]


def chi_peak(x: np.ndarray, chi: np.ndarray) -> float:
    """Location of the maximum of χ(x), refined by a parabola through the top point and its neighbours.

    Parameters
    ----------
    x : float array (n,), increasing
    chi : float array (n,); nan entries are ignored

    Returns
    -------
    float
        Control value of the peak (the grid point itself when the peak is at an edge or the
        parabola is not concave).
    """
    x, chi = np.asarray(x, dtype=float), np.asarray(chi, dtype=float)
    ok = np.isfinite(chi)
    x, chi = x[ok], chi[ok]
    if x.size == 0:
        return float("nan")
    k = int(np.argmax(chi))
    if k == 0 or k == x.size - 1:
        return float(x[k])
    c2, c1, _ = np.polyfit(x[k - 1 : k + 2], chi[k - 1 : k + 2], 2)
    if c2 >= 0:
        return float(x[k])
    return float(np.clip(-c1 / (2 * c2), x[k - 1], x[k + 1]))


def _sigmoid(x, low, high, x0, width):
    return low + (high - low) * 0.5 * (1.0 + np.tanh((x - x0) / (2.0 * width)))


def inflection(x: np.ndarray, y: np.ndarray) -> float:
    """Inflection point of a sigmoidal curve ``y(x)``: centre of a fitted logistic.

    Fits ``y = low + (high − low) / (1 + exp(−(x − x0)/w))`` with :func:`scipy.optimize.curve_fit`
    (x0 is where the slope is largest); falls back to the midpoint of the steepest finite
    difference when the fit fails or lands outside the data.

    Parameters
    ----------
    x : float array (n,), increasing (n >= 4)
    y : float array (n,)

    Returns
    -------
    float
        Control value of the inflection.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size < 2:
        return float("nan")
    slope = np.diff(y) / np.diff(x)
    k = int(np.argmax(np.abs(slope)))
    steepest = 0.5 * (x[k] + x[k + 1])
    if x.size < 4:
        return float(steepest)
    span = x[-1] - x[0]
    p0 = [y[0], y[-1], steepest, 0.1 * span]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            popt, _ = optimize.curve_fit(_sigmoid, x, y, p0=p0, maxfev=5000)
    except (RuntimeError, ValueError):
        return float(steepest)
    x0 = float(popt[2])
    return x0 if x[0] <= x0 <= x[-1] and np.isfinite(x0) else float(steepest)


def critical_points(
    df: pd.DataFrame,
    size: str = "width",
    control: str = "density",
    observable: str = "m",
    seed: str = "seed",
    log_control: bool = False,
    n_boot: int = 200,
    confidence: float = 0.95,
    random_state: int | np.random.Generator | None = 0,
) -> pd.DataFrame:
    """Critical control value per size from the χ peak and from the inflection of ``<O>``.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per run with columns ``size``, ``control``, ``seed``, ``observable``.
    log_control : bool
        Analyse in ``log10(control)`` (natural for densities spanning decades); results are
        reported back in control units.
    n_boot : int
        Bootstrap resamples of the seeds (0: no intervals; needs >= 3 seeds per size).
    confidence : float
        Level of the percentile intervals.

    Returns
    -------
    pandas.DataFrame
        One row per size: ``size`` (named as in the input), ``n_seeds``, ``chi_max``,
        ``xc_chi``, ``xc_chi_lo``, ``xc_chi_hi``, ``xc_inflection``, ``xc_inflection_lo``,
        ``xc_inflection_hi``.

    Raises
    ------
    ConfigError
        For missing columns, a size with fewer than 2 seeds, or non-positive controls with
        ``log_control``.
    """
    require_columns(df, [size, control, seed, observable], "critical-point table")
    table = df[[size, control, seed, observable]].dropna()
    if log_control and bool((table[control] <= 0).any()):
        raise ConfigError(f"log_control needs {control!r} > 0 everywhere; drop non-positive values")
    rng = as_generator(random_state)
    rows = []
    for n, part in table.groupby(size, sort=True):
        grid = part.pivot_table(
            index=seed, columns=control, values=observable, aggfunc="mean"
        ).sort_index(axis=1)
        x = grid.columns.to_numpy(dtype=float)
        x = np.log10(x) if log_control else x
        values = grid.to_numpy(dtype=float)
        n_seeds = values.shape[0]
        if n_seeds < 2:
            raise ConfigError(
                f"{size}={n} has {n_seeds} seed; the susceptibility needs >= 2 seeds per size"
            )

        def estimate(idx: np.ndarray, values=values, x=x, n=n) -> np.ndarray:
            sub = values[np.asarray(idx, dtype=int)]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                chi = float(n) * np.nanvar(sub, axis=0, ddof=1)
                mean = np.nanmean(sub, axis=0)
            return np.array([chi_peak(x, chi), inflection(x, mean)])

        all_idx = np.arange(n_seeds)
        point = estimate(all_idx)
        lo = hi = np.full(2, np.nan)
        if n_boot > 0 and n_seeds >= 3:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = stats.bootstrap(
                    (all_idx,),
                    estimate,
                    n_resamples=n_boot,
                    vectorized=False,
                    method="percentile",
                    confidence_level=confidence,
                    random_state=rng,
                )
            dist = np.asarray(res.bootstrap_distribution)
            lo = np.nanquantile(dist, (1 - confidence) / 2, axis=-1)
            hi = np.nanquantile(dist, (1 + confidence) / 2, axis=-1)
        back = (lambda v: 10.0**v) if log_control else (lambda v: v)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            chi_max = float(np.nanmax(float(n) * np.nanvar(values, axis=0, ddof=1)))
        rows.append(
            {
                size: n,
                "n_seeds": n_seeds,
                "chi_max": chi_max,
                "xc_chi": back(point[0]),
                "xc_chi_lo": back(lo[0]),
                "xc_chi_hi": back(hi[0]),
                "xc_inflection": back(point[1]),
                "xc_inflection_lo": back(lo[1]),
                "xc_inflection_hi": back(hi[1]),
            }
        )
    return pd.DataFrame(rows)


def compare_transitions(
    df: pd.DataFrame,
    observables: Sequence[str] = ("m", "path_fraction"),
    size: str = "width",
    control: str = "density",
    seed: str = "seed",
    **kwargs,
) -> pd.DataFrame:
    """Critical points of several observables side by side, e.g. functional (``m``) versus
    structural (``path_fraction``, the percolation of the network itself).

    Extra keyword arguments go to :func:`critical_points`.

    Returns
    -------
    pandas.DataFrame
        Long table: ``observable``, the size column, ``method`` (``"chi"`` or ``"inflection"``),
        ``xc``, ``lo``, ``hi``. Overlapping intervals of ``m`` and a structural observable at every
        size mean the collapse is consistent with the percolation of the mask graph; disjoint
        ones show that function fails at a different density than connectivity.
    """
    frames = []
    for obs in observables:
        cp = critical_points(df, size=size, control=control, observable=obs, seed=seed, **kwargs)
        for method in ("chi", "inflection"):
            frames.append(
                pd.DataFrame(
                    {
                        "observable": obs,
                        size: cp[size],
                        "method": method,
                        "xc": cp[f"xc_{method}"],
                        "lo": cp[f"xc_{method}_lo"],
                        "hi": cp[f"xc_{method}_hi"],
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)

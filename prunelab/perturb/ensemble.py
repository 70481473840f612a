"""Ensembles of robustness curves: bands over networks and draws, area under the curve, f-half.

Input everywhere is the tidy table of :func:`prunelab.perturb.robustness_curve` (or several of
them concatenated, e.g. one per training method in the ``group`` column).

Definitions (prunelab's; the paper shows averaged curves only):

- *area under the curve* (AUC): trapezoidal integral of accuracy over the strength grid divided
  by the grid's extent, i.e. the mean accuracy over the range (in [0, 1]).
- *f-half*: the smallest strength at which the accuracy has fallen halfway from the unperturbed
  accuracy ``a0`` to chance ``c``, i.e. reaches ``c + (a0 - c) / 2``; linear interpolation
  between grid points, with the unperturbed point ``(0, a0)`` prepended when the grid starts
  above 0; NaN when the curve never gets there.
- *bootstrap*: resample the units with replacement, recompute the mean curve and its summary
  numbers; percentile intervals. Units are networks (each one's curve averaged over its draws)
  when a group has several networks, otherwise draws.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from prunelab.errors import ConfigError

DEFAULT_BY = ("group", "kind")


def _group_columns(table: pd.DataFrame, by: Sequence[str]) -> list[str]:
    missing = [c for c in ("strength",) if c not in table.columns]
    if missing:
        raise ConfigError(
            f"curve table lacks columns {missing}; pass the table returned by robustness_curve"
        )
    return [c for c in by if c in table.columns]


def summarize_curves(
    table: pd.DataFrame,
    value: str = "accuracy",
    by: Sequence[str] = DEFAULT_BY,
    percentiles: tuple[float, float] = (10.0, 90.0),
    per_network: bool = False,
) -> pd.DataFrame:
    """Mean, standard deviation, median and a percentile band of a curve at every strength.

    Parameters
    ----------
    table : DataFrame
        Rows of :func:`robustness_curve` (columns ``strength``, ``network``, ``draw``, ``value``).
    value : str
        Column to summarise (``"accuracy"`` or ``"loss"``).
    by : sequence of str
        Columns identifying one curve (those absent from the table are ignored).
    percentiles : (float, float)
        Lower and upper percentile of the band, in [0, 100].
    per_network : bool
        Average the draws of each network first, so the spread is between networks only.

    Returns
    -------
    DataFrame
        One row per curve and strength: ``by...``, ``strength``, ``n``, ``mean``, ``std``
        (ddof=1; 0 for a single unit), ``median``, ``lo``, ``hi``.
    """
    lo_q, hi_q = (float(q) for q in percentiles)
    if not (0.0 <= lo_q <= hi_q <= 100.0):
        raise ConfigError(f"percentiles must satisfy 0 <= lo <= hi <= 100, got {percentiles}")
    if value not in table.columns:
        raise ConfigError(f"curve table has no column {value!r}; use 'accuracy' or 'loss'")
    keys = _group_columns(table, by)
    data = table
    if per_network and "network" in table.columns:
        data = table.groupby([*keys, "network", "strength"], as_index=False)[value].mean()
    grouped = data.groupby([*keys, "strength"])[value]
    out = pd.DataFrame(
        {
            "n": grouped.count(),
            "mean": grouped.mean(),
            "std": grouped.std(ddof=1).fillna(0.0),
            "median": grouped.median(),
            "lo": grouped.quantile(lo_q / 100.0),
            "hi": grouped.quantile(hi_q / 100.0),
        }
    )
    return out.reset_index()


def curve_auc(strengths: np.ndarray, accuracy: np.ndarray, normalize: bool = True) -> np.ndarray:
    """Area under accuracy-vs-strength curves (trapezoid rule).

    Parameters
    ----------
    strengths : ndarray of shape (n_points,), increasing
    accuracy : ndarray of shape (n_points,) or (n_curves, n_points)
    normalize : bool
        Divide by the extent of ``strengths`` (giving the mean accuracy over the range).

    Returns
    -------
    float or ndarray of shape (n_curves,)
    """
    s = np.asarray(strengths, dtype=np.float64)
    a = np.asarray(accuracy, dtype=np.float64)
    if s.ndim != 1 or s.size < 2 or np.any(np.diff(s) <= 0):
        raise ConfigError(
            "AUC needs at least two strictly increasing strengths; use a grid like numpy.linspace(0, 1, 51)"
        )
    area = np.trapezoid(a, s, axis=-1)
    return area / (s[-1] - s[0]) if normalize else area


def f_half(
    strengths: np.ndarray,
    accuracy: np.ndarray,
    chance: float,
    baseline: float | np.ndarray | None = None,
) -> np.ndarray:
    """Strength at which accuracy first falls halfway from the unperturbed value to chance.

    Parameters
    ----------
    strengths : ndarray of shape (n_points,), increasing
    accuracy : ndarray of shape (n_points,) or (n_curves, n_points)
    chance : float
        Chance-level accuracy, e.g. ``1 / n_classes``.
    baseline : float or ndarray of shape (n_curves,), optional
        Unperturbed accuracy ``a0``; default the accuracy at the first strength. When given and
        the grid starts above 0, the point ``(0, a0)`` is prepended.

    Returns
    -------
    float or ndarray of shape (n_curves,)
        Interpolated strength; NaN where the curve never reaches the halfway level or ``a0``
        is not above chance.
    """
    s = np.asarray(strengths, dtype=np.float64)
    a = np.asarray(accuracy, dtype=np.float64)
    single = a.ndim == 1
    a = np.atleast_2d(a)
    if s.ndim != 1 or s.size != a.shape[1] or np.any(np.diff(s) <= 0):
        raise ConfigError("f_half needs strictly increasing strengths, one per accuracy column")
    if baseline is None:
        a0 = a[:, 0]
    else:
        a0 = np.broadcast_to(np.asarray(baseline, dtype=np.float64), (a.shape[0],))
        if s[0] > 0:
            s = np.concatenate([[0.0], s])
            a = np.concatenate([a0[:, None], a], axis=1)
    target = chance + (a0 - chance) / 2.0
    below = a <= target[:, None]
    found = below.any(axis=1) & (a0 > chance)
    j = np.argmax(below, axis=1)
    prev = np.maximum(j - 1, 0)
    rows = np.arange(a.shape[0])
    a_prev, a_next = a[rows, prev], a[rows, j]
    s_prev, s_next = s[prev], s[j]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(a_prev > a_next, (a_prev - target) / (a_prev - a_next), 0.0)
    result = np.where(found, s_prev + np.clip(t, 0.0, 1.0) * (s_next - s_prev), np.nan)
    return float(result[0]) if single else result


def _unit_matrix(frame: pd.DataFrame, value: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(strengths (S,), curves (U, S), baselines (U,)) with units = networks, or draws if one network."""
    unit = "network" if "network" in frame.columns and frame["network"].nunique() > 1 else "draw"
    if unit not in frame.columns:
        frame = frame.assign(draw=0)
    curves = frame.pivot_table(index=unit, columns="strength", values=value, aggfunc="mean")
    if curves.isna().any().any():
        raise ConfigError(
            "every network/draw of a curve must share one strength grid; evaluate all on the same strengths"
        )
    if "baseline_accuracy" in frame.columns:
        baselines = frame.groupby(unit)["baseline_accuracy"].mean().reindex(curves.index).to_numpy()
    else:
        baselines = curves.to_numpy()[:, 0]
    return curves.columns.to_numpy(dtype=np.float64), curves.to_numpy(dtype=np.float64), baselines


def curve_summary(
    table: pd.DataFrame,
    by: Sequence[str] = DEFAULT_BY,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    chance: float | None = None,
) -> pd.DataFrame:
    """AUC and f-half of the mean accuracy curve of each group, with bootstrap intervals.

    Parameters
    ----------
    table : DataFrame
        Rows of :func:`robustness_curve` (several groups/kinds may be concatenated).
    by : sequence of str
        Columns identifying one curve.
    n_boot : int
        Bootstrap resamples (0: no intervals).
    confidence : float
        Coverage of the percentile intervals, in (0, 1).
    seed : int
        Randomness of the bootstrap.
    chance : float, optional
        Chance accuracy; default the table's ``chance`` column.

    Returns
    -------
    DataFrame
        One row per curve: ``by...``, ``n_units``, ``auc``, ``auc_lo``, ``auc_hi``,
        ``f_half``, ``f_half_lo``, ``f_half_hi``, ``baseline_accuracy``.
    """
    if not (0.0 < confidence < 1.0):
        raise ConfigError(f"confidence must be in (0, 1), got {confidence}")
    if int(n_boot) < 0:
        raise ConfigError(f"n_boot must be >= 0, got {n_boot}")
    keys = _group_columns(table, by)
    if chance is None and "chance" not in table.columns:
        raise ConfigError("curve table has no 'chance' column; pass chance=1/n_classes")
    rng = np.random.default_rng(seed)
    alpha = (1.0 - confidence) / 2.0
    records = []
    groups = table.groupby(keys) if keys else [((), table)]
    for key, frame in groups:
        key = key if isinstance(key, tuple) else (key,)
        c = float(frame["chance"].iloc[0]) if chance is None else float(chance)
        s, curves, baselines = _unit_matrix(frame, "accuracy")
        mean_curve, mean_base = curves.mean(axis=0), baselines.mean()
        record = dict(zip(keys, key, strict=True))
        record.update(
            n_units=curves.shape[0],
            auc=float(curve_auc(s, mean_curve)) if s.size > 1 else np.nan,
            f_half=float(f_half(s, mean_curve, c, mean_base)) if s.size > 1 else np.nan,
            baseline_accuracy=float(mean_base),
        )
        if n_boot and s.size > 1:
            idx = rng.integers(0, curves.shape[0], size=(int(n_boot), curves.shape[0]))
            boot_curves = curves[idx].mean(axis=1)
            boot_base = baselines[idx].mean(axis=1)
            aucs = curve_auc(s, boot_curves)
            halves = f_half(s, boot_curves, c, boot_base)
            record.update(
                auc_lo=float(np.quantile(aucs, alpha)),
                auc_hi=float(np.quantile(aucs, 1 - alpha)),
                f_half_lo=float(np.nanquantile(halves, alpha))
                if np.isfinite(halves).any()
                else np.nan,
                f_half_hi=float(np.nanquantile(halves, 1 - alpha))
                if np.isfinite(halves).any()
                else np.nan,
            )
        else:
            record.update(auc_lo=np.nan, auc_hi=np.nan, f_half_lo=np.nan, f_half_hi=np.nan)
        records.append(record)
    columns = [
        *keys,
        "n_units",
        "auc",
        "auc_lo",
        "auc_hi",
        "f_half",
        "f_half_lo",
        "f_half_hi",
        "baseline_accuracy",
    ]
    return pd.DataFrame.from_records(records, columns=columns)

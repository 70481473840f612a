"""Finite-size scaling: data collapse ``O(x, N) = N^(-a) F((x - x_c) N^(1/ν))``.

:func:`fit_collapse` finds ``x_c``, ``ν`` and ``a`` that make the curves of all sizes fall on one
master curve. The collapse quality follows Houdayer & Hartmann (2004, PRB 70, 014418): for every
point of size ``N`` the master curve at its scaled abscissa is estimated by a weighted
least-squares line through the bracketing points of every *other* size, and

    S = (1 / n) Σ (Y - Ȳ)² / (dY² + dȲ²)

over the ``n`` points that have such an estimate. ``S ≈ 1`` for a collapse within the error
bars. The quality is hand-written (a few lines of numpy) because no installed package provides
it; minimisation uses :func:`scipy.optimize.minimize` (Nelder–Mead) from several starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats

from prunelab.core.rng import as_generator
from prunelab.errors import ConfigError
from prunelab.phase._tables import require_columns, require_sizes

PARAMS = ("xc", "nu", "a")


@dataclass(frozen=True)
class CollapseResult:
    """Best data collapse and its bootstrap intervals.

    Attributes
    ----------
    xc : float
        Critical value of the control parameter (control units, e.g. density or log density).
    nu : float
        Correlation-length exponent ν (> 0).
    a : float
        Size exponent of the observable (``O ~ N^(-a)`` at ``x_c``; β/ν for an order parameter).
    quality : float
        Houdayer–Hartmann quality ``S`` at the optimum (≈ 1 for a collapse within error bars;
        relative units when the table has no error estimates).
    ci : dict
        ``{"xc": (lo, hi), "nu": (lo, hi), "a": (lo, hi)}`` percentile bootstrap intervals at
        ``confidence`` (``(nan, nan)`` when ``n_boot=0``; ``(v, v)`` for a fixed parameter).
    n_points : int
        Number of (size, control) points that entered the quality at the optimum.
    sizes : tuple
        The distinct sizes used.
    confidence : float
    boot : ndarray of shape (n_boot, 3)
        Bootstrap estimates of (xc, nu, a).
    x_range : tuple of float
        The interval in which x_c was searched (the sampled controls widened by half their span
        on each side); see :attr:`xc_at_edge`.
    """

    xc: float
    nu: float
    a: float
    quality: float
    ci: dict[str, tuple[float, float]]
    n_points: int
    sizes: tuple
    confidence: float = 0.95
    boot: np.ndarray = field(default_factory=lambda: np.empty((0, 3)), repr=False)
    x_range: tuple[float, float] = (float("nan"), float("nan"))

    @property
    def xc_at_edge(self) -> bool:
        """True when x_c ended on the edge of :attr:`x_range`: a degenerate fit, the ansatz does
        not describe the data in this control (e.g. curves that only shift with size)."""
        lo, hi = self.x_range
        tol = 1e-3 * (hi - lo) / 2  # a thousandth of the sampled span
        return bool(abs(self.xc - lo) <= tol or abs(self.xc - hi) <= tol)

    def scale(
        self, size: np.ndarray, control: np.ndarray, observable: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Scaled coordinates ``((x - x_c) N^(1/ν), N^a O)`` of raw data (arrays of equal shape)."""
        size = np.asarray(size, dtype=float)
        return (
            (np.asarray(control, dtype=float) - self.xc) * size ** (1.0 / self.nu),
            np.asarray(observable, dtype=float) * size**self.a,
        )


@dataclass
class _Curves:
    """Per-size arrays sorted by control: sizes (k,), x, y, dy lists of (n_s,) arrays."""

    sizes: np.ndarray
    x: list[np.ndarray]
    y: list[np.ndarray]
    dy: list[np.ndarray]
    unit_errors: bool

    @property
    def n_total(self) -> int:
        return sum(len(v) for v in self.x)


def _curves(df: pd.DataFrame, size: str, control: str, observable: str, err: str | None) -> _Curves:
    """Average repeated rows per (size, control) into one point with a standard error."""
    cols = [size, control, observable] + ([err] if err else [])
    table = df[cols].dropna()
    counts = table.groupby([size, control])[observable].transform("size")
    repeats = bool((counts > 1).any())
    grouped = table.groupby([size, control], sort=True)
    mean = grouped[observable].mean()
    if err is not None:
        sq = table.assign(_v=table[err].astype(float) ** 2).groupby([size, control])["_v"]
        dy = np.sqrt(sq.sum()) / grouped[observable].size()
    elif repeats:
        dy = grouped[observable].std(ddof=1) / np.sqrt(grouped[observable].size())
    else:
        dy = pd.Series(1.0, index=mean.index)
    dy = dy.fillna(np.nan).to_numpy(dtype=float)
    positive = dy[np.isfinite(dy) & (dy > 0)]
    # a point whose seeds agree exactly (e.g. m = 0 deep in the collapsed phase) would get zero
    # error and dominate S; floor it at a tenth of the typical error
    floor = 0.1 * float(np.median(positive)) if positive.size else 1.0
    dy = np.where(np.isfinite(dy) & (dy > floor), dy, floor)
    index = mean.index
    n_of = index.get_level_values(0).to_numpy()
    x_of = index.get_level_values(1).to_numpy(dtype=float)
    y_of = mean.to_numpy(dtype=float)
    sizes = np.array(sorted(set(n_of)), dtype=float)
    xs, ys, dys = [], [], []
    for n in sizes:
        sel = n_of == n
        order = np.argsort(x_of[sel], kind="stable")
        xs.append(x_of[sel][order])
        ys.append(y_of[sel][order])
        dys.append(dy[sel][order])
    return _Curves(sizes, xs, ys, dys, unit_errors=(err is None and not repeats))


def collapse_quality(curves: _Curves, xc: float, nu: float, a: float) -> tuple[float, int]:
    """Houdayer–Hartmann quality ``S`` and the number of points it averages over."""
    inv_nu = 1.0 / nu
    X = [(x - xc) * n**inv_nu for x, n in zip(curves.x, curves.sizes, strict=False)]
    Y = [y * n**a for y, n in zip(curves.y, curves.sizes, strict=False)]
    V = [(dy * n**a) ** 2 for dy, n in zip(curves.dy, curves.sizes, strict=False)]
    x_all, y_all, v_all = np.concatenate(X), np.concatenate(Y), np.concatenate(V)
    owner = np.repeat(np.arange(len(X)), [v.size for v in X])
    K, Kx, Ky, Kxx, Kxy = (np.zeros_like(x_all) for _ in range(5))
    # one pass per size: every point of the *other* sizes gets the two bracketing points of it
    for jj, (xo, yo, vo) in enumerate(zip(X, Y, V, strict=False)):
        hi = np.searchsorted(xo, x_all, side="left")
        ok = (hi > 0) & (hi < xo.size) & (owner != jj)
        hi = np.where(ok, hi, 1)
        for idx in (hi - 1, hi):
            w = np.where(ok, 1.0 / vo[idx], 0.0)
            xw = w * xo[idx]
            K += w
            Kx += xw
            Ky += w * yo[idx]
            Kxx += xw * xo[idx]
            Kxy += xw * yo[idx]
    delta = K * Kxx - Kx**2
    valid = (K > 0) & (delta > 1e-12 * np.maximum(K * Kxx, 1e-300))
    count = int(valid.sum())
    if count == 0:
        return np.inf, 0
    K, Kx, Ky, Kxx, Kxy, d, x = (
        K[valid],
        Kx[valid],
        Ky[valid],
        Kxx[valid],
        Kxy[valid],
        delta[valid],
        x_all[valid],
    )
    y_bar = (Kxx * Ky - Kx * Kxy) / d + x * (K * Kxy - Kx * Ky) / d
    var_bar = (Kxx - 2 * x * Kx + x**2 * K) / d
    return float(np.mean((y_all[valid] - y_bar) ** 2 / (v_all[valid] + var_bar))), count


def _fit(
    curves: _Curves,
    starts: list[np.ndarray],
    fixed: dict[str, float],
    x_range: tuple[float, float],
    min_points: int,
    steps: np.ndarray,
    maxiter: int,
    n_local: int = 3,
) -> tuple[np.ndarray, float, int]:
    """Minimise S over the free parameters of (xc, log ν, a); returns (xc, ν, a), S, n_points."""
    free = [p for p in PARAMS if p not in fixed]

    def unpack(theta: np.ndarray) -> tuple[float, float, float]:
        vals = dict(fixed)
        if "nu" in fixed:
            vals["nu"] = fixed["nu"]
        for name, value in zip(free, theta, strict=False):
            vals[name] = float(np.exp(value)) if name == "nu" else float(value)
        return vals["xc"], vals["nu"], vals["a"]

    def objective(theta: np.ndarray) -> float:
        xc, nu, a = unpack(theta)
        if not (x_range[0] <= xc <= x_range[1]) or not (1e-3 < nu < 1e3) or abs(a) > 20:
            return 1e12
        s, n = collapse_quality(curves, xc, nu, a)
        if n < min_points or not np.isfinite(s):
            return 1e12 + (min_points - n)
        return s

    best_theta, best_s = None, np.inf
    thetas = [
        np.array(
            [
                np.log(v) if p == "nu" else v
                for p, v in zip(PARAMS, start, strict=False)
                if p not in fixed
            ]
        )
        for start in starts
    ]
    if len(thetas) > n_local:
        # coarse screen: polish only the most promising starts
        values = np.array([objective(t) for t in thetas])
        thetas = [thetas[i] for i in np.argsort(values, kind="stable")[:n_local]]
    step = np.array([s for p, s in zip(PARAMS, steps, strict=False) if p not in fixed])
    for theta0 in thetas:
        simplex = np.vstack(
            [theta0] + [theta0 + np.eye(len(theta0))[i] * step[i] for i in range(len(theta0))]
        )
        res = optimize.minimize(
            objective,
            theta0,
            method="Nelder-Mead",
            options={"initial_simplex": simplex, "xatol": 1e-6, "fatol": 1e-9, "maxiter": maxiter},
        )
        if res.fun < best_s:
            best_theta, best_s = res.x, float(res.fun)
    xc, nu, a = unpack(best_theta)
    s, n = collapse_quality(curves, xc, nu, a)
    return np.array([xc, nu, a]), s, n


def fit_collapse(
    df: pd.DataFrame,
    size: str = "width",
    control: str = "density",
    observable: str = "m",
    err: str | None = None,
    *,
    fixed: dict[str, float] | None = None,
    xc0: float | None = None,
    nu0: float | None = None,
    a0: float | None = None,
    min_overlap: float = 0.25,
    n_boot: int = 100,
    confidence: float = 0.95,
    seed: int | np.random.Generator | None = 0,
) -> CollapseResult:
    """Fit the finite-size-scaling ansatz ``O(x, N) = N^(-a) F((x - x_c) N^(1/ν))``.

    Parameters
    ----------
    df : pandas.DataFrame
        Long table, one row per run (e.g. per seed) or per averaged point.
    size : str
        Column with the system size ``N`` (> 0; e.g. width).
    control : str
        Column with the control parameter ``x`` (any scale: density, log density, p).
    observable : str
        Column with ``O``.
    err : str, optional
        Column with the standard error of each row's ``O``. When None, rows repeated at the same
        (size, control) are averaged and their standard error of the mean is used; without
        repeats every point gets the same error (``S`` is then in relative units).
    fixed : dict, optional
        Parameters held fixed, e.g. ``{"a": 0.0}`` for an observable that does not scale.
    xc0, nu0, a0 : float, optional
        Extra starting point. Starts are x_c values (a grid of 7 inside the control range, the
        controls where each size's curve crosses the middle of the observable's range, and the
        range edges) × ν ∈ {0.5, 0.8, 1.3, 2, 3.5} × a ∈ {0, 0.25}; the 3 best by quality are
        polished with Nelder–Mead (over x_c, log ν, a) and the best result is kept. x_c is
        searched within the control range widened by half its span on each side, so a critical
        point just outside the sampled controls (such as ρ_c = 0) can be found.
    min_overlap : float
        Minimum fraction of points that must have a master-curve estimate from other sizes;
        guards against the trivial optimum where the curves stop overlapping.
    n_boot : int
        Bootstrap resamples (0: no intervals). With repeated rows the rows of every
        (size, control) point are resampled (:func:`scipy.stats.bootstrap`); otherwise the
        points are redrawn parametrically as ``O + dO·ε`` (``dO`` from ``err`` or, without it,
        the rms scatter about the master curve).
    confidence : float
        Level of the percentile intervals.
    seed : int or numpy.random.Generator, optional

    Returns
    -------
    CollapseResult

    Raises
    ------
    ConfigError
        If columns are missing, fewer than 3 sizes are present, or ``fixed`` names an unknown
        parameter.

    Examples
    --------
    >>> res = fit_collapse(df, size="width", control="log_density", observable="m")  # doctest: +SKIP
    >>> res.xc, res.nu, res.ci["nu"]  # doctest: +SKIP
    """
    require_columns(df, [size, control, observable, err], "collapse table")
    fixed = dict(fixed or {})
    unknown = set(fixed) - set(PARAMS)
    if unknown:
        raise ConfigError(f"fixed names unknown parameter(s) {sorted(unknown)}; use xc, nu or a")
    if "nu" in fixed and not fixed["nu"] > 0:
        raise ConfigError(f"fixed nu must be > 0, got {fixed['nu']}")
    if len(fixed) == 3:
        raise ConfigError("fixed holds every parameter; leave at least one of xc, nu, a free")
    table = df[[c for c in (size, control, observable, err) if c]].dropna()
    require_sizes(table, size, 3)
    curves = _curves(table, size, control, observable, err)
    x_all = np.concatenate(curves.x)
    lo, hi = float(x_all.min()), float(x_all.max())
    if hi <= lo:
        raise ConfigError(
            f"column {control!r} has a single value; a collapse needs a range of controls"
        )
    # x_c may lie outside the sampled controls (e.g. rho_c = 0 when the transition drifts to ever
    # lower density with size), but not arbitrarily far: half the span on either side
    span = hi - lo
    x_range = (lo - 0.5 * span, hi + 0.5 * span)
    steps = np.array([0.1 * span, 0.3, 0.1])
    min_points = max(3, int(np.ceil(min_overlap * curves.n_total)))
    crossings = _half_crossings(curves)
    xc_starts = np.unique(
        np.concatenate(
            [
                np.linspace(lo, hi, 9)[1:8],
                crossings,
                [lo, lo - 0.25 * span, hi, hi + 0.25 * span] if crossings.size else [],
            ]
        )
    )
    starts = [
        np.array([xc, nu, a])
        for xc in xc_starts
        for nu in (0.5, 0.8, 1.3, 2.0, 3.5)
        for a in (0.0, 0.25)
    ]
    if xc0 is not None or nu0 is not None or a0 is not None:
        starts.insert(
            0, np.array([xc0 if xc0 is not None else 0.5 * (lo + hi), nu0 or 1.0, a0 or 0.0])
        )
    for i, p in enumerate(PARAMS):
        if p in fixed:
            for s in starts:
                s[i] = fixed[p]
    best, quality, n_points = _fit(curves, starts, fixed, x_range, min_points, steps, maxiter=2000)

    boot = np.empty((0, 3))
    ci = {p: (float("nan"), float("nan")) for p in PARAMS}
    if n_boot > 0:
        rng = as_generator(seed)
        refit_steps = steps * 0.5

        def refit(c: _Curves) -> np.ndarray:
            theta, _, _ = _fit(
                c, [best.copy()], fixed, x_range, min_points, refit_steps, maxiter=600
            )
            return theta

        boot = _bootstrap(
            table,
            curves,
            size,
            control,
            observable,
            err,
            best,
            quality,
            refit,
            n_boot,
            confidence,
            rng,
        )
        for i, p in enumerate(PARAMS):
            if p in fixed:
                ci[p] = (float(fixed[p]), float(fixed[p]))
            else:
                q = np.nanquantile(boot[:, i], [(1 - confidence) / 2, (1 + confidence) / 2])
                ci[p] = (float(q[0]), float(q[1]))
    return CollapseResult(
        float(best[0]),
        float(best[1]),
        float(best[2]),
        float(quality),
        ci,
        int(n_points),
        tuple(curves.sizes.tolist()),
        confidence,
        boot,
        x_range,
    )


def _half_crossings(curves: _Curves) -> np.ndarray:
    """Controls at which each size's curve crosses the midpoint of the pooled observable range.

    Natural starting values of x_c: the curves of all sizes pass through their transition near
    there, while a uniform grid over a wide control range (e.g. density 1e-4..1) can miss it.
    """
    y_all = np.concatenate(curves.y)
    mid = 0.5 * (float(np.min(y_all)) + float(np.max(y_all)))
    out = []
    for x, y in zip(curves.x, curves.y, strict=False):
        above = y >= mid
        flips = np.nonzero(above[1:] != above[:-1])[0]
        for k in flips:  # linear interpolation inside each bracketing interval
            y0, y1 = y[k], y[k + 1]
            t = 0.5 if y1 == y0 else (mid - y0) / (y1 - y0)
            out.append(x[k] + t * (x[k + 1] - x[k]))
    return np.array(out, dtype=float)


def _bootstrap(
    table, curves, size, control, observable, err, best, quality, refit, n_boot, confidence, rng
):
    """Bootstrap estimates (n_boot, 3) of (xc, ν, a)."""
    group_sizes = table.groupby([size, control]).size()
    if err is None and bool((group_sizes >= 2).all()):
        # resample the runs (seeds) of every (size, control) point independently; the error bars
        # stay those of the full data (a resample of 2-3 identical runs would have zero error)
        groups = [
            g[observable].to_numpy(dtype=float)
            for _, g in table.groupby([size, control], sort=True)
        ]
        splits = np.cumsum([len(x) for x in curves.x])[:-1]

        def statistic(*samples: np.ndarray) -> np.ndarray:
            means = np.array([smp.mean() for smp in samples])
            return refit(_Curves(curves.sizes, curves.x, np.split(means, splits), curves.dy, False))

        res = stats.bootstrap(
            tuple(groups),
            statistic,
            n_resamples=n_boot,
            vectorized=False,
            paired=False,
            method="percentile",
            confidence_level=confidence,
            random_state=rng,
        )
        return np.asarray(res.bootstrap_distribution).T
    # parametric: redraw every averaged point within its error (scipy.stats.bootstrap only
    # resamples observed data, which a table of single points does not allow)
    scale = np.sqrt(quality) if curves.unit_errors else 1.0
    out = np.empty((n_boot, 3))
    for b in range(n_boot):
        ys = [
            y + scale * dy * rng.standard_normal(y.size)
            for y, dy in zip(curves.y, curves.dy, strict=False)
        ]
        out[b] = refit(_Curves(curves.sizes, curves.x, ys, curves.dy, curves.unit_errors))
    return out

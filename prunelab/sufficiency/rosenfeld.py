"""The error–density law of pruning (Rosenfeld, Rosenfeld, Belinkov & Shavit, ICML 2021, arXiv:2006.10621).

Test error against remaining density ``d`` follows

    ε(d) = ε_np · |(d − j·p·(ε↑/ε_np)^{1/γ}) / (d − j·p)|^γ ,   j = √−1

a low-error plateau ε_np at high density, a power law of slope −γ in between and a high-error
plateau ε↑ as d → 0; ``p`` sets where the power law starts. With ``a = p·(ε↑/ε_np)^{1/γ}`` the
modulus is real: ``ε(d) = ε_np · ((d² + a²) / (d² + p²))^{γ/2}``.

The *plateau exit* d_κ is the density where the error reaches ``(1 + κ)·ε_np``:

    d_κ = sqrt((a² − r p²) / (r − 1)),   r = (1 + κ)^{2/γ}

(defined when ε↑ > (1 + κ)·ε_np). :func:`fit_rosenfeld` fits the four parameters by least
squares on log error (every density weighs the same whatever its error), from several starts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from prunelab.core.rng import Seed, as_generator
from prunelab.errors import ConfigError


@dataclass(frozen=True)
class RosenfeldFit:
    """Parameters of the error–density law.

    Attributes
    ----------
    eps_np : float
        Low-error plateau (error as a fraction, the dense-like regime).
    eps_up : float
        High-error plateau (fraction; chance error ``1 − 1/C`` for a network pruned to nothing).
    p : float
        Density scale where the power law begins (fraction of links).
    gamma : float
        Power-law exponent (error ∝ d^−γ in the middle region), dimensionless.
    rmse_log : float
        Root mean squared residual of log error (nats); nan for parameters not from a fit.
    """

    eps_np: float
    eps_up: float
    p: float
    gamma: float
    rmse_log: float = float("nan")

    def error(self, d: Any) -> np.ndarray:
        """ε(d) of :func:`rosenfeld_error` with these parameters."""
        return rosenfeld_error(d, self.eps_np, self.eps_up, self.p, self.gamma)

    def plateau_exit(self, kappa: float) -> float:
        """d_κ of :func:`plateau_exit` with these parameters."""
        return plateau_exit(self.eps_np, self.eps_up, self.p, self.gamma, kappa)

    def as_dict(self) -> dict[str, float]:
        """The parameters as a flat record."""
        return asdict(self)


def rosenfeld_error(d: Any, eps_np: float, eps_up: float, p: float, gamma: float) -> np.ndarray:
    """ε(d) = ε_np · |(d − j p (ε↑/ε_np)^{1/γ}) / (d − j p)|^γ.

    Parameters
    ----------
    d : array
        Densities (fraction of links), >= 0.
    eps_np, eps_up : float
        Low and high plateaus (error fractions), ``0 < eps_np``, ``0 < eps_up``.
    p, gamma : float
        Positive.

    Returns
    -------
    ndarray like ``d`` (error fractions)
    """
    d = np.asarray(d, dtype=np.float64)
    z = complex(0.0, p * (eps_up / eps_np) ** (1.0 / gamma))
    return eps_np * np.abs((d - z) / (d - complex(0.0, p))) ** gamma


def plateau_exit(eps_np: float, eps_up: float, p: float, gamma: float, kappa: float) -> float:
    """Density d_κ where ε(d) = (1 + κ)·ε_np (closed form, see the module docstring).

    Returns
    -------
    float
        Density; nan when the curve never rises by a factor ``1 + κ`` (``ε↑ ≤ (1 + κ)·ε_np``).
    """
    if not kappa > 0:
        raise ConfigError(
            f"kappa must be > 0 (the relative error rise that ends the plateau), got {kappa}"
        )
    a2 = (p * (eps_up / eps_np) ** (1.0 / gamma)) ** 2
    r = (1.0 + kappa) ** (2.0 / gamma)
    num = a2 - r * p * p
    return float(np.sqrt(num / (r - 1.0))) if num > 0 else float("nan")


def _residuals(
    theta: np.ndarray, d: np.ndarray, log_e: np.ndarray, eps_up: float | None
) -> np.ndarray:
    log_np, log_ratio, log_p, log_g = (
        theta[:4] if eps_up is None else (theta[0], 0.0, theta[1], theta[2])
    )
    e_np = np.exp(log_np)
    e_up = e_np * np.exp(log_ratio) if eps_up is None else eps_up
    return np.log(rosenfeld_error(d, e_np, e_up, np.exp(log_p), np.exp(log_g))) - log_e


def fit_rosenfeld(
    density: Any, error: Any, eps_up: float | None = None, start: RosenfeldFit | None = None
) -> RosenfeldFit:
    """Fit the error–density law to (density, error) points.

    Parameters
    ----------
    density : array of shape (n,)
        Densities in (0, 1].
    error : array of shape (n,)
        Test errors as fractions in (0, 1).
    eps_up : float, optional
        Fix the high plateau (e.g. at chance error ``1 − 1/C``) instead of fitting it; then three
        parameters are fitted.
    start : RosenfeldFit, optional
        Start from these parameters only (bootstrap refits start from the point estimate)
        instead of a grid of starts.

    Returns
    -------
    RosenfeldFit
        The best of several starts (lowest squared log residual).

    Raises
    ------
    ConfigError
        Fewer points than parameters + 1, or errors outside (0, 1].
    """
    d = np.asarray(density, dtype=np.float64).ravel()
    e = np.asarray(error, dtype=np.float64).ravel()
    keep = np.isfinite(d) & np.isfinite(e)
    d, e = d[keep], e[keep]
    n_par = 4 if eps_up is None else 3
    if d.size < n_par + 1:
        raise ConfigError(
            f"the error-density fit needs at least {n_par + 1} densities, got {d.size}"
        )
    if np.any(d <= 0) or np.any(e <= 0) or np.any(e > 1):
        raise ConfigError("the error-density fit needs densities > 0 and errors in (0, 1]")
    log_e = np.log(e)
    lo_np, hi = float(np.min(e)), float(np.max(e))
    if eps_up is None:
        bounds = (
            [np.log(1e-6), np.log(1.0001), np.log(1e-7), np.log(0.05)],
            [0.0, np.log(1e6), np.log(10.0), np.log(20.0)],
        )
    else:
        bounds = (
            [np.log(1e-6), np.log(1e-7), np.log(0.05)],
            [np.log(eps_up), np.log(10.0), np.log(20.0)],
        )
    if start is not None:
        starts = [(start.eps_np, start.eps_up / start.eps_np, start.p, start.gamma)]
    else:
        starts = [
            (lo_np, max(hi / lo_np, 1.5), p0, g0)
            for g0 in (0.5, 1.0, 2.0, 4.0)
            for p0 in np.geomspace(d.min(), d.max(), 4)
        ]
    best = None
    for e0, ratio0, p0, g0 in starts:
        x0 = (
            [np.log(e0), np.log(ratio0), np.log(p0), np.log(g0)]
            if eps_up is None
            else [np.log(min(e0, 0.99 * eps_up)), np.log(p0), np.log(g0)]
        )
        x0 = np.clip(x0, np.array(bounds[0]) + 1e-9, np.array(bounds[1]) - 1e-9)
        res = least_squares(
            _residuals, x0, bounds=bounds, args=(d, log_e, eps_up), method="trf", x_scale="jac"
        )
        if best is None or res.cost < best.cost:
            best = res
    th = best.x
    if eps_up is None:
        e_np, e_up, p, g = np.exp(th[0]), np.exp(th[0] + th[1]), np.exp(th[2]), np.exp(th[3])
    else:
        e_np, e_up, p, g = np.exp(th[0]), float(eps_up), np.exp(th[1]), np.exp(th[2])
    rmse = float(np.sqrt(np.mean(best.fun**2)))
    return RosenfeldFit(float(e_np), float(e_up), float(p), float(g), rmse)


def fit_with_intervals(
    table: pd.DataFrame,
    kappa: float | None = None,
    eps_up: float | None = None,
    value: str = "error",
    n_boot: int = 200,
    confidence: float = 0.95,
    seed: Seed = 0,
    kappa_from: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """Fit the seed-mean error curve and bootstrap the parameters and d_κ over seeds.

    Parameters
    ----------
    table : DataFrame
        ``seed``, ``density``, ``value`` (error fraction): one curve per seed.
    kappa : float, optional
        Relative error rise that ends the plateau.
    eps_up : float, optional
        Fixed high plateau (see :func:`fit_rosenfeld`).
    kappa_from : (eps, acc_span), optional
        Instead of ``kappa``: the rise that corresponds to Ψ = 1 − eps, ``κ = eps · acc_span /
        ε_np`` with ``acc_span = A_dense − 1/C``, recomputed for every resample's ε_np.

    Returns
    -------
    dict
        The fit's parameters, ``kappa``, ``d_kappa`` and ``<name>_lo`` / ``<name>_hi`` for each
        of ``eps_np, eps_up, p, gamma, d_kappa``; ``n_seeds``.
    """
    if kappa is None and kappa_from is None:
        raise ConfigError("give kappa or kappa_from")

    def fit(
        sub: pd.DataFrame, start: RosenfeldFit | None = None
    ) -> tuple[RosenfeldFit, float, float]:
        curve = sub.groupby("density")[value].mean()
        f = fit_rosenfeld(curve.index.to_numpy(), curve.to_numpy(), eps_up, start)
        k = kappa if kappa is not None else kappa_from[0] * kappa_from[1] / f.eps_np
        return f, k, f.plateau_exit(k)

    point, k, dk = fit(table)
    out: dict[str, Any] = {
        **point.as_dict(),
        "kappa": k,
        "d_kappa": dk,
        "n_seeds": int(table["seed"].nunique()),
    }
    names = ("eps_np", "eps_up", "p", "gamma", "d_kappa")
    for name in names:
        out[f"{name}_lo"] = out[f"{name}_hi"] = np.nan
    seeds = np.sort(table["seed"].unique())
    if n_boot > 0 and seeds.size > 1:
        rng = as_generator(seed)
        groups = {s: g for s, g in table.groupby("seed")}
        samples = {n: [] for n in names}
        for _ in range(int(n_boot)):
            pick = rng.choice(seeds, seeds.size, replace=True)
            sub = pd.concat(
                [groups[s].assign(_draw=i) for i, s in enumerate(pick)], ignore_index=True
            )
            try:
                f, _, d = fit(sub, point)
            except ConfigError:
                continue
            for n, v in zip(names, (f.eps_np, f.eps_up, f.p, f.gamma, d), strict=True):
                samples[n].append(v)
        alpha = (1.0 - confidence) / 2.0
        for n in names:
            vals = np.asarray(samples[n], dtype=float)
            vals = vals[np.isfinite(vals)]
            if vals.size:
                out[f"{n}_lo"], out[f"{n}_hi"] = (
                    float(v) for v in np.quantile(vals, [alpha, 1 - alpha])
                )
    return out

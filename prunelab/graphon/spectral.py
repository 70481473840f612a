"""Spectral summaries of an NTK Gram matrix: :func:`spectral_metrics`."""

from __future__ import annotations

from typing import Any

import numpy as np

from prunelab.errors import ConfigError

#: default k range of the power-law fit: k = 2 .. n // 4 (the top eigenvalue, the kernel's mean
#: mode, is left out; so is the tail, where a finite sample cuts the spectrum off)
ALPHA_K_MIN = 2
ALPHA_K_FRACTION = 0.25


def spectral_metrics(theta: Any, k_range: tuple[int, int] | None = None) -> dict[str, Any]:
    """Eigenvalue summaries of a symmetric positive semi-definite kernel matrix.

    Parameters
    ----------
    theta : ndarray (n, n), float
        An NTK Gram matrix (symmetrised as (Θ + Θᵀ)/2 before the eigendecomposition).
    k_range : (int, int), optional
        1-based eigenvalue indices ``k_min..k_max`` (inclusive) of the power-law fit; default
        ``2..max(3, n // 4)``.

    Returns
    -------
    dict
        ``eigenvalues`` ndarray (n,) float64 in decreasing order; ``alpha`` the power-law exponent,
        minus the least-squares slope of log λ_k on log k over the k range (eigenvalues <= 1e-12 λ₁
        are left out of the fit); ``alpha_k_min``, ``alpha_k_max`` the range used;
        ``effective_rank`` tr Θ / λ₁; ``gap`` λ₁ / λ₂; ``top5_energy`` Σ_{i≤5} λ_i / Σ λ
        (dimensionless; NaN when undefined, e.g. λ₂ = 0).

    Raises
    ------
    ConfigError
        A matrix that is not square, not finite, or smaller than 2 x 2; a bad k range.

    Examples
    --------
    >>> m = spectral_metrics(np.diag(1.0 / np.arange(1, 5) ** 2), k_range=(1, 4))
    >>> m["eigenvalues"][:2].tolist(), round(m["alpha"], 6), round(m["effective_rank"], 4), m["gap"]
    ([1.0, 0.25], 2.0, 1.4236, 4.0)
    """
    t = np.asarray(theta, dtype=np.float64)
    if t.ndim != 2 or t.shape[0] != t.shape[1] or t.shape[0] < 2:
        raise ConfigError(f"theta must be a square matrix of at least 2 x 2, got shape {t.shape}")
    if not np.all(np.isfinite(t)):
        raise ConfigError("theta has NaN or infinite entries; check the kernel computation")
    n = t.shape[0]
    lo, hi = k_range if k_range is not None else (ALPHA_K_MIN, max(3, int(n * ALPHA_K_FRACTION)))
    lo, hi = int(lo), min(int(hi), n)
    if lo < 1 or hi - lo < 1:
        raise ConfigError(
            f"k_range must give at least two eigenvalues 1 <= k_min < k_max <= {n}, got {k_range}"
        )
    eig = np.linalg.eigvalsh((t + t.T) / 2.0)[::-1].copy()
    top = eig[0]
    ks = np.arange(lo, hi + 1)
    vals = eig[lo - 1 : hi]
    usable = vals > 1e-12 * max(top, 0.0)
    alpha = (
        float(-np.polyfit(np.log(ks[usable]), np.log(vals[usable]), 1)[0])
        if usable.sum() >= 2
        else float("nan")
    )
    trace = float(np.trace(t))
    total = float(eig.sum())
    return {
        "eigenvalues": eig,
        "alpha": alpha,
        "alpha_k_min": lo,
        "alpha_k_max": hi,
        "effective_rank": float(trace / top) if top > 0 else float("nan"),
        "gap": float(top / eig[1]) if eig[1] > 0 else float("nan"),
        "top5_energy": float(eig[:5].sum() / total) if total > 0 else float("nan"),
    }

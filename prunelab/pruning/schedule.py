"""Schedules of remaining densities for iterative pruning."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from prunelab.errors import ConfigError


def geometric_schedule(start: float = 1.0, stop: float = 1e-4, n_steps: int = 20) -> np.ndarray:
    """Remaining densities spaced evenly in log from ``start`` to ``stop`` (both included).

    Parameters
    ----------
    start, stop : float
        First and last remaining density (fraction of the possible links), ``0 < stop < start <= 1``.
    n_steps : int
        Number of densities (>= 2).

    Returns
    -------
    ndarray of shape (n_steps,), float64, strictly decreasing

    Notes
    -----
    The schedule is part of what a study hashes into its run ids, so it must not depend on the
    CPU. ``np.geomspace`` does: on CPUs with AVX-512 numpy computes ``log10`` and ``10 ** y``
    with vectorised routines whose results differ from the C library's by 1 ulp in some
    entries, and the same config then gets other run ids on another machine (a moved store no
    longer finds its finished runs). So this follows ``np.geomspace``'s arithmetic step by step
    (exponents ``log10(start) + k * step``, the last one ``log10(stop)``, both endpoints exact)
    with Python's scalar ``math`` functions, i.e. the C library's ``log10`` and ``pow``, which
    have no AVX-512 variant (error below one ulp; the same bits on the AMD EPYC and Intel Xeon
    machines checked, and the values ``np.geomspace`` gives on CPUs without AVX-512).

    Examples
    --------
    >>> geometric_schedule(1.0, 1e-2, 3)
    array([1.  , 0.1 , 0.01])
    """
    if int(n_steps) < 2:
        raise ConfigError(f"n_steps must be >= 2, got {n_steps}")
    if not (0.0 < stop < start <= 1.0):
        raise ConfigError(f"need 0 < stop < start <= 1, got start={start}, stop={stop}")
    n = int(n_steps)
    first, last = math.log10(float(start)), math.log10(float(stop))
    step = (last - first) / (n - 1)
    exponents = [k * step + first for k in range(n - 1)] + [last]
    values = [math.pow(10.0, e) for e in exponents]
    values[0], values[-1] = float(start), float(stop)
    return np.array(values, dtype=np.float64)


def validate_schedule(
    densities: Sequence[float], n_possible: int | Sequence[int] | None = None
) -> np.ndarray:
    """Check a schedule of remaining densities and return it as an array.

    Parameters
    ----------
    densities : sequence of float
        Remaining densities in (0, 1], strictly decreasing.
    n_possible : int or sequence of int, optional
        Possible links of the network (global pruning: one number) or of every layer (layer-wise
        pruning); when given, every step must leave at least one link (per layer).

    Returns
    -------
    ndarray of shape (n,), float64

    Raises
    ------
    ConfigError
        If the schedule is empty, leaves (0, 1], does not strictly decrease, or reaches 0 links.
    """
    d = np.asarray(densities, dtype=float).ravel()
    if d.size == 0:
        raise ConfigError(
            "the density schedule is empty; e.g. use geometric_schedule(1.0, 1e-4, 20)"
        )
    if not np.all(np.isfinite(d)) or np.any(d <= 0) or np.any(d > 1):
        raise ConfigError(f"schedule densities must lie in (0, 1], got min {d.min()} max {d.max()}")
    if np.any(np.diff(d) >= 0):
        k = int(np.argmax(np.diff(d) >= 0))
        raise ConfigError(
            f"schedule must strictly decrease, but step {k + 1} ({d[k + 1]:g}) >= step {k} ({d[k]:g}); sort it descending"
        )
    if n_possible is not None:
        sizes = np.atleast_1d(np.asarray(n_possible, dtype=np.int64))
        kept = np.round(d[-1] * sizes).astype(np.int64)
        if np.any(kept < 1):
            need = 0.5 / sizes.min()
            raise ConfigError(
                f"density {d[-1]:g} leaves 0 links in a layer of {int(sizes[np.argmin(kept)])} possible links; "
                f"stop at a density >= {need:.3g}"
            )
    return d

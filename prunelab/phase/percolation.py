"""2D site percolation on L × L square lattices: a system with known critical exponents.

Used to validate the finite-size-scaling machinery (:func:`prunelab.phase.fit_collapse`) and in
the docs. Exact/known values: p_c ≈ 0.592746 (site, square lattice, 4-neighbour), ν = 4/3,
β = 5/36, so the largest-cluster fraction scales with ``a = β/ν = 5/48`` and the spanning
probability with ``a = 0``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import ndimage

from prunelab.core.rng import as_generator
from prunelab.errors import ConfigError

P_C = 0.592746
NU = 4.0 / 3.0
BETA = 5.0 / 36.0


def site_percolation(
    sizes: Sequence[int],
    p_values: Sequence[float],
    n_samples: int,
    seed: int | np.random.Generator | None = 0,
) -> pd.DataFrame:
    """Largest-cluster fraction and spanning indicator of random site-percolation lattices.

    Each sample draws one uniform field ``u`` (L, L); the lattice at occupation probability ``p``
    is ``u < p`` (coupled samples across ``p``, which reduces the variance of curves in ``p``).
    Clusters are 4-connected components from :func:`scipy.ndimage.label`.

    Parameters
    ----------
    sizes : sequence of int
        Linear lattice sizes L (>= 2).
    p_values : sequence of float
        Occupation probabilities in [0, 1].
    n_samples : int
        Independent lattices per size (>= 1).
    seed : int or numpy.random.Generator, optional

    Returns
    -------
    pandas.DataFrame
        One row per (L, p, sample): ``L`` (int), ``p`` (float), ``sample`` (int),
        ``largest_fraction`` (sites of the largest cluster / L², float) and ``spans`` (1.0 when a
        cluster joins the top and bottom rows, else 0.0).
    """
    if n_samples < 1:
        raise ConfigError(f"n_samples must be >= 1, got {n_samples}")
    if any(int(L) < 2 for L in sizes):
        raise ConfigError(f"lattice sizes must be >= 2, got {list(sizes)}")
    p_values = np.asarray(p_values, dtype=float)
    if np.any((p_values < 0) | (p_values > 1)):
        raise ConfigError("p_values must lie in [0, 1]")
    rng = as_generator(seed)
    records = []
    for L in map(int, sizes):
        for s in range(n_samples):
            field = rng.random((L, L))
            for p in p_values:
                labels, n = ndimage.label(field < p)
                if n == 0:
                    records.append((L, p, s, 0.0, 0.0))
                    continue
                counts = np.bincount(labels.ravel())
                counts[0] = 0
                spans = bool(
                    np.intersect1d(labels[0][labels[0] > 0], labels[-1][labels[-1] > 0]).size
                )
                records.append((L, p, s, counts.max() / (L * L), float(spans)))
    return pd.DataFrame.from_records(
        records, columns=["L", "p", "sample", "largest_fraction", "spans"]
    )

"""Random topologies of bipartite layers, as link lists.

A layer with ``n_in`` inputs and ``n_out`` outputs has ``n_in * n_out`` possible links. A link
``(i, j)`` joins input ``i`` to output ``j``; its *linear index* is ``i * n_out + j``. Functions
here never build an ``n_in x n_out`` array, so they work for layers far too large to hold densely.
"""

from __future__ import annotations

import numpy as np

from prunelab.core.links import in_sorted, sorted_unique
from prunelab.errors import ConfigError, check_density


def n_links_for_density(n_in: int, n_out: int, density: float) -> int:
    """Number of links of a layer at a density: ``round(density * n_in * n_out)``, at least 1.

    Parameters
    ----------
    n_in, n_out : int
        Layer sizes (units).
    density : float
        Fraction of possible links, in (0, 1].
    """
    density = check_density(density)
    return max(1, int(round(density * n_in * n_out)))


def set_epsilon_density(n_in: int, n_out: int, epsilon: float) -> float:
    """SET's Erdős–Rényi density ``epsilon * (n_in + n_out) / (n_in * n_out)``, capped at 1.

    Mocanu et al. (2018) place each link with this probability; ``epsilon`` (dimensionless,
    e.g. 20) sets the mean degree.
    """
    if epsilon <= 0:
        raise ConfigError(f"epsilon must be > 0 for SET's ER topology, got {epsilon}")
    return min(1.0, epsilon * (n_in + n_out) / (n_in * n_out))


def sample_missing_links(
    n_in: int,
    n_out: int,
    k: int,
    rng: np.random.Generator,
    existing: np.ndarray | None = None,
) -> np.ndarray:
    """Draw ``k`` distinct links uniformly at random among those not in ``existing``.

    Parameters
    ----------
    n_in, n_out : int
        Layer sizes.
    k : int
        Number of links to draw (>= 0).
    rng : numpy.random.Generator
        Source of randomness.
    existing : ndarray of shape (m,), dtype int64, optional
        Linear indices ``i * n_out + j`` of links that must not be drawn.

    Returns
    -------
    ndarray of shape (k,), dtype int64
        Sorted linear indices of the drawn links.

    Notes
    -----
    Rejection sampling on linear indices: O(k log k) when the layer is sparse; when the request
    fills more than half of the free slots it enumerates the free slots instead (dense layers
    are small enough to enumerate). numpy has no sampler without replacement that avoids
    materialising the population, which is why this is written here.
    """
    total = n_in * n_out
    existing = (
        sorted_unique(np.asarray(existing, dtype=np.int64))
        if existing is not None
        else np.empty(0, np.int64)
    )
    free = total - existing.size
    if k < 0 or k > free:
        raise ConfigError(
            f"cannot place {k} new links in a {n_in}x{n_out} layer with {existing.size} links "
            f"({free} free slots); request at most {free}"
        )
    if k == 0:
        return np.empty(0, dtype=np.int64)
    if 2 * k > free:
        all_idx = np.arange(total, dtype=np.int64)
        pool = np.setdiff1d(all_idx, existing, assume_unique=True)
        return np.sort(rng.choice(pool, size=k, replace=False))
    chosen = np.empty(0, dtype=np.int64)
    while chosen.size < k:
        need = k - chosen.size
        draw = rng.integers(0, total, size=int(need * 1.2) + 16, dtype=np.int64)
        draw = sorted_unique(draw)
        draw = draw[~in_sorted(draw, existing)]
        if chosen.size:
            draw = draw[~in_sorted(draw, np.sort(chosen))]
        rng.shuffle(draw)
        chosen = np.concatenate([chosen, draw[:need]])
    return np.sort(chosen)


def erdos_renyi_links(
    n_in: int, n_out: int, density: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Uniform random bipartite topology with exactly ``n_links_for_density`` links (G(n, M)).

    Returns
    -------
    rows, cols : ndarray of shape (n_links,), dtype int64
        Input and output unit of each link, sorted by (row, col).
    """
    m = n_links_for_density(n_in, n_out, density)
    linear = sample_missing_links(n_in, n_out, m, rng)
    return linear // n_out, linear % n_out

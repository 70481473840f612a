"""Link removal: which existing links of a layer to drop, from their weights.

Rules (``DSTConfig.removal``):

- ``"magnitude"``: drop the ``floor(zeta * n_links)`` links of smallest ``|w|`` (ties at random);
  the rule of Sulyok et al. (2026), RigL and CHT.
- ``"set"``: SET's rule (Mocanu et al. 2018): drop the fraction ``zeta`` of the negative weights
  closest to zero and the fraction ``zeta`` of the non-negative weights closest to zero,
  ``floor(zeta * n_neg) + floor(zeta * n_nonneg)`` links in all. (SET's code works on a dense
  matrix and also drops exact zeros; prunelab counts a link of weight exactly 0 as non-negative.)
"""

from __future__ import annotations

import numpy as np

from prunelab.dst.selection import best_k
from prunelab.errors import ConfigError, check_open_fraction

REMOVAL_RULES = ("magnitude", "set")


def check_zeta(zeta: float) -> float:
    """Validate a removal fraction in the open interval (0, 1)."""
    return check_open_fraction(zeta, "zeta", "fraction of links removed per update", "0.3")


def removal_keep(values: np.ndarray, zeta: float, rule: str, rng: np.random.Generator) -> np.ndarray:
    """Which links survive the removal stage.

    Parameters
    ----------
    values : ndarray of shape (n_links,), float
        Link weights in link order.
    zeta : float
        Fraction of links removed, in (0, 1).
    rule : {"magnitude", "set"}
    rng : numpy.random.Generator
        Breaks ties between equal magnitudes.

    Returns
    -------
    ndarray of shape (n_links,), bool
        True for links kept.

    Examples
    --------
    >>> removal_keep(np.array([0.5, -0.1, 0.2, -2.0]), 0.5, "magnitude", np.random.default_rng(0))
    array([ True, False, False,  True])
    """
    zeta = check_zeta(zeta)
    values = np.asarray(values, dtype=np.float64)
    keep = np.ones(values.size, dtype=bool)
    if rule == "magnitude":
        drop = best_k(-np.abs(values), rng.random(values.size), int(zeta * values.size))
        keep[drop] = False
    elif rule == "set":
        for side in (np.flatnonzero(values < 0), np.flatnonzero(values >= 0)):
            closeness = -np.abs(values[side])
            keep[side[best_k(closeness, rng.random(side.size), int(zeta * side.size))]] = False
    else:
        raise ConfigError(f"unknown removal rule {rule!r}; choose one of {', '.join(REMOVAL_RULES)}")
    return keep

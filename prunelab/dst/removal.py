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

from collections.abc import Callable

import numpy as np

from prunelab.core.registry import Registry
from prunelab.core.scoring import ArrayLayer, score_links
from prunelab.core.selection import select_top
from prunelab.errors import check_open_fraction

RemovalRule = Callable[[np.ndarray, float, np.random.Generator], np.ndarray]

#: link-removal rules by name: ``rule(values (n_links,), zeta, rng) -> keep bool (n_links,)``
REMOVAL_RULES: Registry[RemovalRule] = Registry("removal rule")


@REMOVAL_RULES.register("magnitude")
def magnitude_removal(values: np.ndarray, zeta: float, rng: np.random.Generator) -> np.ndarray:
    """Drop the ``floor(zeta * n_links)`` links of smallest |w|, ties at random (Sulyok et al., RigL, CHT)."""
    keep = np.ones(values.size, dtype=bool)
    weakness = -score_links("magnitude", [ArrayLayer("layer", values)])[0]
    keep[select_top(weakness, int(zeta * values.size), tiebreak=rng.random(values.size))] = False
    return keep


@REMOVAL_RULES.register("set")
def set_removal(values: np.ndarray, zeta: float, rng: np.random.Generator) -> np.ndarray:
    """SET's rule: drop the fraction zeta of the negative and of the non-negative weights closest to 0."""
    keep = np.ones(values.size, dtype=bool)
    for side in (np.flatnonzero(values < 0), np.flatnonzero(values >= 0)):
        closeness = -np.abs(values[side])
        keep[side[select_top(closeness, int(zeta * side.size), tiebreak=rng.random(side.size))]] = (
            False
        )
    return keep


def check_zeta(zeta: float) -> float:
    """Validate a removal fraction in the open interval (0, 1)."""
    return check_open_fraction(zeta, "zeta", "fraction of links removed per update", "0.3")


def removal_keep(
    values: np.ndarray, zeta: float, rule: str, rng: np.random.Generator
) -> np.ndarray:
    """Which links survive the removal stage.

    Parameters
    ----------
    values : ndarray of shape (n_links,), float
        Link weights in link order.
    zeta : float
        Fraction of links removed, in (0, 1).
    rule : str
        A name in :data:`REMOVAL_RULES` (``"magnitude"``, ``"set"``).
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
    return REMOVAL_RULES.get(rule)(np.asarray(values, dtype=np.float64), zeta, rng)

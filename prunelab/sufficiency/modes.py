"""Mode-preserving pruning: a link score from the first-order change of the top singular values.

For ``W = Σ_m σ_m u_m v_mᵀ`` with simple singular values, removing link ``(i, j)`` (setting
``w_ij`` to 0, i.e. adding ``−w_ij e_i e_jᵀ``) changes ``σ_m`` to first order by

    Δσ_m ≈ −u_{m,i} · w_ij · v_{m,j}        (Weyl / Hadamard first-order perturbation)

and the contributions ``c_{m,l} = u_{m,i} w_ij v_{m,j}`` of all links ``l`` sum to ``σ_m``
(``u_mᵀ W v_m = σ_m``). The criterion keeps the links whose removal would change the top-``k``
singular values most:

    score(i, j) = Σ_{m ≤ k} |u_{m,i} w_ij v_{m,j}|              ("absolute", weight units)
    score(i, j) = Σ_{m ≤ k} |u_{m,i} w_ij v_{m,j}| / σ_m        ("relative", dimensionless)

It is registered as the link score ``mode_preserving`` in
:data:`prunelab.core.scoring.LINK_SCORES` (options ``k`` and ``weighting`` through
``ScoreContext.options``), so every pruning path selects with it through the one top-k routine.
Because the formula is first order, a large one-shot removal should be split into rounds that
recompute the modes (``rounds`` in :func:`prunelab.sufficiency.networks.prune_links`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from prunelab.core.links import Links
from prunelab.core.scoring import LINK_SCORES, LinkLayer, ScoreContext
from prunelab.errors import ConfigError
from prunelab.sufficiency.spectral import Modes, singular_values, top_modes

WEIGHTINGS = ("absolute", "relative")
DEFAULT_K = 10


def mode_contributions(links: Links, weights: Any, modes: Modes) -> np.ndarray:
    """``c[m, l] = u_{m,i_l} · w_l · v_{m,j_l}``: link ``l``'s share of ``σ_m``.

    Parameters
    ----------
    links : Links
    weights : array of shape (n_links,)
    modes : Modes
        The layer's top modes (from :func:`~prunelab.sufficiency.spectral.top_modes`).

    Returns
    -------
    ndarray of shape (k, n_links), float64
        Weight units; each row sums to ``σ_m``. The first-order change of ``σ_m`` when link ``l``
        is removed is ``−c[m, l]``.
    """
    w = np.asarray(weights, dtype=np.float64).ravel()
    if w.shape != (links.n_links,):
        raise ConfigError(f"expected {links.n_links} link weights, got shape {w.shape}")
    return modes.u[links.rows].T * w[None, :] * modes.v[links.cols].T


def first_order_change(links: Links, weights: Any, k: int) -> np.ndarray:
    """First-order change of each of the top-``k`` singular values when one link is removed.

    Returns
    -------
    ndarray of shape (k, n_links), float64
        ``Δσ_m`` (weight units) for removing link ``l`` alone.
    """
    return -mode_contributions(links, weights, top_modes(links, weights, k))


def exact_change(links: Links, weights: Any, k: int) -> np.ndarray:
    """Exact change of the top-``k`` singular values when each link is removed alone.

    One SVD per link: for tests and tiny layers only.

    Returns
    -------
    ndarray of shape (k, n_links), float64
    """
    w = np.asarray(weights, dtype=np.float64).ravel()
    base = singular_values(links, w)[:k]
    out = np.empty((k, w.size))
    for col in range(w.size):
        w2 = w.copy()
        w2[col] = 0.0
        out[:, col] = singular_values(links, w2)[:k] - base
    return out


def mode_scores(
    links: Links, weights: Any, k: int = DEFAULT_K, weighting: str = "absolute"
) -> np.ndarray:
    """The mode-preserving score of every link of one layer (higher = keep).

    Parameters
    ----------
    links : Links
    weights : array of shape (n_links,)
    k : int
        Dominant modes preserved; capped at ``min(n_in, n_out)`` so a narrow readout keeps all
        of its modes.
    weighting : {"absolute", "relative"}
        Sum of ``|Δσ_m|`` (weight units) or of ``|Δσ_m| / σ_m`` (dimensionless).

    Returns
    -------
    ndarray of shape (n_links,), float64
    """
    if weighting not in WEIGHTINGS:
        raise ConfigError(
            f"unknown mode weighting {weighting!r}; choose one of {', '.join(WEIGHTINGS)}"
        )
    if links.n_links == 0:
        return np.zeros(0)
    k = min(int(k), min(links.shape))
    modes = top_modes(links, weights, k)
    c = np.abs(mode_contributions(links, weights, modes))
    if weighting == "relative":
        scale = np.where(modes.s > 0, modes.s, np.inf)
        c = c / scale[:, None]
    return c.sum(axis=0)


@LINK_SCORES.register("mode_preserving")
def mode_preserving(layers: Sequence[LinkLayer], ctx: ScoreContext) -> list[np.ndarray]:
    """Σ over the top-k modes of |u_mi w_ij v_mj|: keep the links the dominant singular values rest on."""
    k = int(ctx.options.get("k", DEFAULT_K))
    weighting = str(ctx.options.get("weighting", "absolute"))
    out = []
    for layer in layers:
        links = getattr(layer, "links", None)
        if links is None:
            raise ConfigError(
                f"link score 'mode_preserving' needs the topology of layer {layer.name!r}; pass a layer with links"
            )
        out.append(mode_scores(links, layer.values(), k, weighting))
    return out

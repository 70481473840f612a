"""Turning scores into chosen links: the one selection routine of prunelab.

Pruning (keep the best links), dynamic sparse training (remove the worst, regrow the best
candidates) and the perturbation orders (remove in order) all reduce to *rank items by a score
and take the first k*. They all go through :func:`select_top` / :func:`rank`, so they share one
tie rule:

**Tie rule.** Higher score first. Among equal scores, higher ``tiebreak`` first when a
``tiebreak`` vector is given (pass ``rng.random(n)`` to break ties uniformly at random, or
``-rng.random(n)``; both are uniform). Among items equal in both, the lower position (link order)
first. The rule is deterministic given its inputs.

``ties="drop"`` is the one variant, for code that must match a reference implementation that
thresholds instead of ranking (Synaptic-Flow's pruning-at-initialisation masks): every item tied
with the boundary score is left out, so fewer than ``k`` items may be chosen.

Examples
--------
>>> import numpy as np
>>> select_top(np.array([0.1, 0.5, 0.5, 0.9]), 2).tolist()     # tie at 0.5: lower position
[1, 3]
>>> select_top(np.array([0.1, 0.5, 0.5, 0.9]), 2, tiebreak=np.array([0, 0.1, 0.2, 0])).tolist()
[2, 3]
>>> select_top(np.array([0.1, 0.5, 0.5, 0.9]), 2, ties="drop").tolist()
[3]
>>> rank(np.array([0.1, 0.5, 0.5, 0.9])).tolist()
[3, 1, 2, 0]
"""

from __future__ import annotations

import numpy as np

from prunelab.errors import ConfigError

TIE_MODES = ("break", "drop")


def _check(scores: np.ndarray, tiebreak: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    scores = np.asarray(scores)
    if scores.ndim != 1:
        scores = scores.ravel()
    if scores.dtype.kind == "f" and np.isnan(scores).any():
        raise ConfigError(
            f"{int(np.isnan(scores).sum())} of {scores.size} scores are NaN; fix the scoring function"
        )
    if tiebreak is not None:
        tiebreak = np.asarray(tiebreak).ravel()
        if tiebreak.shape != scores.shape:
            raise ConfigError(f"tiebreak has shape {tiebreak.shape} but scores have {scores.shape}")
    return scores, tiebreak


def select_top(
    scores: np.ndarray,
    k: int,
    tiebreak: np.ndarray | None = None,
    ties: str = "break",
) -> np.ndarray:
    """Positions of the ``k`` best items under the tie rule of this module.

    Parameters
    ----------
    scores : ndarray of shape (n,)
        Higher is better (negate to choose the smallest).
    k : int
        Number of items wanted; all ``n`` when ``k >= n``, none when ``k <= 0``.
    tiebreak : ndarray of shape (n,), optional
        Secondary key for equal scores (higher first).
    ties : {"break", "drop"}
        ``"break"`` (default): exactly ``min(k, n)`` items. ``"drop"``: items tied with the
        score just outside the top ``k`` are all left out (reference-compatible thresholding).

    Returns
    -------
    ndarray of shape (m,), int64
        Chosen positions, ascending; ``m = min(k, n)`` for ``ties="break"``.

    Notes
    -----
    O(n) with ``np.partition``; only the items tied at the boundary are ordered further.
    """
    if ties not in TIE_MODES:
        raise ConfigError(f"unknown tie mode {ties!r}; choose one of: {', '.join(TIE_MODES)}")
    scores, tiebreak = _check(scores, tiebreak)
    n = scores.size
    k = int(k)
    if k <= 0 or n == 0:
        return np.empty(0, dtype=np.int64)
    if k >= n:
        return np.arange(n, dtype=np.int64)
    if ties == "drop":
        # the (k+1)-th largest score is the first one left out; everything equal to it goes too
        boundary = np.partition(scores, n - k - 1)[n - k - 1]
        return np.flatnonzero(scores > boundary).astype(np.int64)
    threshold = np.partition(scores, n - k)[n - k]
    above = np.flatnonzero(scores > threshold)
    tied = np.flatnonzero(scores == threshold)
    need = k - above.size
    if need < tied.size:
        if tiebreak is None:
            tied = tied[:need]  # lower position first
        else:
            order = np.lexsort((tied, -tiebreak[tied]))  # higher tiebreak, then lower position
            tied = tied[order[:need]]
    return np.sort(np.concatenate([above, tied])).astype(np.int64)


def keep_top(
    scores: np.ndarray, k: int, tiebreak: np.ndarray | None = None, ties: str = "break"
) -> np.ndarray:
    """Bool mask of shape (n,): True at the positions :func:`select_top` chooses."""
    scores = np.asarray(scores).ravel()
    keep = np.zeros(scores.size, dtype=bool)
    keep[select_top(scores, k, tiebreak, ties)] = True
    return keep


def rank(scores: np.ndarray, tiebreak: np.ndarray | None = None) -> np.ndarray:
    """All positions, best first, under the tie rule of this module.

    ``rank(s)[:k]`` is the same set as ``select_top(s, k)``; use :func:`select_top` when only
    the set is needed (O(n) instead of O(n log n)).

    Returns
    -------
    ndarray of shape (n,), int64
    """
    scores, tiebreak = _check(scores, tiebreak)
    keys = (-scores,) if tiebreak is None else (-tiebreak, -scores)
    return np.lexsort(keys).astype(np.int64)  # lexsort is stable: equal keys keep position order

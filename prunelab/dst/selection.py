"""Choosing the best ``k`` items by a two-part key; the shared primitive of removal and regrowth."""

from __future__ import annotations

import numpy as np


def best_k(primary: np.ndarray, secondary: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest items in lexicographic order of ``(primary, secondary)``.

    Parameters
    ----------
    primary, secondary : ndarray of shape (n,), float
        Keys; ``secondary`` decides between equal ``primary`` values (pass uniform random
        numbers to break ties at random).
    k : int
        Number of items wanted; all ``n`` are returned when ``k >= n``.

    Returns
    -------
    ndarray of shape (min(k, n),), int64
        Positions of the chosen items, in no particular order.

    Notes
    -----
    O(n) via ``np.argpartition`` on ``primary``; only the items tied at the threshold are
    sorted by ``secondary`` (a full ``np.lexsort`` would be O(n log n)).
    """
    primary = np.asarray(primary)
    n = primary.size
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    if k >= n:
        return np.arange(n, dtype=np.int64)
    threshold = np.partition(primary, n - k)[n - k]
    above = np.flatnonzero(primary > threshold)
    tied = np.flatnonzero(primary == threshold)
    need = k - above.size
    if need < tied.size:
        order = np.argpartition(-np.asarray(secondary)[tied], need - 1)[:need] if need > 0 else []
        tied = tied[order]
    return np.concatenate([above, tied]).astype(np.int64)

"""From a network's masks to the graphons of :func:`~prunelab.graphon.graphon_ntk`, and back.

:func:`~prunelab.graphon.estimate` sorts each layer on its own (rows by out-degree, columns by
in-degree), which suits comparing one layer across widths but places a hidden unit in different
blocks on its two sides. The NTK needs one block per hidden unit, so :func:`chain_graphons` sorts
the units of every hidden layer once, by decreasing in-degree from the layer before (stable), and
uses that block on both sides; input coordinates stay unblocked (``graphons[0]`` is (K, d)) and
the output side is one block averaged over the outputs.

:func:`sample_network_masks` goes the other way: masks of a finite MLP drawn from step graphons.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from prunelab.errors import ConfigError
from prunelab.graphon.blocks import (
    as_mask,
    block_means,
    check_k,
    degree_blocks,
    sample_mask,
    unit_blocks,
)


def chain_graphons(masks: Sequence[Any], k: int = 64) -> list[np.ndarray]:
    """Block graphons of an MLP's layer masks, chained for :func:`~prunelab.graphon.graphon_ntk`.

    Parameters
    ----------
    masks : sequence of bool ndarray (n_l, n_{l+1})
        Every weight layer, input first, in prunelab's (n_in, n_out) layout; the last one feeds
        the output units.
    k : int
        Blocks per hidden layer (``min(k, width)`` when a layer is narrower than ``k``).

    Returns
    -------
    list of ndarray, float64
        ``[(K_1, d), (K_2, K_1), ..., (1, K_L)]``: link densities per block pair in [0, 1].

    Raises
    ------
    ConfigError
        Masks that are not 2-D boolean, do not chain, or fewer than two of them; k < 1.
    """
    ms = [as_mask(m, f"masks[{i}]") for i, m in enumerate(masks)]
    k = check_k(k)
    if len(ms) < 2:
        raise ConfigError(
            f"chain_graphons needs at least two layer masks (one hidden layer), got {len(ms)}"
        )
    for i in range(1, len(ms)):
        if ms[i].shape[0] != ms[i - 1].shape[1]:
            raise ConfigError(
                f"masks do not chain: masks[{i}] has {ms[i].shape[0]} inputs but masks[{i - 1}] "
                f"has {ms[i - 1].shape[1]} outputs"
            )
    hidden = []  # (blocks of the units, K) per hidden layer
    for m in ms[:-1]:
        kk = min(k, m.shape[1])
        hidden.append((degree_blocks(m.sum(axis=0), kk), kk))
    d = ms[0].shape[0]
    out = [block_means(ms[0], np.arange(d), hidden[0][0], d, hidden[0][1]).T]
    for l in range(1, len(ms) - 1):
        (rb, rk), (cb, ck) = hidden[l - 1], hidden[l]
        out.append(block_means(ms[l], rb, cb, rk, ck).T)
    rb, rk = hidden[-1]
    last = ms[-1]
    out.append(block_means(last, rb, np.zeros(last.shape[1], dtype=np.int64), rk, 1).T)
    return out


def sample_network_masks(
    graphons: Sequence[Any], widths: Sequence[int], rng: np.random.Generator
) -> list[np.ndarray]:
    """Masks of a finite MLP drawn from chained step graphons (units in index order, see :func:`unit_blocks`).

    Parameters
    ----------
    graphons : sequence of ndarray
        As for :func:`~prunelab.graphon.graphon_ntk`: (K_1, d), (K_{l+1}, K_l), ..., (1, K_L).
    widths : sequence of int
        Units per hidden layer (L values); the input has d units and the output one.
    rng : numpy.random.Generator

    Returns
    -------
    list of bool ndarray
        ``[(d, n_1), (n_1, n_2), ..., (n_L, 1)]`` in prunelab's (n_in, n_out) layout.
    """
    ws = [np.asarray(w, dtype=np.float64) for w in graphons]
    if len(widths) != len(ws) - 1:
        raise ConfigError(
            f"{len(ws)} graphons describe {len(ws) - 1} hidden layers but {len(widths)} widths were given"
        )
    d = ws[0].shape[1]
    sizes = [d, *[int(n) for n in widths], 1]
    masks = []
    for l, w in enumerate(ws):
        if l == 0:
            # input coordinate j is its own column of graphons[0]
            p = w[unit_blocks(sizes[1], w.shape[0])][:, np.arange(d)].T
            masks.append(rng.random(p.shape) < p)
        else:
            masks.append(sample_mask(w.T, sizes[l], sizes[l + 1], rng))
    return masks

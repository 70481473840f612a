"""The ``graphon`` observable: how far each layer's graphon estimate is from a flat one.

Registered in :data:`prunelab.phase.observables.OBSERVABLES` (lazily), so phase studies and
training runs (``observe: [graphon]``, logged as ``obs/<key>``) can measure it. For every layer
mask it reports the L2 distance (:func:`~prunelab.graphon.distance`) between the layer's
:func:`~prunelab.graphon.estimate` and the constant graphon of the same density: 0 for a
perfectly homogeneous (Erdős–Rényi-like) layer, larger when pruning has concentrated links on
some units (SNIP, GraSP, SynFlow).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from prunelab.graphon.blocks import distance, estimate

#: blocks per axis of the observable's estimates, at most
K = 64
#: units per block at least: a block of 16 x 16 entries keeps the binomial noise of an
#: Erdős–Rényi layer's estimate near sqrt(p(1 − p)) / 16, so narrow layers get fewer blocks
MIN_BLOCK = 16


def flatness_distance(mask: np.ndarray, k: int = K) -> float:
    """Distance of a mask's estimate to the constant graphon of its density.

    Parameters
    ----------
    mask : ndarray (n_in, n_out), bool
    k : int
        Blocks per axis at most; ``min(k, n_in // 16, n_out // 16)`` are used (at least 1).

    Returns
    -------
    float
        L2 distance of step functions, in [0, 1]; 0 for a flat layer. An Erdős–Rényi layer gives
        a small positive value (sampling noise and the degree sort) that falls with width.
    """
    kk = max(1, min(int(k), mask.shape[0] // MIN_BLOCK, mask.shape[1] // MIN_BLOCK))
    h = estimate(mask, kk)
    return distance(h, np.full_like(h, float(mask.mean())))


def graphon_summary(obs: Any) -> dict[str, float]:
    """``graphon_dist/<layer>`` per layer mask and their mean ``graphon_dist``.

    Parameters
    ----------
    obs : prunelab.phase.observables.Observation
        Uses ``obs.layers`` (named sparse layers) when present, else ``obs.masks`` (named ``layerK``).
    """
    from prunelab.errors import ConfigError

    if obs.layers:
        named = [(name, layer.mask().cpu().numpy()) for name, layer in obs.layers.items()]
    else:
        named = [(f"layer{k}", np.asarray(m, dtype=bool)) for k, m in enumerate(obs.masks)]
    if not named:
        raise ConfigError("observable 'graphon' needs the layer masks of the network")
    out = {f"graphon_dist/{name}": flatness_distance(m) for name, m in named}
    out["graphon_dist"] = float(np.mean(list(out.values())))
    return out

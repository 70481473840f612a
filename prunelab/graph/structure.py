"""Structural measures of the layered graph of a network's masks.

The layered graph has one node per unit of every layer (inputs, hidden layers, outputs) and a
directed link ``i -> j`` from unit ``i`` of layer ``k`` to unit ``j`` of layer ``k + 1`` wherever
``masks[k][i, j]`` is True. All functions accept a list of masks (dense bool arrays, torch
tensors or scipy.sparse matrices) and return plain numbers or arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from prunelab.graph.masks import as_network


@dataclass(frozen=True)
class PathConnectivity:
    """Which input and output units lie on a directed input -> output path.

    Attributes
    ----------
    input_fraction : float
        Fraction of input units from which some output unit is reachable, in [0, 1].
    output_fraction : float
        Fraction of output units reachable from some input unit, in [0, 1].
    fraction : float
        Fraction of all input and output units (pooled) that are joined by a path, in [0, 1].
    """

    input_fraction: float
    output_fraction: float
    fraction: float


def forward_reachable(masks: Sequence[Any]) -> list[np.ndarray]:
    """Units reachable by a directed path from some input unit.

    Returns
    -------
    list of ndarray, dtype bool
        One array per layer of units (``len(masks) + 1`` arrays, shapes (n_k,)); the input layer
        is all True.
    """
    net = as_network(masks)
    reach = [np.ones(net[0].shape[0], dtype=bool)]
    for m in net:
        reach.append((m.T.astype(np.int64) @ reach[-1].astype(np.int64)) > 0)
    return reach


def backward_reachable(masks: Sequence[Any]) -> list[np.ndarray]:
    """Units from which some output unit is reachable by a directed path (outputs all True)."""
    net = as_network(masks)
    reach = [np.ones(net[-1].shape[1], dtype=bool)]
    for m in reversed(net):
        reach.append((m.astype(np.int64) @ reach[-1].astype(np.int64)) > 0)
    return reach[::-1]


def units_on_paths(masks: Sequence[Any]) -> list[np.ndarray]:
    """Units that lie on at least one directed input -> output path.

    Returns
    -------
    list of ndarray, dtype bool
        ``len(masks) + 1`` arrays of shape (n_k,), input layer first.
    """
    return [
        f & b for f, b in zip(forward_reachable(masks), backward_reachable(masks), strict=False)
    ]


def path_connectivity(masks: Sequence[Any]) -> PathConnectivity:
    """Fractions of input and output units joined by a directed input -> output path.

    Parameters
    ----------
    masks : sequence of masks
        Layer masks (n_k, n_{k+1}), input side first.

    Returns
    -------
    PathConnectivity

    Examples
    --------
    >>> path_connectivity([np.eye(3, dtype=bool), np.array([[1], [0], [0]], dtype=bool)]).input_fraction
    0.3333333333333333
    """
    on_path = units_on_paths(masks)
    n_in, n_out = on_path[0].size, on_path[-1].size
    k_in, k_out = int(on_path[0].sum()), int(on_path[-1].sum())
    return PathConnectivity(k_in / n_in, k_out / n_out, (k_in + k_out) / (n_in + n_out))


def layered_adjacency(masks: Sequence[Any]) -> sp.csr_array:
    """Adjacency (n_nodes, n_nodes), bool, of the directed layered graph; nodes input layer first."""
    net = as_network(masks)
    sizes = [net[0].shape[0]] + [m.shape[1] for m in net]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    rows, cols = [], []
    for k, m in enumerate(net):
        coo = m.tocoo()
        rows.append(coo.row.astype(np.int64) + offsets[k])
        cols.append(coo.col.astype(np.int64) + offsets[k + 1])
    r, c = np.concatenate(rows), np.concatenate(cols)
    n = int(offsets[-1])
    return sp.csr_array((np.ones(r.size, dtype=bool), (r, c)), shape=(n, n))


def largest_component(masks: Sequence[Any], include_isolated: bool = True) -> tuple[int, float]:
    """Size of the largest (weakly) connected component of the layered graph.

    Parameters
    ----------
    masks : sequence of masks
        Layer masks, input side first.
    include_isolated : bool
        Whether units without any link count in the denominator of the fraction.

    Returns
    -------
    size : int
        Number of units in the largest component.
    fraction : float
        ``size`` divided by the number of units (all units, or only those with a link).
    """
    adj = layered_adjacency(masks)
    _, labels = connected_components(adj, directed=True, connection="weak")
    counts = np.bincount(labels)
    size = int(counts.max())
    if include_isolated:
        total = adj.shape[0]
    else:
        deg = np.asarray(adj.sum(axis=0)).ravel() + np.asarray(adj.sum(axis=1)).ravel()
        total = int((deg > 0).sum())
        if total == 0:  # no links at all: no component with a link
            return 0, 0.0
    return size, size / total


def log_path_count(masks: Sequence[Any]) -> float:
    """Natural log of the number of directed input -> output paths, ``log(1ᵀ M_0 M_1 ... M_L 1)``.

    Computed by repeated sparse matrix-vector products from the output side, rescaling the vector
    by its maximum at each layer and accumulating the log scale, so deep wide networks whose path
    count overflows float64 (more than ~1e308 paths) are handled.

    Returns
    -------
    float
        Log of the path count (nats); ``-inf`` when no path exists.
    """
    net = as_network(masks)
    v = np.ones(net[-1].shape[1], dtype=np.float64)
    log_scale = 0.0
    for m in reversed(net):
        v = m.astype(np.float64) @ v
        top = v.max(initial=0.0)
        if top == 0.0:
            return float("-inf")
        v /= top
        log_scale += np.log(top)
    return float(log_scale + np.log(v.sum()))


def structure_summary(masks: Sequence[Any]) -> dict[str, float]:
    """All structural order parameters of a network in one flat record.

    Returns
    -------
    dict
        ``density`` (links / possible links over all layers), ``input_path_fraction``,
        ``output_path_fraction``, ``path_fraction``, ``lcc_size`` (units), ``lcc_fraction``,
        ``log_paths`` (nats).
    """
    net = as_network(masks)
    pc = path_connectivity(net)
    size, frac = largest_component(net)
    n_links = sum(int(m.nnz) for m in net)
    n_possible = sum(m.shape[0] * m.shape[1] for m in net)
    return {
        "density": n_links / n_possible,
        "input_path_fraction": pc.input_fraction,
        "output_path_fraction": pc.output_fraction,
        "path_fraction": pc.fraction,
        "lcc_size": float(size),
        "lcc_fraction": frac,
        "log_paths": log_path_count(net),
    }

"""Degree-preserving null models of layer masks: Curveball trades and double-edge swaps.

Both Markov chains keep the degree of every input and every output unit of a bipartite layer
and have the uniform distribution over all bipartite graphs with those degree sequences as
their stationary distribution (Curveball: Strona et al. 2014, Carstens 2015; double-edge swaps
with rejection: the symmetric "switch" chain, connected for bipartite graphs by Ryser's
interchange theorem).

The Curveball chain is hand-written here because no installed library implements it for
bipartite graphs; the inner loops are compiled with numba because they are sequential
(each trade depends on the previous one).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numba
import numpy as np
import scipy.sparse as sp

from prunelab.core.links import Links
from prunelab.core.registry import Registry
from prunelab.core.rng import as_generator
from prunelab.errors import ConfigError
from prunelab.graph.masks import mask_kind, to_dense_bool


@numba.njit(cache=True)
def _curveball(adj: np.ndarray, n_trades: int, seed: int) -> None:  # pragma: no cover - compiled
    np.random.seed(seed)
    n_rows, n_cols = adj.shape
    degree = np.zeros(n_rows, dtype=np.int64)
    for r in range(n_rows):
        for c in range(n_cols):
            if adj[r, c]:
                degree[r] += 1
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    for r in range(n_rows):
        indptr[r + 1] = indptr[r] + degree[r]
    nbr = np.empty(indptr[n_rows], dtype=np.int64)
    for r in range(n_rows):
        k = indptr[r]
        for c in range(n_cols):
            if adj[r, c]:
                nbr[k] = c
                k += 1
    pool = np.empty(n_cols, dtype=np.int64)
    for _ in range(n_trades):
        a = np.random.randint(0, n_rows)
        b = np.random.randint(0, n_rows - 1)
        if b >= a:
            b += 1
        # columns linked to a but not b, then to b but not a, gathered in one pool
        n_a = 0
        for k in range(indptr[a], indptr[a + 1]):
            c = nbr[k]
            if not adj[b, c]:
                pool[n_a] = c
                n_a += 1
        n_pool = n_a
        for k in range(indptr[b], indptr[b + 1]):
            c = nbr[k]
            if not adj[a, c]:
                pool[n_pool] = c
                n_pool += 1
        if n_a == 0 or n_a == n_pool:
            continue
        for k in range(n_pool):
            adj[a, pool[k]] = False
            adj[b, pool[k]] = False
        for k in range(n_pool - 1, 0, -1):  # Fisher-Yates shuffle
            j = np.random.randint(0, k + 1)
            pool[k], pool[j] = pool[j], pool[k]
        for k in range(n_pool):
            if k < n_a:
                adj[a, pool[k]] = True
            else:
                adj[b, pool[k]] = True
        # rebuild both neighbour lists from the adjacency rows: O(n_cols), simple and exact
        for r in (a, b):
            k = indptr[r]
            for j in range(n_cols):
                if adj[r, j]:
                    nbr[k] = j
                    k += 1


@numba.njit(cache=True)
def _swap(adj: np.ndarray, n_swaps: int, seed: int) -> None:  # pragma: no cover - compiled
    np.random.seed(seed)
    n_rows, n_cols = adj.shape
    m = 0
    for r in range(n_rows):
        for c in range(n_cols):
            if adj[r, c]:
                m += 1
    rows = np.empty(m, dtype=np.int64)
    cols = np.empty(m, dtype=np.int64)
    k = 0
    for r in range(n_rows):
        for c in range(n_cols):
            if adj[r, c]:
                rows[k] = r
                cols[k] = c
                k += 1
    for _ in range(n_swaps):
        e = np.random.randint(0, m)
        f = np.random.randint(0, m)
        a, x = rows[e], cols[e]
        b, y = rows[f], cols[f]
        # rejected proposals count as steps: this keeps the chain symmetric, hence uniform
        if a == b or x == y or adj[a, y] or adj[b, x]:
            continue
        adj[a, x] = False
        adj[b, y] = False
        adj[a, y] = True
        adj[b, x] = True
        cols[e] = y
        cols[f] = x


#: degree-preserving Markov chains by name: (in-place chain(adj, steps, seed), default steps of a layer)
REWIRING_METHODS: Registry[
    tuple[Callable[[np.ndarray, int, int], None], Callable[[np.ndarray], int]]
] = Registry("rewiring method")
REWIRING_METHODS.register(
    "curveball",
    (_curveball, lambda adj: 20 * max(adj.shape)),
    help="Curveball trades between two rows (Strona et al. 2014, doi:10.1038/ncomms5114)",
)
REWIRING_METHODS.register(
    "swap",
    (_swap, lambda adj: 10 * int(adj.sum())),
    help="double-edge swap proposals with rejection",
)
METHODS = REWIRING_METHODS.names()


def has_unique_realization(mask: np.ndarray) -> bool:
    """Whether a 2-D bool mask is the only bipartite graph with its degree sequences.

    That holds exactly when the rows, sorted by degree, have nested neighbourhoods (no 2x2
    "checkerboard" submatrix exists, so no degree-preserving move is possible); complete and
    empty masks are the extreme cases.
    """
    order = np.argsort(-mask.sum(axis=1), kind="stable")
    rows = mask[order]
    return bool(np.all(rows[1:] <= rows[:-1]))


def _seed_from(seed: int | np.random.Generator | None) -> int:
    rng = as_generator(seed)
    return int(rng.integers(0, 2**31 - 1))


def rewire(
    mask: Any,
    n_swaps: int | None = None,
    method: str = "curveball",
    seed: int | np.random.Generator | None = None,
) -> Any:
    """A random mask with the same degree of every input and every output unit.

    Parameters
    ----------
    mask : bool array (n_in, n_out) or (out_channels, in_channels, kh, kw), torch tensor or scipy.sparse
        The layer to rewire. A 4-D mask is a conv kernel in PyTorch's weight layout; it is rewired
        as the bipartite graph between out-channels and (in-channel, kernel position) rows of its
        ``(out_channels, in_channels * kh * kw)`` view, so every out-channel keeps its number of
        links and every (in-channel, kernel position) keeps its number of out-channels.
    n_swaps : int, optional
        Number of Markov-chain steps: Curveball trades between two random rows, or double-edge
        swap *proposals* (rejected proposals count, which keeps the chain exactly uniform).
        Default: ``20 * max(n_in, n_out)`` trades (Curveball) or ``10 * n_links`` proposals
        (swap), enough to mix the layers used in prunelab (see the tests).
    method : {"curveball", "swap"}
    seed : int or numpy.random.Generator, optional

    Returns
    -------
    Same kind, shape and dtype-family as ``mask`` (numpy bool array, torch bool tensor,
    scipy.sparse matrix in the input's format, or :class:`~prunelab.core.links.Links`).

    Raises
    ------
    ConfigError
        If the method is unknown, ``n_swaps`` is negative, or the mask is the only graph with
        its degrees (e.g. complete or empty), so nothing can be rewired.

    Notes
    -----
    Curveball trades are done on the side with more units (shorter neighbour lists). The work
    uses a dense bool copy of the mask (n_in * n_out bytes).

    Examples
    --------
    >>> m = np.random.default_rng(0).random((20, 30)) < 0.2
    >>> r = rewire(m, seed=1)
    >>> bool((r.sum(0) == m.sum(0)).all() and (r.sum(1) == m.sum(1)).all())
    True
    """
    chain, default_steps = REWIRING_METHODS.get(method)
    kind = mask_kind(mask)
    dense = to_dense_bool(mask, "mask", ndim=(2, 4))
    shape = dense.shape
    work = dense.reshape(shape[0], -1) if dense.ndim == 4 else dense
    if has_unique_realization(work):
        raise ConfigError(
            f"mask of shape {shape} with {int(work.sum())} links is the only graph with its degrees "
            "(e.g. complete or empty); rewire a mask with at least one 2x2 swappable pattern"
        )
    if n_swaps is not None and int(n_swaps) < 0:
        raise ConfigError(f"n_swaps must be >= 0, got {n_swaps}")
    # trade between rows of the longer side: each trade then touches fewer links
    transposed = work.shape[0] < work.shape[1]
    adj = np.ascontiguousarray(work.T if transposed else work).copy()
    steps = default_steps(adj) if n_swaps is None else int(n_swaps)
    chain(adj, steps, _seed_from(seed))
    out = (adj.T if transposed else adj).reshape(shape)
    if kind == "links":
        return Links.from_mask(out)
    if kind == "sparse":
        return (
            sp.csr_array(out).asformat(mask.format)
            if isinstance(mask, sp.sparray)
            else sp.csr_matrix(out).asformat(mask.format)
        )
    if kind == "torch":
        import torch

        return torch.as_tensor(np.ascontiguousarray(out), device=mask.device)
    return np.ascontiguousarray(out)


def rewire_network(
    masks: Sequence[Any],
    n_swaps: int | None = None,
    method: str = "curveball",
    seed: int | np.random.Generator | None = None,
) -> list[Any]:
    """:func:`rewire` applied to every layer of a network independently (one seed stream).

    Layers that cannot be rewired (unique realisation, e.g. complete) are returned unchanged
    (as copies), since the degree-preserving null of such a layer is the layer itself.
    """
    rng = as_generator(seed)
    out = []
    for m in masks:
        work = to_dense_bool(m, "mask", ndim=(2, 4))
        if has_unique_realization(work.reshape(work.shape[0], -1)):
            out.append(m.copy() if hasattr(m, "copy") else m.clone())
        else:
            out.append(rewire(m, n_swaps=n_swaps, method=method, seed=rng))
    return out

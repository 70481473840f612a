"""Link prediction scores for the missing links of a bipartite layer (CH3-L3 and L3).

A layer with mask ``M`` (n_in, n_out) is a bipartite graph: input ``i`` and output ``j`` are
joined when ``M[i, j]``. A path of length 3 from input ``i`` to output ``j`` is ``i - o - p - j``
with ``o`` an output neighbour of ``i``, ``p`` an input neighbour of ``j`` and ``M[p, o]``. For a
*missing* link every such walk is a simple path (``o == j`` or ``p == i`` would need the link).

Two scores of a missing link ``(i, j)``:

- **L3**: the number of paths of length 3, ``(M Mᵀ M)[i, j]``.
- **CH3-L3** (Cannistraci–Hebb, as the official CHT kernel ``CH_scores_new_v2`` computes it with
  ``lengths=[3], models=[3]``): the sum over paths of ``1 / sqrt((1 + de(o)) (1 + de(p)))``,
  where the external degree ``de`` of an intermediate node counts its neighbours that are
  neither ``i``/``j`` nor in the local community (all intermediate nodes of the L3 paths
  between ``i`` and ``j``). In a bipartite layer this is exactly
  ``1 + de(o) = deg(o) - |N(o) ∩ N(j)|`` and ``1 + de(p) = deg(p) - |N(p) ∩ N(i)|``.

Existing links and pairs without an L3 path score 0; both scores are symmetric under transposing
the mask. The ``*_sparse`` variants take the link list and return only the positively scored
missing links, so they never build an ``n_in x n_out`` array; the dense functions are thin
wrappers for small layers and tests.
"""

from __future__ import annotations

import numba
import numpy as np
import scipy.sparse as sp

from prunelab.core.links import Links
from prunelab.core.registry import Registry
from prunelab.errors import ConfigError
from prunelab.linkpred import _kernels

Candidates = tuple[np.ndarray, np.ndarray, np.ndarray]


# --- input handling ----------------------------------------------------------------------------


def _check_mask(mask: np.ndarray | Links) -> np.ndarray:
    if isinstance(mask, Links):
        return mask.to_mask()
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ConfigError(f"mask must be a 2-D (n_in, n_out) array, got shape {mask.shape}")
    if mask.dtype != np.bool_:
        if not np.isin(mask, (0, 1)).all():
            raise ConfigError("mask must be boolean (or 0/1); pass mask != 0 for a weight matrix")
        mask = mask.astype(bool)
    return mask


def _adjacency(rows: np.ndarray, cols: np.ndarray, n_in: int, n_out: int) -> sp.csr_matrix:
    """0/1 CSR adjacency (n_in, n_out) with sorted indices; checks the link list."""
    rows = np.asarray(rows, dtype=np.int64).ravel()
    cols = np.asarray(cols, dtype=np.int64).ravel()
    if rows.shape != cols.shape:
        raise ConfigError(
            f"rows and cols must have the same length, got {rows.size} and {cols.size}"
        )
    if n_in < 1 or n_out < 1:
        raise ConfigError(f"layer sizes must be >= 1, got {n_in}x{n_out}")
    if rows.size and (
        rows.min() < 0 or rows.max() >= n_in or cols.min() < 0 or cols.max() >= n_out
    ):
        raise ConfigError(f"link index out of range for a {n_in}x{n_out} layer")
    adj = sp.csr_matrix((np.ones(rows.size, dtype=np.float64), (rows, cols)), shape=(n_in, n_out))
    adj.sum_duplicates()
    if adj.nnz != rows.size:
        raise ConfigError("duplicate links in rows/cols; each (input, output) pair may appear once")
    adj.sort_indices()
    return adj


def _row_range(row_range: tuple[int, int] | None, n_in: int) -> tuple[int, int]:
    if row_range is None:
        return 0, n_in
    start, stop = int(row_range[0]), int(row_range[1])
    if not (0 <= start <= stop <= n_in):
        raise ConfigError(f"row_range must satisfy 0 <= start <= stop <= {n_in}, got {row_range}")
    return start, stop


def _to_dense(cands: Candidates, n_in: int, n_out: int) -> np.ndarray:
    scores = np.zeros((n_in, n_out), dtype=np.float64)
    scores[cands[0], cands[1]] = cands[2]
    return scores


# --- CH3-L3 ------------------------------------------------------------------------------------


def _kernel_inputs(rows: np.ndarray, cols: np.ndarray, n_in: int, n_out: int) -> tuple:
    adj = _adjacency(rows, cols, n_in, n_out)
    adj_t = adj.T.tocsr()
    adj_t.sort_indices()
    deg_in = np.diff(adj.indptr).astype(np.int64)
    deg_out = np.diff(adj_t.indptr).astype(np.int64)
    max_deg = int(max(deg_in.max(initial=0), deg_out.max(initial=0)))
    inv_sqrt = np.zeros(max_deg + 1, dtype=np.float64)
    inv_sqrt[1:] = 1.0 / np.sqrt(np.arange(1, max_deg + 1, dtype=np.float64))
    return (
        adj.indptr.astype(np.int64),
        adj.indices.astype(np.int64),
        adj_t.indptr.astype(np.int64),
        adj_t.indices.astype(np.int64),
        deg_in,
        deg_out,
        inv_sqrt,
    )


def top_scored_missing_links(
    rule: str,
    links: Links,
    k: int,
    seed: int,
    soft: bool = False,
    allowed_in: np.ndarray | None = None,
    allowed_out: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``k`` positively scored missing links, best first by score or sampled ∝ score.

    Streams the scores row by row through a size-``k`` heap, so memory is O(n_links + k) and no
    ``n_in x n_out`` array or full candidate list is built.

    Parameters
    ----------
    rule : {"ch3l3", "l3"}
        A name in :data:`LINK_PREDICTORS`.
    links : Links
        The existing links of the layer.
    k : int
        Links wanted (>= 0).
    seed : int
        Seeds the tie-breaking (hard) or sampling (soft) randomness, in [0, 2**63).
    soft : bool
        Sample without replacement with probability proportional to the score instead of taking
        the top scores (ties at random).
    allowed_in, allowed_out : ndarray of shape (n_in,) / (n_out,), bool, optional
        Only candidates joining allowed units (default all).

    Returns
    -------
    cand_rows, cand_cols : ndarray of shape (m,), int64
        ``m = min(k, number of positively scored candidates)`` links, sorted by (row, col); the
        same whatever the number of threads.
        Scores equal to float32 precision count as ties.
    """
    LINK_PREDICTORS.check(rule)
    links = Links.of(links)
    n_in, n_out = links.shape
    inputs = _kernel_inputs(links.rows, links.cols, n_in, n_out)
    allowed_in = (
        np.ones(n_in, dtype=bool) if allowed_in is None else np.asarray(allowed_in, dtype=bool)
    )
    allowed_out = (
        np.ones(n_out, dtype=bool) if allowed_out is None else np.asarray(allowed_out, dtype=bool)
    )
    return _kernels.top_k(
        *inputs,
        rule == "ch3l3",
        allowed_in,
        allowed_out,
        int(k),
        bool(soft),
        np.uint64(seed),
        numba.get_num_threads(),
    )


def ch3_l3_scores_sparse(links: Links, row_range: tuple[int, int] | None = None) -> Candidates:
    """CH3-L3 scores of the positively scored missing links, from a link list.

    Parameters
    ----------
    links : Links
        The existing links of the layer (any order, no duplicates).
    row_range : (int, int), optional
        Only score candidates whose input unit lies in ``[start, stop)`` (for processing a
        large layer in chunks); default all inputs.

    Returns
    -------
    cand_rows, cand_cols : ndarray of shape (k,), int64
        Missing links with at least one path of length 3, sorted by (row, col).
    scores : ndarray of shape (k,), float64
        Their CH3-L3 scores (dimensionless, > 0).

    Notes
    -----
    Cost is O(sum over middle links (p, o) of deg(o) deg(p)), about ``n_links * d**2`` for
    mean degree ``d``; memory is O(n_links + k). No ``n_in x n_out`` array is built.

    Examples
    --------
    >>> r, c, s = ch3_l3_scores_sparse(Links(np.array([0, 1, 1]), np.array([0, 0, 1]), (2, 2)))
    >>> (r.tolist(), c.tolist(), s.round(4).tolist())
    ([0], [1], [1.0])
    """
    links = Links.of(links)
    start, stop = _row_range(row_range, links.n_in)
    return _kernels.all_scores(
        *_kernel_inputs(links.rows, links.cols, *links.shape), True, start, stop
    )


def ch3_l3_scores(mask: np.ndarray) -> np.ndarray:
    """CH3-L3 score of every missing link of a bipartite layer (dense; for small layers).

    Parameters
    ----------
    mask : ndarray of shape (n_in, n_out), dtype bool
        ``mask[i, j]`` is True when the link from input ``i`` to output ``j`` exists.

    Returns
    -------
    ndarray of shape (n_in, n_out), float64
        Score of each missing link (0 where no path of length 3 exists); 0 at existing links.
        ``ch3_l3_scores(mask.T) == ch3_l3_scores(mask).T``.

    Examples
    --------
    >>> m = np.array([[1, 0], [1, 1]], dtype=bool)
    >>> ch3_l3_scores(m)
    array([[0., 1.],
           [0., 0.]])
    """
    mask = _check_mask(mask)
    return _to_dense(ch3_l3_scores_sparse(Links.from_mask(mask)), *mask.shape)


# --- L3 ----------------------------------------------------------------------------------------


def l3_scores_sparse(links: Links, row_range: tuple[int, int] | None = None) -> Candidates:
    """Number of paths of length 3 of the missing links that have one, from a link list.

    Computed as the sparse product ``M[rows] @ (Mᵀ M)`` restricted to ``row_range``.

    Parameters
    ----------
    links : Links
        The existing links of the layer.
    row_range : (int, int), optional
        Only candidates with input unit in ``[start, stop)``.

    Returns
    -------
    cand_rows, cand_cols : ndarray of shape (k,), int64
        Missing links with at least one L3 path, sorted by (row, col).
    scores : ndarray of shape (k,), float64
        Path counts (integers stored as float).
    """
    links = Links.of(links)
    adj = _adjacency(links.rows, links.cols, *links.shape)
    start, stop = _row_range(row_range, links.n_in)
    block = adj[start:stop]
    paths = (block @ (adj.T @ adj)).tocsr()
    # zero the existing links, whose walks include non-simple ones and which are not candidates
    paths = paths - paths.multiply(block)
    paths.eliminate_zeros()
    paths.sort_indices()
    coo = paths.tocoo()
    return coo.row.astype(np.int64) + start, coo.col.astype(np.int64), coo.data.astype(np.float64)


def l3_scores(mask: np.ndarray) -> np.ndarray:
    """Number of paths of length 3 joining each missing link (dense; for small layers).

    Parameters
    ----------
    mask : ndarray of shape (n_in, n_out), dtype bool

    Returns
    -------
    ndarray of shape (n_in, n_out), float64
        ``(M Mᵀ M)[i, j]`` at missing links, 0 at existing links; ``l3_scores(mask.T)`` is the
        transpose.

    Examples
    --------
    >>> l3_scores(np.array([[1, 0], [1, 1]], dtype=bool))
    array([[0., 1.],
           [0., 0.]])
    """
    mask = _check_mask(mask)
    return _to_dense(l3_scores_sparse(Links.from_mask(mask)), *mask.shape)


#: link-prediction scores of missing links by name: ``score(links, row_range) -> candidates``
LINK_PREDICTORS: Registry = Registry("link-prediction rule")
LINK_PREDICTORS.register(
    "ch3l3", ch3_l3_scores_sparse, help="Cannistraci-Hebb CH3-L3 (the official CHT kernel's score)"
)
LINK_PREDICTORS.register("l3", l3_scores_sparse, help="number of paths of length 3")

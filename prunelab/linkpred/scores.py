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
        raise ConfigError(f"rows and cols must have the same length, got {rows.size} and {cols.size}")
    if n_in < 1 or n_out < 1:
        raise ConfigError(f"layer sizes must be >= 1, got {n_in}x{n_out}")
    if rows.size and (rows.min() < 0 or rows.max() >= n_in or cols.min() < 0 or cols.max() >= n_out):
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

# Hand-written kernels because the CH3-L3 score is not a matrix product: the factor of each path
# depends on both endpoints (|N(o) ∩ N(j)| and |N(p) ∩ N(i)|). Per input i they use scratch
# arrays of length n_in/n_out only, so memory stays O(links + candidates kept).
@numba.njit(cache=True)
def _score_row(i, out_ptr, out_idx, in_ptr, in_idx, deg_in, deg_out, inv_sqrt, weighted,
               allowed_out, is_nb, cnt_in, cnt_out, acc, touched_p, touched_j, touched_acc):  # pragma: no cover - numba
    """Accumulate the scores of the missing links (i, j) in ``acc``; return how many j were touched.

    The caller reads ``acc[touched_acc[:n]]`` and resets those entries to zero; every other
    scratch array is left zeroed. ``weighted=False`` counts paths (L3) instead of CH3-L3.
    """
    for a in range(out_ptr[i], out_ptr[i + 1]):
        is_nb[out_idx[a]] = True
    n_p = 0
    if weighted:
        for a in range(out_ptr[i], out_ptr[i + 1]):
            o = out_idx[a]
            for b in range(in_ptr[o], in_ptr[o + 1]):
                p = in_idx[b]
                if cnt_in[p] == 0:
                    touched_p[n_p] = p
                    n_p += 1
                cnt_in[p] += 1
    n_acc = 0
    for a in range(out_ptr[i], out_ptr[i + 1]):
        o = out_idx[a]
        n_j = 0
        if weighted:
            for b in range(in_ptr[o], in_ptr[o + 1]):
                p = in_idx[b]
                for c in range(out_ptr[p], out_ptr[p + 1]):
                    j = out_idx[c]
                    if cnt_out[j] == 0:
                        touched_j[n_j] = j
                        n_j += 1
                    cnt_out[j] += 1
        for b in range(in_ptr[o], in_ptr[o + 1]):
            p = in_idx[b]
            if p == i:
                continue
            g = inv_sqrt[deg_in[p] - cnt_in[p]] if weighted else 1.0
            for c in range(out_ptr[p], out_ptr[p + 1]):
                j = out_idx[c]
                if is_nb[j] or not allowed_out[j]:
                    continue
                if acc[j] == 0.0:
                    touched_acc[n_acc] = j
                    n_acc += 1
                acc[j] += g * inv_sqrt[deg_out[o] - cnt_out[j]] if weighted else 1.0
        for t in range(n_j):
            cnt_out[touched_j[t]] = 0
    for a in range(out_ptr[i], out_ptr[i + 1]):
        is_nb[out_idx[a]] = False
    for t in range(n_p):
        cnt_in[touched_p[t]] = 0
    return n_acc


@numba.njit(cache=True)
def _scratch(n_in, n_out):  # pragma: no cover - numba
    return (np.zeros(n_out, dtype=np.bool_), np.zeros(n_in, dtype=np.int64), np.zeros(n_out, dtype=np.int64),
            np.zeros(n_out, dtype=np.float64), np.empty(n_in, dtype=np.int64), np.empty(n_out, dtype=np.int64),
            np.empty(n_out, dtype=np.int64))


@numba.njit(cache=True)
def _all_scores(out_ptr, out_idx, in_ptr, in_idx, deg_in, deg_out, inv_sqrt, weighted, start, stop):  # pragma: no cover - numba
    """Every positively scored missing link with input in [start, stop), sorted by (row, col)."""
    n_in = out_ptr.shape[0] - 1
    n_out = in_ptr.shape[0] - 1
    is_nb, cnt_in, cnt_out, acc, touched_p, touched_j, touched_acc = _scratch(n_in, n_out)
    allowed_out = np.ones(n_out, dtype=np.bool_)
    cap = 1024
    res_r = np.empty(cap, dtype=np.int64)
    res_c = np.empty(cap, dtype=np.int64)
    res_s = np.empty(cap, dtype=np.float64)
    n_res = 0
    for i in range(start, stop):
        n_acc = _score_row(i, out_ptr, out_idx, in_ptr, in_idx, deg_in, deg_out, inv_sqrt, weighted,
                           allowed_out, is_nb, cnt_in, cnt_out, acc, touched_p, touched_j, touched_acc)
        if n_res + n_acc > cap:
            while n_res + n_acc > cap:
                cap *= 2
            new_r = np.empty(cap, dtype=np.int64)
            new_c = np.empty(cap, dtype=np.int64)
            new_s = np.empty(cap, dtype=np.float64)
            new_r[:n_res] = res_r[:n_res]
            new_c[:n_res] = res_c[:n_res]
            new_s[:n_res] = res_s[:n_res]
            res_r, res_c, res_s = new_r, new_c, new_s
        js = np.sort(touched_acc[:n_acc])
        for t in range(n_acc):
            j = js[t]
            res_r[n_res] = i
            res_c[n_res] = j
            res_s[n_res] = acc[j]
            n_res += 1
            acc[j] = 0.0
    return res_r[:n_res].copy(), res_c[:n_res].copy(), res_s[:n_res].copy()


@numba.njit(cache=True)
def _uniform(seed, key):  # pragma: no cover - numba
    """A uniform number in (0, 1) from (seed, key) by splitmix64: order-independent randomness."""
    z = np.uint64(seed) + np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (np.float64(z >> np.uint64(11)) + 0.5) / 9007199254740992.0


@numba.njit(cache=True)
def _heap_less(k1, k2, a, b):  # pragma: no cover - numba
    return k1[a] < k1[b] or (k1[a] == k1[b] and k2[a] < k2[b])


@numba.njit(cache=True)
def _heap_swap(k1, k2, hr, hc, a, b):  # pragma: no cover - numba
    k1[a], k1[b] = k1[b], k1[a]
    k2[a], k2[b] = k2[b], k2[a]
    hr[a], hr[b] = hr[b], hr[a]
    hc[a], hc[b] = hc[b], hc[a]


@numba.njit(cache=True)
def _top_k(out_ptr, out_idx, in_ptr, in_idx, deg_in, deg_out, inv_sqrt, weighted,
           allowed_in, allowed_out, k, soft, seed):  # pragma: no cover - numba
    """The k best missing links by key, kept in a min-heap while scores stream by.

    Hard: key = (score rounded to float32, u), i.e. best score first, ties in random order.
    Soft: key = log(u) / score (Efraimidis–Spirakis), i.e. sampling without replacement with
    probability proportional to the score. ``u`` is a hash of (seed, linear index).
    """
    n_in = out_ptr.shape[0] - 1
    n_out = in_ptr.shape[0] - 1
    is_nb, cnt_in, cnt_out, acc, touched_p, touched_j, touched_acc = _scratch(n_in, n_out)
    k1 = np.empty(k, dtype=np.float64)
    k2 = np.empty(k, dtype=np.float64)
    hr = np.empty(k, dtype=np.int64)
    hc = np.empty(k, dtype=np.int64)
    m = 0
    for i in range(n_in):
        if not allowed_in[i]:
            continue
        n_acc = _score_row(i, out_ptr, out_idx, in_ptr, in_idx, deg_in, deg_out, inv_sqrt, weighted,
                           allowed_out, is_nb, cnt_in, cnt_out, acc, touched_p, touched_j, touched_acc)
        for t in range(n_acc):
            j = touched_acc[t]
            score = acc[j]
            acc[j] = 0.0
            u = _uniform(seed, i * n_out + j)
            if soft:
                a1 = np.log(u) / score
                a2 = 0.0
            else:
                a1 = np.float64(np.float32(score))
                a2 = u
            if m < k:
                k1[m], k2[m], hr[m], hc[m] = a1, a2, i, j
                pos = m
                m += 1
                while pos > 0:
                    parent = (pos - 1) // 2
                    if _heap_less(k1, k2, pos, parent):
                        _heap_swap(k1, k2, hr, hc, pos, parent)
                        pos = parent
                    else:
                        break
            elif k > 0 and (a1 > k1[0] or (a1 == k1[0] and a2 > k2[0])):
                k1[0], k2[0], hr[0], hc[0] = a1, a2, i, j
                pos = 0
                while True:
                    left = 2 * pos + 1
                    right = left + 1
                    smallest = pos
                    if left < m and _heap_less(k1, k2, left, smallest):
                        smallest = left
                    if right < m and _heap_less(k1, k2, right, smallest):
                        smallest = right
                    if smallest == pos:
                        break
                    _heap_swap(k1, k2, hr, hc, pos, smallest)
                    pos = smallest
    return hr[:m].copy(), hc[:m].copy()


def _kernel_inputs(rows: np.ndarray, cols: np.ndarray, n_in: int, n_out: int) -> tuple:
    adj = _adjacency(rows, cols, n_in, n_out)
    adj_t = adj.T.tocsr()
    adj_t.sort_indices()
    deg_in = np.diff(adj.indptr).astype(np.int64)
    deg_out = np.diff(adj_t.indptr).astype(np.int64)
    max_deg = int(max(deg_in.max(initial=0), deg_out.max(initial=0)))
    inv_sqrt = np.zeros(max_deg + 1, dtype=np.float64)
    inv_sqrt[1:] = 1.0 / np.sqrt(np.arange(1, max_deg + 1, dtype=np.float64))
    return (adj.indptr.astype(np.int64), adj.indices.astype(np.int64),
            adj_t.indptr.astype(np.int64), adj_t.indices.astype(np.int64), deg_in, deg_out, inv_sqrt)


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
        ``m = min(k, number of positively scored candidates)`` links, in no particular order.
        Scores equal to float32 precision count as ties.
    """
    LINK_PREDICTORS.check(rule)
    links = Links.of(links)
    n_in, n_out = links.shape
    inputs = _kernel_inputs(links.rows, links.cols, n_in, n_out)
    allowed_in = np.ones(n_in, dtype=bool) if allowed_in is None else np.asarray(allowed_in, dtype=bool)
    allowed_out = np.ones(n_out, dtype=bool) if allowed_out is None else np.asarray(allowed_out, dtype=bool)
    return _top_k(*inputs, rule == "ch3l3", allowed_in, allowed_out, int(k), bool(soft), np.uint64(seed))


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
    return _all_scores(*_kernel_inputs(links.rows, links.cols, *links.shape), True, start, stop)


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
LINK_PREDICTORS.register("ch3l3", ch3_l3_scores_sparse, help="Cannistraci-Hebb CH3-L3 (the official CHT kernel's score)")
LINK_PREDICTORS.register("l3", l3_scores_sparse, help="number of paths of length 3")

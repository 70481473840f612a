"""Numba kernels of :mod:`prunelab.linkpred.scores`: CH3-L3 / L3 scores of one input row, top-k.

Hand-written because the CH3-L3 score is not a matrix product: the factor of each path
``i - o - p - j`` depends on both endpoints (``|N(o) ∩ N(j)|`` and ``|N(p) ∩ N(i)|``). Per input
``i`` the kernels use scratch arrays of length ``n_in``/``n_out`` only, so memory stays
O(links + candidates kept). Index conventions: ``out_ptr``/``out_idx`` is the CSR of the mask
(input -> outputs), ``in_ptr``/``in_idx`` that of its transpose (output -> inputs), int64;
``deg_in[p]`` the degree of input ``p``, ``deg_out[o]`` that of output ``o``; ``inv_sqrt[d] =
1 / sqrt(d)``.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange


@numba.njit(cache=True)
def two_hop(out_ptr, out_idx, in_ptr, in_idx, allowed_out):  # pragma: no cover - numba
    """The paths ``o - p - j`` of every output ``o``, grouped by their end ``j``.

    Returns ``hop_ptr`` int64 (n_out + 1,), ``grp_j`` int32, ``grp_ptr`` int64 and ``plist``
    int32: the groups of output ``o`` are ``hop_ptr[o]:hop_ptr[o + 1]``; group ``g`` ends at
    output ``grp_j[g]`` (``!= o``, allowed) through the middle inputs
    ``plist[grp_ptr[g]:grp_ptr[g + 1]]`` (``N(o) ∩ N(j)``, in the order of ``N(o)``). Groups are
    in first-reached order. Memory O(sum over inputs of degree²).

    Why: scoring input ``i`` walks the paths of every ``o in N(i)``, so each output's 2-hop
    neighbourhood is walked once per neighbour of ``o``; on trained topologies, where CH3-L3 has
    grown hubs with in-degree 100-200, that is the bulk of the work. Built once per layer, the
    groups give ``|N(o) ∩ N(j)|`` without counting and skip a whole group when ``j`` is already
    a neighbour of ``i``, leaving one gather-add per path.
    """
    n_out = in_ptr.shape[0] - 1
    bound = 0
    for o in range(n_out):
        for b in range(in_ptr[o], in_ptr[o + 1]):
            p = in_idx[b]
            bound += out_ptr[p + 1] - out_ptr[p]
    hop_ptr = np.zeros(n_out + 1, dtype=np.int64)
    grp_j = np.empty(bound, dtype=np.int32)
    grp_ptr = np.empty(bound + 1, dtype=np.int64)
    plist = np.empty(bound, dtype=np.int32)
    cnt = np.zeros(n_out, dtype=np.int64)
    pos = np.zeros(n_out, dtype=np.int64)
    touched = np.empty(n_out, dtype=np.int64)
    n_groups = 0
    n_paths = 0
    for o in range(n_out):
        n_t = 0
        for b in range(in_ptr[o], in_ptr[o + 1]):
            p = in_idx[b]
            for c in range(out_ptr[p], out_ptr[p + 1]):
                j = out_idx[c]
                if j == o or not allowed_out[j]:
                    continue
                if cnt[j] == 0:
                    touched[n_t] = j
                    n_t += 1
                cnt[j] += 1
        for t in range(n_t):
            j = touched[t]
            grp_j[n_groups + t] = j
            grp_ptr[n_groups + t] = n_paths
            pos[j] = n_paths
            n_paths += cnt[j]
            cnt[j] = 0
        for b in range(in_ptr[o], in_ptr[o + 1]):
            p = in_idx[b]
            for c in range(out_ptr[p], out_ptr[p + 1]):
                j = out_idx[c]
                if j == o or not allowed_out[j]:
                    continue
                plist[pos[j]] = p
                pos[j] += 1
        n_groups += n_t
        hop_ptr[o + 1] = n_groups
    grp_ptr[n_groups] = n_paths
    return hop_ptr, grp_j[:n_groups].copy(), grp_ptr[: n_groups + 1].copy(), plist[:n_paths].copy()


@numba.njit(cache=True)
def _score_row(
    i,
    out_ptr,
    out_idx,
    in_ptr,
    in_idx,
    deg_in,
    deg_out,
    inv_sqrt,
    weighted,
    hop_ptr,
    grp_j,
    grp_ptr,
    plist,
    is_nb,
    cnt_in,
    g,
    acc,
    touched_p,
    touched_acc,
):  # pragma: no cover - numba
    """Accumulate the scores of the missing links (i, j) in ``acc``; return how many j were touched.

    The caller reads ``acc[touched_acc[:n]]`` and resets those entries to zero; every other
    scratch array is left as it was. ``weighted=False`` counts paths (L3) instead of CH3-L3.
    ``hop_ptr, grp_j, grp_ptr, plist`` are the paths of :func:`two_hop`.

    Path ``i - o - p - j`` has the factor ``g(p) f(o, j)`` with ``g(p) = 1 / sqrt(deg(p) -
    |N(p) ∩ N(i)|)`` and ``f(o, j) = 1 / sqrt(deg(o) - |N(o) ∩ N(j)|)``, so the group of ``(o, j)``
    adds ``f(o, j) * sum of g(p) over the group``. Paths to existing links (``j in N(i)``, which
    includes every path through ``p == i``) are skipped a group at a time.
    """
    for a in range(out_ptr[i], out_ptr[i + 1]):
        is_nb[out_idx[a]] = True
    if weighted:
        n_p = 0
        for a in range(out_ptr[i], out_ptr[i + 1]):
            o = out_idx[a]
            for b in range(in_ptr[o], in_ptr[o + 1]):
                p = in_idx[b]
                if cnt_in[p] == 0:
                    touched_p[n_p] = p
                    n_p += 1
                cnt_in[p] += 1
        for t in range(n_p):
            p = touched_p[t]
            g[p] = inv_sqrt[deg_in[p] - cnt_in[p]]
            cnt_in[p] = 0
    n_acc = 0
    for a in range(out_ptr[i], out_ptr[i + 1]):
        o = out_idx[a]
        for grp in range(hop_ptr[o], hop_ptr[o + 1]):
            j = grp_j[grp]
            if is_nb[j]:
                continue
            start = grp_ptr[grp]
            end = grp_ptr[grp + 1]
            if acc[j] == 0.0:
                touched_acc[n_acc] = j
                n_acc += 1
            if weighted:
                part = 0.0
                for t in range(start, end):
                    part += g[plist[t]]
                acc[j] += part * inv_sqrt[deg_out[o] - (end - start)]
            else:
                acc[j] += end - start
    for a in range(out_ptr[i], out_ptr[i + 1]):
        is_nb[out_idx[a]] = False
    return n_acc


@numba.njit(cache=True)
def _scratch(n_in, n_out):  # pragma: no cover - numba
    """Per-row scratch of :func:`_score_row`: is_nb, cnt_in, g, acc, touched_p, touched_acc."""
    return (
        np.zeros(n_out, dtype=np.bool_),
        np.zeros(n_in, dtype=np.int64),
        np.zeros(n_in, dtype=np.float64),
        np.zeros(n_out, dtype=np.float64),
        np.empty(n_in, dtype=np.int64),
        np.empty(n_out, dtype=np.int64),
    )


@numba.njit(cache=True)
def all_scores(
    out_ptr, out_idx, in_ptr, in_idx, deg_in, deg_out, inv_sqrt, weighted, start, stop
):  # pragma: no cover - numba
    """Every positively scored missing link with input in [start, stop), sorted by (row, col)."""
    n_in = out_ptr.shape[0] - 1
    n_out = in_ptr.shape[0] - 1
    is_nb, cnt_in, g, acc, touched_p, touched_acc = _scratch(n_in, n_out)
    hop_ptr, grp_j, grp_ptr, plist = two_hop(
        out_ptr, out_idx, in_ptr, in_idx, np.ones(n_out, dtype=np.bool_)
    )
    cap = 1024
    res_r = np.empty(cap, dtype=np.int64)
    res_c = np.empty(cap, dtype=np.int64)
    res_s = np.empty(cap, dtype=np.float64)
    n_res = 0
    for i in range(start, stop):
        n_acc = _score_row(
            i,
            out_ptr,
            out_idx,
            in_ptr,
            in_idx,
            deg_in,
            deg_out,
            inv_sqrt,
            weighted,
            hop_ptr,
            grp_j,
            grp_ptr,
            plist,
            is_nb,
            cnt_in,
            g,
            acc,
            touched_p,
            touched_acc,
        )
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
def _heap_push(k1, k2, hr, hc, m, k, a1, a2, i, j):  # pragma: no cover - numba
    """Offer key (a1, a2) of link (i, j) to the min-heap of the k best (m entries); new m."""
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
    return m


@numba.njit(cache=True, parallel=True)
def top_k(
    out_ptr,
    out_idx,
    in_ptr,
    in_idx,
    deg_in,
    deg_out,
    inv_sqrt,
    weighted,
    allowed_in,
    allowed_out,
    k,
    soft,
    seed,
    n_chunks,
):  # pragma: no cover - numba
    """The k best missing links by key, sorted by (row, col).

    Hard: key = (score rounded to float32, u), i.e. best score first, ties in random order.
    Soft: key = log(u) / score (Efraimidis–Spirakis), i.e. sampling without replacement with
    probability proportional to the score. ``u`` is a hash of (seed, linear index).

    The input rows are dealt round-robin to ``n_chunks`` chunks (one per thread; passed in, as
    ``numba.get_num_threads()`` inside the kernel would stop it from being cached); each chunk
    streams its scores through its own size-k min-heap, and the k best of the chunks' heaps are the k best overall.
    Keys are unique (the hash ``u`` of distinct links differs; the linear index breaks any exact
    tie), so the result does not depend on the number of threads.
    """
    n_in = out_ptr.shape[0] - 1
    n_out = in_ptr.shape[0] - 1
    n_chunks = max(1, min(n_chunks, n_in))
    k1 = np.empty((n_chunks, k), dtype=np.float64)
    k2 = np.empty((n_chunks, k), dtype=np.float64)
    hr = np.empty((n_chunks, k), dtype=np.int64)
    hc = np.empty((n_chunks, k), dtype=np.int64)
    counts = np.zeros(n_chunks, dtype=np.int64)
    hop_ptr, grp_j, grp_ptr, plist = two_hop(out_ptr, out_idx, in_ptr, in_idx, allowed_out)
    for chunk in prange(n_chunks):
        is_nb, cnt_in, g, acc, touched_p, touched_acc = _scratch(n_in, n_out)
        c1, c2, cr, cc = k1[chunk], k2[chunk], hr[chunk], hc[chunk]
        m = 0
        for i in range(chunk, n_in, n_chunks):
            if not allowed_in[i]:
                continue
            n_acc = _score_row(
                i,
                out_ptr,
                out_idx,
                in_ptr,
                in_idx,
                deg_in,
                deg_out,
                inv_sqrt,
                weighted,
                hop_ptr,
                grp_j,
                grp_ptr,
                plist,
                is_nb,
                cnt_in,
                g,
                acc,
                touched_p,
                touched_acc,
            )
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
                m = _heap_push(c1, c2, cr, cc, m, k, a1, a2, i, j)
        counts[chunk] = m
    total = counts.sum()
    a1s = np.empty(total, dtype=np.float64)
    a2s = np.empty(total, dtype=np.float64)
    rows = np.empty(total, dtype=np.int64)
    cols = np.empty(total, dtype=np.int64)
    pos = 0
    for chunk in range(n_chunks):
        m = counts[chunk]
        a1s[pos : pos + m] = k1[chunk, :m]
        a2s[pos : pos + m] = k2[chunk, :m]
        rows[pos : pos + m] = hr[chunk, :m]
        cols[pos : pos + m] = hc[chunk, :m]
        pos += m
    # best first: by a1, then a2, then the linear index (three stable sorts, least key first)
    order = np.argsort(rows * n_out + cols, kind="mergesort")
    order = order[np.argsort(-a2s[order], kind="mergesort")]
    order = order[np.argsort(-a1s[order], kind="mergesort")]
    best = order[: min(k, total)]
    rows, cols = rows[best], cols[best]
    by_link = np.argsort(rows * n_out + cols)
    return rows[by_link].copy(), cols[by_link].copy()

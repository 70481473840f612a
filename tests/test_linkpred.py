"""Link prediction scores against brute-force path enumeration on small bipartite graphs."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from prunelab.core.links import Links
from prunelab.errors import ConfigError
from prunelab.linkpred import (
    ch3_l3_scores,
    ch3_l3_scores_sparse,
    l3_scores,
    l3_scores_sparse,
    top_scored_missing_links,
)


def _neighbours(mask: np.ndarray) -> dict[int, set[int]]:
    """Monopartite adjacency: inputs are nodes 0..n_in-1, outputs n_in..n_in+n_out-1."""
    n_in, n_out = mask.shape
    nb: dict[int, set[int]] = {v: set() for v in range(n_in + n_out)}
    for i, j in zip(*np.nonzero(mask), strict=True):
        nb[int(i)].add(n_in + int(j))
        nb[n_in + int(j)].add(int(i))
    return nb


def _l3_paths(nb: dict[int, set[int]], s: int, t: int) -> list[tuple[int, int]]:
    """Simple paths s - a - b - t (intermediate nodes a, b) in the monopartite graph."""
    return [(a, b) for a in nb[s] for b in nb[a] if b not in (s, t) and a != t and t in nb[b]]


def brute_ch3_l3(mask: np.ndarray) -> np.ndarray:
    """CH3-L3 from its general definition (Muscoloni et al.; the official CHT kernel).

    Local community = all intermediate nodes of the L3 paths between s and t; the external
    degree of a node counts its neighbours outside the local community other than s and t.
    """
    n_in, n_out = mask.shape
    nb = _neighbours(mask)
    scores = np.zeros(mask.shape)
    for i, j in itertools.product(range(n_in), range(n_out)):
        if mask[i, j]:
            continue
        s, t = i, n_in + j
        paths = _l3_paths(nb, s, t)
        community = {v for path in paths for v in path}
        ext = {v: len(nb[v] - community - {s, t}) for v in community}
        scores[i, j] = sum(1.0 / math.sqrt((1 + ext[a]) * (1 + ext[b])) for a, b in paths)
    return scores


def brute_l3(mask: np.ndarray) -> np.ndarray:
    n_in, n_out = mask.shape
    nb = _neighbours(mask)
    scores = np.zeros(mask.shape)
    for i, j in itertools.product(range(n_in), range(n_out)):
        if not mask[i, j]:
            scores[i, j] = len(_l3_paths(nb, i, n_in + j))
    return scores


def random_masks():
    rng = np.random.default_rng(7)
    for shape, density in [
        ((5, 6), 0.3),
        ((8, 7), 0.25),
        ((9, 12), 0.4),
        ((12, 10), 0.15),
        ((6, 6), 0.7),
    ]:
        for _ in range(3):
            yield rng.random(shape) < density


@pytest.mark.parametrize("mask", list(random_masks()))
def test_ch3_l3_matches_brute_force(mask):
    np.testing.assert_allclose(ch3_l3_scores(mask), brute_ch3_l3(mask), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mask", list(random_masks()))
def test_l3_matches_brute_force(mask):
    np.testing.assert_array_equal(l3_scores(mask), brute_l3(mask))


def test_hand_computed_example():
    # inputs 0,1; outputs 0,1; links 0-0, 1-0, 1-1. Only missing link (0, 1): path 0-o0-p1-1.
    # deg(o0)=2, |N(o0) ∩ N(j1)| = |{0,1} ∩ {1}| = 1 -> 1; deg(p1)=2, |N(p1) ∩ N(i0)| = 1 -> 1.
    mask = np.array([[1, 0], [1, 1]], dtype=bool)
    np.testing.assert_allclose(ch3_l3_scores(mask), [[0, 1], [0, 0]])


@pytest.mark.parametrize("mask", list(random_masks())[:6])
def test_transpose_symmetry_and_zero_at_links(mask):
    s = ch3_l3_scores(mask)
    np.testing.assert_allclose(ch3_l3_scores(mask.T), s.T, rtol=1e-12)
    np.testing.assert_array_equal(l3_scores(mask.T), l3_scores(mask).T)
    assert np.all(s[mask] == 0) and np.all(s >= 0)


def test_sparse_variants_and_row_chunks_agree_with_dense():
    rng = np.random.default_rng(3)
    mask = rng.random((40, 30)) < 0.1
    rows, cols = np.nonzero(mask)
    for dense_fn, sparse_fn in [
        (ch3_l3_scores, ch3_l3_scores_sparse),
        (l3_scores, l3_scores_sparse),
    ]:
        dense = dense_fn(mask)
        r, c, s = sparse_fn(Links(rows, cols, (40, 30)))
        assert np.all(s > 0) and not mask[r, c].any()
        assert r.size == np.count_nonzero(dense)
        np.testing.assert_allclose(dense[r, c], s)
        parts = [
            sparse_fn(Links(rows, cols, (40, 30)), row_range=(a, min(a + 7, 40)))
            for a in range(0, 40, 7)
        ]
        np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), r)
        np.testing.assert_allclose(np.concatenate([p[2] for p in parts]), s)


def test_empty_and_full_layers():
    assert not ch3_l3_scores(np.zeros((3, 4), bool)).any()
    assert not ch3_l3_scores(np.ones((3, 4), bool)).any()
    r, c, s = ch3_l3_scores_sparse(Links(np.array([], int), np.array([], int), (3, 4)))
    assert r.size == c.size == s.size == 0


@pytest.mark.parametrize("rule,dense_fn", [("ch3l3", ch3_l3_scores), ("l3", l3_scores)])
def test_top_k_takes_highest_scores(rule, dense_fn):
    rng = np.random.default_rng(11)
    mask = rng.random((30, 25)) < 0.12
    rows, cols = np.nonzero(mask)
    scores = dense_fn(mask)
    n_pos = np.count_nonzero(scores)
    k = n_pos // 3
    r, c = top_scored_missing_links(rule, Links(rows, cols, (30, 25)), k, seed=5)
    assert r.size == k and len(set(zip(r.tolist(), c.tolist(), strict=True))) == k
    chosen = np.zeros_like(mask)
    chosen[r, c] = True
    assert scores[chosen].min() >= np.float32(scores[~chosen & ~mask].max())
    r_all, _ = top_scored_missing_links(rule, Links(rows, cols, (30, 25)), 10 * n_pos, seed=5)
    assert r_all.size == n_pos  # never more than the positively scored candidates


def test_top_k_ties_broken_at_random():
    # every missing link of a 4-cycle-free "two stars" graph ties; different seeds pick differently
    mask = np.zeros((6, 6), bool)
    mask[0, :] = True
    mask[:, 0] = True
    rows, cols = np.nonzero(mask)
    picks = {
        tuple(
            sorted(
                zip(
                    *map(
                        np.ndarray.tolist,
                        top_scored_missing_links("l3", Links(rows, cols, (6, 6)), 3, seed=s),
                    ),
                    strict=True,
                )
            )
        )
        for s in range(20)
    }
    assert len(picks) > 5


def test_soft_sampling_is_proportional_to_score():
    mask = np.array([[1, 1, 0, 0], [1, 0, 1, 0], [0, 1, 1, 1]], dtype=bool)
    rows, cols = np.nonzero(mask)
    scores = ch3_l3_scores(mask)
    cand = np.argwhere(scores > 0)
    p = scores[scores > 0] / scores.sum()
    counts = np.zeros(len(cand))
    n = 4000
    for seed in range(n):
        r, c = top_scored_missing_links("ch3l3", Links(rows, cols, (3, 4)), 1, seed=seed, soft=True)
        counts[np.flatnonzero((cand[:, 0] == r[0]) & (cand[:, 1] == c[0]))[0]] += 1
    np.testing.assert_allclose(counts / n, p, atol=4 * np.sqrt(p * (1 - p) / n).max())


def test_allowed_units_respected():
    rng = np.random.default_rng(2)
    mask = rng.random((20, 20)) < 0.2
    rows, cols = np.nonzero(mask)
    allowed_in = np.arange(20) % 2 == 0
    allowed_out = np.arange(20) < 10
    r, c = top_scored_missing_links(
        "ch3l3",
        Links(rows, cols, (20, 20)),
        50,
        seed=1,
        allowed_in=allowed_in,
        allowed_out=allowed_out,
    )
    assert r.size > 0 and allowed_in[r].all() and allowed_out[c].all()


def test_bad_input_is_one_line_config_error():
    for bad in (np.zeros(3, bool), np.full((2, 2), 0.5)):
        with pytest.raises(ConfigError) as err:
            ch3_l3_scores(bad)
        assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="duplicate"):
        ch3_l3_scores_sparse(Links(np.array([0, 0]), np.array([1, 1]), (2, 2)))
    with pytest.raises(ConfigError, match="out of range"):
        l3_scores_sparse(Links(np.array([5]), np.array([0]), (2, 2)))
    with pytest.raises(ConfigError, match="unknown link-prediction rule"):
        top_scored_missing_links("ch2", Links(np.array([0]), np.array([0]), (2, 2)), 1, seed=0)


@pytest.mark.parametrize("soft", [False, True])
def test_top_k_is_the_same_with_one_and_two_threads(soft):
    import numba

    rng = np.random.default_rng(21)
    mask = rng.random((80, 60)) < 0.08
    mask[:, 0] = True  # a hub, as CH3-L3 regrowth grows them
    rows, cols = np.nonzero(mask)
    old = numba.get_num_threads()
    picks = []
    try:
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(threads)
            picks.append(
                top_scored_missing_links(
                    "ch3l3", Links(rows, cols, (80, 60)), 150, seed=3, soft=soft
                )
            )
    finally:
        numba.set_num_threads(old)
    for a, b in zip(*picks, strict=True):
        np.testing.assert_array_equal(a, b)
    lin = picks[0][0] * 60 + picks[0][1]
    assert np.all(np.diff(lin) > 0)  # sorted by (row, col), no duplicates

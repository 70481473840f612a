"""Graph measures on layered masks (brute force on tiny graphs) and degree-preserving rewiring."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from scipy import stats

from prunelab.errors import ConfigError
from prunelab.graph import (
    has_unique_realization,
    largest_component,
    log_path_count,
    path_connectivity,
    rewire,
    rewire_network,
    structure_summary,
    units_on_paths,
)


def random_network(sizes, density, seed):
    rng = np.random.default_rng(seed)
    return [rng.random((a, b)) < density for a, b in zip(sizes[:-1], sizes[1:], strict=False)]


def brute_paths(masks):
    """Every input -> output path as a tuple of unit indices, by enumeration."""
    sizes = [masks[0].shape[0]] + [m.shape[1] for m in masks]
    return [
        p
        for p in itertools.product(*map(range, sizes))
        if all(masks[k][p[k], p[k + 1]] for k in range(len(masks)))
    ]


def brute_lcc(masks):
    sizes = [masks[0].shape[0]] + [m.shape[1] for m in masks]
    nodes = [(k, i) for k, n in enumerate(sizes) for i in range(n)]
    nbrs = {v: set() for v in nodes}
    for k, m in enumerate(masks):
        for i, j in zip(*np.nonzero(m), strict=False):
            nbrs[(k, i)].add((k + 1, j))
            nbrs[(k + 1, j)].add((k, i))
    seen, best = set(), 0
    for v in nodes:
        if v in seen:
            continue
        stack, comp = [v], 0
        seen.add(v)
        while stack:
            u = stack.pop()
            comp += 1
            for w in nbrs[u] - seen:
                seen.add(w)
                stack.append(w)
        best = max(best, comp)
    return best, len(nodes)


@pytest.mark.parametrize("seed", range(6))
def test_structure_matches_brute_force(seed):
    masks = random_network([4, 3, 5, 3], 0.35, seed)
    paths = brute_paths(masks)
    got = log_path_count(masks)
    assert (got == -np.inf) if not paths else np.isclose(got, np.log(len(paths)))
    on = units_on_paths(masks)
    for k in range(len(on)):
        assert set(np.flatnonzero(on[k])) == {p[k] for p in paths}
    pc = path_connectivity(masks)
    n_in_on, n_out_on = len({p[0] for p in paths}), len({p[-1] for p in paths})
    assert pc.input_fraction == n_in_on / 4 and pc.output_fraction == n_out_on / 3
    assert pc.fraction == (n_in_on + n_out_on) / 7
    size, frac = largest_component(masks)
    assert (size, frac) == (brute_lcc(masks)[0], brute_lcc(masks)[0] / 15)


def test_structure_accepts_sparse_torch_and_dense_alike():
    masks = random_network([6, 5, 4], 0.4, 1)
    mixed = [sp.csr_matrix(masks[0]), torch.as_tensor(masks[1])]
    assert structure_summary(masks) == structure_summary(mixed)


def test_log_path_count_does_not_overflow():
    # 10 inputs and 400 complete 10x10 layers: 10 * 10**400 paths, far beyond float64
    masks = [np.ones((10, 10), dtype=bool)] * 400
    assert np.isclose(log_path_count(masks), 401 * np.log(10))


def test_disconnected_network_has_no_paths():
    masks = [np.eye(3, dtype=bool), np.zeros((3, 2), dtype=bool)]
    assert log_path_count(masks) == -np.inf
    assert path_connectivity(masks).fraction == 0.0
    assert largest_component(masks) == (2, 2 / 8)


def test_network_shape_mismatch_is_one_line_error():
    with pytest.raises(ConfigError, match="masks\\[0\\] has 3 outputs") as info:
        log_path_count([np.ones((2, 3), bool), np.ones((4, 2), bool)])
    assert "\n" not in str(info.value)


# --- rewiring -------------------------------------------------------------------------------


def degrees(m):
    m = np.asarray(m.toarray() if sp.issparse(m) else m)
    return m.sum(axis=0), m.sum(axis=1)


@pytest.mark.parametrize("method", ["curveball", "swap"])
@pytest.mark.parametrize("shape", [(100, 150), (150, 100)])
def test_rewire_preserves_every_degree_and_mixes(method, shape):
    mask = np.random.default_rng(0).random(shape) < 0.1
    out = rewire(mask, method=method, seed=1)
    assert out.dtype == bool and out.shape == mask.shape
    for a, b in zip(degrees(mask), degrees(out), strict=False):
        np.testing.assert_array_equal(a, b)
    # a well-mixed graph keeps link (i, j) with probability ~ k_i k_j / L (configuration model)
    k_in, k_out, n_links = mask.sum(1), mask.sum(0), mask.sum()
    expected = (np.outer(k_in, k_out)[mask] / n_links).sum() / n_links
    assert abs((out & mask).sum() / n_links - expected) < 0.03


def test_rewire_returns_same_kind_and_is_reproducible():
    mask = np.random.default_rng(3).random((20, 25)) < 0.2
    for kind in (sp.csr_matrix, sp.csr_array, sp.coo_array):
        out = rewire(kind(mask), seed=5)
        assert type(out) is type(kind(mask)) and out.format == kind(mask).format
        np.testing.assert_array_equal(out.toarray(), rewire(mask, seed=5))
    t = rewire(torch.as_tensor(mask), seed=5)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.bool
    np.testing.assert_array_equal(t.numpy(), rewire(mask, seed=5))
    assert not np.array_equal(rewire(mask, seed=5), rewire(mask, seed=6))


def test_rewire_edges_moved():
    mask = np.random.default_rng(4).random((40, 40)) < 0.1
    assert np.array_equal(rewire(mask, n_swaps=0, seed=0), mask)
    for n_swaps in (1, 5, 20):
        out = rewire(mask, n_swaps=n_swaps, method="swap", seed=n_swaps)
        removed, added = (mask & ~out).sum(), (out & ~mask).sum()
        assert removed == added <= 2 * n_swaps
    one = rewire(np.eye(2, dtype=bool), n_swaps=1, method="curveball", seed=0)
    np.testing.assert_array_equal(one, ~np.eye(2, dtype=bool))  # the only other graph


def test_rewire_conv_mask_keeps_channel_and_row_degrees():
    mask = np.random.default_rng(2).random((8, 4, 3, 3)) < 0.3  # (out, in, kh, kw)
    out = rewire(mask, seed=0)
    flat, flat_out = mask.reshape(8, -1), out.reshape(8, -1)
    assert out.shape == mask.shape
    np.testing.assert_array_equal(flat.sum(1), flat_out.sum(1))
    np.testing.assert_array_equal(flat.sum(0), flat_out.sum(0))


@pytest.mark.parametrize(
    "mask", [np.ones((4, 5), bool), np.zeros((4, 5), bool), np.tril(np.ones((4, 4), bool))]
)
def test_rewire_unrewirable_mask_is_one_line_error(mask):
    assert has_unique_realization(mask)
    with pytest.raises(ConfigError, match="only graph with its degrees") as info:
        rewire(mask)
    assert "\n" not in str(info.value)


def test_rewire_bad_method():
    with pytest.raises(ConfigError, match="unknown rewiring method"):
        rewire(np.eye(3, dtype=bool), method="shuffle")


@pytest.mark.parametrize("method,n_swaps", [("curveball", 30), ("swap", 60)])
def test_rewire_is_uniform_on_all_graphs_with_the_degrees(method, n_swaps):
    start = np.array([[1, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 1]], dtype=bool)
    rows, cols = start.sum(1), start.sum(0)
    graphs = []
    for bits in itertools.product([0, 1], repeat=start.size):
        g = np.array(bits, dtype=bool).reshape(start.shape)
        if (g.sum(1) == rows).all() and (g.sum(0) == cols).all():
            graphs.append(g.tobytes())
    assert len(graphs) == 12  # counted by this enumeration
    index = {g: k for k, g in enumerate(graphs)}
    rng = np.random.default_rng(0)
    n_samples = 40 * len(graphs)
    counts = np.zeros(len(graphs))
    for _ in range(n_samples):
        counts[index[rewire(start, n_swaps=n_swaps, method=method, seed=rng).tobytes()]] += 1
    assert stats.chisquare(counts).pvalue > 1e-3


def test_rewire_network_keeps_unrewirable_layers():
    masks = [np.random.default_rng(0).random((10, 8)) < 0.3, np.ones((8, 3), bool)]
    out = rewire_network(masks, seed=0)
    np.testing.assert_array_equal(out[1], masks[1])
    np.testing.assert_array_equal(out[0].sum(0), masks[0].sum(0))


def test_links_values_are_accepted_and_returned():
    from prunelab.core.links import Links
    from prunelab.graph import path_connectivity, rewire

    rng = np.random.default_rng(3)
    masks = [rng.random((12, 9)) < 0.3, rng.random((9, 5)) < 0.4]
    links = [Links.from_mask(m) for m in masks]
    assert path_connectivity(links) == path_connectivity(masks)
    out = rewire(links[0], seed=1)
    assert isinstance(out, Links) and out.n_links == links[0].n_links
    np.testing.assert_array_equal(out.in_degree(), links[0].in_degree())
    np.testing.assert_array_equal(out.out_degree(), links[0].out_degree())

"""The foundations: registries, the Links value, the selection routine and its tie rule, link scores."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from prunelab.core import (
    LINK_SCORES,
    ArrayLayer,
    Links,
    Registry,
    ScoreContext,
    keep_top,
    rank,
    score_links,
    select_top,
)
from prunelab.errors import ConfigError


def test_registry_suggests_the_closest_name_and_validates_config_fields():
    from pydantic import BaseModel

    reg = Registry("colour")
    reg.register("red", 1)
    reg.register("green", "math:pi")  # lazy: imported on first lookup
    assert reg.names() == ("red", "green") and reg["green"] == pytest.approx(3.14159, rel=1e-5)
    with pytest.raises(ConfigError, match="unknown colour 'gren'; did you mean 'green'"):
        reg.get("gren")

    class Cfg(BaseModel):
        colour: reg.field() = "red"

    reg.register("blue", 3)  # registered after the class: still accepted
    assert Cfg(colour="blue").colour == "blue"
    with pytest.raises(Exception, match="did you mean 'blue'"):
        Cfg(colour="blu")


def test_links_conversions_round_trip():
    rng = np.random.default_rng(0)
    mask = rng.random((7, 5)) < 0.4
    links = Links.from_mask(mask)
    np.testing.assert_array_equal(links.to_mask(), mask)
    np.testing.assert_array_equal(links.to_csr().toarray(), mask)
    assert Links.from_mask(sp.csr_array(mask)) == links
    assert links.transpose().to_mask().tolist() == mask.T.tolist()
    assert links.density == pytest.approx(mask.mean())
    np.testing.assert_array_equal(links.in_degree(), mask.sum(0))
    np.testing.assert_array_equal(links.out_degree(), mask.sum(1))
    with pytest.raises(ConfigError, match="duplicate"):
        Links(np.array([0, 0]), np.array([1, 1]), (2, 2))
    with pytest.raises(ConfigError, match="out of range"):
        Links(np.array([2]), np.array([0]), (2, 2))


def test_selection_tie_rule_against_brute_force():
    rng = np.random.default_rng(1)
    for _ in range(50):
        n = int(rng.integers(1, 30))
        scores = rng.integers(0, 4, n).astype(float)  # many ties
        tiebreak = rng.random(n) if rng.random() < 0.5 else None
        k = int(rng.integers(0, n + 2))
        # brute force: sort by (score desc, tiebreak desc, position asc)
        key = [(-scores[i], -(tiebreak[i] if tiebreak is not None else 0.0), i) for i in range(n)]
        want = sorted(i for _, _, i in sorted(key)[:k])
        assert select_top(scores, k, tiebreak).tolist() == want
        assert sorted(rank(scores, tiebreak)[:k].tolist()) == want
        assert keep_top(scores, k, tiebreak).sum() == min(k, n)


def test_drop_ties_mode_is_the_reference_threshold():
    scores = np.array([0.1, 0.5, 0.5, 0.9, 0.5])
    assert select_top(scores, 2, ties="drop").tolist() == [3]  # the 3 tied at the boundary all go
    assert select_top(scores, 4, ties="drop").tolist() == [1, 2, 3, 4]
    with pytest.raises(ConfigError, match="NaN"):
        select_top(np.array([np.nan, 1.0]), 1)


def test_links_reject_duplicates_in_any_order():
    rows, cols = np.repeat(np.arange(30), 20), np.tile(np.arange(20), 30)
    order = np.random.default_rng(0).permutation(rows.size)
    assert Links(rows[order], cols[order], (30, 20)).n_links == 600  # unsorted, valid
    for r, c in (([0, 0, 1], [1, 1, 2]), ([2, 0, 2], [1, 0, 1])):  # adjacent, and apart
        with pytest.raises(ConfigError, match="duplicate links"):
            Links(np.array(r), np.array(c), (3, 3))


def test_link_scores_registry_and_shapes():
    layers = [ArrayLayer("a", np.array([0.5, -2.0])), ArrayLayer("b", np.array([1.0]))]
    assert [s.tolist() for s in score_links("magnitude", layers)] == [[0.5, 2.0], [1.0]]
    r1 = score_links("random", layers, ScoreContext(rng=np.random.default_rng(0)))
    r2 = score_links("random", layers, ScoreContext(rng=np.random.default_rng(0)))
    assert all(np.array_equal(a, b) for a, b in zip(r1, r2, strict=True))
    with pytest.raises(ConfigError, match="needs rng"):
        score_links("random", layers)
    with pytest.raises(ConfigError, match="needs link_grads"):
        score_links("gradient_magnitude", layers)
    assert "magnitude" in LINK_SCORES


def test_sorted_unique_and_in_sorted_equal_numpy_set_routines():
    from prunelab.core.links import in_sorted, sorted_unique

    rng = np.random.default_rng(3)
    for n, m, hi in ((0, 5, 10), (7, 0, 10), (50, 40, 30), (2000, 3000, 10**6)):
        a = rng.integers(0, hi, n)
        s = np.sort(rng.integers(0, hi, m))
        np.testing.assert_array_equal(sorted_unique(a), np.unique(a))
        np.testing.assert_array_equal(in_sorted(a, s), np.isin(a, s))

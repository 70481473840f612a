"""Link prediction on bipartite layer masks: CH3-L3 (Cannistraci–Hebb) and L3 path counts.

``ch3_l3_scores(mask)`` / ``l3_scores(mask)`` take a dense bool mask (n_in, n_out) (or a
:class:`~prunelab.core.links.Links`) and return a float array of the same shape; the ``*_sparse``
variants take a :class:`~prunelab.core.links.Links` and return only the positively scored missing
links, for layers too large to hold densely.
"""

from prunelab.linkpred.scores import (
    LINK_PREDICTORS,
    ch3_l3_scores,
    ch3_l3_scores_sparse,
    l3_scores,
    l3_scores_sparse,
    top_scored_missing_links,
)

__all__ = [
    "ch3_l3_scores",
    "l3_scores",
    "ch3_l3_scores_sparse",
    "l3_scores_sparse",
    "LINK_PREDICTORS",
    "top_scored_missing_links",
]

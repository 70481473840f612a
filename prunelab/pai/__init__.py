"""Pruning at initialisation (PaI): scores, masks and the start-of-training hook.

Public contract::

    from prunelab.pai import score, prune
    scores = score(model, method, batch)   # {weight name: float64 ndarray, that weight's layout}
    masks = prune(model, method, density, batch, rounds=None, schedule="exponential", scope="global")

Methods (:data:`PAI_METHODS`): ``random``, ``magnitude``, ``snip``, ``grasp``, ``synflow``, with
the semantics of the Synaptic-Flow reference code (Tanaka et al. 2020, arXiv:2006.05467); see
:mod:`prunelab.pai.methods` and :mod:`prunelab.pai.prune`. :func:`apply_masks` removes the pruned
links from a model's sparse layers; ``model.topology: {pai: ..., density: ...}`` in a training
config does it at the start of training (:class:`PaIHook`).
"""

from prunelab.pai import linkscores as _linkscores  # noqa: F401 - registers snip, grasp, synflow link scores
from prunelab.pai.hook import PaIHook, PaITopology, apply_masks, scoring_batches
from prunelab.pai.methods import PAI_METHODS
from prunelab.pai.prune import (
    SCHEDULES,
    SCOPES,
    masks_from_scores,
    prune,
    prune_levels,
    ranking_keys,
    score,
)
from prunelab.pai.weights import PrunableWeight, prunable_weights

__all__ = [
    "PAI_METHODS",
    "SCHEDULES",
    "SCOPES",
    "PaIHook",
    "PaITopology",
    "PrunableWeight",
    "apply_masks",
    "masks_from_scores",
    "prunable_weights",
    "prune",
    "prune_levels",
    "ranking_keys",
    "score",
    "scoring_batches",
]

"""Foundations every other subpackage builds on (and that import nothing of prunelab's but errors).

- :mod:`~prunelab.core.registry`: name -> object tables for every user-facing choice.
- :mod:`~prunelab.core.links`: :class:`Links`, the topology of one layer as a value.
- :mod:`~prunelab.core.selection`: the one routine (and tie rule) that turns scores into links.
- :mod:`~prunelab.core.scoring`: the link-score interface and its registry.
- :mod:`~prunelab.core.config`: YAML configs, ``--set`` overrides, one-line errors, hashing.
- :mod:`~prunelab.core.rng`: seeds to generators.
"""

from prunelab.core.links import Links
from prunelab.core.registry import Registry
from prunelab.core.rng import as_generator
from prunelab.core.scoring import LINK_SCORES, ArrayLayer, ScoreContext, per_layer, score_links
from prunelab.core.selection import keep_top, rank, select_top

__all__ = [
    "LINK_SCORES",
    "ArrayLayer",
    "Links",
    "Registry",
    "ScoreContext",
    "as_generator",
    "keep_top",
    "per_layer",
    "rank",
    "score_links",
    "select_top",
]

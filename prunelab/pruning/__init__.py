"""Pruning: link scores turned into masks (global or per layer), density schedules, masks of models.

The criterion of every pruning function is a link score of :data:`prunelab.core.scoring.LINK_SCORES`
(``magnitude``, ``random``, and those other subpackages register, e.g. SNIP or SynFlow); the
mechanism is :func:`keep_by_density` over :func:`prunelab.core.selection.keep_top`.
"""

from prunelab.core.scoring import LINK_SCORES
from prunelab.nn.families import MaskedConv2d, SparseCNN, layer_masks, make_cnn, make_fc
from prunelab.pruning.masks import (
    apply_masks,
    apply_rewind,
    model_masks,
    rewind_snapshot,
    scale_to_sparse_init,
)
from prunelab.pruning.schedule import geometric_schedule, validate_schedule
from prunelab.pruning.selection import (
    PRUNING_SCOPES,
    SCOPES,
    keep_by_density,
    magnitude_keep,
    model_density,
    named_prunable_layers,
    prunable_layers,
    prune_model,
    random_keep,
)

# Link scores defined beside their methods' code (same layer as pruning), registered lazily here
# so that every pruning criterion is known once prunelab.pruning is imported, not only after the
# package that defines it happens to be; importing that package replaces the entry by the function.
_LAZY_SCORES = {
    "snip": ("prunelab.pai.linkscores:snip", "SNIP |g ⊙ W| at the mask (needs batches)"),
    "grasp": ("prunelab.pai.linkscores:grasp", "GraSP −W ⊙ Hg (needs batches)"),
    "synflow": ("prunelab.pai.linkscores:synflow", "SynFlow |∂R/∂W ⊙ W| of the linearised network"),
    "game_utility": ("prunelab.game.scores:game_utility", "a link's utility in the pruning game"),
    "mode_preserving": (
        "prunelab.sufficiency.modes:mode_preserving",
        "keep the links the dominant singular values rest on",
    ),
}
for _name, (_target, _help) in _LAZY_SCORES.items():
    if _name not in LINK_SCORES:
        LINK_SCORES.register(_name, _target, help=_help)

__all__ = [
    "PRUNING_SCOPES",
    "SCOPES",
    "MaskedConv2d",
    "SparseCNN",
    "apply_masks",
    "apply_rewind",
    "geometric_schedule",
    "keep_by_density",
    "layer_masks",
    "magnitude_keep",
    "make_cnn",
    "make_fc",
    "model_density",
    "model_masks",
    "named_prunable_layers",
    "prunable_layers",
    "prune_model",
    "random_keep",
    "rewind_snapshot",
    "scale_to_sparse_init",
    "validate_schedule",
]

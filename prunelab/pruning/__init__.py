"""Pruning: mask selection (magnitude, random), density schedules and prunable model families."""

from prunelab.nn.families import MaskedConv2d, SparseCNN, layer_masks, make_cnn, make_fc
from prunelab.pruning.magnitude import (
    magnitude_keep,
    model_density,
    prunable_layers,
    prune_model,
    random_keep,
)
from prunelab.pruning.schedule import geometric_schedule, validate_schedule

__all__ = [
    "MaskedConv2d",
    "SparseCNN",
    "geometric_schedule",
    "layer_masks",
    "magnitude_keep",
    "make_cnn",
    "make_fc",
    "model_density",
    "prunable_layers",
    "prune_model",
    "random_keep",
    "validate_schedule",
]

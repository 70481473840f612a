"""Masks of a model's prunable layers: read them, impose them, rewind the weights under them.

Helpers shared by every study that prunes a dense model and retrains the result (the phase
study, its degree-preserving null, the sufficiency study): they act on the prunable layers of
:func:`prunelab.pruning.prunable_layers` in order, with masks in the (n_in, n_out) layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from prunelab.errors import ConfigError
from prunelab.pruning.selection import prunable_layers


def model_masks(model: nn.Module) -> list[np.ndarray]:
    """Bool (n_in, n_out) mask of every prunable layer, input side first (the stored form)."""
    return [layer.mask().cpu().numpy() for layer in prunable_layers(model)]


def apply_masks(model: nn.Module, masks: Sequence[np.ndarray]) -> None:
    """Give a model exactly these layer masks (links outside a mask are removed, missing ones added at 0).

    Parameters
    ----------
    model : nn.Module
        A model whose prunable layers have ``update_topology`` (e.g. :func:`prunelab.nn.families.make_fc`).
    masks : sequence of bool ndarray (n_in_k, n_out_k)
        One per prunable layer, input side first.
    """
    layers = prunable_layers(model)
    if len(layers) != len(masks):
        raise ConfigError(f"{len(masks)} masks for a model with {len(layers)} prunable layers")
    for layer, mask in zip(layers, masks, strict=True):
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (layer.n_in, layer.n_out):
            raise ConfigError(
                f"mask of shape {mask.shape} does not fit a layer of shape ({layer.n_in}, {layer.n_out})"
            )
        links = layer.links()
        keep = torch.as_tensor(mask[links.rows, links.cols])
        missing = mask.copy()
        missing[links.rows, links.cols] = False
        add_r, add_c = np.nonzero(missing)
        layer.update_topology(keep=keep, add_rows=add_r, add_cols=add_c)


def scale_to_sparse_init(model: nn.Module) -> None:
    """Multiply every prunable layer's link weights by 1/sqrt(its density), in place.

    Turns a dense-fan-in initialisation N(0, 2/fan_in) restricted to a mask into CHT's sparse one,
    N(0, 2/(density·fan_in)); layers without links are left alone.
    """
    for layer in prunable_layers(model):
        if layer.n_links > 0:
            layer.set_link_values(layer.link_values() / float(np.sqrt(layer.density)))


def rewind_snapshot(model: nn.Module) -> dict[str, Any]:
    """The weights to rewind to later (lottery-ticket style): dense weights of the prunable
    layers and every other parameter (biases, dense layers), detached copies."""
    layers = prunable_layers(model)
    kernel_ids = {id(p) for layer in layers for p in layer.kernel.weight_parameters()}
    return {
        "dense": [layer.dense_weight().clone() for layer in layers],
        "params": {
            n: p.detach().clone() for n, p in model.named_parameters() if id(p) not in kernel_ids
        },
    }


def apply_rewind(model: nn.Module, snap: dict[str, Any]) -> None:
    """Rewind the weights to a :func:`rewind_snapshot` while keeping the current masks."""
    layers = prunable_layers(model)
    with torch.no_grad():
        named = dict(model.named_parameters())
        for name, value in snap["params"].items():
            if name in named and named[name].shape == value.shape:
                named[name].copy_(value)
        for layer, dense in zip(layers, snap["dense"], strict=True):
            rows, cols = layer.link_index()
            layer.set_link_values(dense[rows, cols])

"""Measuring one network for a phase study: its order parameters on the test set and its structure."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from prunelab.nn.families import layer_masks
from prunelab.phase.observables import Observation, observe
from prunelab.phase.order import order_parameters
from prunelab.pruning import model_density, prunable_layers


def test_logits(model: nn.Module, data, batch_size: int = 2000) -> np.ndarray:
    """Logits (n_test, C) of ``model`` on ``data.x_test`` (evaluation mode, no gradients)."""
    model.eval()
    x = torch.as_tensor(np.asarray(data.x_test, dtype=np.float32))
    with torch.inference_mode():
        device = next(model.parameters()).device
        logits = (
            torch.cat(
                [model(x[i : i + batch_size].to(device)) for i in range(0, len(x), batch_size)]
            )
            .cpu()
            .numpy()
        )
    model.train()
    return logits


def measure(
    model: nn.Module, data, acc_dense: float | None, observables: Sequence[str] = ()
) -> dict[str, float]:
    """Order parameters of a model on the test set: accuracy, m, entropies, structure, weights.

    Parameters
    ----------
    model : nn.Module
        A model with prunable layers (:func:`prunelab.pruning.prunable_layers`).
    data : Dataset
        Its test split is used.
    acc_dense : float or None
        Dense accuracy (fraction), for ``m``.
    observables : sequence of str
        Further observables of :data:`prunelab.phase.observables.OBSERVABLES` to add.

    Returns
    -------
    dict
        :func:`prunelab.phase.order.order_parameters` (``graph_density`` is the density of the
        channel-level graph), ``measured_density`` (links / possible links of the prunable
        layers), ``density/layerK`` per layer, and the extra observables.
    """
    logits = test_logits(model, data)
    layers = prunable_layers(model)
    masks = layer_masks(model)
    row = order_parameters(
        logits,
        data.y_test,
        acc_dense=acc_dense,
        masks=masks,
        weights=[layer.link_values() for layer in layers],
    )
    row["graph_density"] = row.pop("density")  # density of the (channel) graph, not of the links
    row["measured_density"] = model_density(model)
    for k, layer in enumerate(layers):
        row[f"density/layer{k}"] = float(layer.density)
    if observables:
        obs = Observation(
            masks=masks,
            layers={f"layer{k}": layer for k, layer in enumerate(layers)},
            model=model,
            logits=logits,
            labels=np.asarray(data.y_test),
            acc_dense=acc_dense,
        )
        row.update(observe(observables, obs))
    return row

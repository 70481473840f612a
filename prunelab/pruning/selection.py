"""Mask selection for pruning: magnitude (global or layer-wise) and random baselines.

Functions work on per-link value vectors (one array per layer, e.g. ``layer.link_values()``) and
return per-layer keep masks aligned with those links, so they are independent of the storage
backend. :func:`prune_model` applies them to a model through ``layer.update_topology``.

Densities are *remaining densities*: kept links divided by the possible links ``n_possible``
(by default the current number of links of each layer, i.e. relative to the given network; pass
``n_in * n_out`` per layer for the fraction of the dense network, as :func:`prune_model` does).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from prunelab.core.registry import Registry
from prunelab.core.rng import as_generator
from prunelab.core.scoring import LINK_SCORES, ArrayLayer, ScoreContext, layer_view, score_links
from prunelab.core.selection import keep_top
from prunelab.errors import ConfigError, check_density
from prunelab.nn.protocol import sparse_layers


def _vectors(values: Sequence[Any]) -> list[np.ndarray]:
    if len(values) == 0:
        raise ConfigError("no layers to prune; pass one value vector per layer")
    out = []
    for v in values:
        v = v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)
        out.append(v.astype(np.float64).ravel())
    return out


def _possible(counts: np.ndarray, n_possible: Sequence[int] | None) -> np.ndarray:
    possible = counts if n_possible is None else np.asarray(n_possible, dtype=np.int64)
    if possible.shape != counts.shape or np.any(possible < counts):
        raise ConfigError(
            f"n_possible {list(possible)} must give one count >= the current links {list(counts)} per layer"
        )
    return possible


def _global_keep(
    scores: list[np.ndarray], counts: np.ndarray, possible: np.ndarray, density: float, ties: str
) -> list[np.ndarray]:
    """One ranking over all layers: ``round(density * Σ possible)`` links survive."""
    k = int(round(density * possible.sum()))
    if k > counts.sum():
        raise ConfigError(
            f"target density {density:g} needs {k} links but only {int(counts.sum())} remain; densities must not increase"
        )
    if k < 1:
        raise ConfigError(
            f"target density {density:g} leaves 0 links; use a density >= {0.5 / possible.sum():.3g}"
        )
    flat = keep_top(np.concatenate(scores), k, ties=ties)
    return np.split(flat, np.cumsum(counts)[:-1])


def _layer_keep(
    scores: list[np.ndarray], counts: np.ndarray, possible: np.ndarray, density: float, ties: str
) -> list[np.ndarray]:
    """Every layer alone: ``round(density * possible_k)`` links survive in layer k."""
    k = np.round(density * possible).astype(np.int64)
    if np.any(k > counts):
        layer = int(np.argmax(k > counts))
        raise ConfigError(
            f"target density {density:g} needs {int(k[layer])} links in layer {layer}, which has {int(counts[layer])}; "
            "densities must not increase"
        )
    if np.any(k < 1):
        layer = int(np.argmin(k))
        raise ConfigError(
            f"target density {density:g} leaves 0 links in layer {layer}; use a density >= {0.5 / possible[layer]:.3g}"
        )
    return [keep_top(s, int(kk), ties=ties) for s, kk in zip(scores, k, strict=True)]


ScopeRule = Callable[[list[np.ndarray], np.ndarray, np.ndarray, float, str], list[np.ndarray]]

#: how a target density is shared between layers
PRUNING_SCOPES: Registry[ScopeRule] = Registry("pruning scope")
PRUNING_SCOPES.register(
    "global",
    _global_keep,
    help="one ranking over all layers (layers may end up with different densities)",
)
PRUNING_SCOPES.register(
    "layer", _layer_keep, help="every layer keeps the same fraction of its possible links"
)
SCOPES = PRUNING_SCOPES.names()


def keep_by_density(
    scores: Sequence[Any],
    target_density: float,
    scope: str = "global",
    n_possible: Sequence[int] | None = None,
    ties: str = "break",
) -> list[np.ndarray]:
    """Keep the best-scored links so that the remaining density is ``target_density``.

    The one mechanism behind every pruning criterion: scores come from a link score (see
    :data:`prunelab.core.scoring.LINK_SCORES`), selection is :func:`prunelab.core.selection.keep_top`.

    Parameters
    ----------
    scores : sequence of arrays
        Per-layer scores of the links, shapes (n_links_k,); higher is kept first.
    target_density : float
        Remaining density in (0, 1]: kept links / possible links.
    scope : {"global", "layer"}
        A name in :data:`PRUNING_SCOPES`.
    n_possible : sequence of int, optional
        Possible links per layer (default: current links).
    ties : {"break", "drop"}
        Tie mode of :func:`~prunelab.core.selection.select_top`.

    Returns
    -------
    list of ndarray, dtype bool, shapes (n_links_k,)
        True for links that survive.
    """
    density = check_density(target_density, "target_density")
    rule = PRUNING_SCOPES.get(scope)
    vecs = _vectors(scores)
    counts = np.array([v.size for v in vecs], dtype=np.int64)
    return rule(vecs, counts, _possible(counts, n_possible), density, ties)


def magnitude_keep(
    values: Sequence[Any],
    target_density: float,
    scope: str = "global",
    n_possible: Sequence[int] | None = None,
) -> list[np.ndarray]:
    """Keep the links of largest ``|w|`` so that the remaining density is ``target_density``.

    Parameters
    ----------
    values : sequence of arrays
        Per-layer link values, shapes (n_links_k,) (any shape is flattened).
    target_density : float
        Remaining density in (0, 1]: kept links / possible links.
    scope : {"global", "layer"}
        ``"global"``: one threshold over all layers (layers may end up with different
        densities, even empty); ``"layer"``: every layer keeps ``round(target · n_possible_k)``.
    n_possible : sequence of int, optional
        Possible links per layer (default: current links).

    Returns
    -------
    list of ndarray, dtype bool, shapes (n_links_k,)
        True for links that survive. Ties in ``|w|`` are broken by link order.

    Raises
    ------
    ConfigError
        If the target exceeds the current density (densities must not increase) or leaves no
        link (globally, or in a layer with ``scope="layer"``).
    """
    vecs = _vectors(values)
    layers = [ArrayLayer(f"layer{k}", v) for k, v in enumerate(vecs)]
    return keep_by_density(score_links("magnitude", layers), target_density, scope, n_possible)


def random_keep(
    values: Sequence[Any],
    target_density: float,
    scope: str = "global",
    n_possible: Sequence[int] | None = None,
    rng: np.random.Generator | int | None = None,
) -> list[np.ndarray]:
    """Keep uniformly random links (the baseline of :func:`magnitude_keep`); same arguments and
    return value, values are only used for their lengths."""
    vecs = _vectors(values)
    layers = [ArrayLayer(f"layer{k}", v) for k, v in enumerate(vecs)]
    scores = score_links("random", layers, ScoreContext(rng=as_generator(rng)))
    return keep_by_density(scores, target_density, scope, n_possible)


def prunable_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The model's sparse layers (link interface), input side first (:func:`prunelab.nn.sparse_layers`)."""
    return [layer for _, layer in sparse_layers(model)]


def named_prunable_layers(model: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    """``(name, layer)`` of the prunable layers under the model naming rule (``layerK``)."""
    return sparse_layers(model)


def prune_model(
    model: torch.nn.Module,
    target_density: float,
    scope: str = "global",
    method: str = "magnitude",
    rng: np.random.Generator | int | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    ctx: ScoreContext | None = None,
) -> list[np.ndarray]:
    """Prune a model's sparse layers to a remaining density of the *dense* network.

    Parameters
    ----------
    model : torch.nn.Module
        A model whose prunable layers expose ``link_values()`` and ``update_topology(keep=...)``
        (``SparseLinear``, ``MaskedConv2d``; see :func:`prunable_layers`).
    target_density : float
        Kept links / ``n_in · n_out`` (summed over layers for ``scope="global"``), in (0, 1].
    scope : {"global", "layer"}
    method : str
        The pruning criterion: any link score of :data:`prunelab.core.scoring.LINK_SCORES`
        (``"magnitude"``, ``"random"``, and the scores other subpackages register).
    rng : numpy.random.Generator or int, optional
        Randomness of random scores (used when ``ctx`` has none).
    optimizer : torch.optim.Optimizer, optional
        Its state follows the surviving links.
    ctx : ScoreContext, optional
        What data-dependent scores need (batches, loss); ``model`` is filled in.

    Returns
    -------
    list of ndarray, dtype bool
        The keep mask applied to each layer (aligned with its links before pruning).
    """
    LINK_SCORES.check(method, "pruning method")
    named = named_prunable_layers(model)
    layers = [layer for _, layer in named]
    if not layers:
        raise ConfigError(
            f"{type(model).__name__} has no prunable layers (modules with link_values/update_topology)"
        )
    ctx = ctx if ctx is not None else ScoreContext()
    if ctx.model is None:
        ctx.model = model
    if ctx.rng is None:
        ctx.rng = as_generator(rng)
    views = [layer_view(name, layer) for name, layer in named]
    n_possible = [layer.n_in * layer.n_out for layer in layers]
    keeps = keep_by_density(score_links(method, views, ctx), target_density, scope, n_possible)
    for layer, keep in zip(layers, keeps, strict=True):
        layer.update_topology(keep=torch.as_tensor(keep), optimizer=optimizer)
    return keeps


def model_density(model: torch.nn.Module) -> float:
    """Remaining density of a model's prunable layers: links / Σ n_in · n_out."""
    layers = prunable_layers(model)
    return sum(layer.n_links for layer in layers) / sum(
        layer.n_in * layer.n_out for layer in layers
    )

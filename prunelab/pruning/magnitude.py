"""Mask selection for pruning: magnitude (global or layer-wise) and random baselines.

Functions work on per-link value vectors (one array per layer, e.g. ``layer.link_values()``) and
return per-layer keep masks aligned with those links, so they are independent of the storage
backend. :func:`prune_model` applies them to a model through ``layer.update_topology``.

Densities are *remaining densities*: kept links divided by the possible links ``n_possible``
(by default the current number of links of each layer, i.e. relative to the given network; pass
``n_in * n_out`` per layer for the fraction of the dense network, as :func:`prune_model` does).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from prunelab.errors import ConfigError, check_density

SCOPES = ("global", "layer")
METHODS = ("magnitude", "random")


def _vectors(values: Sequence[Any]) -> list[np.ndarray]:
    if len(values) == 0:
        raise ConfigError("no layers to prune; pass one value vector per layer")
    out = []
    for v in values:
        v = v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)
        out.append(v.astype(np.float64).ravel())
    return out


def _targets(counts: np.ndarray, n_possible: Sequence[int] | None, density: float, scope: str) -> np.ndarray | int:
    density = check_density(density, "target_density")
    if scope not in SCOPES:
        raise ConfigError(f"unknown pruning scope {scope!r}; choose one of {', '.join(SCOPES)}")
    possible = counts if n_possible is None else np.asarray(n_possible, dtype=np.int64)
    if possible.shape != counts.shape or np.any(possible < counts):
        raise ConfigError(f"n_possible {list(possible)} must give one count >= the current links {list(counts)} per layer")
    if scope == "global":
        k = int(round(density * possible.sum()))
        if k > counts.sum():
            raise ConfigError(
                f"target density {density:g} needs {k} links but only {int(counts.sum())} remain; densities must not increase"
            )
        if k < 1:
            raise ConfigError(f"target density {density:g} leaves 0 links; use a density >= {0.5 / possible.sum():.3g}")
        return k
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
    return k


def _split(flat_keep: np.ndarray, counts: np.ndarray) -> list[np.ndarray]:
    return np.split(flat_keep, np.cumsum(counts)[:-1])


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Bool mask of the ``k`` largest scores; ties broken by position (earlier wins)."""
    keep = np.zeros(scores.size, dtype=bool)
    keep[np.argsort(-scores, kind="stable")[:k]] = True
    return keep


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
    counts = np.array([v.size for v in vecs], dtype=np.int64)
    k = _targets(counts, n_possible, target_density, scope)
    if scope == "global":
        return _split(_top_k(np.abs(np.concatenate(vecs)), int(k)), counts)
    return [_top_k(np.abs(v), int(kk)) for v, kk in zip(vecs, k, strict=False)]


def random_keep(
    values: Sequence[Any],
    target_density: float,
    scope: str = "global",
    n_possible: Sequence[int] | None = None,
    rng: np.random.Generator | int | None = None,
) -> list[np.ndarray]:
    """Keep uniformly random links (the baseline of :func:`magnitude_keep`); same arguments and
    return value, values are only used for their lengths."""
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    vecs = _vectors(values)
    counts = np.array([v.size for v in vecs], dtype=np.int64)
    k = _targets(counts, n_possible, target_density, scope)
    if scope == "global":
        return _split(_top_k(rng.random(int(counts.sum())), int(k)), counts)
    return [_top_k(rng.random(int(c)), int(kk)) for c, kk in zip(counts, k, strict=False)]


def prunable_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    """Layers with a link interface (``link_values``, ``update_topology``, ``n_in``, ``n_out``),
    input side first: ``model.sparse_layers()`` when the model has it, else a module scan."""
    if hasattr(model, "sparse_layers"):
        return list(model.sparse_layers())
    return [m for m in model.modules() if all(hasattr(m, a) for a in ("link_values", "update_topology", "n_in", "n_out"))]


def prune_model(
    model: torch.nn.Module,
    target_density: float,
    scope: str = "global",
    method: str = "magnitude",
    rng: np.random.Generator | int | None = None,
    optimizer: torch.optim.Optimizer | None = None,
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
    method : {"magnitude", "random"}
    rng : numpy.random.Generator or int, optional
        Randomness of ``method="random"``.
    optimizer : torch.optim.Optimizer, optional
        Its state follows the surviving links.

    Returns
    -------
    list of ndarray, dtype bool
        The keep mask applied to each layer (aligned with its links before pruning).
    """
    if method not in METHODS:
        raise ConfigError(f"unknown pruning method {method!r}; choose one of {', '.join(METHODS)}")
    layers = prunable_layers(model)
    if not layers:
        raise ConfigError(f"{type(model).__name__} has no prunable layers (modules with link_values/update_topology)")
    values = [layer.link_values() for layer in layers]
    n_possible = [layer.n_in * layer.n_out for layer in layers]
    if method == "magnitude":
        keeps = magnitude_keep(values, target_density, scope, n_possible)
    else:
        keeps = random_keep(values, target_density, scope, n_possible, rng)
    for layer, keep in zip(layers, keeps, strict=False):
        layer.update_topology(keep=torch.as_tensor(keep), optimizer=optimizer)
    return keeps


def model_density(model: torch.nn.Module) -> float:
    """Remaining density of a model's prunable layers: links / Σ n_in · n_out."""
    layers = prunable_layers(model)
    return sum(layer.n_links for layer in layers) / sum(layer.n_in * layer.n_out for layer in layers)

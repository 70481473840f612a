"""What a perturbation analysis acts on: the networks (models or saved runs) and their layers.

A *network spec* is one of

- a ``torch.nn.Module`` (used through a private copy, never modified);
- an object with a ``.load_model()`` method returning a module (e.g. a run handle of the store);
- a run folder or checkpoint path (``str`` / ``os.PathLike``), loaded with the ``load_model``
  callable passed by the caller;

and a *collection* of networks is one spec, a list/tuple of specs (named ``net0``, ``net1``...)
or a mapping ``name -> spec``.

Layers are addressed by name: for models with a ``layers`` ModuleList (``SparseMLP``) the names
are ``layer0``, ``layer1``, ... by position, as in ``SparseMLP.named_sparse_layers()``; otherwise
the ``named_modules()`` names. Dense ``nn.Linear`` layers (the readout) are exposed with the same
per-link interface: links in row-major (n_in, n_out) order, i.e. ``weight.T`` flattened.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from prunelab.errors import ConfigError
from prunelab.nn.layer import SparseLinear

LAYER_SELECTIONS = ("sparse", "readout", "all")

RunLoader = Callable[[Any], nn.Module]


@dataclass
class LayerLinks:
    """Per-link view of one layer of a model: read and overwrite its link weights.

    Attributes
    ----------
    name : str
        Layer name (``layer0``...).
    module : SparseLinear or nn.Linear
    """

    name: str
    module: nn.Module

    @property
    def is_sparse(self) -> bool:
        return isinstance(self.module, SparseLinear)

    @property
    def n_links(self) -> int:
        if self.is_sparse:
            return self.module.n_links
        return self.module.weight.numel()

    def values(self) -> np.ndarray:
        """Link weights, float32 (n_links,), link order (a copy)."""
        if self.is_sparse:
            return self.module.link_values().detach().cpu().numpy().astype(np.float32, copy=True)
        return (
            self.module.weight.detach().t().reshape(-1).cpu().numpy().astype(np.float32, copy=True)
        )

    def set_values(self, values: np.ndarray) -> None:
        """Overwrite the link weights with ``values`` float (n_links,), link order."""
        tensor = torch.as_tensor(values, dtype=torch.float32)
        if self.is_sparse:
            self.module.set_link_values(tensor)
            return
        weight = self.module.weight
        with torch.no_grad():
            weight.copy_(tensor.reshape(weight.shape[1], weight.shape[0]).t().to(weight))


def named_linear_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, layer)`` for every SparseLinear and nn.Linear of ``model``, input side first."""
    stack = getattr(model, "layers", None)
    if isinstance(stack, nn.ModuleList):
        return [
            (f"layer{k}", m)
            for k, m in enumerate(stack)
            if isinstance(m, (SparseLinear, nn.Linear))
        ]
    return [
        (name, m) for name, m in model.named_modules() if isinstance(m, (SparseLinear, nn.Linear))
    ]


def select_layers(model: nn.Module, layers: str | Sequence[str] = "sparse") -> list[LayerLinks]:
    """The layers a perturbation acts on.

    Parameters
    ----------
    model : nn.Module
        Must contain at least one :class:`SparseLinear`.
    layers : {"sparse", "readout", "all"} or sequence of str
        ``"sparse"``: every sparse layer (default, as in the paper); ``"readout"``: the last
        layer only; ``"all"``: sparse layers and the readout; or explicit layer names.

    Returns
    -------
    list of LayerLinks, input side first
    """
    named = named_linear_layers(model)
    if not any(isinstance(m, SparseLinear) for _, m in named):
        raise ConfigError(
            f"model {type(model).__name__} has no sparse layers to perturb; pass a model built from SparseLinear (e.g. SparseMLP)"
        )
    if isinstance(layers, str):
        if layers == "sparse":
            chosen = [(n, m) for n, m in named if isinstance(m, SparseLinear)]
        elif layers == "readout":
            chosen = named[-1:]
        elif layers == "all":
            chosen = named
        else:
            raise ConfigError(
                f"unknown layer selection {layers!r}; choose 'sparse', 'readout', 'all' or a list of names from {[n for n, _ in named]}"
            )
    else:
        wanted = list(layers)
        by_name = dict(named)
        unknown = [n for n in wanted if n not in by_name]
        if unknown or not wanted:
            raise ConfigError(
                f"unknown layer names {unknown or wanted}; choose from {[n for n, _ in named]}"
            )
        chosen = [(n, m) for n, m in named if n in set(wanted)]
    return [LayerLinks(n, m) for n, m in chosen]


def link_values(model: nn.Module, layers: str | Sequence[str] = "sparse") -> dict[str, np.ndarray]:
    """Link weights per layer: ``name -> float32 (n_links,)`` (copies, link order)."""
    return {t.name: t.values() for t in select_layers(model, layers)}


def _load(spec: Any, load_model: RunLoader | None) -> nn.Module:
    if isinstance(spec, nn.Module):
        return spec
    if callable(getattr(spec, "load_model", None)):
        model = spec.load_model()
    elif isinstance(spec, (str, os.PathLike)):
        if load_model is None:
            raise ConfigError(
                f"cannot load run {str(spec)!r}: no run loader; pass load_model=... (e.g. a function that loads a run from the store)"
            )
        model = load_model(spec)
    else:
        raise ConfigError(
            f"cannot use {type(spec).__name__} as a network; pass an nn.Module, a run path or an object with .load_model()"
        )
    if not isinstance(model, nn.Module):
        raise ConfigError(
            f"loading {spec!r} gave {type(model).__name__}, not an nn.Module; fix the run loader"
        )
    return model


def _spec_name(spec: Any, index: int) -> str:
    if isinstance(spec, (str, os.PathLike)):
        return Path(spec).name or str(spec)
    for attr in ("name", "run_id"):
        value = getattr(spec, attr, None)
        if isinstance(value, str) and value and not isinstance(spec, nn.Module):
            return value
    return f"net{index}"


def resolve_networks(
    model_or_run: Any, load_model: RunLoader | None = None
) -> list[tuple[str, Callable[[], nn.Module]]]:
    """Turn a network spec or collection into ``(name, loader)`` pairs; models load lazily.

    Parameters
    ----------
    model_or_run : network spec, list/tuple of specs, or mapping name -> spec
    load_model : callable, optional
        ``run path -> nn.Module``, needed for runs given as paths.
    """
    if isinstance(model_or_run, Mapping):
        items = [(str(k), v) for k, v in model_or_run.items()]
    elif isinstance(model_or_run, (list, tuple)):
        items = [(_spec_name(v, i), v) for i, v in enumerate(model_or_run)]
        names = [n for n, _ in items]
        if len(set(names)) != len(names):  # e.g. runs whose folders share a basename
            items = [(f"{n}#{i}", v) for i, (n, v) in enumerate(items)]
    else:
        items = [(_spec_name(model_or_run, 0), model_or_run)]
    if not items:
        raise ConfigError("no networks given; pass a model, a run, or a non-empty list of them")
    return [(name, (lambda spec=spec: _load(spec, load_model))) for name, spec in items]

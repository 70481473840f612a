"""Which weights pruning at initialisation ranks, and the scoring twin it computes on.

The prunable weights of a model are those of ``nn.Linear``, ``nn.Conv2d`` and prunelab's sparse
layers (:class:`~prunelab.nn.SparseLinear` and its subclass
:class:`~prunelab.nn.families.MaskedConv2d`); biases and normalisation layers are not pruned
(the rule of the Synaptic-Flow reference code, Tanaka et al. 2020, arXiv:2006.05467).

Every prunable weight is named ``<module path>.weight`` (for ``nn.Linear`` and ``nn.Conv2d`` that
is the parameter's own name) and reported in its layer's own layout: ``(out, in)`` for
``nn.Linear``, ``(out, in, kh, kw)`` for ``nn.Conv2d`` and ``(n_in, n_out)`` for prunelab's sparse
layers whatever their backend stores. Positions of a sparse layer without a link count as
already pruned.

Scores are computed on a :class:`Twin`: a deep copy of the model in evaluation mode in which
every sparse layer uses the dense-weight ("masked") backend, so that every prunable weight is
one dense tensor of its reported layout, double backward (GraSP) and float64 (SynFlow) work
on every layer, and the model itself is never touched.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from prunelab.errors import ConfigError
from prunelab.nn.backends.masked import MaskedBackend
from prunelab.nn.layer import SparseLinear


@dataclass(frozen=True)
class PrunableWeight:
    """One prunable weight of a model.

    Attributes
    ----------
    name : str
        ``<module path>.weight`` (the key of every score and mask dictionary).
    module : str
        The module's path in ``model.named_modules()``.
    kind : {"linear", "conv", "sparse"}
    shape : tuple of int
        The reported layout (see the module docstring).
    """

    name: str
    module: str
    kind: str
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        """Number of weight positions (links of the complete layer)."""
        return int(np.prod(self.shape))


def prunable_weights(model: nn.Module) -> list[PrunableWeight]:
    """The prunable weights of ``model`` in module order (input side first for sequential models).

    Parameters
    ----------
    model : torch.nn.Module

    Returns
    -------
    list of PrunableWeight
        Empty when the model has none.
    """
    out: list[PrunableWeight] = []
    inside_sparse: list[str] = []
    for path, module in model.named_modules():
        if any(path.startswith(p + ".") for p in inside_sparse):
            continue  # a sparse layer's own backend module is part of that layer
        name = f"{path}.weight" if path else "weight"
        if isinstance(module, SparseLinear):
            inside_sparse.append(path)
            out.append(PrunableWeight(name, path, "sparse", (module.n_in, module.n_out)))
        elif isinstance(module, nn.Linear):
            out.append(PrunableWeight(name, path, "linear", tuple(module.weight.shape)))
        elif isinstance(module, nn.Conv2d):
            out.append(PrunableWeight(name, path, "conv", tuple(module.weight.shape)))
    return out


def select_weights(model: nn.Module, names: Sequence[str] | None = None) -> list[PrunableWeight]:
    """:func:`prunable_weights`, restricted to ``names`` when given (one-line errors otherwise)."""
    found = prunable_weights(model)
    if not found:
        raise ConfigError(
            f"{type(model).__name__} has no prunable weights; pruning at initialisation needs "
            "nn.Linear, nn.Conv2d or prunelab sparse layers"
        )
    if names is None:
        return found
    by_name = {w.name: w for w in found}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise ConfigError(
            f"{missing[0]!r} is not a prunable weight of {type(model).__name__}; "
            f"choose among: {', '.join(by_name)}"
        )
    if not names:
        raise ConfigError(
            "weights=[] selects nothing to prune; leave it unset to prune every prunable weight"
        )
    return [by_name[n] for n in names]


def current_masks(model: nn.Module, weights: Sequence[PrunableWeight]) -> dict[str, np.ndarray]:
    """Bool mask of the positions present now: all True for dense layers, the topology for sparse ones."""
    modules = dict(model.named_modules())
    out = {}
    for w in weights:
        layer = modules[w.module]
        out[w.name] = (
            layer.mask().cpu().numpy() if w.kind == "sparse" else np.ones(w.shape, dtype=bool)
        )
    return out


class Twin:
    """A scoring copy of a model: every prunable weight a dense tensor of its reported layout.

    Parameters
    ----------
    model : torch.nn.Module
        Copied (``copy.deepcopy``); the original is never modified.
    weights : sequence of PrunableWeight
        The weights to expose (their names are the keys of :meth:`forward`'s overrides).
    dtype : torch.dtype
        float32, or float64 for SynFlow.

    Notes
    -----
    Memory: one dense tensor per prunable weight (a sparse layer of ``n_in x n_out`` costs
    ``n_in · n_out`` floats here even when it has few links).
    """

    def __init__(
        self,
        model: nn.Module,
        weights: Sequence[PrunableWeight],
        dtype: torch.dtype = torch.float32,
    ) -> None:
        twin = copy.deepcopy(model).cpu()
        modules = dict(twin.named_modules())
        for w in weights:
            layer = modules[w.module]
            if w.kind == "sparse" and not isinstance(layer.kernel, MaskedBackend):
                rows, cols = layer.link_index()
                layer.kernel = MaskedBackend(
                    layer.n_in, layer.n_out, rows.cpu(), cols.cpu(), layer.link_values().cpu()
                )
                layer.backend_name = "masked"
        twin = twin.to(dtype)
        twin.eval()
        for p in twin.parameters():
            p.requires_grad_(False)
        self.module = twin
        self.dtype = dtype
        self.weights = list(weights)
        # parameter path of each prunable weight inside the twin
        self.paths = {
            w.name: (
                f"{w.module}.kernel.weight" if w.kind == "sparse" else f"{w.module}.weight"
            ).lstrip(".")
            for w in self.weights
        }
        params = dict(twin.named_parameters())
        self.values = {w.name: params[self.paths[w.name]] for w in self.weights}
        #: shape of one input sample (set by the caller; SynFlow feeds ``ones((1, *input_shape))``)
        self.input_shape: tuple[int, ...] = ()

    def absolute(self) -> None:
        """Replace every floating parameter and buffer by its absolute value (SynFlow's linearisation)."""
        with torch.no_grad():
            for t in [*self.module.parameters(), *self.module.buffers()]:
                if t.is_floating_point():
                    t.abs_()

    def forward(self, x: torch.Tensor, overrides: dict[str, torch.Tensor]) -> torch.Tensor:
        """The twin's output on ``x`` with the prunable weights replaced by ``overrides`` (name -> tensor)."""
        swapped = {self.paths[name]: value for name, value in overrides.items()}
        return functional_call(self.module, swapped, (x,), strict=False)


def as_batches(batch: Any) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Normalise ``batch`` (an ``(x, y)`` pair, a list of pairs, or None) to a list of tensor pairs.

    ``x`` becomes float32 (batch, ...), ``y`` int64 (batch,). None gives ``[]``.
    """
    if batch is None:
        return []
    if isinstance(batch, tuple) and len(batch) == 2 and not isinstance(batch[0], tuple):
        pairs = [batch]
    elif isinstance(batch, (list, tuple)):
        pairs = list(batch)
    else:
        raise ConfigError(
            f"batch must be an (x, y) pair or a list of (x, y) pairs, got {type(batch).__name__}"
        )
    out = []
    for pair in pairs:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ConfigError("batch must be an (x, y) pair or a list of (x, y) pairs")
        x = (
            torch.as_tensor(np.asarray(pair[0]) if not torch.is_tensor(pair[0]) else pair[0])
            .to(torch.float32)
            .cpu()
        )
        y = (
            torch.as_tensor(np.asarray(pair[1]) if not torch.is_tensor(pair[1]) else pair[1])
            .to(torch.int64)
            .cpu()
        )
        if x.shape[0] != y.shape[0] or x.shape[0] == 0:
            raise ConfigError(
                f"a batch needs as many labels as inputs (at least one), got x {tuple(x.shape)} and y {tuple(y.shape)}"
            )
        out.append((x, y))
    return out


def input_shape(
    model: nn.Module, batches: Sequence[tuple[torch.Tensor, torch.Tensor]]
) -> tuple[int, ...]:
    """Shape of one input sample: from the data when given, else from the model (for SynFlow)."""
    if batches:
        return tuple(batches[0][0].shape[1:])
    sizes = getattr(model, "sizes", None)
    if sizes:
        return (int(sizes[0]),)
    shape = getattr(model, "shape", None)
    if shape:
        return tuple(int(s) for s in shape)
    for _, module in model.named_modules():
        if isinstance(module, SparseLinear) and not hasattr(module, "in_channels"):
            return (module.n_in,)
        if isinstance(module, nn.Linear):
            return (module.in_features,)
        if isinstance(module, (nn.Conv2d, SparseLinear)):
            break
    raise ConfigError(
        f"cannot tell the input shape of {type(model).__name__}; pass batch=(x, y) with one sample at least"
    )

"""The neutral form every import goes through: one :class:`LayerSpec` per weight layer.

Readers of live modules (:mod:`prunelab.interop.modules`) and of files
(:mod:`prunelab.interop.files`) turn their input into a list of :class:`LayerSpec` plus one
activation name; :func:`assemble` turns that into a prunelab model. Keeping one assembly step
means a layer from ``torch.nn.utils.prune``, from sparselab and from an ``.npz`` file become the
same prunelab layer by the same rule.

Layouts: a spec holds weights in PyTorch's ``(n_out, n_in)`` layout (``nn.Linear.weight``);
prunelab layers report ``(n_in, n_out)``, so :func:`assemble` transposes exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from prunelab.core.links import Links
from prunelab.errors import ConfigError
from prunelab.nn import SparseLinear, SparseMLP
from prunelab.nn.mlp import ACTIVATIONS


def activation_name(module: nn.Module) -> str | None:
    """The :data:`~prunelab.nn.mlp.ACTIVATIONS` name of an activation module, or None."""
    return next((name for name, cls in ACTIVATIONS.items() if type(module) is cls), None)


@dataclass
class LayerSpec:
    """One weight layer on its way into prunelab.

    Attributes
    ----------
    name : str
        Where it came from (a module path or state-dict prefix), for error messages.
    weight : ndarray (n_out, n_in), float32
        Weights, PyTorch layout. Entries outside ``mask`` are ignored.
    mask : ndarray (n_out, n_in), bool, or None
        Links present; None for a dense layer.
    bias : ndarray (n_out,), float32, or None
    """

    name: str
    weight: np.ndarray
    mask: np.ndarray | None = None
    bias: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.weight = _as_float32(self.weight, self.name + " weight")
        if self.weight.ndim != 2:
            raise ConfigError(
                f"layer {self.name!r}: weight must be 2-D (n_out, n_in), got shape {self.weight.shape}; "
                "only Linear layers are supported"
            )
        if self.mask is not None:
            mask = np.asarray(self.mask)
            if mask.shape != self.weight.shape:
                raise ConfigError(
                    f"layer {self.name!r}: mask has shape {tuple(mask.shape)} but the weight has "
                    f"{tuple(self.weight.shape)}; a mask must match its weight"
                )
            if mask.dtype != bool and not np.isin(mask, (0, 1)).all():
                raise ConfigError(
                    f"layer {self.name!r}: mask must hold only 0 and 1 (or True/False)"
                )
            self.mask = mask.astype(bool)
        if self.bias is not None:
            self.bias = _as_float32(self.bias, self.name + " bias").reshape(-1)
            if self.bias.shape != (self.weight.shape[0],):
                raise ConfigError(
                    f"layer {self.name!r}: bias has {self.bias.size} entries but the layer has "
                    f"{self.weight.shape[0]} outputs"
                )

    @property
    def n_in(self) -> int:
        """Input units."""
        return int(self.weight.shape[1])

    @property
    def n_out(self) -> int:
        """Output units."""
        return int(self.weight.shape[0])


def _as_float32(a, what: str) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu()
        if not a.dtype.is_floating_point:
            raise ConfigError(f"{what} must be floating point, got {a.dtype}")
        return a.to(torch.float32).numpy().copy()
    a = np.asarray(a)
    if not np.issubdtype(a.dtype, np.floating):
        raise ConfigError(f"{what} must be floating point, got {a.dtype}")
    return a.astype(np.float32, copy=True)


def apply_zeros_as_missing(specs: Sequence[LayerSpec]) -> list[LayerSpec]:
    """Read exact zeros of unmasked layers as missing links.

    A layer with no zero weight stays dense; a layer that already has a mask keeps it (the
    mask, not the zeros, says which links exist: a link may carry weight 0).
    """
    out = []
    for s in specs:
        if s.mask is None and (s.weight == 0).any():
            s = LayerSpec(s.name, s.weight, s.weight != 0, s.bias)
        out.append(s)
    return out


def assemble(
    specs: Sequence[LayerSpec], activation: str = "relu", backend: str | None = None
) -> SparseMLP:
    """The prunelab model of a stack of layer specs.

    Parameters
    ----------
    specs : sequence of LayerSpec
        Input side first; sizes must chain.
    activation : {"relu", "tanh", "gelu", "silu"}
        Between consecutive layers.
    backend : {"csr", "masked"} or None
        Storage of the sparse layers (None: csr on the CPU).

    Returns
    -------
    SparseMLP
        A masked layer becomes a :class:`SparseLinear` with exactly the mask's links (row-major
        link order) and their weights; an unmasked layer an ``nn.Linear`` with the same weights.
    """
    if not specs:
        raise ConfigError("no Linear layer found; a network to import needs at least one")
    layers: list[nn.Module] = []
    for k, s in enumerate(specs):
        if k and specs[k - 1].n_out != s.n_in:
            raise ConfigError(
                f"layer {s.name!r} has {s.n_in} inputs but the layer before it ({specs[k - 1].name!r}) "
                f"has {specs[k - 1].n_out} outputs"
            )
        if s.mask is None:
            layer = nn.Linear(s.n_in, s.n_out, bias=s.bias is not None)
            with torch.no_grad():
                layer.weight.copy_(torch.from_numpy(s.weight))
                if s.bias is not None:
                    layer.bias.copy_(torch.from_numpy(s.bias))
        else:
            links = Links.from_mask(s.mask.T)  # (n_in, n_out), row-major link order
            layer = SparseLinear(
                s.n_in,
                s.n_out,
                bias=s.bias is not None,
                backend=backend,
                init="zeros",
                rows=links.rows,
                cols=links.cols,
            )
            layer.set_link_values(torch.from_numpy(s.weight.T[links.rows, links.cols].copy()))
            if s.bias is not None:
                with torch.no_grad():
                    layer.bias.copy_(torch.from_numpy(s.bias))
        layers.append(layer)
    return SparseMLP.from_layers(layers, activation)


def specs_of(model: nn.Module) -> tuple[list[LayerSpec], str]:
    """The layer specs and activation of a prunelab model (the inverse of :func:`assemble`).

    Parameters
    ----------
    model : SparseMLP
        Any ``SparseMLP`` (trained by prunelab or imported).

    Returns
    -------
    (list of LayerSpec, str)
        Sparse layers carry their mask and a weight that is zero off the mask.
    """
    if not isinstance(model, SparseMLP):
        raise ConfigError(
            f"cannot export a {type(model).__name__}; to_torch takes a SparseMLP "
            "(a prunelab MLP, trained or imported)"
        )
    specs = []
    for k, layer in enumerate(model.layers):
        bias = None if layer.bias is None else layer.bias.detach().cpu().numpy()
        if isinstance(layer, SparseLinear):
            specs.append(
                LayerSpec(
                    f"layer{k}",
                    layer.dense_weight().cpu().numpy().T,
                    layer.mask().cpu().numpy().T,
                    bias,
                )
            )
        else:
            specs.append(LayerSpec(f"layer{k}", layer.weight.detach().cpu().numpy(), None, bias))
    return specs, model.activation

"""Live PyTorch modules in and out: :func:`from_torch` and :func:`to_torch`.

``from_torch`` reads an ``nn.Sequential`` of ``nn.Linear`` (or sparselab ``SparseLinear``)
layers and activations. A layer pruned with :mod:`torch.nn.utils.prune` is read from its
``weight_orig`` and ``weight_mask`` (not from its zeros, since a kept link may have weight 0);
with ``zeros_as_missing=True`` an unpruned layer's exact zeros are the missing links.
``to_torch`` writes the inverse: ``nn.Linear`` layers whose sparse ones carry a
``torch.nn.utils.prune`` mask, so the module can be pruned further or fine-tuned in a user's
own pipeline.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn.utils import prune

from prunelab.errors import ConfigError
from prunelab.interop.spec import (
    LayerSpec,
    activation_name,
    apply_zeros_as_missing,
    assemble,
    specs_of,
)
from prunelab.nn import SparseMLP

#: what a module passed to :func:`from_torch` may contain, for error messages
SUPPORTED = (
    "nn.Linear (dense or pruned with torch.nn.utils.prune)",
    "sparselab.SparseLinear",
    "nn.ReLU",
    "nn.Tanh",
    "nn.GELU",
    "nn.SiLU",
    "nn.Flatten (first)",
    "nn.Identity",
    "nn.Dropout",
)
_NO_OPS = (nn.Identity, nn.Dropout)  # the identity at inference, which is all an analysis runs


def _is_sparselab(module: nn.Module) -> bool:
    return type(module).__name__ == "SparseLinear" and type(module).__module__.startswith(
        "sparselab"
    )


def sparselab_spec(name: str, layer: nn.Module) -> LayerSpec:
    """The spec of one sparselab ``SparseLinear``: its live CSR slots are the links.

    sparselab stores W (out_features, in_features) as a padded CSR: row ``i`` (output unit) has
    ``row_nnz[i]`` live slots from ``row_start[i]``, with input units ``col_indices`` and weights
    ``_values`` (the trainable parameter aliasing the CSR values).
    """
    csr = layer._csr
    n_out, n_in = (int(s) for s in csr.shape)
    return csr_spec(
        name,
        n_out,
        n_in,
        np.asarray(csr.row_start),
        np.asarray(csr.row_nnz),
        np.asarray(csr.col_indices),
        layer._values.detach().cpu().numpy(),
        None if layer.bias is None else layer.bias.detach(),
    )


def csr_spec(
    name: str,
    n_out: int,
    n_in: int,
    row_start: np.ndarray,
    row_nnz: np.ndarray,
    col_indices: np.ndarray,
    values: np.ndarray,
    bias,
) -> LayerSpec:
    """A spec from padded-CSR arrays (sparselab's storage); shapes are checked, one line on error."""
    row_start, row_nnz = (
        np.asarray(row_start, np.int64).ravel(),
        np.asarray(row_nnz, np.int64).ravel(),
    )
    col_indices, values = (
        np.asarray(col_indices, np.int64).ravel(),
        np.asarray(values, np.float32).ravel(),
    )
    if row_start.shape != (n_out,) or row_nnz.shape != (n_out,):
        raise ConfigError(
            f"layer {name!r}: CSR row arrays must have {n_out} entries (one per output unit)"
        )
    if col_indices.shape != values.shape or (
        n_out and int((row_start + row_nnz).max()) > col_indices.size
    ):
        raise ConfigError(
            f"layer {name!r}: CSR column indices and values do not match the row arrays"
        )
    weight = np.zeros((n_out, n_in), np.float32)
    mask = np.zeros((n_out, n_in), bool)
    for i in range(n_out):
        s, n = int(row_start[i]), int(row_nnz[i])
        cols = col_indices[s : s + n]
        if n and (cols.min() < 0 or cols.max() >= n_in):
            raise ConfigError(f"layer {name!r}: CSR column index out of range for {n_in} inputs")
        mask[i, cols] = True
        weight[i, cols] = values[s : s + n]
    return LayerSpec(name, weight, mask, bias)


def _linear_spec(name: str, layer: nn.Linear) -> LayerSpec:
    bias = (
        None if layer.bias is None else layer.bias.detach()
    )  # pruned bias: the hook keeps .bias = orig * mask
    if hasattr(layer, "weight_orig") and hasattr(layer, "weight_mask"):
        orig, mask = layer.weight_orig.detach(), layer.weight_mask.detach()
        if mask.shape != orig.shape:
            raise ConfigError(
                f"layer {name!r}: weight_mask has shape {tuple(mask.shape)} but weight_orig has "
                f"{tuple(orig.shape)}; a mask must match its weight"
            )
        return LayerSpec(name, orig, mask.cpu().numpy(), bias)
    return LayerSpec(name, layer.weight.detach(), None, bias)


def parse_sequential(module: nn.Module) -> tuple[list[LayerSpec], str]:
    """Layer specs and the single activation of a supported ``nn.Sequential``.

    Raises
    ------
    ConfigError
        Naming the first unsupported child and listing what is supported; or when the
        activations differ between layers, are missing between two layers, or follow the last.
    """
    if not isinstance(module, nn.Sequential):
        raise ConfigError(
            f"from_torch takes an nn.Sequential, got {type(module).__name__}; supported children: "
            + ", ".join(SUPPORTED)
        )
    specs: list[LayerSpec] = []
    acts: list[tuple[str, str]] = []  # (activation, child name) in order
    pending: str | None = None  # activation seen since the last weight layer
    for k, (name, child) in enumerate(module.named_children()):
        label = f"{name} ({type(child).__name__})"
        if isinstance(child, nn.Flatten) and k == 0:
            continue
        if isinstance(child, _NO_OPS):
            continue
        if _is_sparselab(child) or isinstance(child, nn.Linear):
            if specs and pending is None:
                raise ConfigError(
                    f"no activation between layers before {label}; prunelab models apply one "
                    "activation between consecutive layers"
                )
            specs.append(
                sparselab_spec(name, child) if _is_sparselab(child) else _linear_spec(name, child)
            )
            pending = None
            continue
        act = activation_name(child)
        if act is None:
            raise ConfigError(f"unsupported layer {label}; supported: {', '.join(SUPPORTED)}")
        if act == "gelu" and getattr(child, "approximate", "none") != "none":
            raise ConfigError(
                f"unsupported layer {label}: GELU(approximate={child.approximate!r}); only the exact "
                "GELU (approximate='none') is supported"
            )
        if not specs or pending is not None:
            raise ConfigError(
                f"unsupported layer {label}: an activation must follow a Linear layer "
                "(one activation between consecutive layers)"
            )
        pending = act
        acts.append((act, label))
    if pending is not None:
        raise ConfigError(
            f"unsupported layer {acts[-1][1]} after the last Linear layer; the last layer's outputs "
            "are the logits"
        )
    kinds = {a for a, _ in acts}
    if len(kinds) > 1:
        raise ConfigError(
            "mixed activations ("
            + ", ".join(f"{a} at {lbl}" for a, lbl in acts)
            + "); prunelab models use one activation between all layers"
        )
    return specs, (acts[0][0] if acts else "relu")


def from_torch(
    module: nn.Module, *, zeros_as_missing: bool = False, backend: str | None = None
) -> SparseMLP:
    """A prunelab sparse model with the same function as a PyTorch stack.

    Parameters
    ----------
    module : nn.Sequential
        ``nn.Linear`` layers (dense, or pruned with :mod:`torch.nn.utils.prune`: global or
        layer-wise, unstructured or structured) and/or sparselab ``SparseLinear`` layers, with
        one activation (ReLU, Tanh, GELU or SiLU) between consecutive layers; an optional leading
        ``nn.Flatten``; ``nn.Identity`` and ``nn.Dropout`` (identities at inference) anywhere.
    zeros_as_missing : bool
        Also treat exact zeros of unpruned ``nn.Linear`` layers as missing links (for networks
        pruned by zeroing weights). A layer without zeros stays dense; masks always win.
    backend : {"csr", "masked"} or None
        Storage of the sparse layers (None: csr on the CPU).

    Returns
    -------
    SparseMLP
        Layers ``layer0..`` in stack order: every pruned (or sparselab) layer a ``SparseLinear``
        with exactly its mask's links, the last layer included; every other one an ``nn.Linear``.
        Weights are float32; the logits equal the module's to float32 rounding on any input.

    Raises
    ------
    ConfigError
        A child that is not supported (named, with the supported list), masks that do not
        match their weights, or layer sizes that do not chain.

    Examples
    --------
    >>> from torch.nn.utils import prune
    >>> net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    >>> _ = prune.l1_unstructured(net[0], "weight", amount=0.5)
    >>> model = from_torch(net)
    >>> [type(m).__name__ for m in model.layers], model.layers[0].n_links
    (['SparseLinear', 'Linear'], 6)
    """
    specs, activation = parse_sequential(module)
    if zeros_as_missing:
        specs = apply_zeros_as_missing(specs)
    return assemble(specs, activation, backend)


def to_torch(model: SparseMLP) -> nn.Sequential:
    """The inverse of :func:`from_torch`: a plain PyTorch stack with the same function.

    Parameters
    ----------
    model : SparseMLP
        A prunelab MLP (trained by prunelab or imported).

    Returns
    -------
    nn.Sequential
        ``nn.Flatten()``, then ``nn.Linear`` layers with the model's activation between them.
        Each sparse layer carries a :func:`torch.nn.utils.prune.custom_from_mask` mask
        (``weight_orig``, ``weight_mask`` (n_out, n_in)) equal to its links, with
        ``weight_orig`` zero off the mask; dense layers are plain. The logits equal the
        model's to float32 rounding, and ``from_torch(to_torch(model))`` has the same links
        and weights exactly.
    """
    specs, activation = specs_of(model)
    children: list[nn.Module] = [
        nn.Flatten()
    ]  # prunelab models flatten their input, so does the export
    for k, s in enumerate(specs):
        layer = nn.Linear(s.n_in, s.n_out, bias=s.bias is not None)
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(s.weight))
            if s.bias is not None:
                layer.bias.copy_(torch.from_numpy(s.bias))
        if s.mask is not None:
            prune.custom_from_mask(layer, "weight", torch.from_numpy(s.mask))
        children.append(layer)
        if k < len(specs) - 1:
            children.append(type(model.act)())
    return nn.Sequential(*children)

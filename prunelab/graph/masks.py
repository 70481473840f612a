"""Coercion and validation of layer masks and networks (lists of masks).

A *mask* is a bool array of shape (n_in, n_out) whose entry ``[i, j]`` is True when input unit
``i`` links to output unit ``j``. It may be a numpy array, a torch tensor (e.g.
``SparseLinear.mask()``), a scipy.sparse matrix or a :class:`~prunelab.core.links.Links` value
(e.g. ``SparseLinear.links()``). A *network* is a list of masks, input side
first, where each mask's ``n_out`` equals the next mask's ``n_in``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from prunelab.core.links import Links
from prunelab.errors import ConfigError


def mask_kind(mask: Any) -> str:
    """``"links"``, ``"sparse"``, ``"torch"`` or ``"dense"``: the container kind of a mask."""
    if isinstance(mask, Links):
        return "links"
    if sp.issparse(mask):
        return "sparse"
    if type(mask).__module__.startswith("torch"):
        return "torch"
    return "dense"


def to_dense_bool(mask: Any, name: str = "mask", ndim: tuple[int, ...] = (2,)) -> np.ndarray:
    """A mask as a numpy bool array (a copy for sparse/torch input).

    Parameters
    ----------
    mask : array-like, torch tensor or scipy.sparse matrix
        Non-zero entries are links.
    name : str
        Used in error messages.
    ndim : tuple of int
        Accepted numbers of dimensions.

    Returns
    -------
    ndarray, dtype bool
    """
    kind = mask_kind(mask)
    if kind == "links":
        arr = mask.to_mask()
    elif kind == "sparse":
        arr = mask.toarray() != 0
    elif kind == "torch":
        arr = mask.detach().cpu().numpy() != 0
    else:
        arr = np.asarray(mask)
        if arr.dtype != bool:
            if not np.issubdtype(arr.dtype, np.number):
                raise ConfigError(f"{name} must be a bool or numeric array, got dtype {arr.dtype}")
            arr = arr != 0
    if arr.ndim not in ndim:
        raise ConfigError(
            f"{name} must have {' or '.join(map(str, ndim))} dimensions, got shape {arr.shape}"
        )
    return arr


def to_csr_bool(mask: Any, name: str = "mask") -> sp.csr_array:
    """A 2-D mask as a scipy CSR array of bools with explicit zeros removed."""
    if isinstance(mask, Links):
        return mask.to_csr()
    if sp.issparse(mask):
        if mask.ndim != 2:
            raise ConfigError(f"{name} must be 2-D, got shape {mask.shape}")
        out = sp.csr_array(mask, dtype=bool, copy=True)
        out.eliminate_zeros()
        return out
    return sp.csr_array(to_dense_bool(mask, name))


def as_network(masks: Sequence[Any]) -> list[sp.csr_array]:
    """Validate a network and return its masks as CSR bool arrays.

    Parameters
    ----------
    masks : sequence of masks
        Layer masks, input side first; ``masks[k]`` has shape (n_k, n_{k+1}).

    Returns
    -------
    list of scipy.sparse.csr_array, dtype bool

    Raises
    ------
    ConfigError
        If the list is empty or consecutive shapes do not chain.
    """
    if sp.issparse(masks) or (hasattr(masks, "ndim") and getattr(masks, "ndim", 0) == 2):
        masks = [masks]
    masks = list(masks)
    if not masks:
        raise ConfigError(
            "a network needs at least one layer mask; pass a list of (n_in, n_out) masks"
        )
    out = [to_csr_bool(m, f"masks[{k}]") for k, m in enumerate(masks)]
    for k in range(len(out) - 1):
        if out[k].shape[1] != out[k + 1].shape[0]:
            raise ConfigError(
                f"masks[{k}] has {out[k].shape[1]} outputs but masks[{k + 1}] has {out[k + 1].shape[0]} inputs; "
                "pass layer masks in order, each (n_in, n_out)"
            )
    return out

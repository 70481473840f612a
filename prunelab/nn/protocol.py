"""The sparse-model protocol: how every prunelab model exposes its sparse layers.

A *sparse model* is a ``torch.nn.Module`` with ``named_sparse_layers()`` returning
``(name, layer)`` pairs, input side first, where every layer has the link interface of
:class:`~prunelab.nn.SparseLinear` (``n_in``, ``n_out``, ``n_links``, ``links()``,
``link_values()``, ``set_link_values()``, ``update_topology()``, ``mask()``).

**Naming rule.** A sparse layer is called ``layerK``, K its position among the model's weight
layers counted from the input (0-based). :class:`~prunelab.nn.SparseMLP` counts its dense readout
too (so its three sparse layers of 784-1000³-10 are layer0..layer2 and the readout is layer3);
:class:`~prunelab.nn.families.SparseCNN` has only sparse layers (convs, then the readout).

:func:`sparse_layers` is the one way analysis and training code lists them; any module that
contains ``SparseLinear`` layers but does not implement the protocol is scanned in module order
and its layers are named by their module path.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from torch import nn

from prunelab.nn.layer import SparseLinear


@runtime_checkable
class SparseModel(Protocol):
    """A module that lists its sparse layers under the naming rule of this module."""

    def named_sparse_layers(self) -> list[tuple[str, SparseLinear]]: ...


def sparse_layers(model: nn.Module) -> list[tuple[str, Any]]:
    """``(name, layer)`` of the model's sparse layers, input side first.

    Parameters
    ----------
    model : nn.Module
        A :class:`SparseModel`, or any module containing :class:`SparseLinear` layers.

    Returns
    -------
    list of (str, SparseLinear)
        Empty when the model has no sparse layer.
    """
    named = getattr(model, "named_sparse_layers", None)
    if callable(named):
        return list(named())
    return [(name, m) for name, m in model.named_modules() if isinstance(m, SparseLinear)]

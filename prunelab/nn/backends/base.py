"""The interface every sparse storage/kernel backend implements.

A backend stores the topology (which links of an ``n_in x n_out`` layer exist) and the values
of the existing links, and computes ``y = x @ W`` for ``x`` of shape (batch, n_in). Links are
exposed as aligned arrays ``rows`` (input unit), ``cols`` (output unit) and ``values`` in the
backend's *link order*; every per-link vector passed to or returned from a backend uses that order.

Topology changes go through one primitive, :meth:`SparseBackend.change_topology`, which returns a
function that maps a per-parameter optimizer-state tensor from the old to the new topology
(state of removed links dropped, state of new links zero).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

import torch
from torch import nn

StateRemap = Callable[[torch.Tensor], torch.Tensor]


class SparseBackend(nn.Module, ABC):
    """Storage and kernels of one sparse layer (no bias; :class:`SparseLinear` adds it)."""

    name: str = "abstract"

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.n_in = int(n_in)
        self.n_out = int(n_out)

    # --- computation -------------------------------------------------------------------------
    @abstractmethod
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (batch, n_in) float32 -> ``x @ W`` (batch, n_out)."""

    def forward_with_bias(self, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        """``x @ W + bias`` (batch, n_out); ``bias`` (n_out,) or None. Backends may fuse the add."""
        y = self(x)
        return y + bias if bias is not None else y

    # --- reading the topology ----------------------------------------------------------------
    @abstractmethod
    def link_index(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(rows, cols)``: int64 tensors of shape (n_links,), input and output unit per link."""

    @abstractmethod
    def link_values(self) -> torch.Tensor:
        """Detached float32 tensor of shape (n_links,), the weight of each link (link order)."""

    @abstractmethod
    def link_grad(self) -> torch.Tensor | None:
        """Gradient of the loss at each link, shape (n_links,), or None before any backward."""

    @abstractmethod
    def set_link_values(self, values: torch.Tensor) -> None:
        """Overwrite the weights of the existing links; ``values`` has shape (n_links,)."""

    @property
    @abstractmethod
    def n_links(self) -> int:
        """Number of existing links."""

    def mask(self) -> torch.Tensor:
        """Bool tensor of shape (n_in, n_out): True where a link exists. Allocates n_in*n_out."""
        rows, cols = self.link_index()
        m = torch.zeros(self.n_in, self.n_out, dtype=torch.bool, device=rows.device)
        m[rows, cols] = True
        return m

    def dense_weight(self) -> torch.Tensor:
        """Float32 tensor (n_in, n_out), zero where no link exists. Allocates n_in*n_out."""
        rows, cols = self.link_index()
        w = torch.zeros(self.n_in, self.n_out, dtype=torch.float32, device=rows.device)
        w[rows, cols] = self.link_values()
        return w

    # --- changing the topology ---------------------------------------------------------------
    @abstractmethod
    def weight_parameters(self) -> list[nn.Parameter]:
        """Parameters whose optimizer state must follow topology changes."""

    @abstractmethod
    def change_topology(
        self,
        keep: torch.Tensor,
        add_rows: torch.Tensor,
        add_cols: torch.Tensor,
        add_values: torch.Tensor,
    ) -> StateRemap:
        """Keep the links where ``keep`` (bool, (n_links,)) is True and add new links.

        ``add_rows``/``add_cols`` (int64, (k,)) name links that do not exist after the removal;
        ``add_values`` (float32, (k,)) are their weights. Returns the optimizer-state remap.
        """

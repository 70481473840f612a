"""Dense weight times a boolean mask: the portable backend (GPUs, conv kernels, small layers)."""

from __future__ import annotations

import torch
from torch import nn

from prunelab.nn.backends.base import SparseBackend, StateRemap


class MaskedBackend(SparseBackend):
    """Stores a dense ``weight`` (n_in, n_out) and a bool ``mask`` buffer of the same shape.

    Link order is row-major (sorted by input unit, then output unit). The weight is kept at
    exactly zero where no link exists, so weight decay and optimizer state stay zero there.
    """

    name = "masked"

    def __init__(
        self, n_in: int, n_out: int, rows: torch.Tensor, cols: torch.Tensor, values: torch.Tensor
    ) -> None:
        super().__init__(n_in, n_out)
        mask = torch.zeros(n_in, n_out, dtype=torch.bool)
        weight = torch.zeros(n_in, n_out, dtype=torch.float32)
        mask[rows, cols] = True
        weight[rows, cols] = values.to(torch.float32)
        self.weight = nn.Parameter(weight)
        self.register_buffer("mask_", mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ (self.weight * self.mask_)

    def link_index(self) -> tuple[torch.Tensor, torch.Tensor]:
        idx = self.mask_.nonzero()
        return idx[:, 0], idx[:, 1]

    def link_values(self) -> torch.Tensor:
        return self.weight.detach()[self.mask_]

    def link_grad(self) -> torch.Tensor | None:
        if self.weight.grad is None:
            return None
        return self.weight.grad.detach()[self.mask_]

    def set_link_values(self, values: torch.Tensor) -> None:
        with torch.no_grad():
            self.weight[self.mask_] = values.to(self.weight)

    @property
    def n_links(self) -> int:
        return int(self.mask_.sum())

    def mask(self) -> torch.Tensor:
        return self.mask_.clone()

    def dense_weight(self) -> torch.Tensor:
        return (self.weight.detach() * self.mask_).clone()

    def weight_parameters(self) -> list[nn.Parameter]:
        return [self.weight]

    def change_topology(self, keep, add_rows, add_cols, add_values) -> StateRemap:
        rows, cols = self.link_index()
        gone_r, gone_c = rows[~keep], cols[~keep]
        with torch.no_grad():
            self.mask_[gone_r, gone_c] = False
            self.weight[gone_r, gone_c] = 0.0
            self.mask_[add_rows, add_cols] = True
            self.weight[add_rows, add_cols] = add_values.to(self.weight)

        def remap(state: torch.Tensor) -> torch.Tensor:
            state = state.clone()
            state[gone_r, gone_c] = 0
            state[add_rows, add_cols] = 0
            return state

        return remap

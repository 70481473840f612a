"""One participation update: utility terms from the last backward pass, then a projected ascent step.

:func:`layer_terms` turns what a training step left behind (``s.grad`` = dL/ds of the step's
batch, the current θ) into the per-player terms of the utility; an :class:`SOptimizer` from
:data:`S_OPTIMIZERS` moves ``s`` up its utility gradient and projects it back onto [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from prunelab.core.registry import Registry
from prunelab.game.utility import (
    REDUCTIONS,
    benefit_coefficient,
    competition,
    cost_terms,
    marginal_utility,
)


@dataclass
class LayerTerms:
    """The utility terms of one layer's players at one moment, each float32 (n,).

    Attributes
    ----------
    b : Tensor
        Benefit coefficients (B_i = α s_i b_i).
    norm_sq : Tensor
        ‖θ_i‖².
    comp : Tensor
        Σ_{j≠i} s_j ⟨θ_i, θ_j⟩ within the layer (zeros when η = 0: not computed).
    marginal : Tensor
        ∂U_i/∂s_i at the current s.
    utility, benefit, cost_beta, cost_gamma, cost_eta : Tensor
        U_i, α s_i b_i and the three costs at the current s.
    """

    b: torch.Tensor
    norm_sq: torch.Tensor
    comp: torch.Tensor
    marginal: torch.Tensor
    utility: torch.Tensor
    benefit: torch.Tensor
    cost_beta: torch.Tensor
    cost_gamma: torch.Tensor
    cost_eta: torch.Tensor


def layer_terms(layer: Any, dl_ds: torch.Tensor, cfg: Any, batch_size: int) -> LayerTerms:
    """Utility terms of one :class:`~prunelab.game.gates.PlayerLayer` given dL/ds.

    Parameters
    ----------
    layer : PlayerLayer
    dl_ds : Tensor (n,)
        Gradient of the mean-reduced loss at the participations.
    cfg : GameConfig
    batch_size : int
        Samples per step (the ``sum`` reduction scales the benefit by it).
    """
    s = layer.s.detach()
    dl_ds = dl_ds * REDUCTIONS.get(cfg.loss_reduction)(batch_size)
    b = benefit_coefficient(dl_ds, s, cfg.benefit, cfg.gradient)
    if cfg.eta > 0:
        theta = layer.theta()
        norm_sq = (theta * theta).sum(1)
        comp = competition(theta, s, cfg.competition)
    else:  # the competition costs O(n d) per step: skip it when it has no weight
        norm_sq = layer.norm_sq()
        comp = torch.zeros_like(s)
    p = (cfg.alpha, cfg.beta, cfg.gamma, cfg.eta)
    marginal = marginal_utility(s, b, norm_sq, comp, *p)
    c_beta, c_gamma, c_eta = cost_terms(s, norm_sq, comp, cfg.beta, cfg.gamma, cfg.eta)
    benefit = cfg.alpha * s * b
    return LayerTerms(
        b,
        norm_sq,
        comp,
        marginal,
        benefit - c_beta - c_gamma - c_eta,
        benefit,
        c_beta,
        c_gamma,
        c_eta,
    )


class SOptimizer:
    """Projected ascent on the participations: ``step(marginals)`` then clip to [0, 1].

    Parameters
    ----------
    params : list of Tensor
        The participation tensors (updated in place).
    lr : float
        Step size lr_s.
    """

    def __init__(self, params: Sequence[torch.Tensor], lr: float) -> None:
        self.params, self.lr = list(params), float(lr)

    def _ascend(self, marginals: Sequence[torch.Tensor]) -> None:
        for p, m in zip(self.params, marginals):
            p.add_(self.lr * m)

    def step(self, marginals: Sequence[torch.Tensor]) -> None:
        """Move every ``s`` along its utility gradient ``marginals`` (one (n,) per tensor), project."""
        with torch.no_grad():
            self._ascend(marginals)
            for p in self.params:
                p.clamp_(0.0, 1.0)

    def state_dict(self) -> dict[str, Any]:
        """Optimiser state (none for the plain step)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""


class AdamSOptimizer(SOptimizer):
    """Adam on −U (so that it ascends U), then the projection onto [0, 1]."""

    def __init__(self, params: Sequence[torch.Tensor], lr: float) -> None:
        super().__init__(params, lr)
        self.adam = torch.optim.Adam(self.params, lr=self.lr, maximize=True)

    def _ascend(self, marginals: Sequence[torch.Tensor]) -> None:
        for p, m in zip(self.params, marginals):
            p.grad = m.detach().clone()
        self.adam.step()
        for p in self.params:
            p.grad = None

    def state_dict(self) -> dict[str, Any]:
        """Adam's moments."""
        return self.adam.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore Adam's moments."""
        if state:
            self.adam.load_state_dict(state)


#: how s follows its utility gradient: ``cls(params, lr) -> SOptimizer``
S_OPTIMIZERS: Registry[Callable[[Sequence[torch.Tensor], float], SOptimizer]] = Registry(
    "participation optimiser"
)
S_OPTIMIZERS.register(
    "sgd", SOptimizer, help="plain projected gradient ascent: s <- clip(s + lr_s dU/ds, 0, 1)"
)
S_OPTIMIZERS.register("adam", AdamSOptimizer, help="Adam ascent on U, then projection onto [0, 1]")

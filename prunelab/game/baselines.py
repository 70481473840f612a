"""Baselines for the game's sparsity–accuracy frontier, at a given number of surviving units.

- **Magnitude neuron pruning**: keep the units with the largest L2 norm of their incoming weights
  (:func:`magnitude_scores`), per layer, through the one top-k routine
  (:func:`prunelab.core.selection.select_top`); then fine-tune.
- **L1 on per-neuron gates** (network-slimming style, Liu et al. 2017): every hidden unit gets a
  real-valued gate trained with the weights by the same optimiser, with an L1 penalty λ Σ|g_i|
  (:class:`SlimmingHook`); afterwards the units with the largest |g_i| are kept, the gates folded
  into the weights, and the network fine-tuned.
- **Dense from scratch** at the surviving width: a plain training run of ``[n_in, k_1, ..., n_C]``
  (built by the caller from :func:`split_budget`).

A budget is a total number of surviving hidden units; :func:`split_budget` divides it over the
layers in proportion to their widths, unless the caller gives a per-layer split (e.g. the game's own).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from prunelab.core.selection import select_top
from prunelab.errors import ConfigError
from prunelab.game.gates import GateSet, weight_layers
from prunelab.game.prune import PruneResult, keep_units
from prunelab.training import Hook, TrainConfig, TrainContext, make_optimizer


def split_budget(total: int, widths: Sequence[int]) -> list[int]:
    """Divide ``total`` surviving units over layers of the given widths, in proportion to the widths.

    Every layer keeps at least one unit and at most its width; rounding leftovers go to the widest
    layers first.

    Examples
    --------
    >>> split_budget(15, [512, 256])
    [10, 5]
    >>> split_budget(2, [512, 256])
    [1, 1]
    """
    widths = [int(w) for w in widths]
    total = int(total)
    if total < len(widths) or total > sum(widths):
        raise ConfigError(
            f"a budget of {total} units cannot be split over layers of widths {widths}; "
            f"use {len(widths)}..{sum(widths)}"
        )
    raw = np.array(widths, dtype=np.float64) * total / sum(widths)
    out = np.clip(np.floor(raw).astype(int), 1, widths)
    order = np.argsort(-(raw - np.floor(raw)) - 1e-9 * np.array(widths))  # largest remainder first
    k = 0
    while out.sum() < total:
        j = order[k % len(widths)]
        if out[j] < widths[j]:
            out[j] += 1
        k += 1
    while out.sum() > total:
        j = int(np.argmax(out))
        out[j] -= 1
    return [int(v) for v in out]


def magnitude_scores(model: nn.Module) -> dict[str, np.ndarray]:
    """L2 norm of every hidden unit's incoming weights (bias excluded), float64 (n_l,) per ``layerK``."""
    layers = weight_layers(model)
    return {
        f"layer{k}": layers[k].dense_weight().double().norm(dim=0).numpy()
        for k in range(len(layers) - 1)
    }


def keep_top_units(
    model: nn.Module,
    scores: Mapping[str, np.ndarray],
    counts: Sequence[int],
    scale: Mapping[str, np.ndarray] | None = None,
) -> PruneResult:
    """Keep ``counts[k]`` units of hidden layer k with the highest scores (ties: lower position first).

    Parameters
    ----------
    model : SparseMLP or SparseCNN
    scores : mapping of ``layerK`` to ndarray (n_k,)
        Higher is kept.
    counts : sequence of int
        Units kept per hidden layer.
    scale : mapping of ``layerK`` to ndarray (n_k,), optional
        Gates folded into the kept units' incoming weights (e.g. slimming gates).
    """
    names = sorted(scores, key=lambda n: int(n.removeprefix("layer")))
    if len(counts) != len(names):
        raise ConfigError(f"{len(counts)} unit counts for {len(names)} hidden layers")
    kept = {n: select_top(np.asarray(scores[n]), int(c)) for n, c in zip(names, counts)}
    factors = (
        None
        if scale is None
        else {n: np.asarray(scale[n], dtype=np.float64)[kept[n]] for n in names}
    )
    return keep_units(model, kept, factors)


class SlimmingHook(Hook):
    """Real-valued gates on every hidden unit, trained with the weights under an L1 penalty.

    After every optimizer step the gates take a step of their own optimiser (the run's optimiser
    type and learning rate) on dL/dg + λ sign(g). Unlike the game's participations they are not
    clipped to [0, 1] (as the scaling factors of network slimming).

    Parameters
    ----------
    lam : float
        L1 weight λ (> 0), per unit, in loss units.
    train : TrainConfig
        The run's training config (optimiser, learning rate).
    """

    def __init__(self, lam: float, train: TrainConfig) -> None:
        if not lam > 0:
            raise ConfigError(f"slimming lambda must be > 0, got {lam}")
        self.lam, self.train_cfg = float(lam), train
        self.gates: GateSet | None = None
        self.opt: torch.optim.Optimizer | None = None
        self._pending: dict[str, Any] | None = None

    def on_fit_start(self, ctx: TrainContext) -> None:
        if self.gates is None:
            self.gates = GateSet(ctx.model, "units", "in", 1.0)
            self.opt = make_optimizer(
                self.gates.parameters(), self.train_cfg.model_copy(update={"weight_decay": 0.0})
            )
        if self._pending is not None:
            self.gates.load(self._pending["s"])
            self.opt.load_state_dict(self._pending["opt"])
            self._pending = None
        self.gates.attach()

    def on_step_end(self, ctx: TrainContext) -> None:
        for p in self.gates.parameters():
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            p.grad.add_(self.lam * torch.sign(p.detach()))
        for group in self.opt.param_groups:
            group["lr"] = ctx.optimizer.param_groups[0]["lr"]  # follow the run's schedule
        self.opt.step()
        self.gates.zero_grad()

    def on_epoch_end(self, ctx: TrainContext) -> None:
        g = np.concatenate([np.abs(v) for v in self.gates.values().values()])
        ctx.log("slimming/gate_mean_abs", float(g.mean()))
        ctx.log("slimming/gates_below_0.01", float((g < 0.01).sum()))

    def values(self) -> dict[str, np.ndarray]:
        """The gates per ``layerK`` (float64 copies)."""
        return self.gates.values()

    def state_dict(self) -> dict[str, Any]:
        """Gates and their optimiser state."""
        return {"kind": "slimming", "s": self.gates.values(), "opt": self.opt.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` at the next ``fit``."""
        self._pending = state

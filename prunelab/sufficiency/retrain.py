"""Retraining protocols and the budget-checkpointed retraining trajectory.

A *protocol* says where the weights of a pruned mask start and which learning-rate schedule
retrains them (:data:`PROTOCOLS`, a registry; ``retrain.protocols`` in a study config):

- ``finetune``: the pruned trained weights, retrained at the last learning rate of pretraining
  (the usual fine-tuning baseline);
- ``rewind``: the surviving weights rewound to their values at initialisation (or after
  ``rewind_epoch`` epochs; lottery-ticket rewinding, Frankle et al. 2020, arXiv:1912.05671),
  retrained with the pretraining schedule;
- ``lr-rewind``: the pruned trained weights, retrained with the pretraining schedule
  (learning-rate rewinding, Renda, Frankle & Carbin 2020, arXiv:2003.02389);
- ``scratch``: a fresh random initialisation of the same mask, trained with the pretraining
  schedule;
- ``dst``: a fresh random initialisation of an Erdős–Rényi mask with the same number of links per
  layer, trained with the pretraining schedule while dynamic sparse training moves the links
  (:mod:`prunelab.dst`). This is a *training method*, not a retraining of the pruned mask, so it
  does not compete for "the best protocol" in F_min.

One retraining run of ``B_max`` epochs serves every budget: Ψ is measured after ``B`` epochs for
every ``B`` in the budgets (``B = 0``: before any retraining). The schedule is that of the
protocol over ``B_max`` epochs, so Ψ(ρ, B) for ``B < B_max`` is the network after the first ``B``
epochs of that run, not a run whose schedule was compressed into ``B`` epochs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from prunelab.core.registry import Registry
from prunelab.core.rng import Seed
from prunelab.errors import RunFailed
from prunelab.sufficiency.networks import NetworkState, control_links, fresh_values
from prunelab.training import Hook, TrainConfig, TrainContext, Trainer, evaluate, learning_rate


@dataclass(frozen=True)
class Protocol:
    """How a pruned mask is retrained.

    Attributes
    ----------
    name : str
    start : {"trained", "rewind", "fresh"}
        Weights at the start: the pruned trained ones, the rewound ones, or a new initialisation.
    schedule : {"final", "replay"}
        A constant learning rate equal to the last one of pretraining, or the pretraining
        schedule replayed over the retraining epochs.
    topology : {"fixed", "dst"}
        The mask stays fixed, or dynamic sparse training moves the links (from an ER mask).
    retraining : bool
        True for retrainings of the pruned mask (they compete for the best protocol).
    """

    name: str
    start: str
    schedule: str
    topology: str = "fixed"
    retraining: bool = True


#: retraining protocols by name
PROTOCOLS: Registry[Protocol] = Registry("retraining protocol")
PROTOCOLS.register(
    "finetune",
    Protocol("finetune", "trained", "final"),
    help="pruned weights, last learning rate of pretraining",
)
PROTOCOLS.register(
    "rewind",
    Protocol("rewind", "rewind", "replay"),
    help="weights rewound to initialisation (lottery ticket), pretraining schedule",
)
PROTOCOLS.register(
    "lr-rewind",
    Protocol("lr-rewind", "trained", "replay"),
    help="pruned weights, pretraining schedule replayed (Renda et al. 2020)",
)
PROTOCOLS.register(
    "scratch", Protocol("scratch", "fresh", "replay"), help="the mask with a fresh initialisation"
)
PROTOCOLS.register(
    "dst",
    Protocol("dst", "fresh", "replay", topology="dst", retraining=False),
    help="dynamic sparse training from an ER mask with the same links per layer",
)


def protocol_train_config(protocol: Protocol, pretrain: TrainConfig, epochs: int) -> TrainConfig:
    """The :class:`TrainConfig` of a retraining run of ``epochs`` epochs under ``protocol``.

    Parameters
    ----------
    protocol : Protocol
    pretrain : TrainConfig
        The pretraining config (its schedule, optimizer, batch size and seed).
    epochs : int
        Retraining epochs (``B_max``, or the epochs of one hysteresis step).
    """
    if protocol.schedule == "final":
        last = learning_rate(pretrain, pretrain.epochs)
        return pretrain.model_copy(
            update={"epochs": int(epochs), "schedule": "constant", "lr": last}
        )
    return pretrain.model_copy(update={"epochs": int(epochs)})


def start_state(
    protocol: Protocol, pruned: NetworkState, rewind: NetworkState, seed: Seed
) -> NetworkState:
    """The network a protocol retrains: ``pruned`` (trained weights on the pruned mask) with the
    weights (and biases) the protocol starts from.

    Parameters
    ----------
    protocol : Protocol
    pruned : NetworkState
        The mask (and trained weights) after pruning.
    rewind : NetworkState
        The dense network at the rewind point (initialisation or ``rewind_epoch``).
    seed : int, sequence or Generator
        Seeds the fresh initialisation (and the ER mask of ``dst``).
    """
    if protocol.start == "trained":
        return pruned
    if protocol.start == "rewind":
        out = rewind.with_links(pruned.links)
        return out
    links = control_links(pruned.links, "er", seed) if protocol.topology == "dst" else pruned.links
    return fresh_values(pruned.with_links(links), seed)


Measure = Callable[[nn.Module, int], dict[str, float]]


class BudgetHook(Hook):
    """Measures the network at the end of every budget epoch, before any later hook (e.g. a DST
    topology update) changes it; values are logged with the prefix ``budget/``."""

    def __init__(self, budgets: Sequence[int], measure: Measure) -> None:
        self.budgets = {int(b) for b in budgets}
        self.measure = measure

    def on_epoch_end(self, ctx: TrainContext) -> None:
        if ctx.epoch in self.budgets:
            for key, value in self.measure(ctx.model, ctx.epoch).items():
                ctx.log(f"budget/{key}", value)


def accuracy_measure(
    x_train: torch.Tensor, y_train: torch.Tensor, extra: Measure | None = None
) -> Measure:
    """A :data:`Measure` giving ``acc_train`` (fraction, on the given training samples) and ``extra``."""

    def measure(model: nn.Module, budget: int) -> dict[str, float]:
        row = {"acc_train": evaluate(model, x_train, y_train).accuracy}
        if extra is not None:
            row.update(extra(model, budget))
        return row

    return measure


@dataclass
class BudgetRun:
    """Outcome of :func:`run_budgets`.

    Attributes
    ----------
    status : {"finished", "diverged", "interrupted"}
    message : str
    rows : dict
        Budget -> measured row of this call (``acc_test``, ``acc_train`` and the extra measures).
    resumed : bool
    """

    status: str
    message: str
    rows: dict[int, dict[str, float]]
    resumed: bool


def run_budgets(
    model: nn.Module,
    data: Any,
    cfg: TrainConfig,
    budgets: Sequence[int],
    measure: Measure,
    on_row: Callable[[int, dict[str, float]], None],
    checkpoint: str | Path | None = None,
    hooks: Sequence[Hook] = (),
    n_eval: int = 10_000,
) -> BudgetRun:
    """Retrain ``model`` for ``max(budgets)`` epochs, measuring it at every budget; resumable.

    Parameters
    ----------
    model : nn.Module
        The starting network (mask and weights of the protocol).
    data : Dataset-like
        Train/test arrays (``x_*`` float32 (n, features), ``y_*`` int64 (n,)).
    cfg : TrainConfig
        From :func:`protocol_train_config` with ``epochs = max(budgets)``.
    budgets : sequence of int
        Epochs after which Ψ is measured; 0 = before retraining.
    measure : callable
        ``measure(model, budget) -> row`` (use :func:`accuracy_measure`); ``acc_test`` is added
        from the training engine's evaluation of the same weights.
    on_row : callable
        ``on_row(budget, row)`` as soon as a budget is measured (store it there).
    checkpoint : path, optional
        Trainer checkpoint written every epoch; a rerun resumes from it.
    hooks : sequence of Hook
        Run after the measurement (e.g. ``DSTHook``).
    n_eval : int
        Training samples on which ``acc_train`` is measured (the first ones of the training set used).
    """
    rows: dict[int, dict[str, float]] = {}
    budget_set = {int(b) for b in budgets}
    holder: dict[str, Any] = {}

    def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
        if epoch in budget_set:
            row = {"acc_test": float(metrics["test_accuracy"]), "lr": float(metrics["lr"])}
            row.update(
                {k[len("budget/") :]: v for k, v in metrics.items() if k.startswith("budget/")}
            )
            rows[epoch] = row
            on_row(epoch, row)

    # the test split is evaluated only at the budgets (the other epochs' accuracies are not stored)
    trainer = Trainer(
        model,
        data,
        cfg,
        hooks=[],
        checkpoint_path=checkpoint,
        on_epoch=on_epoch,
        eval_epochs=budget_set,
    )
    x_eval, y_eval = trainer.x_train[:n_eval], trainer.y_train[:n_eval]
    holder["measure"] = accuracy_measure(x_eval, y_eval, measure)
    trainer.hooks = [BudgetHook(budget_set, holder["measure"]), *hooks]
    resumed = trainer.resume_if_possible()
    if not resumed and 0 in budget_set:
        row = {
            "acc_test": evaluate(trainer.model, trainer.x_test, trainer.y_test).accuracy,
            "lr": 0.0,
            **holder["measure"](trainer.model, 0),
        }
        rows[0] = row
        on_row(0, row)
    result = trainer.fit()
    return BudgetRun(result.status, result.message, rows, resumed)


def dst_hooks(options: dict[str, Any] | None) -> list[Hook]:
    """``[DSTHook]`` with the given ``DSTConfig`` options (a JSON dump of one)."""
    from prunelab.dst.config import DSTConfig
    from prunelab.dst.hook import DSTHook

    return [DSTHook(DSTConfig.model_validate(options or {}))]


class Diverged(RunFailed):
    """A retraining whose loss became non-finite (the run's status becomes ``diverged``)."""


def check_finished(status: str, message: str) -> None:
    """Turn a :class:`~prunelab.training.TrainResult` status into control flow: ``interrupted``
    re-raises KeyboardInterrupt (Ctrl-C stops the study; a rerun resumes), ``diverged`` raises
    :class:`Diverged`."""
    if status == "interrupted":
        raise KeyboardInterrupt(message)
    if status == "diverged":
        raise Diverged(message)


def seed_stream(*parts: Any) -> list[int]:
    """A list of non-negative ints for :func:`~prunelab.core.rng.as_generator` from mixed parts
    (floats enter by their 9-significant-digit value, strings by their bytes)."""
    out = []
    for p in parts:
        if isinstance(p, str):
            out.append(int.from_bytes(p.encode()[:7].ljust(7, b"\0"), "little"))
        elif isinstance(p, float):
            out.append(int(round(p * 1e9)) % (2**62))
        else:
            out.append(int(p) % (2**62))
    return out


def eval_arrays(data: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Test inputs (n, features) float32 and labels (n,) int64 as tensors."""
    x = torch.as_tensor(np.asarray(data.x_test, dtype=np.float32)).reshape(len(data.y_test), -1)
    return x, torch.as_tensor(np.asarray(data.y_test, dtype=np.int64))

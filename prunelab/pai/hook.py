"""Starting a training run from a pruning-at-initialisation mask.

A training config selects it in its model section::

    model:
      sizes: [784, 1000, 1000, 1000, 10]
      topology: {pai: synflow, density: 0.01, rounds: 100}

The sparse layers are then built complete (density 1) and :class:`PaIHook` prunes them before
the first training step of a fresh run (a resumed run loads its topology from the checkpoint);
the network then trains with its backend (csr on CPU) like any other, and dynamic sparse
training, if configured, starts from the PaI topology. Only the model's sparse layers are
ranked: a dense readout (``sparse_readout: false``) stays dense.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator
from torch import nn

from prunelab.errors import ConfigError, check_density
from prunelab.pai.methods import PAI_METHODS
from prunelab.pai.prune import SCHEDULES, SCOPES, prune
from prunelab.pai.weights import prunable_weights
from prunelab.training import Hook, TrainContext


class PaITopology(BaseModel):
    """``model.topology`` of a training config that starts from a PaI mask.

    Attributes
    ----------
    pai : str
        Method in :data:`~prunelab.pai.methods.PAI_METHODS`.
    density : float
        Remaining fraction of the sparse layers' links, in (0, 1].
    rounds : int or None
        Pruning rounds (None: 100 for synflow, 1 otherwise).
    schedule : str
        ``exponential`` or ``linear``.
    scope : str
        ``global`` or ``layer``.
    samples_per_class : int
        Scoring data: this many training samples per class, drawn with the run's seeded RNG.
    batch_size : int
        Scoring batch size (the reference's 256).
    """

    model_config = ConfigDict(extra="forbid")

    pai: PAI_METHODS.field()  # type: ignore[valid-type]
    density: float
    rounds: int | None = Field(None, ge=1)
    schedule: SCHEDULES.field() = "exponential"  # type: ignore[valid-type]
    scope: SCOPES.field() = "global"  # type: ignore[valid-type]
    samples_per_class: int = Field(10, ge=1)
    batch_size: int = Field(256, ge=1)

    @field_validator("density")
    @classmethod
    def _density(cls, v: float) -> float:
        return check_density(v, "model.topology.density")


def apply_masks(
    model: nn.Module,
    masks: Mapping[str, np.ndarray],
    optimizer: torch.optim.Optimizer | None = None,
) -> None:
    """Remove from ``model``'s sparse layers the links that ``masks`` prunes.

    Parameters
    ----------
    model : torch.nn.Module
    masks : mapping of str to bool ndarray (n_in, n_out)
        From :func:`prunelab.pai.prune`, keyed ``<module path>.weight``; only sparse layers can
        apply a mask (a dense ``nn.Linear`` has no topology to change).
    optimizer : torch.optim.Optimizer, optional
        Its state follows the surviving links.

    Raises
    ------
    ConfigError
        A mask for a weight that is not a sparse layer of ``model``, or of the wrong shape
        (checked for every mask before any layer changes).
    """
    modules = dict(model.named_modules())
    kinds = {w.name: w for w in prunable_weights(model)}
    plan = []
    for name, mask in masks.items():
        w = kinds.get(name)
        if w is None or w.kind != "sparse":
            raise ConfigError(
                f"{name!r} is not a sparse layer of {type(model).__name__}; only prunelab sparse "
                "layers can take a mask (use sparse_readout: true to prune the readout)"
            )
        mask = np.asarray(mask)
        if mask.dtype != bool or mask.shape != w.shape:
            raise ConfigError(
                f"mask of {name!r} must be bool of shape {w.shape}, got {mask.dtype} {mask.shape}"
            )
        plan.append((modules[w.module], mask))
    for layer, mask in plan:
        rows, cols = layer.link_index()
        layer.update_topology(
            keep=torch.as_tensor(mask[rows.cpu().numpy(), cols.cpu().numpy()]), optimizer=optimizer
        )


def scoring_batches(
    x: torch.Tensor,
    y: torch.Tensor,
    rng: np.random.Generator,
    samples_per_class: int = 10,
    batch_size: int = 256,
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The default scoring data: ``samples_per_class × classes`` training samples, in batches.

    Parameters
    ----------
    x : Tensor (n, features), float32
    y : Tensor (n,), int64
    rng : numpy.random.Generator
        Chooses the samples (uniformly, without replacement).
    samples_per_class, batch_size : int

    Returns
    -------
    list of (x, y)
        ``ceil(samples / batch_size)`` batches.
    """
    n_classes = int(y.max()) + 1 if len(y) else 0
    n = min(len(y), samples_per_class * n_classes)
    idx = torch.as_tensor(np.sort(rng.choice(len(y), size=n, replace=False)))
    xs, ys = x[idx], y[idx]
    return [(xs[i : i + batch_size], ys[i : i + batch_size]) for i in range(0, n, batch_size)]


class PaIHook(Hook):
    """Prunes the sparse layers at the start of a fresh training run (see the module docstring).

    Parameters
    ----------
    topology : PaITopology
    """

    def __init__(self, topology: PaITopology) -> None:
        self.topology = topology

    def on_train_start(self, ctx: TrainContext) -> None:
        t = self.topology
        sparse = [w.name for w in prunable_weights(ctx.model) if w.kind == "sparse"]
        if not sparse:
            raise ConfigError("model.topology.pai needs sparse layers to prune; the model has none")
        batches = scoring_batches(
            ctx.x_train, ctx.y_train, ctx.rng, t.samples_per_class, t.batch_size
        )
        seed = int(ctx.rng.integers(0, 2**31 - 1))
        masks = prune(
            ctx.model,
            t.pai,
            t.density,
            batches,
            rounds=t.rounds,
            schedule=t.schedule,
            scope=t.scope,
            weights=sparse,
            seed=seed,
        )
        apply_masks(ctx.model, masks)
        ctx.rebuild_optimizer()

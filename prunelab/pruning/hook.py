"""Prune-and-fine-tune as a training hook: the magnitude-pruned controls of robustness studies.

A run with a ``prune:`` section trains its (usually fully connected) sparse layers as usual
and, at the end of epoch ``at_epoch``, prunes them once to ``density`` by the link score
``method`` (``magnitude`` by default, Han et al. 2015); the remaining epochs fine-tune the
surviving links, whose optimizer state follows them. The readout stays dense, as in the DST
networks it is compared with, so a pruned network has the same topology budget as a DST one.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from prunelab.core.scoring import LINK_SCORES
from prunelab.pruning.selection import PRUNING_SCOPES, prune_model
from prunelab.training import Hook, TrainContext


class PruneConfig(BaseModel):
    """One-shot pruning during training (the ``prune:`` section of a training config).

    Attributes
    ----------
    density : float
        Links kept per sparse layer, as a fraction of ``n_in * n_out``, in (0, 1].
    at_epoch : int
        Prune after this epoch (1-based; the epochs after it fine-tune).
    method : str
        Link score (:data:`prunelab.core.scoring.LINK_SCORES`), default ``"magnitude"``.
    scope : {"layer", "global"}
        ``"layer"`` (default) gives every sparse layer the same density, as DST keeps it.
    """

    model_config = ConfigDict(extra="forbid")

    density: float = Field(gt=0.0, le=1.0)
    at_epoch: int = Field(ge=1)
    method: LINK_SCORES.field() = "magnitude"  # type: ignore[valid-type]
    scope: PRUNING_SCOPES.field() = "layer"  # type: ignore[valid-type]


class PruneHook(Hook):
    """Prunes the model once, at the end of epoch ``config.at_epoch``.

    Parameters
    ----------
    config : PruneConfig

    Notes
    -----
    The engine evaluates before the hooks run, so the pruning epoch's logged accuracy is that
    of the network before pruning; the next epoch's is after one epoch of fine-tuning. A
    resumed run loads the pruned topology from its checkpoint, so pruning happens exactly once.
    """

    def __init__(self, config: PruneConfig) -> None:
        self.config = config

    def on_epoch_end(self, ctx: TrainContext) -> None:
        if ctx.epoch != self.config.at_epoch:
            return
        # the context's generator only breaks ties (and draws random scores), so a rerun is identical
        prune_model(
            ctx.model,
            self.config.density,
            scope=self.config.scope,
            method=self.config.method,
            rng=ctx.rng,
            optimizer=ctx.optimizer,
        )
        ctx.log("pruned/density", float(self.config.density))

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Nothing to restore: the pruned topology is in the model's checkpoint."""

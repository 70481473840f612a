"""DSTHook: runs :func:`update_topology` from the training engine on the configured schedule."""

from __future__ import annotations

from typing import Any

from prunelab.core.faults import fault_point
from prunelab.dst.config import DSTConfig
from prunelab.dst.gradients import batch_grad_provider
from prunelab.dst.update import update_topology
from prunelab.errors import ConfigError
from prunelab.training import Hook, TrainContext

# metrics summed over the updates of an epoch (the others keep the value of the last update)
_SUMMED = ("removed/", "regrown/", "random_fill/", "dst/")


class DSTHook(Hook):
    """Dynamic sparse training as a training-engine hook.

    After every ``config.update_every`` epochs (or optimizer steps) it updates the topology of
    every sparse layer with the context's ``rng`` and ``optimizer``. Per epoch it logs the metrics
    of :func:`prunelab.dst.update.update_topology` (counts and stage times summed over the
    epoch's updates, ``regrown_was_removed/<layer>`` weighted by regrown links, the rest from the
    last update) plus ``dst/updates`` and ``dst/stopped``.

    Parameters
    ----------
    config : DSTConfig, optional
        Default: ``DSTConfig()``.

    Notes
    -----
    ``state_dict()`` holds the early-stop flags, so a resumed run stops where the original would.
    The engine evaluates before calling ``on_epoch_end``, so an epoch's test accuracy is that of
    the network it trained. No epoch-wise update follows the last epoch (``ctx.epochs``): nothing
    would train the regrown links, so the final network, its checkpoint and every analysis of it
    (robustness, weights) are the trained network that was evaluated.
    """

    def __init__(self, config: DSTConfig | None = None) -> None:
        self.config = config if config is not None else DSTConfig()
        self.overlap_flags: dict[str, bool] = {}
        self.stopped = False
        self.n_updates = 0
        self._epoch_stats: dict[str, float] = {}
        self._epoch_updates = 0

    # --- engine callbacks --------------------------------------------------------------------
    def on_step_end(self, ctx: TrainContext) -> None:
        if self.config.update_unit == "step":
            self._maybe_update(ctx, ctx.step)

    def on_epoch_end(self, ctx: TrainContext) -> None:
        last = getattr(ctx, "epochs", None)
        if self.config.update_unit == "epoch" and (last is None or ctx.epoch < last):
            self._maybe_update(ctx, ctx.epoch)
        self._flush(ctx)

    # --- checkpointing -----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "overlap_flags": dict(self.overlap_flags),
            "stopped": self.stopped,
            "n_updates": self.n_updates,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.overlap_flags = dict(state.get("overlap_flags", {}))
        self.stopped = bool(state.get("stopped", False))
        self.n_updates = int(state.get("n_updates", 0))

    # --- internals ---------------------------------------------------------------------------
    def _grad_provider(self, ctx: TrainContext):
        if not self.config.needs_gradients:
            return None
        if getattr(ctx, "loss_fn", None) is None or not hasattr(ctx, "sample_batch"):
            raise ConfigError(
                f"regrowth {self.config.regrowth!r} needs gradients but the training context has no loss_fn/sample_batch"
            )
        batch_size = self.config.grad_batch_size
        return batch_grad_provider(ctx.model, lambda: ctx.sample_batch(batch_size), ctx.loss_fn)

    def _maybe_update(self, ctx: TrainContext, t: int) -> None:
        if self.stopped or not self.config.is_update_time(t):
            return
        stats = update_topology(
            ctx.model,
            self.config,
            ctx.rng,
            optimizer=ctx.optimizer,
            grad_provider=self._grad_provider(ctx),
            zeta=self.config.zeta_at(t),
        )
        self.n_updates += 1
        fault_point("dst.update")
        self._accumulate(stats)
        if self.config.stop_overlap is not None:
            for key, value in stats.items():
                if key.startswith("regrown_was_removed/") and value >= self.config.stop_overlap:
                    self.overlap_flags[key.partition("/")[2]] = True
            layers = [k.partition("/")[2] for k in stats if k.startswith("regrown/")]
            self.stopped = all(self.overlap_flags.get(name, False) for name in layers)

    def _accumulate(self, stats: dict[str, float]) -> None:
        acc = self._epoch_stats
        for key, value in stats.items():
            if key.startswith("regrown_was_removed/"):
                weight = stats[f"regrown/{key.partition('/')[2]}"]
                acc[f"_was_removed_count/{key.partition('/')[2]}"] = (
                    acc.get(f"_was_removed_count/{key.partition('/')[2]}", 0.0) + value * weight
                )
            elif key.startswith(_SUMMED) and key != "dst/zeta":
                acc[key] = acc.get(key, 0.0) + value
            else:
                acc[key] = value
        self._epoch_updates += 1

    def _flush(self, ctx: TrainContext) -> None:
        for key, value in self._epoch_stats.items():
            if key.startswith("_was_removed_count/"):
                name = key.partition("/")[2]
                regrown = self._epoch_stats.get(f"regrown/{name}", 0.0)
                ctx.log(f"regrown_was_removed/{name}", value / regrown if regrown else 0.0)
            else:
                ctx.log(key, value)
        ctx.log("dst/updates", float(self._epoch_updates))
        ctx.log("dst/stopped", float(self.stopped))
        self._epoch_stats, self._epoch_updates = {}, 0

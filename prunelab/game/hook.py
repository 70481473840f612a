"""GameHook: the pruning game inside any training run (the ``game:`` config section).

Per optimizer step (after the θ update): the participations move up their utility gradient,
with the benefit measured from the step's own backward pass (``s.grad`` = dL/ds at the θ of that
step) and the costs at the updated θ; then they are projected onto [0, 1].

Per epoch it logs (``ctx.log``): ``game/alive`` and ``game/alive/<layer>`` (players with s ≥ ε),
``game/s_mean``, the quantiles ``game/s_q10|q50|q90/<layer>``, ``game/s_at0`` and ``game/s_at1``
(fractions with s < ε and s > 1 − ε), the epoch means of ``game/utility``, ``game/benefit``,
``game/cost_beta|gamma|eta`` (mean over players), the mean group norm ‖θ_i‖ ``game/theta_norm/<layer>``
and effective norm s_i‖θ_i‖ ``game/eff_norm/<layer>`` (a shrinking s offset by a growing θ shows
as a rising theta_norm at a flat eff_norm), ``game/reentries`` (players that came back above ε)
and ``game/update_seconds``.

After the last epoch (:meth:`GameHook.finalize`): the benefit coefficients are measured on the first
``check_samples`` training samples, the equilibrium checker and the best-response solver run for
the final θ, and the network is hard-pruned and evaluated on the test split: ``game/eq/*``,
``game/br/*``, ``game/hard_test_accuracy``, ``game/kept[/<layer>]``, ``game/pruned_fraction``,
``game/hard_parameters``. Per-player results and the sampled trajectories are returned by
:meth:`GameHook.tables` (the runner stores them as ``game/players`` and ``game/trace``).

The hook's state (participations, the s-optimiser, pending gradients, trajectories, final tables)
is checkpointed with the run, so a killed run resumes with identical numbers.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import torch

from prunelab.errors import ConfigError
from prunelab.game.config import GameConfig
from prunelab.game.equilibrium import GameParams, LayerGame, check_equilibrium, solve_best_response
from prunelab.game.gates import GateSet
from prunelab.game.prune import count_parameters, hard_prune
from prunelab.game.update import S_OPTIMIZERS, layer_terms
from prunelab.game.utility import REDUCTIONS, benefit_coefficient
from prunelab.training import Hook, TrainContext
from prunelab.training.engine import evaluate

_TERMS = ("utility", "benefit", "cost_beta", "cost_gamma", "cost_eta")


def measure_dl_ds(
    gates: GateSet,
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    loss_fn: Any,
) -> list[torch.Tensor]:
    """dL/ds of the mean loss over ``(x, y)`` at the gates' current participations.

    Parameters
    ----------
    gates : GateSet
        Attached to ``model``.
    x : Tensor (n, features) float32; y : Tensor (n,) int64
    batch_size : int
        Samples per forward pass (memory only; the result is the gradient of the mean over all of them).

    Returns
    -------
    list of Tensor (n_l,)
        One per player layer; θ's gradients are not touched (``torch.autograd.grad``).
    """
    params = gates.parameters()
    total = [torch.zeros_like(p) for p in params]
    n = len(y)
    for start in range(0, n, batch_size):
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        loss = loss_fn(model(xb), yb) * (len(yb) / n)
        for acc, g in zip(total, torch.autograd.grad(loss, params, allow_unused=True)):
            if g is not None:
                acc += g
    return total


class GameHook(Hook):
    """Participation gates and their updates in a training run (see the module docstring).

    Parameters
    ----------
    cfg : GameConfig
    """

    def __init__(self, cfg: GameConfig) -> None:
        self.cfg = cfg
        self.params = GameParams.of(cfg)
        self.gates: GateSet | None = None
        self.sopt: Any = None
        self._pending: dict[str, Any] | None = None
        self._count = 0  # steps whose dL/ds is accumulated in s.grad, not yet used
        self.trace: list[tuple[int, str, int, float]] = []
        self.final: dict[str, list[dict[str, Any]]] | None = None
        self._reset_epoch()

    def _reset_epoch(self) -> None:
        self._sums = dict.fromkeys(_TERMS, 0.0)
        self._updates = 0
        self._reentries: dict[str, int] = {}
        self._seconds = 0.0

    # --- attaching -----------------------------------------------------------------------------
    def on_fit_start(self, ctx: TrainContext) -> None:
        if self.gates is None:
            self.gates = GateSet(ctx.model, self.cfg.players, self.cfg.group, self.cfg.s_init)
            if self.gates.n_players == 0:
                raise ConfigError("game: the model has no players to gate")
            self.sopt = S_OPTIMIZERS.get(self.cfg.s_optimizer)(
                self.gates.parameters(), self.cfg.lr_s
            )
        if self._pending is not None:
            self._apply_pending()
        self.gates.attach()
        if ctx.step == 0 and not self.trace:
            self._record_trace(0)

    def _record_trace(self, epoch: int) -> None:
        for layer in self.gates.layers:
            if self.cfg.trace == 0:
                break
            idx = np.unique(
                np.linspace(0, layer.n - 1, min(self.cfg.trace, layer.n)).round().astype(int)
            )
            s = layer.s.detach().numpy()
            self.trace += [(epoch, layer.name, int(i), float(s[i])) for i in idx]

    # --- the game ------------------------------------------------------------------------------
    def on_step_end(self, ctx: TrainContext) -> None:
        self._count += 1
        if self._count < self.cfg.update_every:
            return
        started = time.perf_counter()
        eps = self.cfg.epsilon
        terms, alive = [], []
        for layer in self.gates.layers:
            grad = layer.s.grad if layer.s.grad is not None else torch.zeros_like(layer.s)
            terms.append(layer_terms(layer, grad / self._count, self.cfg, ctx.batch_size))
            alive.append(layer.s.detach() >= eps)
        self.sopt.step([t.marginal for t in terms])
        self.gates.zero_grad()
        self._count = 0
        n = self.gates.n_players
        for key in _TERMS:
            self._sums[key] += float(sum(float(getattr(t, key).sum()) for t in terms)) / n
        for layer, before in zip(self.gates.layers, alive):
            back = int((~before & (layer.s.detach() >= eps)).sum())
            self._reentries[layer.name] = self._reentries.get(layer.name, 0) + back
        self._updates += 1
        self._seconds += time.perf_counter() - started

    def on_epoch_end(self, ctx: TrainContext) -> None:
        eps = self.cfg.epsilon
        all_s = np.concatenate([layer.s.detach().numpy() for layer in self.gates.layers])
        ctx.log("game/alive", float((all_s >= eps).sum()))
        ctx.log("game/s_mean", float(all_s.mean()))
        ctx.log("game/s_at0", float((all_s < eps).mean()))
        ctx.log("game/s_at1", float((all_s > 1 - eps).mean()))
        for layer in self.gates.layers:
            s = layer.s.detach().numpy()
            norm = layer.norm_sq().sqrt().numpy()
            ctx.log(f"game/alive/{layer.name}", float((s >= eps).sum()))
            for q in (10, 50, 90):
                ctx.log(f"game/s_q{q}/{layer.name}", float(np.percentile(s, q)))
            ctx.log(f"game/theta_norm/{layer.name}", float(norm.mean()))
            ctx.log(f"game/eff_norm/{layer.name}", float((s * norm).mean()))
            ctx.log(f"game/reentries/{layer.name}", float(self._reentries.get(layer.name, 0)))
        for key in _TERMS:
            ctx.log(f"game/{key}", self._sums[key] / max(self._updates, 1))
        ctx.log("game/reentries", float(sum(self._reentries.values())))
        ctx.log("game/update_seconds", self._seconds)
        self._record_trace(ctx.epoch)
        self._reset_epoch()
        if ctx.epochs is not None and ctx.epoch >= ctx.epochs and self.final is None:
            self.finalize(ctx)

    # --- after training ------------------------------------------------------------------------
    def benefit_at(self, ctx: TrainContext, s: list[np.ndarray]) -> list[np.ndarray]:
        """Benefit coefficients b_l measured on the check samples with participations ``s``."""
        saved = self.gates.values()
        self.gates.load({layer.name: s_l for layer, s_l in zip(self.gates.layers, s)})
        n = min(self.cfg.check_samples, len(ctx.y_train))
        x, y = ctx.x_train[:n].to(ctx.device), ctx.y_train[:n].to(ctx.device)
        # the gradient of the mean loss over the check samples does not depend on the chunk size
        grads = measure_dl_ds(self.gates, ctx.model, x, y, max(ctx.batch_size, 1024), ctx.loss_fn)
        factor = REDUCTIONS.get(self.cfg.loss_reduction)(ctx.batch_size)
        out = [
            benefit_coefficient(
                g.double().cpu().numpy() * factor,
                np.asarray(s_l, dtype=np.float64),
                self.cfg.benefit,
                self.cfg.gradient,
            )
            for g, s_l in zip(grads, s)
        ]
        self.gates.load(saved)
        return out

    def layer_games(self, ctx: TrainContext) -> list[LayerGame]:
        """The final state as one :class:`LayerGame` per layer (benefits measured on check samples)."""
        s = [layer.s.detach().double().numpy() for layer in self.gates.layers]
        bs = self.benefit_at(ctx, s)
        games = []
        for layer, s_l, b_l in zip(self.gates.layers, s, bs):
            theta = layer.theta().double().numpy() if self.cfg.eta > 0 else None
            games.append(LayerGame(layer.name, s_l, b_l, layer.norm_sq().double().numpy(), theta))
        return games

    def finalize(self, ctx: TrainContext) -> None:
        """Equilibrium check, best-response solver and hard pruning of the final state (logs + tables)."""
        cfg, eps = self.cfg, self.cfg.epsilon
        games = self.layer_games(ctx)
        report = check_equilibrium(games, self.params, cfg.tolerance, eps)
        for key, value in report.summary.items():
            ctx.log(f"game/eq/{key}", value)
        sol = cfg.solver
        fn = (lambda s: self.benefit_at(ctx, s)) if sol.recompute_benefit else None
        solved = solve_best_response(
            games, self.params, sol.iterations, sol.damping, sol.tol, benefit_fn=fn
        )
        s_all = np.concatenate([g.s for g in games])
        br_all = np.concatenate(solved.s)
        ctx.log("game/br/iterations", float(solved.iterations))
        ctx.log("game/br/converged", float(solved.converged))
        ctx.log("game/br/alive", float((br_all >= eps).sum()))
        ctx.log("game/br/agree", float(((br_all >= eps) == (s_all >= eps)).mean()))
        ctx.log("game/br/mean_abs_diff", float(np.abs(br_all - s_all).mean()))
        rows = []
        for k, g in enumerate(games):
            rows += [
                {
                    "layer": g.name,
                    "player": i,
                    "s": float(g.s[i]),
                    "theta_norm": float(np.sqrt(g.norm_sq[i])),
                    "b": float(g.b[i]),
                    "best": float(report.best[k][i]),
                    "gain": float(report.gain[k][i]),
                    "dominated": bool(report.dominated[k][i]),
                    "status": str(report.status[k][i]),
                    "s_br": float(solved.s[k][i]),
                }
                for i in range(g.s.size)
            ]
        self._hard_prune(ctx)
        self.final = {"players": rows}

    def _hard_prune(self, ctx: TrainContext) -> None:
        cfg = self.cfg
        values = self.gates.values()
        self.gates.detach()
        try:
            result = hard_prune(ctx.model, values, cfg.epsilon, cfg.players, cfg.group)
        finally:
            self.gates.attach()
        for name, kept in result.kept.items():
            ctx.log(f"game/kept/{name}", float(len(kept)))
        ctx.log("game/kept", float(result.n_kept))
        ctx.log(
            "game/pruned_fraction", 1.0 - result.n_kept / max(sum(result.n_players.values()), 1)
        )
        if cfg.players == "units":
            ctx.log("game/hard_parameters", float(count_parameters(result.model)))
        if ctx.x_test is not None:
            loss, acc = evaluate(result.model.to(ctx.device), ctx.x_test, ctx.y_test)
            ctx.log("game/hard_test_accuracy", acc)
            ctx.log("game/hard_test_loss", loss)

    def tables(self) -> dict[str, pd.DataFrame]:
        """``game/players`` (one row per player after training) and ``game/trace`` (sampled s per epoch)."""
        out = {"game/trace": pd.DataFrame(self.trace, columns=["epoch", "layer", "player", "s"])}
        if self.final is not None:
            out["game/players"] = pd.DataFrame(self.final["players"])
        return out

    # --- checkpoints ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Participations, s-optimiser state, pending dL/ds, trajectories and final tables."""
        layers = self.gates.layers if self.gates is not None else []
        return {
            "kind": "game",
            # tensors, not numpy arrays: checkpoints load with ``weights_only=True``
            "s": {k: torch.from_numpy(v) for k, v in self.gates.values().items()}
            if self.gates is not None
            else {},
            "sopt": self.sopt.state_dict() if self.sopt is not None else {},
            "grad": [
                None if layer.s.grad is None else layer.s.grad.detach().clone() for layer in layers
            ],
            "count": self._count,
            "trace": list(self.trace),
            "final": self.final,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`; the gates are rebuilt on the model at the next ``fit``."""
        self._pending = state
        self.trace = [tuple(t) for t in state.get("trace", [])]
        self.final = state.get("final")
        if self.gates is not None:  # a hook reused across fit calls: its gates exist already
            self._apply_pending()

    def _apply_pending(self) -> None:
        state, self._pending = self._pending, None
        self.gates.load(state["s"])
        self.sopt.load_state_dict(state["sopt"])
        for layer, g in zip(self.gates.layers, state["grad"]):
            layer.s.grad = None if g is None else g.clone()
        self._count = int(state["count"])

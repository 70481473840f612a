"""GameConfig: the ``game:`` section of a training config, validated (pydantic).

Every option the paper leaves open is a field here, and every closed list of values is a
:class:`~prunelab.core.registry.Registry` (an unknown value gets a one-line error suggesting the
closest one). The meaning of each option is in ``docs/definitions.md`` ("Pruning as a game").

Examples
--------
>>> GameConfig(beta=0.1).lr_s
0.001
>>> GameConfig(beta=-1)
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for GameConfig
...
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from prunelab.errors import ConfigError
from prunelab.game.gates import GROUPS, PLAYERS
from prunelab.game.update import S_OPTIMIZERS
from prunelab.game.utility import BENEFITS, COMPETITIONS, GRADIENTS, REDUCTIONS


class SolverConfig(BaseModel):
    """The best-response solver run after training (fixed θ).

    Attributes
    ----------
    iterations : int
        Maximum number of best-response rounds.
    damping : float
        ``s <- (1 - damping) s + damping BR(s)``, in (0, 1].
    tol : float
        Stop when max_i |Δs_i| < tol.
    recompute_benefit : bool
        Re-measure the benefit coefficients at the new ``s`` every round (the network's loss
        depends on every participation); False keeps those of the trained state.
    """

    model_config = ConfigDict(extra="forbid")

    iterations: PositiveInt = 30
    damping: float = Field(0.5, gt=0, le=1)
    tol: float = Field(1e-4, gt=0)
    recompute_benefit: bool = True


class GameConfig(BaseModel):
    """The pruning game: participation gates, their utilities and how they are updated.

    Attributes
    ----------
    alpha, beta, gamma, eta : float
        Benefit weight, L2 cost, L1 cost and competition weight (β, γ, η ≥ 0).
    lr_s : float
        Step size of the participation update, in (0, 1).
    epsilon : float
        Players with ``s < epsilon`` at the end are pruned (and count as not alive), in (0, 1).
    benefit : {"paper", "descent", "abs"}
        Sign of the benefit (:data:`~prunelab.game.utility.BENEFITS`).
    gradient : {"raw", "effective"}
        Gradient of the benefit (:data:`~prunelab.game.utility.GRADIENTS`).
    players : {"units", "links"}
    group : {"in", "in_out"}
        For unit players: incoming weights and bias, or also the outgoing weights.
    s_optimizer : {"sgd", "adam"}
    update_every : int
        Update the participations every this many optimizer steps (their gradients averaged).
    loss_reduction : {"mean", "sum"}
        Reduction of the loss in the benefit (θ always trains on the Trainer's mean loss).
    competition : {"raw", "cosine"}
        Inner product of the competition term (within a layer).
    s_init : float
        Initial participation of every player, in (0, 1].
    trace : int
        Players per layer whose participation is recorded every epoch (evenly spaced).
    check_samples : int
        Training samples (the first ones of the training split) used to measure the benefit
        coefficients for the equilibrium check and the solver.
    tolerance : float
        A player is at equilibrium when its best deviation gain is <= tolerance (loss units).
    solver : SolverConfig
    """

    model_config = ConfigDict(extra="forbid")

    alpha: float = Field(1.0, ge=0)
    beta: float = Field(0.1, ge=0)
    gamma: float = Field(0.0, ge=0)
    eta: float = Field(0.0, ge=0)
    lr_s: float = Field(1e-3, gt=0, lt=1)
    epsilon: float = Field(0.01, gt=0, lt=1)
    benefit: BENEFITS.field() = "paper"  # type: ignore[valid-type]
    gradient: GRADIENTS.field() = "raw"  # type: ignore[valid-type]
    players: PLAYERS.field() = "units"  # type: ignore[valid-type]
    group: GROUPS.field() = "in"  # type: ignore[valid-type]
    s_optimizer: S_OPTIMIZERS.field() = "sgd"  # type: ignore[valid-type]
    update_every: PositiveInt = 1
    loss_reduction: REDUCTIONS.field() = "mean"  # type: ignore[valid-type]
    competition: COMPETITIONS.field() = "raw"  # type: ignore[valid-type]
    s_init: float = Field(1.0, gt=0, le=1)
    trace: int = Field(16, ge=0)
    check_samples: PositiveInt = 2048
    tolerance: float = Field(1e-4, gt=0)
    solver: SolverConfig = Field(default_factory=SolverConfig)

    def check_model(self, model: Any) -> None:
        """Fail with one line if a ``model:`` section has no players of this kind.

        Parameters
        ----------
        model : object with ``sizes`` (list of int) and ``sparse_readout`` (bool)
            The training config's model section (a SparseMLP description).
        """
        sizes = list(getattr(model, "sizes", []))
        hidden = len(sizes) - 2
        if self.players == "units" and hidden < 1:
            raise ConfigError(
                f"game: model {sizes} has no hidden layer, so no neurons to gate; "
                "add a hidden size to model.sizes (e.g. [784, 512, 10])"
            )
        if self.players == "links" and hidden < 1 and not getattr(model, "sparse_readout", False):
            raise ConfigError(
                f"game: model {sizes} has no sparse layer, so no links to gate; "
                "add a hidden size to model.sizes or set model.sparse_readout=true"
            )


def game_section(value: Any) -> GameConfig | None:
    """A raw ``game:`` mapping (or a GameConfig, or None) as a :class:`GameConfig`."""
    if value is None or isinstance(value, GameConfig):
        return value
    return GameConfig.model_validate(value)

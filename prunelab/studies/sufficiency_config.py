"""The sections of a ``sufficiency`` study config (validated, unknown keys rejected).

See :mod:`prunelab.studies.sufficiency` for what the study does and ``docs/sufficiency.md`` for
every key with its default.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator

from prunelab.core.scoring import LINK_SCORES
from prunelab.dst.config import DSTConfig
from prunelab.dst.regrowth import REGROWTH_RULES
from prunelab.errors import ConfigError
from prunelab.nn.init import WEIGHT_INITS
from prunelab.nn.mlp import ACTIVATIONS
from prunelab.pruning import PRUNING_SCOPES, geometric_schedule, validate_schedule
from prunelab.sufficiency.fmin import check_eps
from prunelab.sufficiency.networks import MASK_CONTROLS
from prunelab.sufficiency.retrain import PROTOCOLS

DEFAULT_PROTOCOLS = ["finetune", "rewind", "lr-rewind", "scratch"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NetworkSpec(_Section):
    """One architecture: ``n_features → hidden… → n_classes``, every layer prunable.

    With ``start_density`` the network that is pruned is not trained dense but sparse, by dynamic
    sparse training (``dst`` options, ``DSTConfig``) from an Erdős–Rényi mask with that density in
    every layer; only grid densities below it are pruned to, and Ψ = 1 is that DST network.
    """

    name: str
    hidden: list[PositiveInt] = Field(min_length=1)
    activation: ACTIVATIONS.field() = "relu"  # type: ignore[valid-type]
    start_density: float | None = Field(None, gt=0, lt=1)
    dst: dict[str, Any] = Field(default_factory=dict)

    @field_validator("dst")
    @classmethod
    def _dst(cls, v: dict[str, Any]) -> dict[str, Any]:
        dst_config(v)
        return v


def dst_config(options: dict[str, Any]) -> DSTConfig:
    """A :class:`DSTConfig` from options, a ``preset`` name expanded."""
    v = dict(options)
    return DSTConfig.from_preset(**v) if "preset" in v else DSTConfig.model_validate(v)


class DensityGrid(_Section):
    """Remaining densities: geometric from ``start`` to ``stop`` in ``n_steps``, or ``densities``."""

    start: float = 0.3
    stop: float = 0.001
    n_steps: int = Field(14, ge=2)
    densities: list[float] | None = None

    def values(self) -> np.ndarray:
        """Strictly decreasing densities in (0, 1] (ConfigError otherwise)."""
        if self.densities is not None:
            return validate_schedule(self.densities)
        return validate_schedule(geometric_schedule(self.start, self.stop, self.n_steps))


class PruneConfig(_Section):
    """How the trained network is pruned to each density (the criterion is per arm)."""

    scope: PRUNING_SCOPES.field() = "global"  # type: ignore[valid-type]
    rounds: PositiveInt = 1
    grid: DensityGrid = Field(default_factory=DensityGrid)


class RetrainConfig(_Section):
    """Budgets (epochs of retraining at which Ψ is measured) and protocol details."""

    budgets: list[Any] = Field(default_factory=lambda: [0, 1, 2, 5, 10, 20])
    rewind_epoch: int = Field(0, ge=0)
    n_eval: PositiveInt = 10_000
    dst: dict[str, Any] = Field(default_factory=dict)

    @field_validator("budgets")
    @classmethod
    def _budgets(cls, v: list[Any]) -> list[int]:
        bad = [b for b in v if isinstance(b, bool) or not isinstance(b, int) or b < 0]
        if not v or bad:
            raise ConfigError(
                f"retrain.budgets must be whole numbers of epochs >= 0 (0 = before retraining), got {bad or v}"
            )
        out = sorted(set(int(b) for b in v))
        if out[-1] < 1:
            raise ConfigError(
                f"retrain.budgets needs a largest budget of at least 1 epoch, got {out}"
            )
        return out

    @field_validator("dst")
    @classmethod
    def _dst(cls, v: dict[str, Any]) -> dict[str, Any]:
        dst_config(v)
        return v

    @property
    def b_max(self) -> int:
        """The largest budget (epochs of every retraining run)."""
        return int(self.budgets[-1])

    def dst_config(self) -> DSTConfig:
        """The DST options of the ``dst`` protocol (a preset name in ``preset`` is expanded)."""
        return dst_config(self.dst)


class ArmSpec(_Section):
    """What is retrained: a pruning criterion, mask controls and protocols, on some networks."""

    criterion: LINK_SCORES.field() = "magnitude"  # type: ignore[valid-type]
    options: dict[str, Any] = Field(default_factory=dict)
    protocols: list[PROTOCOLS.field()] = Field(
        default_factory=lambda: list(DEFAULT_PROTOCOLS), min_length=1
    )  # type: ignore[valid-type]
    masks: list[MASK_CONTROLS.field()] = Field(default_factory=lambda: ["pruned"], min_length=1)  # type: ignore[valid-type]
    networks: list[str] | None = None


class HysteresisConfig(_Section):
    """Prune down in steps, regrow back up with each rule; ``networks`` empty disables it."""

    networks: list[str] = Field(default_factory=list)
    rules: list[REGROWTH_RULES.field()] = Field(default_factory=lambda: ["random", "ch3l3", "rigl"])  # type: ignore[valid-type]
    step_epochs: PositiveInt = 2
    protocol: PROTOCOLS.field() = "lr-rewind"  # type: ignore[valid-type]
    init: WEIGHT_INITS.field() = "zeros"  # type: ignore[valid-type]
    every: PositiveInt = 1

    @field_validator("protocol")
    @classmethod
    def _protocol(cls, v: str) -> str:
        p = PROTOCOLS.get(v)
        if p.start != "trained" or p.topology != "fixed":
            raise ConfigError(
                f"hysteresis.protocol must keep the swept network's weights and mask (finetune or lr-rewind), got {v!r}"
            )
        return v


class EquivalentConfig(_Section):
    """Dense networks with as many weights as the pruned ones (same depth), per density."""

    networks: list[str] = Field(default_factory=list)


class SpectralConfig(_Section):
    """Dominant modes: ``k`` per layer, ``null_draws`` permutations, measured at budgets ``at``."""

    k: PositiveInt = 10
    null_draws: PositiveInt = 3
    at: list[int] | None = None


class AnalysisConfig(_Section):
    """F_min (ε), the Rosenfeld fit (κ, high plateau) and the bootstrap."""

    eps: float = 0.01
    kappa: float | Literal["matched"] = "matched"
    eps_up: Literal["fit", "chance"] = "chance"
    n_boot: int = Field(200, ge=0)
    confidence: float = Field(0.95, gt=0, lt=1)

    @field_validator("eps", mode="before")
    @classmethod
    def _eps(cls, v: Any) -> float:
        return check_eps(v, "analysis.eps")

    @field_validator("kappa")
    @classmethod
    def _kappa(cls, v: Any) -> Any:
        if v != "matched" and not float(v) > 0:
            raise ConfigError(f"analysis.kappa must be > 0 or 'matched', got {v!r}")
        return v

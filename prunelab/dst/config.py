"""DSTConfig: every option of dynamic sparse training, validated (pydantic); named presets.

The experiment config holds it under the key ``dst:``. The defaults are the procedure of
Sulyok et al. (2026): every epoch remove 30% of each sparse layer's links by smallest ``|w|``,
regrow as many at random, initialise new links N(0, 2/f_in) with the dense fan-in.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)

from prunelab.dst.regrowth import REGROWTH_RULES
from prunelab.dst.removal import REMOVAL_RULES
from prunelab.errors import ConfigError
from prunelab.nn.init import WEIGHT_INITS

PRESETS: dict[str, dict[str, Any]] = {
    # Mocanu et al. (2018): magnitude removal split by sign, random regrowth every epoch.
    # Their networks also start from SET's ER topology: set model.topology="set", epsilon=20.
    "set": {"removal": "set", "regrowth": "random", "zeta": 0.3, "stop_overlap": None},
    # Evci et al. (2020): every 100 steps, drop fraction 0.3 with cosine decay until T_end
    # (update_until, 75% of the training steps in the paper), grow by |gradient|, new links at 0.
    # Their code keeps the weight of a link dropped and regrown in the same update.
    "rigl": {
        "removal": "magnitude",
        "regrowth": "rigl",
        "zeta": 0.3,
        "zeta_schedule": "cosine",
        "update_unit": "step",
        "update_every": 100,
        "init": "zeros",
        "reinstate_weights": True,
        "stop_overlap": None,
    },
    # Zhang et al. (CHT): chain removal, CH3-L3 top-scored regrowth, new links at 0, early stop
    # when 90% of regrown links were just removed (official code's --early_stop_thre).
    "cht": {
        "removal": "magnitude",
        "chain_removal": True,
        "regrowth": "ch3l3",
        "soft": False,
        "init": "zeros",
        "reinstate_weights": True,
        "stop_overlap": 0.9,
    },
    # CHTs: as CHT with regrowth sampled proportionally to the CH3-L3 score.
    "chts": {
        "removal": "magnitude",
        "chain_removal": True,
        "regrowth": "ch3l3",
        "soft": True,
        "init": "zeros",
        "reinstate_weights": True,
        "stop_overlap": 0.9,
    },
    # Sulyok et al. (2026), the two methods compared there.
    "sulyok-rlr": {"removal": "magnitude", "regrowth": "random", "init": "kaiming"},
    "sulyok-ch3l3": {"removal": "magnitude", "regrowth": "ch3l3", "init": "kaiming"},
}


class DSTConfig(BaseModel):
    """How the topology of the sparse layers evolves during training.

    Attributes
    ----------
    zeta : float
        Fraction of each layer's links removed per update, in (0, 1) (the peak value under the
        cosine schedule).
    zeta_schedule : {"constant", "cosine"}
        ``"cosine"``: ``zeta_t = zeta / 2 * (1 + cos(pi t / update_until))`` (RigL), with ``t``
        the epoch or step of the update.
    removal : {"magnitude", "set"}
        Smallest ``|w|`` first, or SET's rule split by sign (see :mod:`prunelab.dst.removal`).
    chain_removal : bool
        Also remove hidden neurons no longer on an input→output path (:mod:`prunelab.dst.chain`).
    regrowth : {"random", "ch3l3", "l3", "rigl"}
        See :mod:`prunelab.dst.regrowth`.
    soft : bool
        Score rules sample new links ∝ score instead of taking the top (CHTs).
    init : {"kaiming", "swi", "zeros"}
        Values of new links (:mod:`prunelab.nn.init`): N(0, 2/f_in) with the dense fan-in, CHT's
        N(0, 2/(density f_in)), or zero (RigL, CHT).
    update_every : int
        Update the topology every this many ``update_unit`` (epochs or optimizer steps).
    update_unit : {"epoch", "step"}
    update_until : int or None
        No update after this epoch/step (RigL's T_end); the horizon of the cosine schedule.
        None: update until training ends.
    stop_overlap : float or None
        Each layer raises a flag once at least this fraction of its regrown links are links just
        removed; updates stop for good when every layer has raised it (CHT's early stop).
        None disables.
    reinstate_weights : bool
        A link removed and regrown in the same update keeps its weight and optimizer state (as in
        the RigL and CHT code) instead of being re-initialised.
    regrow_dead : bool
        Regrowth may add links of neurons that are off every input→output path (default, as in
        CHT: random fill may revive them); False restricts regrowth to neurons on a path.
    grad_batch_size : int or None
        Batch size of the gradient used by ``"rigl"`` (None: the training batch size).
    preset : str or None
        Start from a named preset of :data:`PRESETS`; keys given explicitly override it
        (in YAML: ``dst: {preset: rigl, update_until: 7500}``).

    Examples
    --------
    >>> DSTConfig(regrowth="ch3l3").zeta
    0.3
    >>> DSTConfig.from_preset("rigl", update_until=7500).zeta_at(7500)
    0.0
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    zeta: float = 0.3
    zeta_schedule: Literal["constant", "cosine"] = "constant"
    removal: REMOVAL_RULES.field() = "magnitude"  # type: ignore[valid-type]
    chain_removal: bool = False
    regrowth: REGROWTH_RULES.field() = "random"  # type: ignore[valid-type]
    soft: bool = False
    init: WEIGHT_INITS.field() = "kaiming"  # type: ignore[valid-type]
    update_every: PositiveInt = 1
    update_unit: Literal["epoch", "step"] = "epoch"
    update_until: PositiveInt | None = None
    stop_overlap: float | None = Field(0.9, gt=0, le=1)
    reinstate_weights: bool = False
    regrow_dead: bool = True
    grad_batch_size: PositiveInt | None = None
    preset: str | None = None

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as err:
            raise ConfigError(_one_line(err)) from None

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("preset") is not None:
            name = data["preset"]
            if name not in PRESETS:
                raise ValueError(f"unknown DST preset {name!r}; choose one of {', '.join(PRESETS)}")
            data = {**PRESETS[name], **data}
        return data

    @field_validator("zeta")
    @classmethod
    def _zeta(cls, v: float) -> float:
        if not 0.0 < v < 1.0:
            raise ValueError(
                f"zeta (fraction of links removed per update) must be in (0, 1), got {v}; e.g. 0.3"
            )
        return v

    @model_validator(mode="after")
    def _combinations(self) -> DSTConfig:
        if self.soft and not REGROWTH_RULES.get(self.regrowth).scored:
            raise ValueError(
                "soft sampling needs a score rule; use regrowth ch3l3, l3 or rigl, or soft=false"
            )
        if self.zeta_schedule == "cosine" and self.update_until is None:
            raise ValueError(
                "zeta_schedule 'cosine' needs update_until, the epoch/step where zeta reaches 0 "
                "(RigL: 75% of the training steps), e.g. update_until=7500"
            )
        return self

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> DSTConfig:
        """A named preset (``set``, ``rigl``, ``cht``, ``chts``, ``sulyok-rlr``, ``sulyok-ch3l3``) with overrides."""
        return cls(preset=name, **overrides)

    @property
    def needs_gradients(self) -> bool:
        """Whether the regrowth rule needs loss gradients."""
        return REGROWTH_RULES.get(self.regrowth).needs_gradients

    def zeta_at(self, t: int) -> float:
        """Removal fraction at the update of epoch/step ``t`` (1-based), dimensionless."""
        if self.zeta_schedule == "constant":
            return self.zeta
        horizon = float(self.update_until or 1)
        return self.zeta / 2.0 * (1.0 + math.cos(math.pi * min(t, horizon) / horizon))

    def is_update_time(self, t: int) -> bool:
        """Whether epoch/step ``t`` (in ``update_unit``) is followed by a topology update."""
        if t < 1 or t % self.update_every:
            return False
        if self.update_until is not None and t > self.update_until:
            return False
        return self.zeta_at(t) > 0.0  # the cosine schedule reaches 0 at update_until


def _one_line(err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        return f"unknown DST option {where!r}; valid options: {', '.join(DSTConfig.model_fields)}"
    return f"dst.{where}: {msg}" if where else f"dst: {msg}"

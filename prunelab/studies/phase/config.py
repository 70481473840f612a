"""The config of a pruning phase-transition study (kind ``phase``): validated, hashed, with variants.

A config may carry ``variants`` (partial overrides, e.g. a CNN or another data set) so that one
command runs a whole universality study; every variant is a full study of its own, and every
(width, seed) of every study is one trajectory whose run id is the hash of
:meth:`PhaseStudyConfig.trajectory_content` (the name is not part of it).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator  # noqa: F401

from prunelab.core.config import config_hash, deep_merge, format_error, null_keys, read_yaml
from prunelab.core.scoring import LINK_SCORES
from prunelab.errors import ConfigError
from prunelab.experiments.config import DataConfig
from prunelab.graph.rewire import REWIRING_METHODS
from prunelab.nn.families import MODEL_FAMILIES
from prunelab.nn.mlp import ACTIVATIONS
from prunelab.phase.null import NULL_INITS
from prunelab.pruning import PRUNING_SCOPES, geometric_schedule, validate_schedule
from prunelab.studies.base import Study
from prunelab.training import TrainConfig

KIND_TRAJECTORY = "phase-trajectory"
KIND_NULL = "phase-null"


class ScheduleConfig(BaseModel):
    """Remaining densities: geometric from ``start`` to ``stop`` in ``n_steps``, or explicit ``densities``."""

    model_config = ConfigDict(extra="forbid")

    start: float = 1.0
    stop: float = 1e-3
    n_steps: int = Field(25, ge=2)
    densities: list[float] | None = None

    def values(self) -> np.ndarray:
        """The schedule as a strictly decreasing float array (ConfigError otherwise)."""
        if self.densities is not None:
            return validate_schedule(self.densities)
        return validate_schedule(geometric_schedule(self.start, self.stop, self.n_steps))


class NullConfig(BaseModel):
    """Degree-preserving null: which masks are rewired and how the subnetworks are retrained.

    ``densities``: schedule densities to test, or ``"auto"`` = the ``n_auto`` schedule densities
    nearest (in log) to the χ-peak of ``m`` at each null width. ``widths``/``seeds``: whose
    trajectories (default: the largest width, all seeds). ``epochs``: retraining epochs with the
    mask fixed (default: ``pretrain_epochs``). ``init``: ``"dense"`` keeps the dense initialisation
    restricted to the mask (the trajectory's for same-init variants, a fresh one for scratch);
    ``"swi"`` scales those weights by 1/sqrt(layer density), i.e. N(0, 2/(density·fan_in)) as in
    CHT's sparse initialisation, so that a very sparse mask does not start with vanishing signals.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    enabled: bool = True
    n_rewired: int = Field(2, ge=0)
    from_: list[Literal["same-init", "scratch"]] = Field(
        default_factory=lambda: ["same-init", "scratch"], alias="from"
    )
    er: bool = True
    densities: list[float] | Literal["auto"] = "auto"
    n_auto: int = Field(3, ge=1)
    widths: list[int] | None = None
    seeds: list[int] | None = None
    epochs: int | None = Field(None, ge=1)
    method: REWIRING_METHODS.field() = "curveball"  # type: ignore[valid-type]
    init: NULL_INITS.field() = "dense"  # type: ignore[valid-type]


class AnalysisConfig(BaseModel):
    """Bootstrap sizes of the analysis (intervals over seeds)."""

    model_config = ConfigDict(extra="forbid")

    n_boot: int = Field(200, ge=0)
    n_boot_collapse: int = Field(50, ge=0)
    confidence: float = Field(0.95, gt=0, lt=1)


class PhaseStudyConfig(Study):
    """A pruning phase-transition study (see the module docstring; YAML in ``configs/pesce2026*.yaml``).

    ``method`` is any link score of :data:`prunelab.core.scoring.LINK_SCORES` (magnitude, random,
    and the registered data-dependent scores); ``family`` a width-parametrised model family.
    """

    model_config = ConfigDict(extra="forbid")
    item_noun: ClassVar[str] = "trajectory"

    kind: Literal["phase"] = "phase"
    name: str = "phase"
    data: DataConfig = Field(default_factory=DataConfig)
    family: MODEL_FAMILIES.field() = "fc"  # type: ignore[valid-type]
    widths: list[int] = Field(default_factory=lambda: [32, 64, 128, 256])
    depth: int | None = None  # weight layers; default 4 (fc) or 5 (cnn)
    activation: ACTIVATIONS.field() = "relu"  # type: ignore[valid-type]
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4])
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    scope: PRUNING_SCOPES.field() = "global"  # type: ignore[valid-type]
    method: LINK_SCORES.field() = "magnitude"  # type: ignore[valid-type]
    observables: list[str] = Field(default_factory=list)
    pretrain_epochs: int = Field(5, ge=1)
    finetune_epochs: int = Field(1, ge=0)
    rewind: str = "none"
    train: TrainConfig = Field(default_factory=TrainConfig)
    train_subset: int | None = Field(None, ge=1)
    null: NullConfig = Field(default_factory=NullConfig)
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)
    variants: list[dict[str, Any]] = Field(default_factory=list)
    quick_config: str | None = None

    @field_validator("widths")
    @classmethod
    def _widths(cls, v: list[int]) -> list[int]:
        if not v or any(int(w) < 1 for w in v):
            raise ValueError(f"widths must be a non-empty list of positive integers, got {v}")
        if len(set(v)) != len(v):
            raise ValueError(f"widths must be distinct, got {v}")
        return sorted(int(w) for w in v)

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: list[int]) -> list[int]:
        if not v or len(set(v)) != len(v):
            raise ValueError(f"seeds must be a non-empty list of distinct integers, got {v}")
        return list(v)

    def raw(self) -> dict[str, Any]:
        """The config as a mapping that validates again (``train`` keeps only the keys that were set)."""
        return _unset_train(super().raw(), self.train)

    @field_validator("family")
    @classmethod
    def _family(cls, v: str) -> str:
        if v == "mlp":
            raise ValueError(
                "family 'mlp' has no width knob; use family: fc (or cnn) in a phase study"
            )
        return v

    @field_validator("observables")
    @classmethod
    def _observables(cls, v: list[str]) -> list[str]:
        from prunelab.phase.observables import OBSERVABLES

        return [OBSERVABLES.check(name) for name in v]

    @field_validator("train")
    @classmethod
    def _train(cls, v: TrainConfig) -> TrainConfig:
        # the schedule sets the epochs and the subset is a study-level key: one place for each
        if "epochs" in v.model_fields_set:
            raise ValueError(
                "train.epochs is not used by a phase study; set pretrain_epochs and finetune_epochs instead"
            )
        if "train_subset" in v.model_fields_set:
            raise ValueError("set train_subset at the top level of a phase study, not under train")
        return v

    @field_validator("rewind")
    @classmethod
    def _rewind(cls, v: str) -> str:
        if v in ("none", "init"):
            return v
        if v.startswith("epoch:") and v[6:].isdigit():
            return v
        raise ValueError(f"rewind must be 'none', 'init' or 'epoch:K' (K an integer), got {v!r}")

    @model_validator(mode="after")
    def _check(self) -> PhaseStudyConfig:
        k = self.rewind_epoch
        if k is not None and k > self.pretrain_epochs:
            raise ValueError(
                f"rewind epoch {k} is after the last pretraining epoch {self.pretrain_epochs}; use epoch:K with K <= pretrain_epochs"
            )
        self.schedule.values()  # raises ConfigError for bad densities
        return self

    @property
    def rewind_epoch(self) -> int | None:
        """Epoch of the rewind weights (0 = initialisation) or None for no rewinding."""
        if self.rewind == "none":
            return None
        return 0 if self.rewind == "init" else int(self.rewind[6:])

    @property
    def n_layers(self) -> int:
        return int(self.depth) if self.depth is not None else (4 if self.family == "fc" else 5)

    def densities(self) -> np.ndarray:
        return self.schedule.values()

    def train_config(self, seed: int, epochs: int) -> TrainConfig:
        """The Trainer config of a trajectory: ``train`` with this seed, epochs and subset."""
        update: dict[str, Any] = {"seed": int(seed), "epochs": int(epochs)}
        if self.train_subset is not None:
            update["train_subset"] = int(self.train_subset)
        return self.train.model_copy(update=update)

    def studies(self) -> list[PhaseStudyConfig]:
        """This study and every variant (variant = this config deep-merged with the override)."""
        base = self.model_dump(mode="json", by_alias=True, exclude={"variants", "quick_config"})
        base = _unset_train(base, self.train)
        out = [type(self).model_validate(base)]
        for k, override in enumerate(self.variants):
            if not isinstance(override, dict):
                raise ConfigError(
                    f"variants[{k}] must be a mapping of overrides, got {type(override).__name__}"
                )
            if "variants" in override:
                raise ConfigError(
                    f"variants[{k}] may not contain variants; list every variant at the top level"
                )
            merged = deep_merge(copy.deepcopy(base), override)
            merged.setdefault("name", f"{self.name}-{k + 1}")
            if merged["name"] == self.name:
                merged["name"] = f"{self.name}-{k + 1}"
            out.append(parse_phase_config(merged, type(self)))
        names = [s.name for s in out]
        if len(set(names)) != len(names):
            raise ConfigError(
                f"study and variant names must differ, got {names}; give each variant a name"
            )
        return out

    def trajectory_content(self, width: int, seed: int) -> dict[str, Any]:
        """What defines a trajectory (its run id is the hash of this; the name is not part of it)."""
        content = {
            "kind": KIND_TRAJECTORY,
            "data": self.data.model_dump(mode="json"),
            "family": self.family,
            "width": int(width),
            "depth": self.n_layers,
            "activation": self.activation,
            "seed": int(seed),
            "densities": [float(d) for d in self.densities()],
            "scope": self.scope,
            "method": self.method,
            "pretrain_epochs": self.pretrain_epochs,
            "finetune_epochs": self.finetune_epochs,
            "rewind": self.rewind,
            "train": self.train_config(seed, 1).model_dump(
                mode="json", exclude={"epochs", "device", "eval_batch_size"}
            ),
        }
        if (
            self.observables
        ):  # only when set, so trajectories stored before the option keep their ids
            content["observables"] = list(self.observables)
        return content

    def trajectory_id(self, width: int, seed: int) -> str:
        """Run id of the (width, seed) trajectory: the hash of :meth:`trajectory_content`."""
        return config_hash(self.trajectory_content(width, seed))

    def null_content(self, item: dict[str, Any]) -> dict[str, Any]:
        """What defines one retrained null network (its run id is the hash of this)."""
        content = {
            "kind": KIND_NULL,
            "trajectory": self.trajectory_id(item["width"], item["seed"]),
            "step": item["step"],
            "variant": item["variant"],
            "rep": item["rep"],
            "epochs": self.null.epochs or self.pretrain_epochs,
            "method": self.null.method,
        }
        if (
            self.null.init != "dense"
        ):  # only when set, so null runs stored before the option keep their ids
            content["init"] = self.null.init
        return content


def _unset_train(raw: dict[str, Any], train: TrainConfig) -> dict[str, Any]:
    """A dumped config whose ``train`` section keeps only the keys the user set (so that re-validating
    it does not see ``epochs``/``train_subset``, which a phase study sets itself)."""
    raw["train"] = {k: v for k, v in raw.get("train", {}).items() if k in train.model_fields_set}
    return raw


def parse_phase_config(
    raw: dict[str, Any], cls: type[PhaseStudyConfig] | None = None
) -> PhaseStudyConfig:
    """Validate a mapping into a phase study (one-line :class:`ConfigError`).

    ``cls`` is the class to build (the study kind; default :class:`PhaseStudyConfig`).
    """
    cls = cls or PhaseStudyConfig
    if not isinstance(raw, dict):
        raise ConfigError(
            "a phase-study config must be a YAML mapping (keys name, data, family, widths, ...)"
        )
    raw = null_keys(raw)
    raw.setdefault("kind", "phase")
    try:
        return cls.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(format_error(err, cls, "phase-study config")) from None


def load_phase_config(
    path: str | Path, quick: bool = False, cls: type[PhaseStudyConfig] | None = None
) -> PhaseStudyConfig:
    """Read a phase-study YAML file; ``quick`` switches to its ``quick_config`` (a path relative to
    the file) or, without one, shrinks it with :func:`quick_variant`."""
    path = Path(path)
    raw = read_yaml(path)
    raw.setdefault("name", path.stem)
    cfg = parse_phase_config(raw, cls)
    if not quick:
        return cfg
    if cfg.quick_config:
        target = path.parent / cfg.quick_config
        if target.resolve() == path.resolve():
            return cfg
        return load_phase_config(target, quick=False, cls=cls)
    return quick_variant(cfg)


def quick_variant(cfg: PhaseStudyConfig) -> PhaseStudyConfig:
    """A minutes-long version of a study: 3 smallest widths, 3 seeds, 12 densities, short training,
    no variants, a small null."""
    raw = _unset_train(
        cfg.model_dump(mode="json", by_alias=True, exclude={"variants", "quick_config"}), cfg.train
    )
    raw["name"] = f"{cfg.name}-quick"
    raw["widths"] = cfg.widths[:3]
    raw["seeds"] = cfg.seeds[:3] if len(cfg.seeds) >= 3 else cfg.seeds
    sched = cfg.densities()
    raw["schedule"] = {
        "start": float(sched[0]),
        "stop": float(sched[-1]),
        "n_steps": min(12, len(sched)),
        "densities": None,
    }
    raw["pretrain_epochs"] = min(cfg.pretrain_epochs, 3)
    raw["finetune_epochs"] = min(cfg.finetune_epochs, 1)
    raw["train_subset"] = min(cfg.train_subset or 5000, 5000)
    raw["null"]["n_rewired"] = min(cfg.null.n_rewired, 1)
    raw["null"]["n_auto"] = min(cfg.null.n_auto, 2)
    raw["analysis"]["n_boot_collapse"] = min(cfg.analysis.n_boot_collapse, 20)
    return parse_phase_config(raw, type(cfg))

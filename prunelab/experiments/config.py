"""Experiment configs: YAML validated into typed objects; the normalised content hash is the run id.

An experiment is a frozen description (data, model, training, optional dynamic sparse training,
optional sweep). Unknown keys are errors with a suggestion of the closest valid key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from prunelab.core.config import apply_override as _apply_override
from prunelab.core.config import config_hash, parse_model, read_yaml
from prunelab.dst.config import DSTConfig
from prunelab.errors import ConfigError, check_density
from prunelab.game.config import GameConfig, game_section
from prunelab.interop.files import IMPORT_FORMATS
from prunelab.nn.backends import BACKENDS
from prunelab.nn.init import WEIGHT_INITS
from prunelab.nn.mlp import ACTIVATIONS, TOPOLOGIES
from prunelab.pai.hook import PaITopology
from prunelab.phase.observables import OBSERVABLES
from prunelab.pruning.hook import PruneConfig
from prunelab.training.config import TrainConfig

__all__ = [
    "DataConfig",
    "ExperimentConfig",
    "ImportedConfig",
    "ModelConfig",
    "SweepConfig",
    "apply_override",
    "config_hash",
    "load_config",
    "parse_config",
]


class DataConfig(BaseModel):
    """Which data set: ``name`` from :data:`prunelab.data.DATASETS`, an optional directory, options."""

    model_config = ConfigDict(extra="forbid")

    name: str = "fashion-mnist"
    data_dir: str | None = None
    download: bool = True
    options: dict[str, Any] = Field(default_factory=dict)


class ModelConfig(BaseModel):
    """A :class:`prunelab.nn.SparseMLP` (see its docstring for every field).

    ``topology`` is ``"er"``, ``"set"``, or a pruning-at-initialisation mapping
    ``{pai: synflow, density: 0.01, rounds: 100}`` (:class:`prunelab.pai.PaITopology`): the sparse
    layers are then built complete and pruned at the start of training (``density`` is ignored).
    """

    model_config = ConfigDict(extra="forbid")

    sizes: list[int]
    density: float | list[float] = 0.01
    backend: str = "auto"
    sparse_readout: bool = False
    activation: ACTIVATIONS.field() = "relu"  # type: ignore[valid-type]
    init: WEIGHT_INITS.field() = "kaiming"  # type: ignore[valid-type]
    topology: TOPOLOGIES.field() | PaITopology = "er"  # type: ignore[valid-type]
    epsilon: float = Field(20.0, gt=0)
    bias: bool = True

    @field_validator("sizes")
    @classmethod
    def _two_sizes(cls, v: list[int]) -> list[int]:
        if len(v) < 2:
            raise ValueError(f"needs at least two layer sizes (input and classes), got {v}")
        if any(s < 1 for s in v):
            raise ValueError(f"every layer size must be >= 1, got {v}")
        return v

    @field_validator("topology", mode="before")
    @classmethod
    def _topology(cls, v: Any) -> Any:
        # a mapping is a PaI topology: validate it here for errors phrased as model.topology.<key>
        if isinstance(v, dict):
            return parse_model(PaITopology, v, "model.topology")
        if not isinstance(v, PaITopology) and v not in TOPOLOGIES:
            try:
                TOPOLOGIES.check(v)
            except ConfigError as err:
                raise ConfigError(
                    f"{err}, or a pruning-at-initialisation mapping such as "
                    "{pai: synflow, density: 0.01}"
                ) from None
        return v

    @field_validator("backend")
    @classmethod
    def _backend(cls, v: str) -> str:
        if v != "auto":
            BACKENDS.check(v)
        return v

    @field_validator("density")
    @classmethod
    def _density(cls, v: float | list[float]) -> float | list[float]:
        for d in v if isinstance(v, list) else [v]:
            check_density(d, "model.density")
        return v


class ImportedConfig(BaseModel):
    """A network trained elsewhere (``prunelab import``): where it came from and its architecture.

    The architecture fields are the parameters of the ``imported`` model family
    (:func:`prunelab.nn.families.build_imported`); the run's checkpoint holds the weights.
    ``file`` is where it was read from, recorded for people; it does not enter the run id
    (``sha256`` of the file's bytes does), so one file imported from two places is one run.
    """

    model_config = ConfigDict(extra="forbid")

    format: IMPORT_FORMATS.field()  # type: ignore[valid-type]
    file: str
    sha256: str
    zeros_as_missing: bool = False
    sizes: list[int]
    sparse: list[bool]
    bias: list[bool]
    activation: ACTIVATIONS.field() = "relu"  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _lengths(self) -> ImportedConfig:
        if len(self.sizes) < 2 or not (len(self.sparse) == len(self.bias) == len(self.sizes) - 1):
            raise ValueError(
                f"imported: needs len(sparse) == len(bias) == len(sizes) - 1, got {len(self.sizes)} sizes, "
                f"{len(self.sparse)} sparse and {len(self.bias)} bias flags"
            )
        return self

    def architecture(self) -> dict[str, Any]:
        """Parameters of the ``imported`` model family."""
        return {
            "sizes": self.sizes,
            "sparse": self.sparse,
            "bias": self.bias,
            "activation": self.activation,
        }


class SweepConfig(BaseModel):
    """A grid over dotted config keys and seeds; every combination becomes one run."""

    model_config = ConfigDict(extra="forbid")

    grid: dict[str, list[Any]] = Field(default_factory=dict)
    seeds: list[int] = Field(default_factory=lambda: [0])


class ExperimentConfig(BaseModel):
    """One experiment (or, with ``sweep``, a family of them).

    ``name`` labels the run for humans and reports; it does not enter the run id.
    """

    model_config = ConfigDict(extra="forbid")
    config_sections: ClassVar[dict[str, Any]] = {
        "dst": lambda: DSTConfig,
        "game": lambda: GameConfig,
    }

    kind: Literal["train"] = "train"
    name: str = "experiment"
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig | None = None
    imported: ImportedConfig | None = None
    train: TrainConfig = Field(default_factory=TrainConfig)
    dst: Any | None = None
    observe: list[OBSERVABLES.field()] | None = None  # type: ignore[valid-type]
    prune: PruneConfig | None = None
    game: Any | None = None
    sweep: SweepConfig | None = None

    @field_validator("dst", mode="before")
    @classmethod
    def _dst(cls, v: Any) -> Any:
        if v is None:
            return None
        return v if isinstance(v, DSTConfig) else DSTConfig.model_validate(v)

    @field_validator("game", mode="before")
    @classmethod
    def _game(cls, v: Any) -> Any:
        return game_section(v)

    @model_validator(mode="after")
    def _one_model(self) -> ExperimentConfig:
        # an experiment trains a `model:` or analyses an `imported:` network, never both
        if self.model is None and self.imported is None:
            raise ConfigError("missing config key 'model'; add it to the config")
        if self.model is not None and self.imported is not None:
            raise ConfigError(
                "a config has either 'model' (trained here) or 'imported' (trained elsewhere), not both"
            )
        return self

    @model_validator(mode="after")
    def _game_players(self) -> ExperimentConfig:
        # a game section needs players, and link players cannot follow a changing topology
        if self.game is not None:
            if self.model is None:
                raise ConfigError(
                    "game: needs a model: section; an imported network is not trained, so it cannot play"
                )
            self.game.check_model(self.model)
            if self.game.players == "links" and self.dst is not None:
                raise ConfigError(
                    "game.players=links cannot be combined with dst (the links change); "
                    "use game.players=units or drop the dst section"
                )
        return self

    #: sections added after run ids were first stored: left out of the run content while unset,
    #: so adding a section never changes the id of a run that does not use it (``model`` is unset
    #: only in imported runs)
    optional_sections: ClassVar[tuple[str, ...]] = ("observe", "imported", "model", "prune", "game")

    def run_config(self) -> dict[str, Any]:
        """The JSON-ready content that defines a single run (no sweep, no name)."""
        data = self.model_dump(mode="json", exclude={"sweep", "name", "kind"})
        if self.dst is not None:
            data["dst"] = self.dst.model_dump(mode="json")
        if self.game is not None:
            data["game"] = self.game.model_dump(mode="json")
        for section in self.optional_sections:
            if data.get(section) is None:
                data.pop(section, None)
        return data

    def run_id(self) -> str:
        """12-hex-digit hash of the normalised run content: equal configs share one run.

        Keys that cannot change any number (``train.eval_batch_size``) are left out, so tuning
        them never orphans stored runs.
        """
        content = self.run_config()
        content["train"].pop("eval_batch_size", None)
        if "imported" in content:
            content["imported"].pop("file", None)  # where a file was read from is not what it is
        return config_hash(content)


def parse_config(raw: dict[str, Any]) -> ExperimentConfig:
    """Validate a config mapping into an :class:`ExperimentConfig` (one-line :class:`ConfigError`)."""
    if not isinstance(raw, dict):
        raise ConfigError("a config must be a YAML mapping with sections data, model, train")
    return parse_model(ExperimentConfig, raw)


def apply_override(raw: dict[str, Any], assignment: str) -> None:
    """Apply ``key.sub=value`` (value parsed as YAML) to a raw config mapping in place.

    Raises :class:`ConfigError` if the key does not exist in the config schema.
    """
    _apply_override(raw, assignment, ExperimentConfig)


def load_config(
    path: str | Path, overrides: list[str] | None = None
) -> tuple[ExperimentConfig, dict[str, Any]]:
    """Read a YAML config, apply ``--set`` overrides and validate.

    Returns
    -------
    (ExperimentConfig, dict)
        The validated config and the raw mapping (after overrides).
    """
    raw = read_yaml(path)
    raw.setdefault("name", Path(path).stem)
    for item in overrides or []:
        apply_override(raw, item)
    return parse_config(raw), raw

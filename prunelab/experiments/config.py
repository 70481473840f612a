"""Experiment configs: YAML validated into typed objects; the normalised content hash is the run id.

An experiment is a frozen description (data, model, training, optional dynamic sparse training,
optional sweep). Unknown keys are errors with a suggestion of the closest valid key.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from prunelab.errors import ConfigError, check_density
from prunelab.training.config import TrainConfig

try:  # the dst subpackage contributes its own section
    from prunelab.dst.config import DSTConfig
except ImportError:  # pragma: no cover - only while dst is absent
    DSTConfig = None  # type: ignore[assignment,misc]


class DataConfig(BaseModel):
    """Which data set: ``name`` from :data:`prunelab.data.DATASETS`, an optional directory, options."""

    model_config = ConfigDict(extra="forbid")

    name: str = "fashion-mnist"
    data_dir: str | None = None
    download: bool = True
    options: dict[str, Any] = Field(default_factory=dict)


class ModelConfig(BaseModel):
    """A :class:`prunelab.nn.SparseMLP` (see its docstring for every field)."""

    model_config = ConfigDict(extra="forbid")

    sizes: list[int]
    density: float | list[float] = 0.01
    backend: Literal["auto", "csr", "masked"] = "auto"
    sparse_readout: bool = False
    activation: Literal["relu", "tanh", "gelu", "silu"] = "relu"
    init: Literal["kaiming", "swi", "zeros"] = "kaiming"
    topology: Literal["er", "set"] = "er"
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

    @field_validator("density")
    @classmethod
    def _density(cls, v: float | list[float]) -> float | list[float]:
        for d in v if isinstance(v, list) else [v]:
            check_density(d, "model.density")
        return v


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

    name: str = "experiment"
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig
    train: TrainConfig = Field(default_factory=TrainConfig)
    dst: Any | None = None
    sweep: SweepConfig | None = None

    @field_validator("dst", mode="before")
    @classmethod
    def _dst(cls, v: Any) -> Any:
        if v is None:
            return None
        if DSTConfig is None:
            raise ValueError("dynamic sparse training is not available in this installation")
        return v if isinstance(v, DSTConfig) else DSTConfig.model_validate(v)

    def run_config(self) -> dict[str, Any]:
        """The JSON-ready content that defines a single run (no sweep, no name)."""
        data = self.model_dump(mode="json", exclude={"sweep", "name"})
        if self.dst is not None:
            data["dst"] = self.dst.model_dump(mode="json")
        return data

    def run_id(self) -> str:
        """12-hex-digit hash of the normalised run content: equal configs share one run.

        Keys that cannot change any number (``train.eval_batch_size``) are left out, so tuning
        them never orphans stored runs.
        """
        content = self.run_config()
        content["train"].pop("eval_batch_size", None)
        return config_hash(content)


def config_hash(content: dict[str, Any]) -> str:
    """sha256 of the canonical JSON (sorted keys, no whitespace) of ``content``, first 12 hex digits."""
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


# --- loading and overrides ---------------------------------------------------------------------

def _model_fields(model: type[BaseModel]) -> dict[str, Any]:
    return dict(model.model_fields)


def _section_model(path: tuple[str | int, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] | None = ExperimentConfig
    for part in path:
        if model is None or not isinstance(part, str):
            return None
        field = model.model_fields.get(part)
        if field is None:
            return None
        ann = field.annotation
        model = None
        if part == "dst" and DSTConfig is not None:
            model = DSTConfig
        for candidate in getattr(ann, "__args__", ()) or (ann,):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                model = candidate
    return model


def _format_error(err: ValidationError) -> str:
    first = err.errors()[0]
    loc = tuple(first["loc"])
    dotted = ".".join(str(p) for p in loc)
    if first["type"] == "extra_forbidden":
        parent = _section_model(loc[:-1])
        valid = sorted(_model_fields(parent)) if parent else []
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1)
        hint = f"; did you mean {'.'.join([*map(str, loc[:-1]), close[0]])!r}?" if close else (
            f"; valid keys: {', '.join(valid)}" if valid else "")
        return f"unknown config key {dotted!r}{hint}"
    if first["type"] == "missing":
        return f"missing config key {dotted!r}; add it to the config"
    msg = first["msg"].removeprefix("Value error, ")
    got = "" if "got" in msg else f" (got {first.get('input')!r})"
    if msg.startswith(dotted + " ") or msg.startswith(f"{loc[-1]} "):
        return f"config key {msg}{got}"
    return f"config key {dotted!r}: {msg}{got}"


def parse_config(raw: dict[str, Any]) -> ExperimentConfig:
    """Validate a config mapping into an :class:`ExperimentConfig` (one-line :class:`ConfigError`)."""
    if not isinstance(raw, dict):
        raise ConfigError("a config must be a YAML mapping with sections data, model, train")
    try:
        return ExperimentConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(_format_error(err)) from None


def apply_override(raw: dict[str, Any], assignment: str) -> None:
    """Apply ``key.sub=value`` (value parsed as YAML) to a raw config mapping in place.

    Raises :class:`ConfigError` if the key does not exist in the config schema.
    """
    if "=" not in assignment:
        raise ConfigError(f"--set expects key=value, got {assignment!r}; e.g. --set train.lr=0.05")
    key, _, text = assignment.partition("=")
    parts = key.strip().split(".")
    model: type[BaseModel] | None = ExperimentConfig
    for k, part in enumerate(parts):
        if model is None:
            break
        if part not in model.model_fields:
            valid = sorted(model.model_fields)
            close = difflib.get_close_matches(part, valid, n=1)
            hint = f"; did you mean {'.'.join([*parts[:k], close[0]])!r}?" if close else f"; valid: {', '.join(valid)}"
            raise ConfigError(f"--set: unknown config key {key!r}{hint}")
        model = _section_model(tuple(parts[: k + 1]))
    node = raw
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set: {key!r} goes through a non-mapping value")
    node[parts[-1]] = yaml.safe_load(text)


def load_config(path: str | Path, overrides: list[str] | None = None) -> tuple[ExperimentConfig, dict[str, Any]]:
    """Read a YAML config, apply ``--set`` overrides and validate.

    Returns
    -------
    (ExperimentConfig, dict)
        The validated config and the raw mapping (after overrides).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} not found; pass the path of a YAML config (see configs/)")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"config {str(path)!r} is not valid YAML{where}; fix the syntax") from None
    if "name" not in raw and isinstance(raw, dict):
        raw["name"] = path.stem
    for item in overrides or []:
        apply_override(raw, item)
    return parse_config(raw), raw

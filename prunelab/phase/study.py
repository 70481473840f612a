"""The pruning phase-transition study (Pesce, He & Caldarelli 2026; prunelab issue 7).

Training, pruning and measurement glue around the pure analysis functions of
:mod:`prunelab.phase`:

- :class:`PhaseStudyConfig` — one validated YAML config (unknown keys are errors). A config may
  carry ``variants`` (partial overrides, e.g. a CNN or another data set) so that one command runs
  the whole universality study.
- :func:`run_trajectory` — one network (width, seed): pretrain dense, then for every density of
  the schedule prune (magnitude or random, global or layer-wise), optionally rewind, fine-tune
  and measure. Every step's row goes to the results store (``log_metrics(run_id, step, row)``)
  and every step's masks to an npz artefact; a checkpoint after each step makes a killed study
  resume at the next step. The run id is a content hash, so a finished trajectory is skipped.
- :func:`run_study` — all (width, seed) trajectories through an executor, returning the tidy table.
- :func:`analyse_study` — means, susceptibility, critical points of ``m`` and of path
  connectivity side by side, finite-size collapse of ``m`` (in density and in log10 density).
- :func:`run_null` — the degree-preserving null: stored pruned masks near the transition are
  rewired (Curveball, per layer), retrained from the same initialisation and from scratch, and
  compared with the original mask and an Erdős–Rényi mask of the same per-layer link counts.

The definitions (m, entropies, χ = N·Var, path fraction) are prunelab's choices, documented in
``/work/shared/papers/NOTES.md`` section 2 and in ``docs/reproductions/pesce2026.md``.
"""

from __future__ import annotations

import copy
import difflib
import functools
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from torch import nn

from prunelab.core.config import format_error
from prunelab.errors import ConfigError, PrunelabError
from prunelab.experiments.config import DataConfig, config_hash
from prunelab.experiments.executors import make_executor
from prunelab.experiments.store import Store
from prunelab.graph import has_unique_realization, rewire
from prunelab.phase.critical import compare_transitions, critical_points, susceptibility
from prunelab.phase.order import order_parameters
from prunelab.phase.scaling import CollapseResult, fit_collapse
from prunelab.pruning import (
    geometric_schedule,
    layer_masks,
    make_cnn,
    make_fc,
    model_density,
    prunable_layers,
    prune_model,
    validate_schedule,
)
from prunelab.training import TrainConfig, Trainer, atomic_torch_save, make_optimizer

TRAJECTORY_CHECKPOINT = "trajectory.pt"
REWIND_STATE = "rewind.pt"
KIND_TRAJECTORY = "phase-trajectory"
KIND_NULL = "phase-null"
NULL_VARIANTS = ("pruned", "rewired/same-init", "rewired/scratch", "er")

# observables averaged in the per-(width, density) table and plotted
OBSERVABLES = (
    "measured_density", "accuracy", "m", "prediction_entropy", "outcome_entropy", "path_fraction",
    "input_path_fraction", "output_path_fraction", "lcc_fraction", "log_paths", "w_mean_abs", "w_rms",
    "w_kurtosis",
)


# --- config ------------------------------------------------------------------------------------

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
    from_: list[Literal["same-init", "scratch"]] = Field(default_factory=lambda: ["same-init", "scratch"], alias="from")
    er: bool = True
    densities: list[float] | Literal["auto"] = "auto"
    n_auto: int = Field(3, ge=1)
    widths: list[int] | None = None
    seeds: list[int] | None = None
    epochs: int | None = Field(None, ge=1)
    method: Literal["curveball", "swap"] = "curveball"
    init: Literal["dense", "swi"] = "dense"


class AnalysisConfig(BaseModel):
    """Bootstrap sizes of the analysis (intervals over seeds)."""

    model_config = ConfigDict(extra="forbid")

    n_boot: int = Field(200, ge=0)
    n_boot_collapse: int = Field(50, ge=0)
    confidence: float = Field(0.95, gt=0, lt=1)


class PhaseStudyConfig(BaseModel):
    """A pruning phase-transition study (see the module docstring; YAML in ``configs/pesce2026*.yaml``)."""

    model_config = ConfigDict(extra="forbid")

    name: str = "phase"
    data: DataConfig = Field(default_factory=DataConfig)
    family: Literal["fc", "cnn"] = "fc"
    widths: list[int] = Field(default_factory=lambda: [32, 64, 128, 256])
    depth: int | None = None  # weight layers; default 4 (fc) or 5 (cnn)
    activation: Literal["relu", "tanh", "gelu", "silu"] = "relu"
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4])
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    scope: Literal["global", "layer"] = "global"
    method: Literal["magnitude", "random"] = "magnitude"
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
            raise ValueError(f"rewind epoch {k} is after the last pretraining epoch {self.pretrain_epochs}; use epoch:K with K <= pretrain_epochs")
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
        out = [PhaseStudyConfig.model_validate(base)]
        for k, override in enumerate(self.variants):
            if not isinstance(override, dict):
                raise ConfigError(f"variants[{k}] must be a mapping of overrides, got {type(override).__name__}")
            if "variants" in override:
                raise ConfigError(f"variants[{k}] may not contain variants; list every variant at the top level")
            merged = _deep_merge(copy.deepcopy(base), override)
            merged.setdefault("name", f"{self.name}-{k + 1}")
            if merged["name"] == self.name:
                merged["name"] = f"{self.name}-{k + 1}"
            out.append(parse_study_config(merged))
        names = [s.name for s in out]
        if len(set(names)) != len(names):
            raise ConfigError(f"study and variant names must differ, got {names}; give each variant a name")
        return out

    def trajectory_content(self, width: int, seed: int) -> dict[str, Any]:
        """What defines a trajectory (its run id is the hash of this; the name is not part of it)."""
        return {
            "kind": KIND_TRAJECTORY,
            "data": self.data.model_dump(mode="json"),
            "family": self.family, "width": int(width), "depth": self.n_layers, "activation": self.activation,
            "seed": int(seed), "densities": [float(d) for d in self.densities()],
            "scope": self.scope, "method": self.method, "pretrain_epochs": self.pretrain_epochs,
            "finetune_epochs": self.finetune_epochs, "rewind": self.rewind,
            "train": self.train_config(seed, 1).model_dump(mode="json", exclude={"epochs", "device", "eval_batch_size"}),
        }

    def trajectory_id(self, width: int, seed: int) -> str:
        return config_hash(self.trajectory_content(width, seed))


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict) and key != "options":
            _deep_merge(base[key], value)
        else:
            base[key] = value
    return base


_SECTIONS: dict[str, type[BaseModel]] = {
    "data": DataConfig, "schedule": ScheduleConfig, "null": NullConfig, "analysis": AnalysisConfig, "train": TrainConfig,
}


def _null_keys(raw: Any) -> Any:
    """YAML reads an unquoted ``null:`` key as None; map it back to the ``"null"`` section."""
    if isinstance(raw, dict):
        return {("null" if k is None else k): _null_keys(v) for k, v in raw.items()}
    if isinstance(raw, list):
        return [_null_keys(v) for v in raw]
    return raw


def parse_study_config(raw: dict[str, Any]) -> PhaseStudyConfig:
    """Validate a mapping into a :class:`PhaseStudyConfig` (one-line :class:`ConfigError`)."""
    if not isinstance(raw, dict):
        raise ConfigError("a phase-study config must be a YAML mapping (keys name, data, family, widths, ...)")
    raw = _null_keys(raw)
    try:
        return PhaseStudyConfig.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        if first["type"] == "extra_forbidden":
            loc = [str(p) for p in first["loc"]]
            section = _SECTIONS.get(loc[0], PhaseStudyConfig) if len(loc) > 1 else PhaseStudyConfig
            valid = sorted(section.model_fields)
            close = difflib.get_close_matches(loc[-1], valid, n=1)
            hint = f"did you mean {'.'.join([*loc[:-1], close[0]])!r}?" if close else f"valid keys: {', '.join(valid)}"
            raise ConfigError(f"unknown key {'.'.join(loc)!r} in the phase-study config; {hint}") from None
        if first["type"].startswith("value_error") and isinstance(first.get("ctx", {}).get("error"), ConfigError):
            raise first["ctx"]["error"] from None
        try:
            msg = format_error(err, PhaseStudyConfig)
        except Exception:  # noqa: BLE001 - fall back to pydantic's own text
            msg = str(first.get("msg"))
        raise ConfigError(msg.splitlines()[0]) from None


def load_study_config(path: str | Path, quick: bool = False) -> PhaseStudyConfig:
    """Read a phase-study YAML file; ``quick`` switches to its ``quick_config`` (a path relative to
    the file) or, without one, shrinks it with :func:`quick_variant`."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} not found; e.g. configs/pesce2026.yaml")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError:
        raise ConfigError(f"config {str(path)!r} is not valid YAML; fix the syntax") from None
    if isinstance(raw, dict):
        raw.setdefault("name", path.stem)
    cfg = parse_study_config(raw)
    if not quick:
        return cfg
    if cfg.quick_config:
        target = (path.parent / cfg.quick_config)
        if target.resolve() == path.resolve():
            return cfg
        return load_study_config(target, quick=False)
    return quick_variant(cfg)


def quick_variant(cfg: PhaseStudyConfig) -> PhaseStudyConfig:
    """A minutes-long version of a study: 3 smallest widths, 3 seeds, 12 densities, short training,
    no variants, a small null."""
    raw = cfg.model_dump(mode="json", by_alias=True, exclude={"variants", "quick_config"})
    raw["name"] = f"{cfg.name}-quick"
    raw["widths"] = cfg.widths[:3]
    raw["seeds"] = cfg.seeds[:3] if len(cfg.seeds) >= 3 else cfg.seeds
    sched = cfg.densities()
    raw["schedule"] = {"start": float(sched[0]), "stop": float(sched[-1]), "n_steps": min(12, len(sched)), "densities": None}
    raw["pretrain_epochs"] = min(cfg.pretrain_epochs, 3)
    raw["finetune_epochs"] = min(cfg.finetune_epochs, 1)
    raw["train_subset"] = min(cfg.train_subset or 5000, 5000)
    raw["null"]["n_rewired"] = min(cfg.null.n_rewired, 1)
    raw["null"]["n_auto"] = min(cfg.null.n_auto, 2)
    raw["analysis"]["n_boot_collapse"] = min(cfg.analysis.n_boot_collapse, 20)
    return parse_study_config(raw)


# --- models and data ---------------------------------------------------------------------------

class ImageInput(nn.Module):
    """Feeds flat (batch, H·W·C) rows (as the Trainer provides them) to an image model."""

    def __init__(self, net: nn.Module, shape: Sequence[int]) -> None:
        super().__init__()
        self.net = net
        self.shape = tuple(int(s) for s in shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.reshape(x.shape[0], *self.shape))

    def sparse_layers(self) -> list[nn.Module]:
        return self.net.sparse_layers()

    def named_sparse_layers(self) -> list[tuple[str, nn.Module]]:
        return [(f"layer{k}", m) for k, m in enumerate(self.net.sparse_layers())]

    def channel_masks(self) -> list[np.ndarray]:
        return self.net.channel_masks()


@functools.lru_cache(maxsize=4)
def _load_data(data_json: str):
    from prunelab.data import load_dataset

    d = json.loads(data_json)
    return load_dataset(d["name"], data_dir=d.get("data_dir"), download=d.get("download", True), **d.get("options", {}))


def load_data(cfg: PhaseStudyConfig):
    """The study's data set (cached per process)."""
    return _load_data(json.dumps(cfg.data.model_dump(mode="json"), sort_keys=True))


def build_model(cfg: PhaseStudyConfig, data, width: int, seed: int) -> nn.Module:
    """A dense model of the study's family at ``width`` (every layer prunable)."""
    if cfg.family == "fc":
        return make_fc(data.n_features, data.n_classes, width, depth=cfg.n_layers, activation=cfg.activation, seed=seed)
    if data.image_shape is None:
        raise ConfigError(f"family 'cnn' needs image data, but {data.name!r} has no image shape; use family: fc")
    h, w = data.image_shape[:2]
    channels = data.n_features // (h * w)
    net = make_cnn(channels, data.n_classes, width, depth=cfg.n_layers, activation=cfg.activation, seed=seed)
    return ImageInput(net, (channels, h, w))


def check_schedule_links(cfg: PhaseStudyConfig, model: nn.Module) -> None:
    """ConfigError (one line) when the schedule's last density leaves 0 links (globally or per layer)."""
    layers = prunable_layers(model)
    possible = [layer.n_in * layer.n_out for layer in layers]
    validate_schedule(cfg.densities(), sum(possible) if cfg.scope == "global" else possible)


def _masks_of(model: nn.Module) -> list[np.ndarray]:
    """(n_in, n_out) bool mask of every prunable layer (the stored form)."""
    return [layer.mask().cpu().numpy() for layer in prunable_layers(model)]


def _set_masks(model: nn.Module, masks: Sequence[np.ndarray]) -> None:
    """Give a dense model exactly these layer masks (weights of removed links become zero)."""
    layers = prunable_layers(model)
    if len(layers) != len(masks):
        raise ConfigError(f"{len(masks)} masks for a model with {len(layers)} prunable layers")
    for layer, mask in zip(layers, masks):
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (layer.n_in, layer.n_out):
            raise ConfigError(f"mask of shape {mask.shape} does not fit a layer of shape ({layer.n_in}, {layer.n_out})")
        rows, cols = layer.link_index()
        keep = torch.as_tensor(mask[rows.numpy(), cols.numpy()])
        missing = mask.copy()
        missing[rows.numpy(), cols.numpy()] = False
        add_r, add_c = np.nonzero(missing)
        layer.update_topology(keep=keep, add_rows=add_r, add_cols=add_c)


def measure(model: nn.Module, data, acc_dense: float | None) -> dict[str, float]:
    """Order parameters of a model on the test set: accuracy, m, entropies, structure, weights."""
    model.eval()
    x = torch.as_tensor(np.asarray(data.x_test, dtype=np.float32))
    with torch.inference_mode():
        device = next(model.parameters()).device
        logits = torch.cat([model(x[i:i + 2000].to(device)) for i in range(0, len(x), 2000)]).cpu().numpy()
    model.train()
    layers = prunable_layers(model)
    row = order_parameters(logits, data.y_test, acc_dense=acc_dense, masks=layer_masks(model),
                           weights=[layer.link_values() for layer in layers])
    row["graph_density"] = row.pop("density")  # density of the (channel) graph, not of the links
    row["measured_density"] = model_density(model)
    for k, layer in enumerate(layers):
        row[f"density/layer{k}"] = float(layer.density)
    return row


# --- trajectories ------------------------------------------------------------------------------

def _rewind_snapshot(model: nn.Module) -> dict[str, Any]:
    layers = prunable_layers(model)
    kernel_ids = {id(p) for layer in layers for p in layer.kernel.weight_parameters()}
    return {
        "dense": [layer.dense_weight().clone() for layer in layers],
        "params": {n: p.detach().clone() for n, p in model.named_parameters() if id(p) not in kernel_ids},
    }


def _apply_rewind(model: nn.Module, snap: dict[str, Any]) -> None:
    """Rewind weights (lottery-ticket style) while keeping the current masks."""
    layers = prunable_layers(model)
    with torch.no_grad():
        named = dict(model.named_parameters())
        for name, value in snap["params"].items():
            if name in named and named[name].shape == value.shape:
                named[name].copy_(value)
        for layer, dense in zip(layers, snap["dense"]):
            rows, cols = layer.link_index()
            layer.set_link_values(dense[rows, cols])


def _masks_path(store: Store, run_id: str, step: int) -> Path:
    return store.run_dir(run_id) / "masks" / f"step{step:03d}.npz"


def _save_masks(store: Store, run_id: str, step: int, masks: Sequence[np.ndarray]) -> Path:
    path = _masks_path(store, run_id, step)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.npz")
    np.savez_compressed(tmp, **{f"layer{k}": np.asarray(m, dtype=bool) for k, m in enumerate(masks)})
    tmp.replace(path)
    store.add_artefact(run_id, f"masks/step{step:03d}", path, "masks", step)
    return path


def load_masks(store: Store, run_id: str, step: int) -> list[np.ndarray]:
    """The (n_in, n_out) masks stored for a trajectory step."""
    path = _masks_path(store, run_id, step)
    if not path.exists():
        raise ConfigError(f"trajectory {run_id} has no stored masks for step {step}; run the study first")
    with np.load(path) as z:
        return [z[f"layer{k}"] for k in range(len(z.files))]


def run_trajectory(
    cfg: PhaseStudyConfig,
    width: int,
    seed: int,
    store: Store,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Pretrain, then prune / rewind / fine-tune / measure along the schedule; resumable.

    Parameters
    ----------
    cfg : PhaseStudyConfig
    width, seed : int
    store : Store
        One run per (width, seed) with id :meth:`PhaseStudyConfig.trajectory_id`; step ``k``'s row
        is stored with ``log_metrics(run_id, k, row)``, its masks as ``masks/stepKKK.npz``.
    progress : callable, optional
        ``progress(info)`` after each stored step, ``info`` = dict(run_id, width, seed, step,
        n_steps, density, m). An exception raised here stops the trajectory (the step is kept).

    Returns
    -------
    dict
        ``run_id``, ``width``, ``seed``, ``status`` (finished, skipped, diverged), ``steps``
        (completed), ``resumed_at`` (first step run in this call, or None), ``message``.
    """
    densities = cfg.densities()
    run_id = cfg.trajectory_id(width, seed)
    store.register_run(run_id, f"{cfg.name}/w{width}/s{seed}", cfg.trajectory_content(width, seed))
    row0 = store.get_run(run_id)
    base = {"run_id": run_id, "width": int(width), "seed": int(seed)}
    if row0 and row0["status"] == "finished":
        return {**base, "status": "skipped", "steps": len(densities), "resumed_at": None, "message": "already finished"}
    folder = store.run_dir(run_id)
    data = load_data(cfg)
    torch.manual_seed(seed)
    model = build_model(cfg, data, width, seed)
    check_schedule_links(cfg, model)
    trainer = Trainer(model, data, cfg.train_config(seed, cfg.pretrain_epochs))
    ckpt_path = folder / TRAJECTORY_CHECKPOINT
    rewind_path = folder / REWIND_STATE
    started = time.time()
    snap = None
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, weights_only=False)
        trainer.load_state_dict(ckpt["trainer"])
        start, acc_dense = int(ckpt["step"]) + 1, float(ckpt["acc_dense"])
        if cfg.rewind_epoch is not None:
            snap = torch.load(rewind_path, weights_only=False)
        store.drop_metrics_after(run_id, start - 1)
        store.set_status(run_id, "running", f"resumed at step {start}", started=started)
    else:
        start = 0
        store.drop_metrics_after(run_id, -1)
        store.set_status(run_id, "running", "", started=started)
        if cfg.rewind_epoch == 0:
            snap = _rewind_snapshot(trainer.model)

        def on_epoch(epoch: int, _m: dict[str, float]) -> None:
            nonlocal snap
            if cfg.rewind_epoch == epoch:
                snap = _rewind_snapshot(trainer.model)

        trainer.on_epoch = on_epoch
        result = trainer.fit()
        trainer.on_epoch = None
        if result.status != "finished":
            store.set_status(run_id, result.status, "pretraining: " + result.message)
            return {**base, "status": result.status, "steps": 0, "resumed_at": 0, "message": result.message}
        if snap is not None:
            atomic_torch_save(snap, rewind_path)
        acc_dense = float(measure(trainer.model, data, None)["accuracy"])
        if not acc_dense > 1.0 / data.n_classes:
            msg = f"dense accuracy {acc_dense:.3f} is not above chance after pretraining; raise pretrain_epochs or lr"
            store.set_status(run_id, "failed", msg)
            raise PrunelabError(msg)
    model = trainer.model
    for step in range(start, len(densities)):
        density = float(densities[step])
        t0 = time.perf_counter()
        pruned = density < model_density(model) * (1 - 1e-12)
        if pruned:
            prune_model(model, density, scope=cfg.scope, method=cfg.method,
                        rng=np.random.default_rng([seed, step, 7]), optimizer=trainer.optimizer)
            if snap is not None:
                _apply_rewind(model, snap)
                trainer.optimizer = make_optimizer(model.parameters(), trainer.cfg)
        train_metrics: dict[str, float] = {}
        if (pruned or step > 0) and cfg.finetune_epochs > 0:
            trainer.cfg = trainer.cfg.model_copy(update={"epochs": trainer.epoch + cfg.finetune_epochs})
            result = trainer.fit()
            if result.status != "finished":
                store.set_status(run_id, result.status, f"step {step}: {result.message}")
                return {**base, "status": result.status, "steps": step, "resumed_at": start, "message": result.message}
            last = result.history[-1]
            train_metrics = {"train_loss": last["train_loss"], "train_accuracy": last["train_accuracy"],
                             "test_loss": last["test_loss"]}
        row = measure(model, data, acc_dense)
        row.update(train_metrics)
        row.update({"density": density, "acc_dense": acc_dense, "width": float(width), "seed": float(seed),
                    "epochs_total": float(trainer.epoch), "step_seconds": time.perf_counter() - t0})
        store.log_metrics(run_id, step, row)
        _save_masks(store, run_id, step, _masks_of(model))
        atomic_torch_save({"step": step, "acc_dense": acc_dense, "trainer": trainer.state_dict()}, ckpt_path)
        if progress is not None:
            try:
                progress({**base, "step": step, "n_steps": len(densities), "density": density, "m": row["m"]})
            except BaseException as err:
                store.set_status(run_id, "interrupted", f"stopped after step {step}: {type(err).__name__}")
                raise
    prior = (row0 or {}).get("seconds") or 0.0
    store.set_status(run_id, "finished", "", finished=time.time(), seconds=prior + time.time() - started)
    return {**base, "status": "finished", "steps": len(densities), "resumed_at": start, "message": ""}


def _trajectory_worker(item: tuple[str, dict[str, Any], int, int], emit=None) -> dict[str, Any]:
    """Process-pool entry point (module level, spawn-safe)."""
    runs_dir, raw, width, seed = item
    cfg = PhaseStudyConfig.model_validate(raw)
    try:
        return run_trajectory(cfg, width, seed, Store(runs_dir))
    except PrunelabError as err:
        return {"run_id": cfg.trajectory_id(width, seed), "width": width, "seed": seed, "status": "failed",
                "steps": 0, "resumed_at": None, "message": str(err)}


def run_study(
    cfg: PhaseStudyConfig,
    store: Store,
    workers: int = 1,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> pd.DataFrame:
    """Run (or resume, or skip) every (width, seed) trajectory of ``cfg`` and return the tidy table.

    With ``workers > 1`` trajectories run in a local process pool and ``progress`` is called once
    per finished trajectory (``info`` without a ``step``); serially it is called after every step.
    """
    data = load_data(cfg)
    check_schedule_links(cfg, build_model(cfg, data, min(cfg.widths), cfg.seeds[0]))
    items = [(w, s) for w in cfg.widths for s in cfg.seeds]
    results = []
    if workers <= 1 or len(items) == 1:
        for w, s in items:
            results.append(run_trajectory(cfg, w, s, store, progress))
    else:
        raw = cfg.model_dump(mode="json", by_alias=True)
        work = [(str(store.root), raw, w, s) for w, s in items]
        for res in make_executor(None, workers).map_unordered(_trajectory_worker, work):
            results.append(res)
            if progress is not None:
                progress(res)
    bad = [r for r in results if r["status"] not in ("finished", "skipped")]
    if bad and len(bad) == len(results):
        raise PrunelabError(f"every trajectory failed; first: width {bad[0]['width']} seed {bad[0]['seed']}: {bad[0]['message']}")
    return study_table(cfg, store)


def study_table(cfg: PhaseStudyConfig, store: Store, finished_only: bool = False) -> pd.DataFrame:
    """Tidy table of a study: one row per (width, seed, step) with every observable."""
    ids = {cfg.trajectory_id(w, s): (w, s) for w in cfg.widths for s in cfg.seeds}
    if finished_only:
        ids = {k: v for k, v in ids.items() if (store.get_run(k) or {}).get("status") == "finished"}
    df = store.metrics(list(ids), wide=True)
    if df.empty:
        return pd.DataFrame(columns=["run_id", "width", "seed", "step", "density"])
    df = df.rename(columns={"epoch": "step"})
    df["width"] = df.run_id.map(lambda r: ids[r][0]).astype(int)
    df["seed"] = df.run_id.map(lambda r: ids[r][1]).astype(int)
    df["study"] = cfg.name
    df["family"] = cfg.family
    df["dataset"] = cfg.data.name
    df["log10_density"] = np.log10(df["density"].astype(float))
    if "w_n_links" in df.columns:
        df["links"] = df["w_n_links"]  # surviving links of all prunable layers
    front = ["study", "dataset", "family", "width", "seed", "step", "density", "log10_density", "measured_density"]
    cols = front + [c for c in df.columns if c not in front]
    return df[cols].sort_values(["width", "seed", "step"]).reset_index(drop=True)


# --- analysis ----------------------------------------------------------------------------------

def _collapse_row(res: CollapseResult, control: str, observable: str) -> dict[str, Any]:
    back = (lambda v: 10.0**v) if control == "log10_density" else (lambda v: v)
    return {
        "observable": observable, "control": control,
        "rho_c": back(res.xc), "rho_c_lo": back(res.ci["xc"][0]), "rho_c_hi": back(res.ci["xc"][1]),
        "xc": res.xc, "xc_lo": res.ci["xc"][0], "xc_hi": res.ci["xc"][1],
        "nu": res.nu, "nu_lo": res.ci["nu"][0], "nu_hi": res.ci["nu"][1],
        "a": res.a, "a_lo": res.ci["a"][0], "a_hi": res.ci["a"][1],
        "quality": res.quality, "n_points": res.n_points, "sizes": ",".join(str(int(s)) for s in res.sizes),
        "xc_at_edge": res.xc_at_edge,
    }


def analyse_study(
    df: pd.DataFrame,
    n_boot: int = 200,
    n_boot_collapse: int = 50,
    confidence: float = 0.95,
    structural: str = "path_fraction",
) -> dict[str, Any]:
    """Tables of a study's tidy table (one row per width, seed, density).

    Returns
    -------
    dict
        ``means`` (per width, density: mean and std of every observable), ``chi`` (χ of ``m``
        and of ``structural`` per width and density), ``critical`` (critical densities per width
        from the χ peak and from the inflection, for ``m`` and ``structural``, with bootstrap
        intervals; analysed in log10 density), ``collapse`` (fit_collapse of ``m`` in ``density``
        and in ``log10_density``; one row each, ``best`` marks the lower quality), ``collapses``
        (the :class:`CollapseResult` objects by control), ``exponents`` (the best collapse row
        with study, dataset, family), ``threshold_links`` (per width: surviving links at the
        inflection of m with bootstrap interval, the possible links and the implied density; a
        constant ``links_c`` across widths means the collapse is set by the absolute number of
        links left, not by the density), ``notes`` (list of one-line explanations of skipped parts).

    Raises
    ------
    ConfigError
        For a table missing the named columns.
    """
    from prunelab.phase._tables import require_columns

    require_columns(df, ["width", "seed", "density", "m", structural], "study table")
    df = df.copy()
    df["log10_density"] = np.log10(df["density"].astype(float))
    obs = [c for c in OBSERVABLES if c in df.columns]
    g = df.groupby(["width", "density"], sort=True)[obs]
    means = g.mean().add_suffix("_mean").join(g.std(ddof=1).add_suffix("_std")).reset_index()
    means["n_seeds"] = df.groupby(["width", "density"], sort=True).size().to_numpy()
    chi = []
    for o in ("m", structural):
        s = susceptibility(df, "width", "density", o)
        s.insert(0, "observable", o)
        chi.append(s)
    out: dict[str, Any] = {"means": means, "chi": pd.concat(chi, ignore_index=True), "notes": []}
    meta = {k: df[k].iloc[0] for k in ("study", "dataset", "family") if k in df.columns}
    try:
        crit = compare_transitions(df, ("m", structural), size="width", control="density", seed="seed",
                                   log_control=True, n_boot=n_boot, confidence=confidence)
        out["critical"] = crit.assign(**meta)
    except ConfigError as err:
        out["critical"] = pd.DataFrame(columns=["observable", "width", "method", "xc", "lo", "hi"])
        out["notes"].append(f"critical points skipped: {err}")
    rows, results = [], {}
    for control in ("density", "log10_density"):
        try:
            res = fit_collapse(df, size="width", control=control, observable="m", n_boot=n_boot_collapse,
                               confidence=confidence, seed=0)
        except ConfigError as err:
            out["notes"].append(f"collapse in {control} skipped: {err}")
            continue
        results[control] = res
        rows.append(_collapse_row(res, control, "m"))
    collapse = pd.DataFrame(rows)
    if len(collapse):
        pool = collapse[~collapse.xc_at_edge] if (~collapse.xc_at_edge).any() else collapse
        collapse["best"] = collapse.index == pool["quality"].idxmin()
        if collapse.xc_at_edge.any():
            out["notes"].append("collapse fit(s) with x_c at the edge of the search range: "
                                + ", ".join(collapse.loc[collapse.xc_at_edge, "control"])
                                + " (degenerate: the finite-size ansatz does not describe the data in this control)")
        exps = collapse[collapse.best].head(1).assign(**meta)
    else:
        exps = pd.DataFrame()
    out["threshold_links"] = _threshold_links(df, n_boot, confidence, out["notes"])
    out["collapse"] = collapse.assign(**meta) if len(collapse) else collapse
    out["collapses"] = results
    out["exponents"] = exps
    return out


def _threshold_links(df: pd.DataFrame, n_boot: int, confidence: float, notes: list[str]) -> pd.DataFrame:
    """Surviving links at the inflection of m per width (the transition counted in links, not density)."""
    cols = ["width", "links_c", "links_c_lo", "links_c_hi", "possible_links", "rho_c"]
    if "links" not in df.columns:
        return pd.DataFrame(columns=cols)
    part = df[df["links"] > 0]
    try:
        cp = critical_points(part, size="width", control="links", observable="m", seed="seed", log_control=True,
                             n_boot=n_boot, confidence=confidence)
    except ConfigError as err:
        notes.append(f"threshold in links skipped: {err}")
        return pd.DataFrame(columns=cols)
    possible = (part["links"] / part["measured_density"]).groupby(part["width"]).median()
    out = pd.DataFrame({
        "width": cp["width"], "links_c": cp["xc_inflection"], "links_c_lo": cp["xc_inflection_lo"],
        "links_c_hi": cp["xc_inflection_hi"], "possible_links": cp["width"].map(possible).round().astype(int),
    })
    out["rho_c"] = out["links_c"] / out["possible_links"]
    return out


def critical_summary(critical: pd.DataFrame) -> pd.DataFrame:
    """Wide view of :func:`compare_transitions` output: one row per width, columns per observable×method."""
    if critical is None or critical.empty:
        return pd.DataFrame()
    c = critical.copy()
    c["key"] = c["observable"] + "/" + c["method"]
    wide = c.pivot_table(index="width", columns="key", values=["xc", "lo", "hi"])
    wide.columns = [f"{k}:{v}" for v, k in wide.columns]
    return wide.reset_index()


# --- degree-preserving null --------------------------------------------------------------------

def _null_densities(cfg: PhaseStudyConfig, critical: pd.DataFrame | None, width: int) -> list[float]:
    sched = cfg.densities()
    if cfg.null.densities != "auto":
        chosen = []
        for d in cfg.null.densities:
            k = int(np.argmin(np.abs(np.log(sched) - np.log(d))))
            # 4 significant digits, as the error message prints them, identify a schedule density
            if not np.isclose(sched[k], d, rtol=1e-3):
                raise ConfigError(f"null density {d:g} is not in the schedule; use one of {', '.join(f'{x:.4g}' for x in sched)}")
            chosen.append(float(sched[k]))
        return chosen
    xc = np.nan
    if critical is not None and len(critical):
        sel = critical[(critical.observable == "m") & (critical.method == "chi") & (critical.width == width)]
        if len(sel):
            xc = float(sel.xc.iloc[0])
    if not np.isfinite(xc):
        raise ConfigError("null.densities is 'auto' but no critical density of m is known; run the analysis first or list null.densities")
    order = np.argsort(np.abs(np.log(sched[1:]) - np.log(xc)), kind="stable")[: cfg.null.n_auto] + 1
    return sorted((float(sched[k]) for k in order), reverse=True)


def _er_masks(masks: Sequence[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    out = []
    for m in masks:
        flat = np.zeros(m.size, dtype=bool)
        flat[rng.choice(m.size, size=int(m.sum()), replace=False)] = True
        out.append(flat.reshape(m.shape))
    return out


def rewire_masks(masks: Sequence[np.ndarray], seed: int | np.random.Generator, method: str = "curveball") -> list[np.ndarray]:
    """Degree-preserving rewiring of every layer; layers with a unique realisation stay as they are.

    Raises
    ------
    ConfigError
        When no layer can be rewired (every layer is the only graph with its degrees).
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    fixed = [has_unique_realization(np.asarray(m, dtype=bool)) for m in masks]
    if all(fixed):
        raise ConfigError(f"none of the {len(masks)} layer masks can be rewired (each is the only graph with its "
                          "degrees, e.g. complete or a single link per unit); choose a lower null density")
    return [np.asarray(m, dtype=bool).copy() if f else rewire(np.asarray(m, dtype=bool), method=method, seed=rng)
            for m, f in zip(masks, fixed)]


def _null_items(cfg: PhaseStudyConfig, store: Store, critical: pd.DataFrame | None) -> list[dict[str, Any]]:
    widths = cfg.null.widths or [max(cfg.widths)]
    seeds = cfg.null.seeds or cfg.seeds
    sched = cfg.densities()
    items = []
    for w in widths:
        if w not in cfg.widths:
            raise ConfigError(f"null width {w} is not one of the study widths {cfg.widths}")
        for d in _null_densities(cfg, critical, w):
            step = int(np.argmin(np.abs(sched - d)))
            for s in seeds:
                variants = [("pruned", 0)]
                for frm in cfg.null.from_:
                    variants += [(f"rewired/{frm}", r) for r in range(cfg.null.n_rewired)]
                if cfg.null.er:
                    variants += [("er", r) for r in range(max(cfg.null.n_rewired, 1))]
                for variant, rep in variants:
                    items.append({"width": int(w), "seed": int(s), "density": float(d), "step": step,
                                  "variant": variant, "rep": int(rep)})
    return items


def _null_content(cfg: PhaseStudyConfig, item: dict[str, Any]) -> dict[str, Any]:
    content = {"kind": KIND_NULL, "trajectory": cfg.trajectory_id(item["width"], item["seed"]), "step": item["step"],
               "variant": item["variant"], "rep": item["rep"], "epochs": cfg.null.epochs or cfg.pretrain_epochs,
               "method": cfg.null.method}
    if cfg.null.init != "dense":  # only when set, so null runs stored before the option keep their ids
        content["init"] = cfg.null.init
    return content


def scale_to_sparse_init(model: nn.Module) -> None:
    """Multiply every prunable layer's link weights by 1/sqrt(its density), in place.

    Turns a dense-fan-in initialisation N(0, 2/fan_in) restricted to a mask into CHT's sparse one,
    N(0, 2/(density·fan_in)); layers without links are left alone.
    """
    for layer in prunable_layers(model):
        if layer.n_links > 0:
            layer.set_link_values(layer.link_values() / float(np.sqrt(layer.density)))


def run_null_item(cfg: PhaseStudyConfig, store: Store, item: dict[str, Any]) -> dict[str, Any]:
    """Train one null subnetwork (skipped when stored); returns its row."""
    content = _null_content(cfg, item)
    run_id = config_hash(content)
    store.register_run(run_id, f"{cfg.name}/null/w{item['width']}/s{item['seed']}/{item['variant']}#{item['rep']}", content)
    row = store.get_run(run_id)
    if row and row["status"] == "finished":
        m = store.metrics([run_id], wide=True)
        return {**item, "run_id": run_id, **{k: v for k, v in m.iloc[0].items() if k not in ("run_id", "epoch")}}
    traj = cfg.trajectory_id(item["width"], item["seed"])
    masks = load_masks(store, traj, item["step"])
    tm = store.metrics([traj], wide=True)
    if tm.empty:
        raise ConfigError(f"trajectory {traj} has no stored steps; run the study first")
    acc_dense = float(tm.acc_dense.iloc[0])
    seed, variant, rep = item["seed"], item["variant"], item["rep"]
    rng = np.random.default_rng([seed, item["step"], rep, NULL_VARIANTS.index(variant)])
    if variant.startswith("rewired"):
        masks = rewire_masks(masks, rng, cfg.null.method)
    elif variant == "er":
        masks = _er_masks(masks, rng)
    init_seed = seed if variant != "rewired/scratch" else 100_000 + 1000 * seed + rep
    data = load_data(cfg)
    store.set_status(run_id, "running", "", started=time.time())
    torch.manual_seed(init_seed)
    model = build_model(cfg, data, item["width"], init_seed)
    _set_masks(model, masks)
    if cfg.null.init == "swi":
        scale_to_sparse_init(model)
    epochs = cfg.null.epochs or cfg.pretrain_epochs
    trainer = Trainer(model, data, cfg.train_config(seed, epochs))
    result = trainer.fit()
    if result.status != "finished":
        store.set_status(run_id, result.status, result.message)
        return {**item, "run_id": run_id, "accuracy": np.nan}
    out = measure(model, data, acc_dense)
    out["density"] = item["density"]
    store.log_metrics(run_id, 0, out)
    store.set_status(run_id, "finished", "", finished=time.time())
    return {**item, "run_id": run_id, **out}


def _null_worker(args: tuple[str, dict[str, Any], dict[str, Any]], emit=None) -> dict[str, Any]:
    runs_dir, raw, item = args
    cfg = PhaseStudyConfig.model_validate(raw)
    return run_null_item(cfg, Store(runs_dir), item)


def run_null(
    cfg: PhaseStudyConfig,
    store: Store,
    critical: pd.DataFrame | None = None,
    workers: int = 1,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> pd.DataFrame:
    """Degree-preserving null at a few densities near the transition.

    For every chosen (width, density, seed) the stored pruned masks are retrained with the mask
    fixed for ``null.epochs`` from the trajectory's initialisation (``pruned``); rewired copies
    (Curveball per layer, degrees of every unit kept) from the same initialisation
    (``rewired/same-init``) and from a fresh one (``rewired/scratch``); and Erdős–Rényi masks with
    the same link count per layer from the same initialisation (``er``).

    Returns
    -------
    pandas.DataFrame
        One row per trained subnetwork: width, seed, density, step, variant, rep, run_id, accuracy,
        m, entropies, structure. Also includes the trajectory's own (iteratively fine-tuned)
        value at that step as variant ``trajectory``. Stored as table ``null`` of the first
        trajectory run.
    """
    items = _null_items(cfg, store, critical)
    rows = []
    if workers <= 1:
        for it in items:
            rows.append(run_null_item(cfg, store, it))
            if progress is not None:
                progress(rows[-1])
    else:
        raw = cfg.model_dump(mode="json", by_alias=True)
        for res in make_executor(None, workers).map_unordered(_null_worker, [(str(store.root), raw, it) for it in items]):
            rows.append(res)
            if progress is not None:
                progress(res)
    df = pd.DataFrame(rows)
    table = study_table(cfg, store)
    ref = []
    for (w, s, d), _ in df.groupby(["width", "seed", "density"]):
        sel = table[(table.width == w) & (table.seed == s) & np.isclose(table.density, d)]
        if len(sel):
            r = sel.iloc[0]
            ref.append({"width": w, "seed": s, "density": d, "step": int(r.step), "variant": "trajectory", "rep": 0,
                        "run_id": r.run_id, **{k: r[k] for k in ("accuracy", "m", "path_fraction") if k in r}})
    df = pd.concat([df, pd.DataFrame(ref)], ignore_index=True)
    keep = ["width", "seed", "density", "step", "variant", "rep", "run_id", "accuracy", "m", "prediction_entropy",
            "outcome_entropy", "path_fraction", "lcc_fraction", "measured_density"]
    df = df[[c for c in keep if c in df.columns]].sort_values(["width", "density", "variant", "seed", "rep"],
                                                             ascending=[True, False, True, True, True])
    df = df.reset_index(drop=True)
    df["study"] = cfg.name
    store.save_table(cfg.trajectory_id(cfg.widths[0], cfg.seeds[0]), "phase/null", df)
    return df


def null_summary(null: pd.DataFrame) -> pd.DataFrame:
    """Mean, std and count of accuracy and m per (width, density, variant)."""
    if null is None or null.empty:
        return pd.DataFrame()
    g = null.groupby(["width", "density", "variant"], sort=True)
    out = g.agg(accuracy_mean=("accuracy", "mean"), accuracy_std=("accuracy", "std"),
                m_mean=("m", "mean"), m_std=("m", "std"), n=("accuracy", "size")).reset_index()
    return out.sort_values(["width", "density", "variant"], ascending=[True, False, True]).reset_index(drop=True)

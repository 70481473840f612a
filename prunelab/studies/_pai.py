"""Pieces shared by the ``graphon`` and ``ntk`` study kinds: PaI options, data, masked models."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from prunelab.experiments.config import DataConfig
from prunelab.pai import SCHEDULES, SCOPES, scoring_batches


class PaIOptions(BaseModel):
    """How the masks are made (the Synaptic-Flow reference's defaults).

    Attributes
    ----------
    rounds : int or None
        Pruning rounds; None: 100 for synflow, 1 for the others.
    schedule : str
        ``exponential`` or ``linear``.
    scope : str
        ``global`` or ``layer``.
    samples_per_class : int
        Scoring data: training samples per class (drawn with the trial's seed).
    batch_size : int
        Scoring batch size.
    """

    model_config = ConfigDict(extra="forbid")

    rounds: int | None = Field(None, ge=1)
    schedule: SCHEDULES.field() = "exponential"  # type: ignore[valid-type]
    scope: SCOPES.field() = "global"  # type: ignore[valid-type]
    samples_per_class: int = Field(10, ge=1)
    batch_size: int = Field(256, ge=1)


@functools.lru_cache(maxsize=2)
def _dataset(name: str, data_dir: str | None, download: bool, options: tuple) -> Any:
    from prunelab.data import load_dataset

    return load_dataset(name, data_dir=data_dir, download=download, **dict(options))


def load_data(cfg: DataConfig) -> Any:
    """The data set of a study (cached per process: a worker runs many items on the same data)."""
    return _dataset(cfg.name, cfg.data_dir, cfg.download, tuple(sorted(cfg.options.items())))


def scoring_data(data: Any, seed: int, opts: PaIOptions) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The trial's scoring batches: ``samples_per_class × classes`` training samples, seeded by ``seed``."""
    rng = np.random.default_rng([int(seed), 2510])
    x = torch.as_tensor(np.asarray(data.x_train, dtype=np.float32))
    y = torch.as_tensor(np.asarray(data.y_train, dtype=np.int64))
    return scoring_batches(x, y, rng, opts.samples_per_class, opts.batch_size)


def by_layer(masks: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """PaI masks of a ``SparseMLP`` keyed ``layerK`` (its weights in module order are its layers)."""
    return {f"layer{k}": m for k, m in enumerate(masks.values())}

"""Expansion of a ``sweep:`` section into single-run configs."""

from __future__ import annotations

import copy
import itertools
from typing import Any

from prunelab.errors import ConfigError
from prunelab.experiments.config import ExperimentConfig, apply_override, config_hash, parse_config


def expand_sweep(raw: dict[str, Any]) -> list[ExperimentConfig]:
    """All runs of a raw config: the grid's Cartesian product times the seeds.

    Parameters
    ----------
    raw : dict
        A config mapping; without a ``sweep`` section it expands to itself.

    Returns
    -------
    list of ExperimentConfig
        One config per run, seeds outermost, without a ``sweep`` section; ``train.seed`` set from ``sweep.seeds``.
        The run names are ``name/key=value,...,seed=s``.
    """
    cfg = parse_config(raw)
    if cfg.sweep is None:
        return [cfg]
    base = copy.deepcopy(raw)
    base.pop("sweep", None)
    keys = list(cfg.sweep.grid)
    for key in keys:
        if not cfg.sweep.grid[key]:
            raise ConfigError(f"sweep.grid.{key} is an empty list; give at least one value")
    runs: list[ExperimentConfig] = []
    # seeds outermost: a sweep cut short still has every grid point at the first seeds
    for seed in cfg.sweep.seeds:
        for values in itertools.product(*(cfg.sweep.grid[k] for k in keys)):
            run_raw = copy.deepcopy(base)
            for key, value in zip(keys, values):
                apply_override(run_raw, f"{key}={_yaml_scalar(value)}")
            run_raw.setdefault("train", {})["seed"] = int(seed)
            label = ",".join([*(f"{k}={v}" for k, v in zip(keys, values)), f"seed={seed}"])
            run_raw["name"] = f"{cfg.name}/{label}"
            runs.append(parse_config(run_raw))
    return runs


def sweep_id(raw: dict[str, Any]) -> str:
    """Content hash of a sweep config (sweep section included, name excluded)."""
    cfg = parse_config(raw)
    content = cfg.run_config()
    content["sweep"] = cfg.sweep.model_dump(mode="json") if cfg.sweep else None
    return config_hash(content)


def _yaml_scalar(value: Any) -> str:
    import json

    return json.dumps(value)

"""Experiments as data: training configs, the resumable SQLite results store, the run lifecycle, executors."""

from prunelab.core.config import config_hash
from prunelab.experiments.config import (
    ExperimentConfig,
    apply_override,
    load_config,
    parse_config,
)
from prunelab.experiments.executors import (
    EXECUTORS,
    LocalPoolExecutor,
    SerialExecutor,
    make_executor,
)
from prunelab.experiments.lifecycle import RunLifecycle
from prunelab.experiments.runner import load_run_model, model_of, run_experiment
from prunelab.experiments.store import Store
from prunelab.experiments.sweep import expand_sweep, sweep_id

__all__ = [
    "EXECUTORS",
    "ExperimentConfig",
    "LocalPoolExecutor",
    "RunLifecycle",
    "SerialExecutor",
    "Store",
    "apply_override",
    "config_hash",
    "expand_sweep",
    "load_config",
    "load_run_model",
    "make_executor",
    "model_of",
    "parse_config",
    "run_experiment",
    "sweep_id",
]

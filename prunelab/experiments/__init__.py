"""Experiments as data: configs, the results store, sweeps and executors."""

from prunelab.experiments.config import (
    ExperimentConfig,
    apply_override,
    config_hash,
    load_config,
    parse_config,
)
from prunelab.experiments.executors import LocalPoolExecutor, SerialExecutor, make_executor
from prunelab.experiments.runner import StoredRun, build_model, load_run_model, run_experiment
from prunelab.experiments.store import Store
from prunelab.experiments.sweep import expand_sweep, sweep_id

__all__ = [
    "ExperimentConfig", "Store", "StoredRun", "apply_override", "build_model", "config_hash", "expand_sweep",
    "load_config", "load_run_model", "make_executor", "parse_config", "run_experiment", "sweep_id",
    "LocalPoolExecutor", "SerialExecutor",
]

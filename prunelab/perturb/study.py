"""Robustness study of stored runs: curves for every run and kind, cached in the results store.

This is the glue between the store and the pure analysis functions of :mod:`prunelab.perturb`;
the CLI (``prunelab robustness``) and the report call it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from prunelab.errors import ConfigError
from prunelab.perturb.curve import robustness_curve
from prunelab.perturb.kinds import KINDS
from prunelab.perturb.weights import weight_density_table

DEFAULT_STRENGTHS: dict[str, np.ndarray] = {
    "random_pruning": np.linspace(0.0, 1.0, 41),
    "weight_order_pruning": np.concatenate([np.linspace(0.0, 0.1, 21), np.linspace(0.125, 1.0, 36)]),
    "reverse_weight_order_pruning": np.linspace(0.0, 1.0, 41),
    "weight_shuffling": np.array([0.0, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0]),
    "weight_noise": np.array([0.0, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0]),
}


def run_group(config: dict[str, Any]) -> str:
    """Label of a run for robustness plots: its DST rule (e.g. ``"CH3-L3 + chain"``), ``"imported"``
    for a network trained elsewhere, or ``"static"``."""
    if config.get("imported"):
        return "imported"
    dst = config.get("dst")
    if not dst:
        return "static"
    label = {"random": "RLR", "ch3l3": "CH3-L3", "l3": "L3", "rigl": "RigL"}.get(dst.get("regrowth"), str(dst.get("regrowth")))
    return label + (" + chain" if dst.get("chain_removal") else "")


def table_name(kind: str) -> str:
    """Store table name of a robustness curve."""
    return f"robustness/{kind}"


def run_robustness(
    store,
    run_ids: Sequence[str],
    kinds: Sequence[str],
    strengths: Sequence[float] | None = None,
    n_draws: int = 1,
    seed: int = 0,
    progress: Callable[[str, str], None] | None = None,
) -> pd.DataFrame:
    """Robustness curves of finished runs; each (run, kind) table is cached in the store.

    A cached table is reused when it has the same strengths and draws, so an interrupted study
    resumes where it stopped. Returns the concatenated tidy table with a ``run_id`` column.
    """
    from prunelab.experiments.config import parse_config
    from prunelab.experiments.runner import build_data, load_run_model

    for kind in kinds:
        if kind not in KINDS:
            raise ConfigError(f"unknown perturbation kind {kind!r}; choose from {', '.join(KINDS)}")
    rows = [store.get_run(r) for r in run_ids]
    finished = [r for r in rows if r and r["status"] == "finished"]
    if not finished:
        raise ConfigError("no finished runs to analyse; train them first with `prunelab run`")
    datasets = {r["config"]["data"]["name"] for r in finished}
    if len(datasets) > 1:
        raise ConfigError(f"runs use different data sets {sorted(datasets)}; analyse one data set at a time")
    data = None
    tables = []
    for row in finished:
        group = run_group(row["config"])
        for kind in kinds:
            grid = np.asarray(strengths if strengths is not None else DEFAULT_STRENGTHS[kind], dtype=float)
            cached = store.load_table(row["id"], table_name(kind))
            if (cached is not None and cached.draw.nunique() == n_draws
                    and np.array_equal(np.sort(cached.strength.unique()), np.sort(np.unique(grid)))):
                tables.append(cached)
                continue
            if progress:
                progress(row["id"], kind)
            if data is None:
                data = build_data(parse_config(row["config"]))
            table = robustness_curve({row["id"]: load_run_model(store, row["id"])}, data, kind, grid, n_draws=n_draws,
                                     seed=seed, group=group)
            table.insert(0, "run_id", row["id"])
            store.save_table(row["id"], table_name(kind), table)
            tables.append(table)
        dens = store.load_table(row["id"], "weights/density")
        if dens is None:
            dens = weight_density_table({row["id"]: load_run_model(store, row["id"])}, group=group, value_range=(1e-4, 10.0))
            dens.insert(0, "run_id", row["id"])
            store.save_table(row["id"], "weights/density", dens)
    return pd.concat(tables, ignore_index=True)


def load_robustness(store, run_ids: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All cached robustness curves and weight-density tables of ``run_ids`` (possibly empty)."""
    curves, dens = [], []
    for run_id in run_ids:
        for kind in KINDS:
            t = store.load_table(run_id, table_name(kind))
            if t is not None:
                curves.append(t)
        d = store.load_table(run_id, "weights/density")
        if d is not None:
            dens.append(d)
    cat = lambda ts: pd.concat(ts, ignore_index=True) if ts else pd.DataFrame()  # noqa: E731
    return cat(curves), cat(dens)

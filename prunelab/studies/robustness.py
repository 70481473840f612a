"""The ``robustness`` study kind: perturbation curves of trained runs, without retraining.

Sulyok et al. (2026) perturb trained networks (pruning orders, weight shuffling, weight noise)
and measure test accuracy against the strength. A robustness study names the runs (a run id,
a sweep or any study's name), the perturbation kinds, the strengths, the number of random draws
and the seed; each (run, kind) curve is one item, cached in the store as a table of the run
(:mod:`prunelab.report.robustness`), so a rerun reuses finished curves and an interrupted study
resumes. ``prunelab robustness REF`` is a thin alias that builds this study from its options.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from prunelab.core.config import config_hash
from prunelab.errors import ConfigError
from prunelab.experiments.config import parse_config
from prunelab.experiments.executors import Emit
from prunelab.experiments.runner import build_data, load_run_model
from prunelab.experiments.store import Store
from prunelab.perturb import KINDS, curve_summary, get_kind, robustness_curve, weight_density_table
from prunelab.report.robustness import load_robustness, run_group, table_name
from prunelab.studies.base import Item, Study, item_result

#: default strength grid of each built-in kind (a kind without one gets 21 points over its range)
DEFAULT_STRENGTHS: dict[str, np.ndarray] = {
    "random_pruning": np.linspace(0.0, 1.0, 41),
    "weight_order_pruning": np.concatenate([np.linspace(0.0, 0.1, 21), np.linspace(0.125, 1.0, 36)]),
    "reverse_weight_order_pruning": np.linspace(0.0, 1.0, 41),
    "weight_shuffling": np.array([0.0, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0]),
    "weight_noise": np.array([0.0, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0]),
}


def default_strengths(kind: str) -> np.ndarray:
    """The default strength grid of ``kind``."""
    if kind in DEFAULT_STRENGTHS:
        return DEFAULT_STRENGTHS[kind]
    spec = get_kind(kind)
    high = spec.high if np.isfinite(spec.high) else 1.0
    return np.linspace(spec.low, high, 21)


class RobustnessStudy(Study):
    """Robustness curves of the finished runs of ``runs``.

    Attributes
    ----------
    runs : str
        A run id, id prefix, sweep or study name (resolved in the store).
    kinds : list of str
        Perturbation kinds (default: every registered kind).
    strengths : list of float, optional
        One strength grid for every kind (default: a grid per kind).
    draws : int
        Random draws per network (>= 1).
    seed : int
        Seed of the perturbations; part of the cache key.
    """

    kind: str = "robustness"
    name: str = "robustness"
    runs: str
    kinds: list[str] = Field(default_factory=lambda: list(KINDS.names()))
    strengths: list[float] | None = None
    draws: int = Field(1, ge=1)
    seed: int = Field(0, ge=0)

    summary_columns: ClassVar[tuple[tuple[str, str], ...]] = (("points", "points"),)
    item_noun: ClassVar[str] = "curve"
    items_are_runs: ClassVar[bool] = False  # curves are tables of the analysed runs, not runs

    @field_validator("kinds")
    @classmethod
    def _kinds(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("kinds must name at least one perturbation kind")
        return [KINDS.check(k) for k in v]

    def grid(self, kind: str) -> np.ndarray:
        """The strengths of ``kind`` in this study (checked against the kind's range)."""
        grid = np.asarray(self.strengths if self.strengths is not None else default_strengths(kind), dtype=float)
        spec = get_kind(kind)
        return np.array([spec.check_strength(s) for s in grid])

    def finished_runs(self, store: Store) -> list[dict[str, Any]]:
        """The finished runs named by ``runs`` (one data set), or a one-line error."""
        rows = [store.get_run(r) for r in store.resolve(self.runs)[2]]
        finished = [r for r in rows if r and r["status"] == "finished"]
        if not finished:
            raise ConfigError(f"no finished runs in {self.runs!r} to analyse; train them first with `prunelab run`")
        datasets = {r["config"]["data"]["name"] for r in finished}
        if len(datasets) > 1:
            raise ConfigError(f"runs use different data sets {sorted(datasets)}; analyse one data set at a time")
        return finished

    def check(self) -> None:
        for kind in self.kinds:
            self.grid(kind)

    def plan(self, store: Store) -> Iterator[list[Item]]:
        items = []
        for row in self.finished_runs(store):
            for kind in self.kinds:
                content = {"kind": "robustness-curve", "run": row["id"], "perturbation": kind, "draws": self.draws,
                           "seed": self.seed, "strengths": [float(s) for s in self.grid(kind)]}
                items.append(Item(run_id=config_hash(content), name=f"{row['name']}: {kind}", content=content,
                                  params={"run": row["id"], "perturbation": kind}))
        yield items

    def _cached(self, store: Store, run_id: str, kind: str) -> pd.DataFrame | None:
        cached = store.load_table(run_id, table_name(kind, self.seed))
        if cached is None:
            return None
        seeds = set(cached["seed"].unique()) if "seed" in cached else {0}  # tables without the column: seed 0
        same_grid = np.array_equal(np.sort(cached.strength.unique()), np.sort(np.unique(self.grid(kind))))
        return cached if seeds == {self.seed} and cached.draw.nunique() == self.draws and same_grid else None

    def run_item(self, item: Item, store: Store, emit: Emit) -> dict[str, Any]:
        run_id, kind = item.params["run"], item.params["perturbation"]
        cached = self._cached(store, run_id, kind)
        if cached is not None:
            return item_result(item, "skipped", "cached", points=len(cached))
        emit({"run_id": item.run_id, "name": item.name, "event": "start", "done": 0, "total": 1})
        row = store.get_run(run_id)
        cfg = parse_config(row["config"])
        model = load_run_model(store, run_id)
        group = run_group(row["config"])
        table = robustness_curve({run_id: model}, build_data(cfg), kind, self.grid(kind), n_draws=self.draws,
                                 seed=self.seed, group=group)
        table.insert(0, "run_id", run_id)
        table["seed"] = self.seed
        store.save_table(run_id, table_name(kind, self.seed), table)
        if store.load_table(run_id, "weights/density") is None:
            dens = weight_density_table({run_id: model}, group=group, value_range=(1e-4, 10.0))
            dens.insert(0, "run_id", run_id)
            store.save_table(run_id, "weights/density", dens)
        emit({"run_id": item.run_id, "name": item.name, "event": "epoch", "done": 1, "total": 1})
        return item_result(item, "finished", points=len(table))

    def analyse(self, store: Store) -> dict[str, Any]:
        """``curves`` (every stored curve of the runs), ``densities`` and ``summary`` (AUC, f½ with intervals)."""
        run_ids = [r["id"] for r in self.finished_runs(store)]
        curves, dens = load_robustness(store, run_ids, self.seed)
        curves = curves[curves.kind.isin(self.kinds)] if len(curves) else curves
        summary = curve_summary(curves, n_boot=500, seed=self.seed) if len(curves) else pd.DataFrame()
        return {"curves": curves, "densities": dens, "summary": summary}

    def report(self, store: Store, out_dir: Path | None = None) -> Path | None:
        from prunelab.report import build_report

        return build_report(store, self.runs, out_dir)

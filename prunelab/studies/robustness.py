"""The ``robustness`` study kind: perturbation curves of trained runs, without retraining.

Sulyok et al. (2026) perturb trained networks (pruning orders, weight shuffling, weight noise)
and measure test accuracy against the strength. A robustness study names the runs (a run id,
a sweep or any study's name), the perturbation kinds, the strengths, the number of random draws
and the seed; each (run, kind) curve is one item, cached in the store as a table of the run
(:mod:`prunelab.report.robustness`), so a rerun reuses finished curves and an interrupted study
resumes. ``prunelab robustness REF`` is a thin alias that builds this study from its options.

Input kinds (FGSM/PGD, transfer attacks, corruptions) go through the same items, cache and
report; their items' cache keys add the attack settings, the transfer source run and the
number of test inputs, and the weight kinds' keys are unchanged.
"""

from __future__ import annotations

import json
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
from prunelab.perturb import (
    KINDS,
    AttackSettings,
    curve_summary,
    get_kind,
    kinds_of,
    robustness_curve,
    weight_density_table,
)
from prunelab.report.robustness import load_robustness, run_group, table_name
from prunelab.studies.base import Item, Study, item_result

#: default strength grid of each built-in kind (a kind without one gets 21 points over its range)
DEFAULT_STRENGTHS: dict[str, np.ndarray] = {
    "random_pruning": np.linspace(0.0, 1.0, 41),
    "weight_order_pruning": np.concatenate(
        [np.linspace(0.0, 0.1, 21), np.linspace(0.125, 1.0, 36)]
    ),
    "reverse_weight_order_pruning": np.linspace(0.0, 1.0, 41),
    "weight_shuffling": np.array(
        [0.0, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0]
    ),
    "weight_noise": np.array([0.0, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0]),
    # input kinds: ε in pixel units of [0, 1] inputs (L∞ up to 0.3, Madry et al.'s MNIST budget)
    **{
        k: np.array([0.0, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3])
        for k in ("fgsm", "pgd", "transfer_pgd")
    },
    **{
        k: np.array([0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0])
        for k in ("fgsm_l2", "pgd_l2", "transfer_pgd_l2")
    },
    "gaussian_noise": np.array([0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.6, 0.8, 1.0]),
    **{k: np.linspace(0.0, 1.0, 6) for k in ("blur", "contrast", "rotation", "shift")},
}

#: options added with the input kinds: left out of the study's content while unset, so the ids
#: of studies written before them stay the same
_INPUT_OPTIONS = ("steps", "step_size", "random_start", "transfer_source", "test_inputs")

#: transfer inputs crafted on a source in this process, for the curves of the next target runs:
#: (source, options, seed) -> {(draw, strength): inputs}; only the latest key is kept (memory)
_TRANSFER_CACHE: dict[str, dict] = {}


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
    runs : str or list of str
        Run ids, id prefixes, sweep or study names (resolved in the store), e.g. the DST sweep
        and its dense and magnitude-pruned controls.
    kinds : list of str
        Perturbation kinds (default: the five weight kinds).
    strengths : list of float, optional
        One strength grid for every kind (default: a grid per kind).
    draws : int
        Random draws per network (>= 1).
    seed : int
        Seed of the perturbations; part of the cache key.
    steps, step_size, random_start : optional
        PGD settings (:class:`prunelab.perturb.AttackSettings`; default 10 steps, α = 2.5 ε / steps,
        random start). FGSM kinds ignore them.
    transfer_source : str, optional
        The run whose gradients the transfer kinds follow (one finished run, same data set).
    test_inputs : int, optional
        Evaluate input kinds on the first ``test_inputs`` test images only (default all).
    """

    kind: str = "robustness"
    name: str = "robustness"
    runs: str | list[str]
    kinds: list[str] = Field(default_factory=lambda: list(kinds_of("weights")))
    strengths: list[float] | None = None
    draws: int = Field(1, ge=1)
    seed: int = Field(0, ge=0)
    steps: int | None = Field(None, ge=1)
    step_size: float | None = Field(None, gt=0)
    random_start: bool | None = None
    transfer_source: str | None = None
    test_inputs: int | None = Field(None, ge=1)

    summary_columns: ClassVar[tuple[tuple[str, str], ...]] = (("points", "points"),)
    item_noun: ClassVar[str] = "curve"
    items_are_runs: ClassVar[bool] = False  # curves are tables of the analysed runs, not runs

    @field_validator("kinds")
    @classmethod
    def _kinds(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("kinds must name at least one perturbation kind")
        return [KINDS.check(k) for k in v]

    def content(self) -> dict[str, Any]:
        content = super().content()
        for key in _INPUT_OPTIONS:
            if content.get(key) is None:
                content.pop(key, None)
        return content

    def attack_settings(self) -> AttackSettings:
        """The PGD settings of this study (defaults where unset)."""
        base = AttackSettings()
        return AttackSettings(
            steps=self.steps if self.steps is not None else base.steps,
            step_size=self.step_size,
            random_start=self.random_start if self.random_start is not None else base.random_start,
        )

    def source_run(self, store: Store) -> str | None:
        """The id of the transfer source run, or None when no kind needs one (one-line errors)."""
        if not any(get_kind(k).target == "inputs" and get_kind(k).transfer for k in self.kinds):
            return None
        if not self.transfer_source:
            raise ConfigError(
                "transfer kinds need transfer_source: a finished run to craft the attack on "
                "(e.g. a dense network); set it or drop the transfer kinds"
            )
        ids = store.resolve(self.transfer_source)[2]
        row = store.get_run(ids[0]) if len(ids) == 1 else None
        if row is None or row["status"] != "finished":
            raise ConfigError(
                f"transfer_source {self.transfer_source!r} must name one finished run, "
                f"got {len(ids)} run(s); pass its run id"
            )
        return row["id"]

    def item_options(self, kind: str, source: str | None) -> dict[str, Any]:
        """What besides run, kind, draws, seed and grid defines a curve of ``kind`` (empty for weight kinds)."""
        spec = get_kind(kind)
        if spec.target != "inputs":
            return {}
        options: dict[str, Any] = {"test_inputs": self.test_inputs}
        if spec.attack is not None:
            options["attack"] = spec.settings(self.attack_settings()).as_dict()
        if spec.transfer:
            options["source"] = source
        return options

    def grid(self, kind: str) -> np.ndarray:
        """The strengths of ``kind`` in this study (checked against the kind's range)."""
        grid = np.asarray(
            self.strengths if self.strengths is not None else default_strengths(kind), dtype=float
        )
        spec = get_kind(kind)
        return np.array([spec.check_strength(s) for s in grid])

    def finished_runs(self, store: Store) -> list[dict[str, Any]]:
        """The finished runs named by ``runs`` (one data set), or a one-line error."""
        refs = [self.runs] if isinstance(self.runs, str) else list(self.runs)
        ids = list(dict.fromkeys(r for ref in refs for r in store.resolve(ref)[2]))
        rows = [store.get_run(r) for r in ids]
        finished = [r for r in rows if r and r["status"] == "finished"]
        if not finished:
            raise ConfigError(
                f"no finished runs in {self.runs!r} to analyse; train them first with `prunelab run`"
            )
        datasets = {r["config"]["data"]["name"] for r in finished}
        if len(datasets) > 1:
            raise ConfigError(
                f"runs use different data sets {sorted(datasets)}; analyse one data set at a time"
            )
        return finished

    def check(self) -> None:
        for kind in self.kinds:
            self.grid(kind)
        self.attack_settings()

    def plan(self, store: Store) -> Iterator[list[Item]]:
        items = []
        source = self.source_run(store)
        for row in self.finished_runs(store):
            for kind in self.kinds:
                spec = get_kind(kind)
                if (
                    spec.target == "inputs"
                ):  # an L2 radius beyond the input box fails here, before any work
                    arch = (
                        row["config"].get("model") or row["config"]["imported"]
                    )  # trained here or imported
                    n_features = int(arch["sizes"][0])
                    [spec.check_input_strength(s, n_features) for s in self.grid(kind)]
                content = {
                    "kind": "robustness-curve",
                    "run": row["id"],
                    "perturbation": kind,
                    "draws": self.draws,
                    "seed": self.seed,
                    "strengths": [float(s) for s in self.grid(kind)],
                    **self.item_options(kind, source),
                }
                items.append(
                    Item(
                        run_id=config_hash(content),
                        name=f"{row['name']}: {kind}",
                        content=content,
                        params={"run": row["id"], "perturbation": kind, "source": source},
                    )
                )
        yield items

    def _cached(
        self, store: Store, run_id: str, kind: str, options: dict[str, Any]
    ) -> pd.DataFrame | None:
        cached = store.load_table(run_id, table_name(kind, self.seed))
        if cached is None:
            return None
        seeds = (
            set(cached["seed"].unique()) if "seed" in cached else {0}
        )  # tables without the column: seed 0
        same_grid = np.array_equal(
            np.sort(cached.strength.unique()), np.sort(np.unique(self.grid(kind)))
        )
        stored_options = (
            set(cached["options"].unique()) if "options" in cached else {_options_key({})}
        )
        same = seeds == {self.seed} and cached.draw.nunique() == self.draws and same_grid
        return cached if same and stored_options == {_options_key(options)} else None

    def run_item(self, item: Item, store: Store, emit: Emit) -> dict[str, Any]:
        run_id, kind = item.params["run"], item.params["perturbation"]
        source = item.params.get("source")
        options = self.item_options(kind, source)
        cached = self._cached(store, run_id, kind, options)
        if cached is not None:
            return item_result(item, "skipped", "cached", points=len(cached))
        emit({"run_id": item.run_id, "name": item.name, "event": "start", "done": 0, "total": 1})
        row = store.get_run(run_id)
        cfg = parse_config(row["config"])
        model = load_run_model(store, run_id)
        group = run_group(row["config"])
        data = build_data(cfg)
        extra: dict[str, Any] = {}
        if options:  # an input kind
            n = self.test_inputs or data.n_test
            extra = {
                "attack": self.attack_settings(),
                "image_shape": data.image_shape,
                "source": {source: load_run_model(store, source)} if source else None,
            }
            if get_kind(kind).transfer:
                key = f"{source}|{_options_key(options)}|{self.seed}"
                if key not in _TRANSFER_CACHE:
                    _TRANSFER_CACHE.clear()
                extra["transfer_cache"] = _TRANSFER_CACHE.setdefault(key, {})
            data = (data.x_test[:n], data.y_test[:n])
        table = robustness_curve(
            {run_id: model},
            data,
            kind,
            self.grid(kind),
            n_draws=self.draws,
            seed=self.seed,
            group=group,
            **extra,
        )
        table.insert(0, "run_id", run_id)
        table["seed"] = self.seed
        if options:
            table["options"] = _options_key(options)
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
        summary = (
            curve_summary(curves, n_boot=500, seed=self.seed) if len(curves) else pd.DataFrame()
        )
        return {"curves": curves, "densities": dens, "summary": summary}

    def report(self, store: Store, out_dir: Path | None = None) -> Path | None:
        from prunelab.report import build_report

        return build_report(
            store, self.runs if isinstance(self.runs, str) else self.runs[0], out_dir
        )


def _options_key(options: dict[str, Any]) -> str:
    """The options of a curve as one string column of its table (compared by the cache)."""
    return json.dumps(options, sort_keys=True)

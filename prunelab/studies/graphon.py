"""The ``graphon`` study kind: do pruning-at-initialisation masks converge to a graphon as width grows?

For every method, width and trial (seed) one item builds the fully connected network
``d → n → … → n → classes`` (:func:`prunelab.pruning.make_fc`, ``depth`` weight layers), prunes it
at every sparsity with :func:`prunelab.pai.prune_levels` on the trial's scoring data and stores
the :func:`~prunelab.graphon.estimate` of every layer (``graphons.npz``, keys ``s<sparsity>/layerK``)
with per-layer densities and emptied units as metrics. The analysis reads only the store: mean
estimates over trials, their spread, the distance to the estimate at the largest width with
bootstrap intervals, a fitted rate (distance ∝ n^−r), and shape summaries. Hidden → hidden layers
(``layer1 .. layer{depth-2}``) enter the convergence; the input and output layers are reported
separately, as in Pham et al. 2025 (arXiv:2510.17515).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_validator, model_validator

from prunelab.core.files import atomic_write
from prunelab.errors import ConfigError
from prunelab.experiments.config import DataConfig
from prunelab.experiments.executors import Emit
from prunelab.experiments.lifecycle import RunLifecycle
from prunelab.experiments.store import Store
from prunelab.graphon import estimate
from prunelab.graphon.convergence import convergence_curve, fit_rate, shape_summary, trial_spread
from prunelab.pai import PAI_METHODS, prune_levels
from prunelab.studies._pai import PaIOptions, by_layer, load_data, scoring_data
from prunelab.studies.base import Item, Study, item_result

ARTEFACT = "graphons"


class GraphonStudy(Study):
    """Graphon limits of PaI masks (see the module docstring).

    Attributes
    ----------
    data : DataConfig
        Scoring data and the network's input and output sizes (Fashion-MNIST by default).
    methods : list of str
        Names in :data:`prunelab.pai.PAI_METHODS`.
    sparsities : list of float
        Fractions of weights removed, in [0, 1).
    widths : list of int
        Hidden widths n; each >= k.
    depth : int
        Weight layers (4: d → n → n → n → classes, two hidden → hidden layers).
    trials : int
        Seeds per (method, width); seed t builds the network and draws the scoring data.
    k : int
        Blocks per axis of the estimates.
    pai : PaIOptions
    n_boot : int
        Bootstrap replicates of the convergence intervals.
    """

    kind: Literal["graphon"] = "graphon"
    name: str = "graphon"
    data: DataConfig = Field(default_factory=DataConfig)
    methods: list[PAI_METHODS.field()] = Field(  # type: ignore[valid-type]
        default_factory=lambda: ["random", "magnitude", "snip", "grasp", "synflow"]
    )
    sparsities: list[float] = Field(default_factory=lambda: [0.7, 0.8, 0.9, 0.99])
    widths: list[int] = Field(default_factory=lambda: [100, 250, 500, 1000, 2000])
    depth: int = Field(4, ge=3)
    trials: int = Field(20, ge=1)
    k: int = Field(64, ge=1)
    pai: PaIOptions = Field(default_factory=PaIOptions)
    n_boot: int = Field(1000, ge=0)

    summary_columns: ClassVar[tuple[tuple[str, str], ...]] = (("seconds", "seconds"),)
    item_noun: ClassVar[str] = "mask set"

    @field_validator("sparsities")
    @classmethod
    def _sparsities(cls, v: list[float]) -> list[float]:
        if not v or any(not 0.0 <= s < 1.0 for s in v):
            raise ValueError(f"sparsities must be fractions in [0, 1), e.g. [0.7, 0.9], got {v}")
        return sorted(set(v))

    @model_validator(mode="after")
    def _widths(self) -> GraphonStudy:
        if not self.widths or min(self.widths) < self.k:
            raise ValueError(
                f"every width must be >= k={self.k} so that no block is empty, got widths {self.widths}"
            )
        self.widths = sorted(set(self.widths))
        return self

    # --- plan and items ----------------------------------------------------------------------
    def hidden_layers(self) -> list[str]:
        """Names of the hidden → hidden layers (the ones whose convergence is measured)."""
        return [f"layer{k}" for k in range(1, self.depth - 1)]

    def item_content(self, method: str, width: int, trial: int) -> dict[str, Any]:
        """What defines one item (its run id is the hash of this)."""
        return {
            "study": "graphon-masks",
            "data": self.data.model_dump(mode="json"),
            "method": method,
            "width": int(width),
            "depth": self.depth,
            "trial": int(trial),
            "sparsities": self.sparsities,
            "k": self.k,
            "pai": self.pai.model_dump(mode="json"),
        }

    def plan(self, store: Store) -> Iterator[list[Item]]:
        # the widest networks first: they take longest, and a cut-short study then has its reference
        yield [
            Item.of(
                f"{self.name}/{m},width={w},trial={t}",
                self.item_content(m, w, t),
                method=m,
                width=w,
                trial=t,
            )
            for t in range(self.trials)
            for w in sorted(self.widths, reverse=True)
            for m in self.methods
        ]

    def run_item(self, item: Item, store: Store, emit: Emit) -> dict[str, Any]:
        run = RunLifecycle(store, item.run_id, item.name, item.content)
        if run.claim() != "claimed":
            return item_result(item, run.outcome())
        emit({"run_id": item.run_id, "name": item.name, "event": "start", "done": 0, "total": 1})
        try:
            arrays, metrics = self.masks_and_estimates(
                item.params["method"], item.params["width"], item.params["trial"]
            )
            path = store.run_dir(item.run_id) / f"{ARTEFACT}.npz"
            with atomic_write(path) as fh:  # flushed and renamed; a full disk is one line
                np.savez_compressed(fh, **arrays)
            store.add_artefact(item.run_id, ARTEFACT, path, "graphons")
            store.log_metrics(item.run_id, 0, metrics)
        except BaseException as err:
            run.abort(err)
            raise
        run.finish("finished")
        emit({"run_id": item.run_id, "name": item.name, "event": "done", "done": 1, "total": 1})
        return item_result(item, "finished", seconds=store.get_run(item.run_id).get("seconds"))

    def masks_and_estimates(
        self, method: str, width: int, trial: int
    ) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        """Prune one network at every sparsity; estimates (float32 (k, k)) and per-layer metrics."""
        from prunelab.pruning import make_fc

        data = load_data(self.data)
        model = make_fc(
            data.n_features, data.n_classes, int(width), depth=self.depth, seed=int(trial)
        )
        batches = scoring_data(data, trial, self.pai)
        levels = prune_levels(
            model,
            method,
            [1.0 - s for s in self.sparsities],
            batches,
            self.pai.rounds,
            self.pai.schedule,
            self.pai.scope,
            seed=int(trial),
        )
        arrays: dict[str, np.ndarray] = {}
        metrics: dict[str, float] = {}
        for s, density in zip(self.sparsities, [1.0 - s for s in self.sparsities]):
            for layer, mask in by_layer(levels[float(density)]).items():
                key = f"s{s:g}/{layer}"
                arrays[key] = estimate(mask, self.k).astype(np.float32)
                metrics[f"{key}/density"] = float(mask.mean())
                metrics[f"{key}/empty_inputs"] = float(np.mean(~mask.any(axis=1)))
                metrics[f"{key}/empty_outputs"] = float(np.mean(~mask.any(axis=0)))
        return arrays, metrics

    # --- analysis ----------------------------------------------------------------------------
    def load(
        self, store: Store
    ) -> tuple[dict[tuple[str, float, str, int], np.ndarray], pd.DataFrame]:
        """Stored estimates ``{(method, sparsity, layer, width): (trials, k, k)}`` and the metrics of every item."""
        stacks: dict[tuple[str, float, str, int], list[np.ndarray]] = {}
        rows = []
        for t in range(self.trials):
            for w in self.widths:
                for m in self.methods:
                    item = Item.of("", self.item_content(m, w, t))
                    run = store.get_run(item.run_id)
                    if run is None or run.get("status") != "finished":
                        continue
                    with np.load(store.run_dir(item.run_id) / f"{ARTEFACT}.npz") as npz:
                        for key in npz.files:
                            s, layer = key.split("/")
                            stacks.setdefault((m, float(s[1:]), layer, w), []).append(npz[key])
                    rows.append({"run_id": item.run_id, "method": m, "width": w, "trial": t})
        items = pd.DataFrame(rows, columns=["run_id", "method", "width", "trial"])
        return {key: np.stack(v) for key, v in stacks.items()}, items

    def analyse(self, store: Store) -> dict[str, Any]:
        """Tables from the store.

        Returns
        -------
        dict
            ``means`` {(method, sparsity, layer, width): mean estimate (k, k)} (not a table);
            ``units`` per (method, sparsity, layer, width): density and emptied-unit fractions
            (mean over trials); ``spread`` the trial spread; ``convergence`` distance to the
            widest mean estimate, bias-corrected, with bootstrap intervals (hidden layers only,
            :func:`~prunelab.graphon.convergence.convergence_curve`); ``rates`` the fitted r of the
            plug-in distances with a basic-bootstrap interval, and of the bias-corrected ones; ``shapes`` shape summaries at the largest width;
            ``completed`` items found per (method, width).
        """
        stacks, items = self.load(store)
        with warnings.catch_warnings():
            warnings.simplefilter(
                "ignore", RuntimeWarning
            )  # all-NaN blocks: the output layer's missing columns
            return self._analyse(store, stacks, items)

    def _analyse(self, store: Store, stacks: dict, items: pd.DataFrame) -> dict[str, Any]:
        means = {key: np.nanmean(v, axis=0) for key, v in stacks.items()}
        metrics = store.metrics(list(items.run_id), wide=True) if len(items) else pd.DataFrame()
        unit_rows, spread_rows, conv_rows, rate_rows, shape_rows = [], [], [], [], []
        for (m, s, layer, w), arr in sorted(stacks.items()):
            spread_rows.append(
                {
                    "method": m,
                    "sparsity": s,
                    "layer": layer,
                    "width": w,
                    "trials": arr.shape[0],
                    **trial_spread(arr),
                }
            )
            ids = items[(items.method == m) & (items.width == w)].run_id
            sub = metrics[metrics.run_id.isin(ids)] if len(metrics) else metrics
            key = f"s{s:g}/{layer}"
            unit_rows.append(
                {
                    "method": m,
                    "sparsity": s,
                    "layer": layer,
                    "width": w,
                    **{
                        c: float(sub[f"{key}/{c}"].mean())
                        for c in ("density", "empty_inputs", "empty_outputs")
                    },
                }
            )
        units = pd.DataFrame(unit_rows)
        widest = max((w for (_, _, _, w) in stacks), default=None)
        for m in self.methods:
            for s in self.sparsities:
                for layer in sorted({key[2] for key in stacks}):
                    by_w = {
                        w: stacks[(m, s, layer, w)]
                        for w in self.widths
                        if (m, s, layer, w) in stacks
                    }
                    if widest in by_w:
                        dens = units[
                            (units.method == m)
                            & (units.sparsity == s)
                            & (units.layer == layer)
                            & (units.width == widest)
                        ].density.iloc[0]
                        shape_rows.append(
                            {
                                "method": m,
                                "sparsity": s,
                                "layer": layer,
                                "width": widest,
                                **shape_summary(means[(m, s, layer, widest)], dens),
                            }
                        )
                    if layer not in self.hidden_layers() or len(by_w) < 2:
                        continue
                    curve, boot = convergence_curve(by_w, self.n_boot, seed=0)
                    conv_rows += [
                        {"method": m, "sparsity": s, "layer": layer, **r}
                        for r in curve.to_dict("records")
                    ]
                    rate = fit_rate(curve.width.to_numpy(), curve.distance.to_numpy())
                    reps = (
                        [fit_rate(curve.width.to_numpy(), b) for b in boot] if self.n_boot else []
                    )
                    usable = [r for r in reps if np.isfinite(r)]
                    q_lo, q_hi = np.quantile(usable, [0.025, 0.975]) if usable else (np.nan, np.nan)
                    rate_rows.append(
                        {
                            "method": m,
                            "sparsity": s,
                            "layer": layer,
                            "rate": rate,
                            "rate_bc": fit_rate(
                                curve.width.to_numpy(), curve.distance_bc.to_numpy()
                            ),
                            "lo": float(2 * rate - q_hi),
                            "hi": float(2 * rate - q_lo),  # basic bootstrap
                            "monotone": bool(np.all(np.diff(curve.distance.to_numpy()) < 0)),
                        }
                    )
        completed = (
            items.groupby(["method", "width"]).size().rename("trials").reset_index()
            if len(items)
            else items
        )
        return {
            "means": means,
            "units": units,
            "spread": pd.DataFrame(spread_rows),
            "convergence": pd.DataFrame(conv_rows),
            "rates": pd.DataFrame(rate_rows),
            "shapes": pd.DataFrame(shape_rows),
            "completed": completed,
        }

    def check(self) -> None:
        if self.trials < 2 and self.n_boot:
            raise ConfigError(
                "bootstrap intervals need trials >= 2; set trials: 2 or more, or n_boot: 0"
            )

    def report(self, store: Store, out_dir: Path | None = None) -> Path | None:
        """Tables (CSV) and figures of the study in ``out_dir`` (default ``<runs>/reports/<name>``)."""
        from prunelab.report.graphon import write_graphon_report

        return write_graphon_report(
            self, self.analyse(store), Path(out_dir or self.default_report_dir(store))
        )

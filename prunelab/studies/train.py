"""The ``train`` study kind: one training run or a sweep of them (the default kind).

The config is a :class:`~prunelab.experiments.config.ExperimentConfig` (``data``, ``model``,
``train``, optional ``dst`` and other hook sections, optional ``sweep``); every run of the sweep
is one item, with the run id of its normalised content, so configs written before study kinds
existed keep their run ids.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from prunelab.experiments.config import ExperimentConfig, parse_config
from prunelab.experiments.executors import Emit
from prunelab.experiments.runner import run_experiment
from prunelab.experiments.store import Store
from prunelab.experiments.sweep import expand_sweep, sweep_id
from prunelab.studies.base import Item, Study


class TrainStudy(ExperimentConfig, Study):
    """A training run, or with ``sweep:`` a grid of them (see :class:`ExperimentConfig`)."""

    summary_columns: ClassVar[tuple[tuple[str, str], ...]] = (
        ("epochs", "epochs"),
        ("test_accuracy", "final test accuracy (%)"),
    )

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> TrainStudy:
        """Validate (one-line errors phrased for training configs)."""
        cfg = parse_config(raw)  # the training-config error messages
        return cls.model_validate(cfg.model_dump(mode="json", by_alias=True))

    def _raw_run_config(self) -> dict[str, Any]:
        raw = self.model_dump(mode="json", by_alias=True, exclude_none=False)
        if self.dst is not None:
            raw["dst"] = self.dst.model_dump(mode="json")
        return raw

    def runs(self) -> list[ExperimentConfig]:
        """The single-run configs: the sweep's grid times its seeds (or this run alone)."""
        return expand_sweep(self._raw_run_config())

    def study_id(self) -> str:
        """A sweep's id (as recorded before study kinds existed), or the run id of a single run."""
        raw = self._raw_run_config()
        return sweep_id(raw) if self.sweep is not None else self.runs()[0].run_id()

    def plan(self, store: Store) -> Iterator[list[Item]]:
        yield [
            Item(
                run_id=r.run_id(),
                name=r.name,
                content=r.run_config(),
                params={"config": r.model_dump(mode="json")},
            )
            for r in self.runs()
        ]

    def run_item(self, item: Item, store: Store, emit: Emit) -> dict[str, Any]:
        cfg = parse_config(item.params["config"])
        total = cfg.train.epochs

        def on_epoch(run_id: str, epoch: int, metrics: dict[str, float]) -> None:
            emit(
                {
                    "run_id": run_id,
                    "name": item.name,
                    "event": "epoch",
                    "done": epoch,
                    "total": total,
                    "info": f"test acc {100 * metrics['test_accuracy']:.2f}%",
                }
            )

        def on_step(epoch: int, k: int, n: int) -> None:
            emit({"run_id": item.run_id, "name": item.name, "event": "step", "done": k, "total": n})

        emit(
            {"run_id": item.run_id, "name": item.name, "event": "start", "done": 0, "total": total}
        )
        return run_experiment(cfg, store, on_epoch=on_epoch, on_step=on_step)

    def analyse(self, store: Store) -> dict[str, Any]:
        """``final``: one row per run with its last test accuracy (fraction) and epochs."""
        rows = []
        for r in self.runs():
            m = store.metrics([r.run_id()], wide=True)
            row = store.get_run(r.run_id()) or {}
            rows.append(
                {
                    "run_id": r.run_id(),
                    "name": r.name,
                    "status": row.get("status"),
                    "epochs": int(m.epoch.max()) if len(m) else 0,
                    "test_accuracy": float(m.test_accuracy.iloc[-1])
                    if "test_accuracy" in m
                    else None,
                }
            )
        return {"final": pd.DataFrame(rows)}

    def report(
        self, store: Store, out_dir: Path | None = None, single_file: bool = False
    ) -> Path | None:
        from prunelab.report import build_report

        return build_report(store, self.name, out_dir, single_file=single_file)

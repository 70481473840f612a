"""The ``game`` study kind: the pruning game's configuration grid, its baselines and frontier.

One config runs, resumably (every item is a run in the store):

- stage 1: every named configuration (game overrides, e.g. the paper's four β/γ rows) × every
  benefit sign × every seed, as ordinary training runs with a ``game:`` section (their run ids
  are those of ``prunelab run`` on the same content); per seed, the dense network without gates
  (parent of magnitude pruning) and, with the slimming baseline, the network trained with L1 gates;
- stage 2: the baselines at every budget — the fixed ``baselines.budgets`` (totals split over the
  layers in proportion to their widths) and, with ``baselines.matched``, the per-layer numbers of
  surviving units of every game configuration (median over seeds) — magnitude neuron pruning with
  fine-tuning, slimming with fine-tuning, and a dense network of that width trained from scratch.

:meth:`GameStudy.analyse` turns the store into the tables of the reproduction (one row per game
run; per configuration and sign with t intervals over seeds; baselines; the frontier; game versus
baselines at matched budgets) and :meth:`GameStudy.report` writes ``summary.md`` with figures.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, model_validator

from prunelab.core.registry import Registry
from prunelab.errors import ConfigError, PrunelabError
from prunelab.experiments.config import DataConfig, ExperimentConfig, ModelConfig, parse_config
from prunelab.experiments.executors import Emit
from prunelab.experiments.lifecycle import RunLifecycle
from prunelab.experiments.runner import (
    CHECKPOINT,
    build_data,
    load_run_model,
    model_of,
    run_experiment,
)
from prunelab.experiments.store import Store
from prunelab.game import GameConfig
from prunelab.game.baselines import SlimmingHook, keep_top_units, magnitude_scores, split_budget
from prunelab.game.utility import BENEFITS
from prunelab.studies.base import Item, Study, item_result
from prunelab.studies.game_tables import analyse_game
from prunelab.training import TrainConfig, Trainer
from prunelab.training.engine import evaluate

#: the four configurations of the paper's Table 2 (α = 1, η = 0)
PAPER_CONFIGURATIONS: dict[str, dict[str, Any]] = {
    "Very High Beta": {"beta": 0.1, "gamma": 0.0},
    "Extreme Beta": {"beta": 0.5, "gamma": 0.0},
    "L1 Sparsity Strong": {"beta": 0.001, "gamma": 0.1},
    "L1+L2 Combined": {"beta": 0.05, "gamma": 0.05},
}

#: baselines of the frontier
BASELINES: Registry[str] = Registry("game baseline")
BASELINES.register("magnitude", "magnitude", help="L2 norm of incoming weights, then fine-tuning")
BASELINES.register(
    "slimming", "slimming", help="L1 on per-neuron gates (network slimming), then fine-tuning"
)
BASELINES.register(
    "scratch", "scratch", help="a dense network of the surviving width trained from scratch"
)


class BaselinesConfig(BaseModel):
    """The frontier's baselines.

    Attributes
    ----------
    methods : list of {"magnitude", "slimming", "scratch"}
    budgets : list of int
        Totals of surviving hidden units (split over layers in proportion to their widths).
    matched : bool
        Also run every baseline at each game configuration's own per-layer survivor counts.
    finetune_epochs : int
        Epochs of fine-tuning after magnitude and slimming pruning.
    slimming_lambda : float
        L1 weight of the slimming gates (> 0, loss units per unit of |gate|).
    """

    model_config = ConfigDict(extra="forbid")

    methods: list[BASELINES.field()] = Field(
        default_factory=lambda: ["magnitude", "slimming", "scratch"]
    )  # type: ignore[valid-type]
    budgets: list[PositiveInt] = Field(default_factory=lambda: [16, 32, 64, 128])
    matched: bool = True
    finetune_epochs: PositiveInt = 5
    slimming_lambda: float = Field(1e-4, gt=0)


class GameStudy(Study):
    """The pruning game's grid and baselines (see the module docstring)."""

    kind: str = "game"
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig
    train: TrainConfig = Field(default_factory=TrainConfig)
    game: GameConfig = Field(default_factory=GameConfig)
    configurations: dict[str, dict[str, Any]] = Field(
        default_factory=lambda: dict(PAPER_CONFIGURATIONS)
    )
    benefits: list[BENEFITS.field()] = Field(default_factory=lambda: ["paper", "descent", "abs"])  # type: ignore[valid-type]
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2])
    baselines: BaselinesConfig | None = Field(default_factory=BaselinesConfig)

    summary_columns: ClassVar[tuple[tuple[str, str], ...]] = (
        ("kept", "hidden units kept"),
        ("test_accuracy", "test accuracy (%)"),
    )

    @model_validator(mode="after")
    def _valid_runs(self) -> GameStudy:
        # validate every run now, so bad input fails before anything is written to the store
        if not self.configurations:
            raise ConfigError("configurations is empty; name at least one game configuration")
        if not self.seeds or not self.benefits:
            raise ConfigError("seeds and benefits need at least one value each")
        self.game_runs()
        if self.baselines is not None:
            for total in self.baselines.budgets:
                split_budget(total, self.widths())
        return self

    # --- the runs ------------------------------------------------------------------------------
    def widths(self) -> list[int]:
        """Hidden widths of the model."""
        return list(self.model.sizes[1:-1])

    def _base(self, seed: int) -> dict[str, Any]:
        return {
            "data": self.data.model_dump(mode="json"),
            "model": self.model.model_dump(mode="json"),
            "train": {**self.train.model_dump(mode="json"), "seed": int(seed)},
        }

    def game_runs(self) -> list[tuple[str, str, int, ExperimentConfig]]:
        """``(configuration, benefit, seed, config)`` of every game run, seeds outermost."""
        out = []
        base_game = self.game.model_dump(mode="json")
        for seed in self.seeds:
            for row, overrides in self.configurations.items():
                for benefit in self.benefits:
                    game = {**base_game, **overrides, "benefit": benefit}
                    raw = {
                        **self._base(seed),
                        "game": game,
                        "name": f"{self.name}/{row}/{benefit}/seed={seed}",
                    }
                    try:
                        out.append((row, benefit, seed, parse_config(raw)))
                    except ConfigError as err:
                        raise ConfigError(f"configuration {row!r}: {err}") from None
        return out

    def dense_run(
        self, seed: int, sizes: list[int] | None = None, label: str = "dense"
    ) -> ExperimentConfig:
        """The plain training run of the model (or of a narrower one with ``sizes``)."""
        raw = self._base(seed)
        if sizes is not None:
            raw["model"] = {**raw["model"], "sizes": sizes}
        return parse_config({**raw, "name": f"{self.name}/{label}/seed={seed}"})

    def _train_item(self, cfg: ExperimentConfig, **params: Any) -> Item:
        return Item(
            run_id=cfg.run_id(),
            name=cfg.name,
            content=cfg.run_config(),
            params={"kind": "train", "config": cfg.model_dump(mode="json"), **params},
        )

    def slimming_item(self, seed: int) -> Item:
        """The network trained with L1 gates (parent of the slimming baseline)."""
        content = {
            "kind": "game-slimming",
            **self._base(seed),
            "lambda": self.baselines.slimming_lambda,
        }
        return Item.of(f"{self.name}/slimming-train/seed={seed}", content, kind="slimming")

    def budgets(self, store: Store) -> list[tuple[int, ...]]:
        """Per-layer survivor counts of the baselines: fixed budgets, then the game's own (matched)."""
        out = [tuple(split_budget(total, self.widths())) for total in self.baselines.budgets]
        if self.baselines.matched:
            wide = store.metrics([cfg.run_id() for *_, cfg in self.game_runs()], wide=True)
            names = [f"game/kept/layer{k}" for k in range(len(self.widths()))]
            if len(wide) and all(n in wide for n in names):
                last = wide.sort_values("epoch").groupby("run_id").last()
                keys = {cfg.run_id(): (row, benefit) for row, benefit, _, cfg in self.game_runs()}
                last = last[last.index.isin(keys)].dropna(subset=names)
                last["key"] = [keys[r] for r in last.index]
                for _, g in last.groupby("key"):
                    counts = tuple(int(np.median(g[n])) for n in names)
                    if all(c >= 1 for c in counts) and sum(counts) < sum(self.widths()):
                        out.append(counts)
        return list(dict.fromkeys(out))

    def finetune_item(self, method: str, parent: str, counts: tuple[int, ...], seed: int) -> Item:
        """Prune ``parent`` to ``counts`` units per layer by ``method`` and fine-tune."""
        epochs = self.baselines.finetune_epochs
        train = {**self.train.model_dump(mode="json"), "seed": int(seed), "epochs": epochs}
        content = {
            "kind": "game-finetune",
            "method": method,
            "parent": parent,
            "kept": list(counts),
            "train": train,
        }
        label = "+".join(map(str, counts))
        return Item.of(
            f"{self.name}/{method}/k={label}/seed={seed}", content, kind="finetune", seed=seed
        )

    def plan(self, store: Store) -> Iterator[list[Item]]:
        stage = [self._train_item(cfg) for *_, cfg in self.game_runs()]
        methods = self.baselines.methods if self.baselines is not None else []
        if "magnitude" in methods:
            stage += [self._train_item(self.dense_run(seed)) for seed in self.seeds]
        if "slimming" in methods:
            stage += [self.slimming_item(seed) for seed in self.seeds]
        yield stage
        if not methods:
            return
        later = []
        for counts in self.budgets(store):
            label = "+".join(map(str, counts))
            for seed in self.seeds:
                if "magnitude" in methods:
                    later.append(
                        self.finetune_item("magnitude", self.dense_run(seed).run_id(), counts, seed)
                    )
                if "slimming" in methods:
                    later.append(
                        self.finetune_item(
                            "slimming", self.slimming_item(seed).run_id, counts, seed
                        )
                    )
                if "scratch" in methods:
                    sizes = [self.model.sizes[0], *counts, self.model.sizes[-1]]
                    later.append(
                        self._train_item(self.dense_run(seed, sizes, f"scratch/k={label}"))
                    )
        yield later

    # --- running -------------------------------------------------------------------------------
    def run_item(self, item: Item, store: Store, emit: Emit) -> dict[str, Any]:
        kind = item.params.get("kind")
        emit({"run_id": item.run_id, "name": item.name, "event": "start", "done": 0, "total": 1})
        if kind == "train":
            res = run_experiment(parse_config(item.params["config"]), store)
            kept = _last(store, item.run_id, "game/kept")
            return item_result(
                item, res["status"], res["message"], test_accuracy=res["test_accuracy"], kept=kept
            )
        if kind == "slimming":
            return self._run_slimming(item, store)
        if kind == "finetune":
            return self._run_finetune(item, store)
        raise PrunelabError(f"unknown game study item kind {kind!r}")

    def _train(
        self,
        item: Item,
        store: Store,
        model: torch.nn.Module,
        train: TrainConfig,
        hooks: list,
        before: dict[str, float] | None = None,
    ) -> dict[str, Any]:
        """Train ``model`` as the run of ``item`` through the run lifecycle (resumable)."""
        run = RunLifecycle(store, item.run_id, item.name, item.content)
        if run.claim() != "claimed":
            return item_result(
                item, run.outcome(), test_accuracy=_last(store, item.run_id, "test_accuracy")
            )
        try:
            folder = store.run_dir(item.run_id)
            (folder / "config.yaml").write_text(yaml.safe_dump(item.content, sort_keys=False))
            data = build_data(self)
            torch.manual_seed(train.seed)
            trainer = Trainer(
                model,
                data,
                train,
                hooks=hooks,
                checkpoint_path=folder / CHECKPOINT,
                on_epoch=lambda epoch, m: store.log_metrics(item.run_id, epoch, m),
            )
            if before is not None:
                x_test = torch.as_tensor(np.asarray(data.x_test, dtype=np.float32)).reshape(
                    len(data.y_test), -1
                )
                loss, acc = evaluate(
                    model, x_test, torch.as_tensor(np.asarray(data.y_test, dtype=np.int64))
                )
                store.log_metrics(
                    item.run_id, 0, {**before, "test_accuracy": acc, "test_loss": loss}
                )
            if trainer.resume_if_possible():
                run.note(f"resumed at epoch {trainer.epoch}")
            store.drop_metrics_after(item.run_id, trainer.epoch)
            result = trainer.fit()
        except BaseException as err:
            run.abort(err)
            raise
        run.finish(result.status, result.message)
        if result.status == "finished":
            store.add_artefact(
                item.run_id, "checkpoint", folder / CHECKPOINT, "checkpoint", trainer.epoch
            )
        return item_result(
            item,
            result.status,
            result.message,
            test_accuracy=_last(store, item.run_id, "test_accuracy"),
        )

    def _run_slimming(self, item: Item, store: Store) -> dict[str, Any]:
        train = TrainConfig.model_validate(item.content["train"])
        model = model_of(self.model, train.seed, device=train.device)
        return self._train(item, store, model, train, [SlimmingHook(item.content["lambda"], train)])

    def _parent(
        self, store: Store, method: str, parent: str
    ) -> tuple[torch.nn.Module, dict[str, np.ndarray] | None]:
        """The parent's trained network and, for slimming, its gates."""
        row = store.get_run(parent)
        if row is None or row["status"] != "finished":
            raise PrunelabError(
                f"{method} baseline needs run {parent}, which is not finished; rerun the study"
            )
        if method == "magnitude":
            return load_run_model(store, parent), None
        state = torch.load(store.root / parent / CHECKPOINT, weights_only=False)
        model = model_of(self.model, int(row["config"]["train"]["seed"]))
        model.load_state_dict(state["model"])
        gates = next(h["s"] for h in state["hooks"] if h and h.get("kind") == "slimming")
        return model, gates

    def _run_finetune(self, item: Item, store: Store) -> dict[str, Any]:
        method, counts = item.content["method"], item.content["kept"]
        row = store.get_run(item.run_id)
        if row is not None and row["status"] == "finished":
            return item_result(
                item,
                "skipped",
                test_accuracy=_last(store, item.run_id, "test_accuracy"),
                kept=sum(counts),
            )
        parent, gates = self._parent(store, method, item.content["parent"])
        scores = (
            magnitude_scores(parent) if gates is None else {k: np.abs(v) for k, v in gates.items()}
        )
        pruned = keep_top_units(parent, scores, counts, scale=gates).model
        train = TrainConfig.model_validate(item.content["train"])
        before = {f"kept/layer{k}": float(c) for k, c in enumerate(counts)}
        res = self._train(
            item, store, pruned, train, [], before={**before, "kept": float(sum(counts))}
        )
        return {**res, "kept": sum(counts)}

    # --- analysis ------------------------------------------------------------------------------
    def analyse(self, store: Store) -> dict[str, Any]:
        """Tables of the study (see :func:`prunelab.studies.game_tables.analyse_game`)."""
        return analyse_game(self, store)

    def report(self, store: Store, out_dir: Path | None = None) -> Path | None:
        from prunelab.studies.game_tables import write_summary

        return write_summary(self, store, out_dir or self.default_report_dir(store))


def _last(store: Store, run_id: str, name: str) -> float | None:
    df = store.metrics([run_id])
    df = df[df.name == name]
    return float(df.sort_values("epoch").value.iloc[-1]) if len(df) else None

"""The ``sufficiency`` study kind: recoverability Ψ(ρ, B), F_min, irreversibility, spectral modes.

Stages of items (each item one run in the store, resumable, skipped when finished):

1. ``pretrain`` per (network, seed): the dense network trained for ``train.epochs`` epochs;
   its initial, rewind-point and trained weights are saved in the run folder.
2. ``retrain`` per (network, seed, criterion, mask, protocol, density): prune the trained network
   to the density with the arm's criterion (optionally replacing the mask by an ER or
   degree-preserving control), start the protocol's weights and retrain for ``max(budgets)``
   epochs, storing Ψ's accuracies (and structure, spectra) at every budget (metrics epoch = B).
   ``equivalent`` per (network, seed, density): a dense network with as many weights, trained
   from scratch. ``down`` per hysteresis (network, seed): the iterative prune-down sweep.
3. ``up`` per hysteresis (network, seed, rule): the regrow-up sweep from the bottom of ``down``.

:meth:`SufficiencyStudy.analyse` turns the stored rows into the tables of
:mod:`prunelab.sufficiency.tables`; :meth:`SufficiencyStudy.report` writes them with figures.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import Field, PrivateAttr, model_validator

from prunelab.errors import ConfigError
from prunelab.experiments.config import DataConfig
from prunelab.experiments.executors import Emit
from prunelab.experiments.lifecycle import RunLifecycle
from prunelab.experiments.store import Store
from prunelab.studies import sufficiency_items as items
from prunelab.studies.base import Item, Study, item_result
from prunelab.studies.sufficiency_config import (
    AnalysisConfig,
    ArmSpec,
    EquivalentConfig,
    HysteresisConfig,
    NetworkSpec,
    PruneConfig,
    RetrainConfig,
    SpectralConfig,
    dst_config,
)
from prunelab.sufficiency import tables
from prunelab.sufficiency.networks import (
    align_numba_threads,
    check_first_density,
    equivalent_sizes,
)
from prunelab.sufficiency.retrain import (
    Diverged,
)
from prunelab.training import TrainConfig


@functools.lru_cache(maxsize=2)
def _load(data_json: str):
    from prunelab.data import load_dataset

    d = json.loads(data_json)
    return load_dataset(
        d["name"],
        data_dir=d.get("data_dir"),
        download=d.get("download", True),
        **d.get("options", {}),
    )


def _default_arms() -> list[ArmSpec]:
    return [ArmSpec()]


class SufficiencyStudy(Study):
    """Minimal structural sufficiency: does a pruned network recover, and down to which density?"""

    kind: str = "sufficiency"
    name: str = "sufficiency"
    data: DataConfig = Field(default_factory=lambda: DataConfig(name="digits"))
    networks: list[NetworkSpec] = Field(
        default_factory=lambda: [NetworkSpec(name="w100", hidden=[100, 100])], min_length=1
    )
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4], min_length=1)
    train: TrainConfig = Field(
        default_factory=lambda: TrainConfig(epochs=20, lr=0.05, schedule="cosine", lr_min=0.0005)
    )
    prune: PruneConfig = Field(default_factory=PruneConfig)
    retrain: RetrainConfig = Field(default_factory=RetrainConfig)
    arms: list[ArmSpec] = Field(default_factory=_default_arms, min_length=1)
    hysteresis: HysteresisConfig = Field(default_factory=HysteresisConfig)
    equivalent: EquivalentConfig = Field(default_factory=EquivalentConfig)
    spectral: SpectralConfig = Field(default_factory=SpectralConfig)
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)

    summary_columns: ClassVar[tuple[tuple[str, str], ...]] = (
        ("what", "item"),
        ("acc_test", "final test accuracy (%)"),
    )
    item_noun: ClassVar[str] = "item"
    #: (n_features, n_classes) once known; read from stored runs so analysis needs no data set
    _io: tuple[int, int] | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _sections(self) -> SufficiencyStudy:
        names = [n.name for n in self.networks]
        if len(set(names)) != len(names) or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(
                f"network names and seeds must be distinct, got {names} and {self.seeds}"
            )
        refs = [(f"arms[{i}].networks", a.networks or []) for i, a in enumerate(self.arms)]
        refs += [
            ("hysteresis.networks", self.hysteresis.networks),
            ("equivalent.networks", self.equivalent.networks),
        ]
        for where, listed in refs:
            for n in listed:
                if n not in names:
                    raise ConfigError(f"{where} names network {n!r}, which is not one of {names}")
        for b in self.spectral.at or []:
            if b not in self.retrain.budgets:
                raise ConfigError(
                    f"spectral.at lists budget {b}, which is not one of retrain.budgets {self.retrain.budgets}"
                )
        if self.retrain.rewind_epoch > self.train.epochs:
            raise ConfigError(
                f"retrain.rewind_epoch {self.retrain.rewind_epoch} is after pretraining ends (train.epochs {self.train.epochs})"
            )
        sparse = [n for n in self.hysteresis.networks if self.network(n).start_density is not None]
        if sparse:
            raise ConfigError(
                f"hysteresis.networks {sparse} start sparse (start_density); sweep dense-trained networks only"
            )
        if self.hysteresis.networks and len(self.hysteresis_grid()) < 2:
            raise ConfigError(
                "the hysteresis sweep needs at least 2 densities; lower hysteresis.every"
            )
        return self

    # --- description -------------------------------------------------------------------------
    def dataset(self):
        """The study's data set (cached per process)."""
        return _load(json.dumps(self.data.model_dump(mode="json"), sort_keys=True))

    def use_shape(self, n_features: int, n_classes: int) -> None:
        """Use this data shape instead of loading the data set (analysis of stored runs)."""
        self._io = (int(n_features), int(n_classes))

    def sizes(self, net: NetworkSpec) -> list[int]:
        """Units per layer of a network: the data's features, the hidden widths, its classes."""
        if self._io is None:
            data = self.dataset()
            self._io = (data.n_features, data.n_classes)
        return [self._io[0], *net.hidden, self._io[1]]

    def network(self, name: str) -> NetworkSpec:
        """The network spec called ``name``."""
        return next(n for n in self.networks if n.name == name)

    def grid(self) -> np.ndarray:
        """The density grid, float64 (n,), strictly decreasing, in (0, 1]."""
        return self.prune.grid.values()

    def hysteresis_grid(self) -> np.ndarray:
        """Densities of the hysteresis sweep: every ``hysteresis.every``-th grid density."""
        return self.grid()[:: self.hysteresis.every]

    def spectral_at(self) -> list[int]:
        """Budgets at which the spectra are measured (default: 0 and the largest budget)."""
        return self.spectral.at if self.spectral.at is not None else [0, self.retrain.b_max]

    def check(self) -> None:
        """Fail before any work on what the data's shape reveals (k above a layer's rank, an
        empty layer at the first density, no link at the last one)."""
        grid = self.grid()
        for net in self.networks:
            sizes = self.sizes(net)
            for k in range(len(sizes) - 1):
                if self.spectral.k > min(sizes[k], sizes[k + 1]):
                    raise ConfigError(
                        f"spectral.k={self.spectral.k} exceeds the rank {min(sizes[k], sizes[k + 1])} of "
                        f"layer{k} ({sizes[k]}x{sizes[k + 1]}) of network {net.name!r}; lower spectral.k"
                    )
            check_first_density(sizes, float(net.start_density or grid[0]))
            if net.start_density is not None and not (grid < net.start_density).any():
                raise ConfigError(
                    f"network {net.name!r} starts at density {net.start_density:g}; the grid has no density below it"
                )
            total = sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
            if round(float(grid[-1]) * total) < 1:
                raise ConfigError(
                    f"the last density {grid[-1]:g} leaves network {net.name!r} without links; stop at >= {0.5 / total:.3g}"
                )

    def pretrain_config(self, seed: int) -> TrainConfig:
        """The pretraining :class:`TrainConfig` of one seed."""
        return self.train.model_copy(update={"seed": int(seed)})

    def _train_content(self, seed: int) -> dict[str, Any]:
        return self.pretrain_config(seed).model_dump(
            mode="json", exclude={"device", "eval_batch_size"}
        )

    def pretrain_item(self, net: NetworkSpec, seed: int) -> Item:
        """The item that pretrains ``net`` with ``seed`` (its run id names the trained network)."""
        content = {
            "kind": "sufficiency/pretrain",
            "data": self.data.model_dump(mode="json"),
            "sizes": self.sizes(net),
            "activation": net.activation,
            "seed": int(seed),
            "train": self._train_content(seed),
            "rewind_epoch": self.retrain.rewind_epoch,
            "n_eval": self.retrain.n_eval,
        }
        if net.start_density is not None:  # only then, so dense networks keep their run ids
            content.update(
                start_density=net.start_density, dst=dst_config(net.dst).model_dump(mode="json")
            )
        return Item.of(
            f"{self.name}/{net.name}/s{seed}/pretrain",
            content,
            network=net.name,
            seed=int(seed),
            what="pretrain",
        )

    def _spectral_content(self) -> dict[str, Any]:
        return {
            "k": self.spectral.k,
            "null_draws": self.spectral.null_draws,
            "at": self.spectral_at(),
        }

    def retrain_items(self) -> list[Item]:
        """One item per (arm network, seed, mask, protocol, density), duplicates across arms merged."""
        out: dict[str, Item] = {}
        for arm in self.arms:
            for net in [self.network(n) for n in arm.networks] if arm.networks else self.networks:
                for seed in self.seeds:
                    pre = self.pretrain_item(net, seed).run_id
                    for mask in arm.masks:
                        for protocol in arm.protocols:
                            for d in self.grid()[self.grid() < (net.start_density or 2.0)]:
                                content = {
                                    "kind": "sufficiency/retrain",
                                    "pretrain": pre,
                                    "criterion": arm.criterion,
                                    "options": arm.options,
                                    "scope": self.prune.scope,
                                    "rounds": self.prune.rounds,
                                    "mask": mask,
                                    "protocol": protocol,
                                    "density": float(d),
                                    "budgets": self.retrain.budgets,
                                    "n_eval": self.retrain.n_eval,
                                    "spectral": self._spectral_content(),
                                }
                                if protocol == "dst":
                                    content["dst"] = self.retrain.dst_config().model_dump(
                                        mode="json"
                                    )
                                name = f"{self.name}/{net.name}/s{seed}/{arm.criterion}/{mask}/{protocol}/d{d:.4g}"
                                it = Item.of(
                                    name, content, network=net.name, seed=int(seed), what="retrain"
                                )
                                out.setdefault(it.run_id, it)
        return list(out.values())

    def equivalent_map(self) -> list[tuple[str, int, float, Item]]:
        """``(network, seed, density, item)`` of every dense same-weight control (items may repeat)."""
        out = []
        for net in [self.network(n) for n in self.equivalent.networks]:
            sizes = self.sizes(net)
            possible = sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
            for seed in self.seeds:
                for d in self.grid():
                    eq = equivalent_sizes(sizes, float(d) * possible)
                    if eq is None:
                        continue
                    content = {
                        "kind": "sufficiency/equivalent",
                        "data": self.data.model_dump(mode="json"),
                        "sizes": eq,
                        "activation": net.activation,
                        "seed": int(seed),
                        "train": self._train_content(seed),
                        "budgets": self.retrain.budgets,
                        "n_eval": self.retrain.n_eval,
                    }
                    name = f"{self.name}/equivalent/{'-'.join(map(str, eq))}/s{seed}"
                    out.append(
                        (net.name, int(seed), float(d), Item.of(name, content, what="equivalent"))
                    )
        return out

    def equivalent_items(self) -> list[Item]:
        """The distinct dense same-weights controls."""
        return list({it.run_id: it for *_, it in self.equivalent_map()}.values())

    def down_item(self, net: NetworkSpec, seed: int) -> Item:
        """The hysteresis down sweep of ``net`` and ``seed``."""
        h = self.hysteresis
        content = {
            "kind": "sufficiency/down",
            "pretrain": self.pretrain_item(net, seed).run_id,
            "densities": [float(d) for d in self.hysteresis_grid()],
            "criterion": "magnitude",
            "scope": self.prune.scope,
            "rounds": self.prune.rounds,
            "step_epochs": h.step_epochs,
            "protocol": h.protocol,
            "n_eval": self.retrain.n_eval,
            "spectral": self._spectral_content(),
        }
        return Item.of(
            f"{self.name}/{net.name}/s{seed}/down",
            content,
            network=net.name,
            seed=int(seed),
            what="down",
        )

    def up_item(self, net: NetworkSpec, seed: int, rule: str) -> Item:
        """The up sweep with regrowth ``rule`` from the bottom of :meth:`down_item`."""
        down = self.down_item(net, seed)
        content = {
            "kind": "sufficiency/up",
            "down": down.run_id,
            "rule": rule,
            "init": self.hysteresis.init,
        }
        return Item.of(
            f"{self.name}/{net.name}/s{seed}/up/{rule}",
            content,
            network=net.name,
            seed=int(seed),
            what="up",
        )

    def plan(self, store: Store) -> Iterator[list[Item]]:
        """Stages: pretraining; retraining, dense controls and down sweeps; up sweeps."""
        yield [self.pretrain_item(net, s) for net in self.networks for s in self.seeds]
        downs = [
            self.down_item(self.network(n), s) for n in self.hysteresis.networks for s in self.seeds
        ]
        yield self.retrain_items() + self.equivalent_items() + downs
        ups = [
            self.up_item(self.network(n), s, r)
            for n in self.hysteresis.networks
            for s in self.seeds
            for r in self.hysteresis.rules
        ]
        if ups:
            yield ups

    # --- running -----------------------------------------------------------------------------
    def run_item(self, item: Item, store: Store, emit: Emit) -> dict[str, Any]:
        """Run, resume or skip one item through the run lifecycle; returns its result."""
        run = RunLifecycle(store, item.run_id, item.name, item.content)
        what = item.params.get("what", "")
        if run.claim() != "claimed":
            return item_result(item, run.outcome(), what=what)
        emit({"run_id": item.run_id, "name": item.name, "event": "start", "done": 0, "total": 1})
        align_numba_threads()
        try:
            kind = item.content["kind"].partition("/")[2]
            summary = getattr(items, f"run_{kind}")(self, item, store, run)
        except Diverged as err:
            run.finish("diverged", str(err))
            return item_result(item, "diverged", str(err), what=what)
        except BaseException as err:
            run.abort(err)
            raise
        run.finish("finished")
        return item_result(item, "finished", what=what, **summary)

    # --- analysis ----------------------------------------------------------------------------
    def raw_tables(self, store: Store) -> dict[str, pd.DataFrame]:
        """The stored rows of every planned item as long tables (:func:`collect`)."""
        from prunelab.studies.sufficiency_store import collect

        return collect(self, store)

    def analyse(self, store: Store) -> dict[str, Any]:
        """Every table of :func:`prunelab.sufficiency.tables.analyse` from the stored rows."""
        a = self.analysis
        return tables.analyse(
            self.raw_tables(store),
            eps=a.eps,
            kappa=a.kappa,
            eps_up=a.eps_up,
            n_boot=a.n_boot,
            confidence=a.confidence,
            budgets=self.retrain.budgets,
        )

    def report(
        self, store: Store, out_dir: Path | None = None, single_file: bool = False
    ) -> Path | None:
        """``index.html`` with figures, CSV tables and ``summary.md`` in ``out_dir`` (default
        ``<runs>/reports/<name>/``)."""
        from prunelab.report.sufficiency import sufficiency_report

        out = Path(out_dir) if out_dir else self.default_report_dir(store)
        return sufficiency_report(self, store, self.analyse(store), out, single_file)

    def after_run(self, store: Store, outcome: Any, console: Any) -> None:
        """Write the report once the command line has run the study."""
        console.print(f"report: {self.report(store)}")

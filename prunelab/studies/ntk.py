"""The ``ntk`` study kind: does the NTK spectrum of a PaI network predict how fast it trains?

The network is a bias-free ReLU MLP ``d → width × hidden → classes`` with every layer sparse
(the Graphon NTK's setting, Pham et al. 2025, arXiv:2510.17515), pruned at initialisation by
each method at each sparsity. Two kinds of items:

- *spectrum* (one per method and sparsity, seed ``ntk_seed``, plus the dense network): the
  empirical NTK of logit ``output`` on ``samples`` training inputs (NTK parametrisation,
  :func:`~prunelab.graphon.empirical_ntk`), the Graphon NTK of the mask's chained block
  graphons (:func:`~prunelab.graphon.chain_graphons`, :func:`~prunelab.graphon.graphon_ntk`),
  and :func:`~prunelab.graphon.spectral_metrics` of both; eigenvalues stored as a table;
- *train* (one per method, sparsity and seed): ``train.steps`` Adam steps from the PaI mask,
  the training loss of every step stored as a table.

The analysis reads only the store: NTK metrics against sparsity, loss curves, and their relation.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator

from prunelab.experiments.config import DataConfig
from prunelab.experiments.executors import Emit
from prunelab.experiments.lifecycle import RunLifecycle
from prunelab.experiments.store import Store
from prunelab.graphon import chain_graphons, empirical_ntk, graphon_ntk, spectral_metrics
from prunelab.nn.backends import BACKENDS
from prunelab.pai import PAI_METHODS, apply_masks, prune
from prunelab.studies._pai import PaIOptions, load_data, scoring_data
from prunelab.studies.base import Item, Study, item_result
from prunelab.training import Hook, TrainConfig, TrainContext, Trainer
from prunelab.training.optim import OPTIMIZERS

METRICS = ("alpha", "effective_rank", "gap", "top5_energy")


class NTKTraining(BaseModel):
    """The early-training runs: ``steps`` optimizer steps at batch ``batch_size`` per seed."""

    model_config = ConfigDict(extra="forbid")

    steps: int = Field(200, ge=1)
    lr: float = Field(1e-3, gt=0)
    batch_size: int = Field(128, ge=1)
    optimizer: OPTIMIZERS.field() = "adam"  # type: ignore[valid-type]
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2])


class StepLosses(Hook):
    """Records the training loss (nats per sample) after every optimizer step."""

    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_step_end(self, ctx: TrainContext) -> None:
        self.losses.append(float(ctx.loss))


class NTKStudy(Study):
    """NTK spectra and early training of PaI networks (see the module docstring).

    Attributes
    ----------
    data : DataConfig
    methods : list of str
    sparsities : list of float
        Fractions of weights removed, in (0, 1).
    width, hidden : int
        Units per hidden layer and hidden layers.
    samples : int
        Training inputs of the NTK Gram (the first of a seeded shuffle).
    k : int
        Blocks per hidden layer of the chained graphons.
    output : int
        The logit whose NTK is computed.
    ntk_seed : int
        Seed of the spectrum items' networks and scoring data.
    backend : {"masked", "csr"}
        Sparse backend of the trained networks.
    pai : PaIOptions
    train : NTKTraining
    """

    kind: Literal["ntk"] = "ntk"
    name: str = "ntk"
    data: DataConfig = Field(default_factory=DataConfig)
    methods: list[PAI_METHODS.field()] = Field(
        default_factory=lambda: ["random", "snip", "synflow"]
    )  # type: ignore[valid-type]
    sparsities: list[float] = Field(default_factory=lambda: [0.5, 0.7, 0.8, 0.9, 0.95])
    width: int = Field(1024, ge=1)
    hidden: int = Field(4, ge=1)
    samples: int = Field(1024, ge=2)
    k: int = Field(64, ge=1)
    output: int = Field(0, ge=0)
    ntk_seed: int = 0
    backend: BACKENDS.field() = "masked"  # type: ignore[valid-type]
    pai: PaIOptions = Field(default_factory=PaIOptions)
    train: NTKTraining = Field(default_factory=NTKTraining)

    summary_columns: ClassVar[tuple[tuple[str, str], ...]] = (("info", "result"),)

    @field_validator("sparsities")
    @classmethod
    def _sparsities(cls, v: list[float]) -> list[float]:
        if not v or any(not 0.0 < s < 1.0 for s in v):
            raise ValueError(f"sparsities must be fractions in (0, 1), e.g. [0.5, 0.9], got {v}")
        return sorted(set(v))

    # --- the networks ------------------------------------------------------------------------
    def network(self, data: Any, method: str, sparsity: float, seed: int) -> torch.nn.Module:
        """The bias-free MLP of ``seed``, pruned by ``method`` to ``1 − sparsity`` (unpruned at sparsity 0)."""
        from prunelab.nn import SparseMLP

        sizes = [data.n_features] + [self.width] * self.hidden + [data.n_classes]
        model = SparseMLP(
            sizes,
            density=1.0,
            seed=int(seed),
            backend=self.backend,
            sparse_readout=True,
            bias=False,
        )
        if sparsity > 0:
            masks = prune(
                model,
                method,
                1.0 - sparsity,
                scoring_data(data, seed, self.pai),
                self.pai.rounds,
                self.pai.schedule,
                self.pai.scope,
                seed=int(seed),
            )
            apply_masks(model, masks)
        return model

    def ntk_inputs(self, data: Any) -> np.ndarray:
        """The ``samples`` training inputs of every NTK Gram, float32 (samples, features)."""
        idx = np.random.default_rng([self.ntk_seed, 1024]).permutation(len(data.y_train))[
            : self.samples
        ]
        return np.asarray(data.x_train[np.sort(idx)], dtype=np.float32)

    # --- plan and items ----------------------------------------------------------------------
    def _base(self) -> dict[str, Any]:
        return {
            "data": self.data.model_dump(mode="json"),
            "width": self.width,
            "hidden": self.hidden,
            "backend": self.backend,
            "pai": self.pai.model_dump(mode="json"),
        }

    def spectrum_content(self, method: str, sparsity: float) -> dict[str, Any]:
        """Content of a spectrum item (sparsity 0: the dense network, method ignored)."""
        return {
            "study": "ntk-spectrum",
            **self._base(),
            "method": "dense" if sparsity == 0 else method,
            "sparsity": sparsity,
            "samples": self.samples,
            "k": self.k,
            "output": self.output,
            "seed": self.ntk_seed,
        }

    def train_content(self, method: str, sparsity: float, seed: int) -> dict[str, Any]:
        """Content of a training item."""
        return {
            "study": "ntk-train",
            **self._base(),
            "method": method,
            "sparsity": sparsity,
            "seed": int(seed),
            "train": self.train.model_dump(mode="json"),
        }

    def plan(self, store: Store) -> Iterator[list[Item]]:
        # the dense network first: every pruned spectrum is compared with its kernels
        yield [
            Item.of(
                f"{self.name}/spectrum/dense",
                self.spectrum_content("random", 0.0),
                what="spectrum",
                method="dense",
                sparsity=0.0,
            )
        ]
        items = [
            Item.of(
                f"{self.name}/spectrum/{m},sparsity={s:g}",
                self.spectrum_content(m, s),
                what="spectrum",
                method=m,
                sparsity=s,
            )
            for s in self.sparsities
            for m in self.methods
        ]
        items += [
            Item.of(
                f"{self.name}/train/{m},sparsity={s:g},seed={seed}",
                self.train_content(m, s, seed),
                what="train",
                method=m,
                sparsity=s,
                seed=seed,
            )
            for seed in self.train.seeds
            for s in self.sparsities
            for m in self.methods
        ]
        yield items

    def run_item(self, item: Item, store: Store, emit: Emit) -> dict[str, Any]:
        run = RunLifecycle(store, item.run_id, item.name, item.content)
        if run.claim() != "claimed":
            return item_result(item, run.outcome())
        emit({"run_id": item.run_id, "name": item.name, "event": "start", "done": 0, "total": 1})
        try:
            data = load_data(self.data)
            p = item.params
            info = (
                self._spectrum(item, store, data)
                if p["what"] == "spectrum"
                else self._train(item, store, data)
            )
        except BaseException as err:
            run.abort(err)
            raise
        run.finish("finished")
        return item_result(item, "finished", info=info)

    def _spectrum(self, item: Item, store: Store, data: Any) -> str:
        p = item.params
        model = self.network(data, p["method"], p["sparsity"], self.ntk_seed)
        x = self.ntk_inputs(data)
        masks = [layer.mask().numpy() for _, layer in model.named_sparse_layers()]
        emp = empirical_ntk(model, x, output=self.output, parametrization="ntk")
        gntk = graphon_ntk(x, chain_graphons(masks, self.k))
        metrics: dict[str, float] = {
            f"density/layer{k}": float(m.mean()) for k, m in enumerate(masks)
        }
        spectra = {}
        for name, theta in (("emp", emp), ("gntk", gntk)):
            sm = spectral_metrics(theta)
            spectra[name] = sm["eigenvalues"]
            metrics.update(
                {
                    f"{name}/{key}": float(sm[key])
                    for key in (*METRICS, "alpha_k_min", "alpha_k_max")
                }
            )
            metrics[f"{name}/trace"] = float(np.trace(theta))
        if p["sparsity"] > 0:
            metrics.update(self._against_dense(store, {"emp": emp, "gntk": gntk}))
        store.log_metrics(item.run_id, 0, metrics)
        store.save_table(
            item.run_id, "spectrum", pd.DataFrame({"k": np.arange(1, len(x) + 1), **spectra})
        )
        if p["sparsity"] == 0:  # the dense kernels, for the c^(L+1) comparison of the pruned ones
            path = store.run_dir(item.run_id) / "kernels.npz"
            np.savez_compressed(path, emp=emp, gntk=gntk)
            store.add_artefact(item.run_id, "kernels", path, "ntk")
        return f"top-5 energy {metrics['emp/top5_energy']:.3f}"

    def _train(self, item: Item, store: Store, data: Any) -> str:
        p = item.params
        torch.manual_seed(int(p["seed"]))
        model = self.network(data, p["method"], p["sparsity"], p["seed"])
        t = self.train
        cfg = TrainConfig(
            epochs=1,
            batch_size=t.batch_size,
            lr=t.lr,
            optimizer=t.optimizer,
            seed=int(p["seed"]),
            train_subset=min(t.steps * t.batch_size, len(data.y_train)),
        )
        losses = StepLosses()
        result = Trainer(model, data, cfg, hooks=[losses]).fit()
        steps = np.arange(1, len(losses.losses) + 1)
        store.save_table(item.run_id, "loss", pd.DataFrame({"step": steps, "loss": losses.losses}))
        curve = np.asarray(losses.losses)
        final = result.history[-1] if result.history else {}
        store.log_metrics(
            item.run_id,
            1,
            {
                "mean_loss": float(curve.mean()),
                "final_loss": float(curve[-10:].mean()),
                "test_accuracy": float(final.get("test_accuracy", np.nan)),
                **{f"density/{k}": v for k, v in final.items() if k.startswith("density/")},
            },
        )
        return f"mean loss {curve.mean():.3f}"

    # --- analysis ----------------------------------------------------------------------------
    def analyse(self, store: Store) -> dict[str, Any]:
        """Tables from the store.

        Returns
        -------
        dict
            ``spectra`` one row per spectrum item: method, sparsity, the empirical (``emp/``) and
            Graphon-NTK (``gntk/``) metrics, densities; ``eigenvalues`` long table method,
            sparsity, k, emp, gntk; ``loss`` long table method, sparsity, seed, step, loss;
            ``training`` one row per (method, sparsity): mean over seeds of the mean loss over the
            steps, the final loss and test accuracy, with standard deviations. ``spectra`` has each
            kernel's least-squares ratio to the dense network's (``*/ratio_dense``, residual
            ``*/residual_dense``) and ``density_product`` Π_l c_l, what a constant graphon predicts.
        """
        spec_rows, eig_parts, loss_parts, train_rows = [], [], [], []
        keys = [("dense", 0.0)] + [(m, s) for s in self.sparsities for m in self.methods]
        for m, s in keys:
            it = Item.of("", self.spectrum_content(m, s))
            if (store.get_run(it.run_id) or {}).get("status") != "finished":
                continue
            met = store.metrics([it.run_id], wide=True)
            spec_rows.append(
                {
                    "method": "dense" if s == 0 else m,
                    "sparsity": s,
                    **{c: float(met[c].iloc[0]) for c in met.columns if "/" in c},
                }
            )
            eig = store.load_table(it.run_id, "spectrum")
            if eig is not None:
                eig_parts.append(eig.assign(method="dense" if s == 0 else m, sparsity=s))
        for m in self.methods:
            for s in self.sparsities:
                per_seed = []
                for seed in self.train.seeds:
                    it = Item.of("", self.train_content(m, s, seed))
                    if (store.get_run(it.run_id) or {}).get("status") != "finished":
                        continue
                    curve = store.load_table(it.run_id, "loss")
                    loss_parts.append(curve.assign(method=m, sparsity=s, seed=seed))
                    met = store.metrics([it.run_id], wide=True)
                    per_seed.append(
                        {
                            c: float(met[c].iloc[0])
                            for c in ("mean_loss", "final_loss", "test_accuracy")
                        }
                    )
                if per_seed:
                    df = pd.DataFrame(per_seed)
                    train_rows.append(
                        {
                            "method": m,
                            "sparsity": s,
                            "seeds": len(df),
                            **{f"{c}": float(df[c].mean()) for c in df.columns},
                            **{
                                f"{c}_std": float(df[c].std(ddof=1)) if len(df) > 1 else np.nan
                                for c in df.columns
                            },
                        }
                    )
        spectra = pd.DataFrame(spec_rows)
        if len(spectra):
            dens = spectra[[c for c in spectra.columns if c.startswith("density/")]]
            # a constant graphon c_l on every layer scales the masked Graphon NTK by the product of the c_l
            spectra["density_product"] = dens.prod(axis=1)
        return {
            "spectra": spectra,
            "eigenvalues": pd.concat(eig_parts, ignore_index=True) if eig_parts else pd.DataFrame(),
            "loss": pd.concat(loss_parts, ignore_index=True) if loss_parts else pd.DataFrame(),
            "training": pd.DataFrame(train_rows),
        }

    def _against_dense(self, store: Store, kernels: dict[str, np.ndarray]) -> dict[str, float]:
        """Least-squares ratio of each kernel to the dense network's and the relative residual."""
        path = (
            store.run_dir(Item.of("", self.spectrum_content("random", 0.0)).run_id) / "kernels.npz"
        )
        if not path.exists():
            return {}
        out = {}
        with np.load(path) as ref:
            for name, theta in kernels.items():
                d = ref[name]
                ratio = float(np.sum(theta * d) / np.sum(d * d))
                out[f"{name}/ratio_dense"] = ratio
                out[f"{name}/residual_dense"] = float(
                    np.linalg.norm(theta - ratio * d) / np.linalg.norm(theta)
                )
        return out

    def report(self, store: Store, out_dir: Path | None = None) -> Path | None:
        """Tables (CSV) and figures in ``out_dir`` (default ``<runs>/reports/<name>``)."""
        from prunelab.report.graphon import write_ntk_report

        return write_ntk_report(
            self, self.analyse(store), Path(out_dir or self.default_report_dir(store))
        )

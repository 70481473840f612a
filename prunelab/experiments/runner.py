"""Run experiments: build data, model and hooks from a config, train, store, resume."""

from __future__ import annotations

import platform
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from prunelab import __version__
from prunelab.errors import PrunelabError
from prunelab.experiments.config import ExperimentConfig, ModelConfig, parse_config
from prunelab.experiments.store import Store
from prunelab.nn import SparseMLP
from prunelab.training import Hook, Trainer

CHECKPOINT = "checkpoint.pt"


def package_versions() -> dict[str, str]:
    """Versions of Python and the packages that determine a run's numbers."""
    import numba
    import scipy

    return {
        "prunelab": __version__, "python": platform.python_version(), "torch": torch.__version__,
        "numpy": np.__version__, "scipy": scipy.__version__, "numba": numba.__version__,
        "platform": platform.platform(),
    }


def git_revision() -> str | None:
    """Commit hash of the prunelab source tree (with ``+dirty`` when modified), or None."""
    src = Path(__file__).resolve().parents[2]
    try:
        rev = subprocess.run(["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(src), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return rev.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def build_data(cfg: ExperimentConfig):
    """Load the data set named by ``cfg.data`` (see :func:`prunelab.data.load_dataset`)."""
    from prunelab.data import load_dataset

    return load_dataset(cfg.data.name, data_dir=cfg.data.data_dir, download=cfg.data.download, **cfg.data.options)


def build_model(model_cfg: ModelConfig, seed: int, n_features: int | None = None, n_classes: int | None = None) -> SparseMLP:
    """A :class:`SparseMLP` from a model config; checks sizes against the data when given."""
    sizes = model_cfg.sizes
    if n_features is not None and sizes[0] != n_features:
        raise PrunelabError(f"model.sizes starts with {sizes[0]} inputs but the data have {n_features} features; set model.sizes[0]={n_features}")
    if n_classes is not None and sizes[-1] != n_classes:
        raise PrunelabError(f"model.sizes ends with {sizes[-1]} outputs but the data have {n_classes} classes; set the last size to {n_classes}")
    return SparseMLP(
        sizes, density=model_cfg.density, seed=seed,
        backend=None if model_cfg.backend == "auto" else model_cfg.backend,
        sparse_readout=model_cfg.sparse_readout, activation=model_cfg.activation, init=model_cfg.init,
        topology=model_cfg.topology, epsilon=model_cfg.epsilon, bias=model_cfg.bias,
    )


def build_hooks(cfg: ExperimentConfig) -> list[Hook]:
    """Hooks implied by the config (dynamic sparse training when ``dst`` is set)."""
    hooks: list[Hook] = []
    if cfg.dst is not None:
        from prunelab.dst import DSTHook

        hooks.append(DSTHook(cfg.dst))
    return hooks


def save_topology(model: torch.nn.Module, folder: Path) -> dict[str, Path]:
    """Write each sparse layer's links (rows, cols, values) to ``folder/<layer>.npz``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name, layer in model.named_sparse_layers():
        rows, cols = layer.link_index()
        path = folder / f"{name}.npz"
        tmp = folder / f".{name}.tmp.npz"
        np.savez_compressed(tmp, rows=rows.numpy(), cols=cols.numpy(), values=layer.link_values().numpy(),
                            shape=np.array([layer.n_in, layer.n_out]))
        tmp.replace(path)
        paths[name] = path
    return paths


def load_run_model(store: Store, run_id: str) -> SparseMLP:
    """The trained model of a stored run, rebuilt from its config and last checkpoint."""
    row = store.get_run(run_id)
    if row is None:
        raise PrunelabError(f"no run {run_id!r} in {str(store.root)!r}; list runs with `prunelab ls`")
    cfg = parse_config(row["config"])
    ckpt = store.root / run_id / CHECKPOINT
    if not ckpt.exists():
        raise PrunelabError(f"run {run_id} has no checkpoint yet; run it first with `prunelab run`")
    model = build_model(cfg.model, cfg.train.seed)
    model.load_state_dict(torch.load(ckpt, weights_only=False)["model"])
    model.eval()
    return model


class StoredRun:
    """A run in a store, as accepted by analysis functions that take ``model_or_run``."""

    def __init__(self, store: Store, run_id: str) -> None:
        self.store, self.run_id = store, run_id

    def load_model(self) -> SparseMLP:
        return load_run_model(self.store, self.run_id)


def run_experiment(
    cfg: ExperimentConfig,
    store: Store,
    on_epoch: Callable[[str, int, dict[str, float]], None] | None = None,
    on_step: Callable[[int, int, int], None] | None = None,
) -> dict[str, Any]:
    """Run (or resume, or skip if finished) one experiment.

    Returns
    -------
    dict
        ``run_id``, ``name``, ``status`` (finished, diverged, interrupted, failed, skipped),
        ``message``, ``epochs`` completed, final ``test_accuracy`` (fraction) if any.
    """
    if cfg.sweep is not None:
        raise PrunelabError("run_experiment takes a single run; expand sweeps with expand_sweep")
    run_id = cfg.run_id()
    store.register_run(run_id, cfg.name, cfg.run_config())
    row = store.get_run(run_id)
    if row and row["status"] == "finished":
        return {"run_id": run_id, "name": cfg.name, "status": "skipped", "message": "already finished",
                "epochs": cfg.train.epochs, "test_accuracy": _last(store, run_id, "test_accuracy")}
    folder = store.run_dir(run_id)
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg.run_config(), sort_keys=False))
    torch.manual_seed(cfg.train.seed)
    data = build_data(cfg)
    model = build_model(cfg.model, cfg.train.seed, data.n_features, data.n_classes)
    trainer = Trainer(
        model, data, cfg.train, hooks=build_hooks(cfg), checkpoint_path=folder / CHECKPOINT,
        on_epoch=lambda epoch, m: (store.log_metrics(run_id, epoch, m), on_epoch and on_epoch(run_id, epoch, m)),
        on_step=on_step,
    )
    resumed = trainer.resume_if_possible()
    store.drop_metrics_after(run_id, trainer.epoch)
    started = time.time()
    store.set_status(run_id, "running", f"resumed at epoch {trainer.epoch}" if resumed else "",
                     started=started, versions=package_versions(), git_revision=git_revision())
    try:
        result = trainer.fit()
    except PrunelabError as err:
        store.set_status(run_id, "failed", str(err))
        raise
    except Exception as err:
        store.set_status(run_id, "failed", f"{type(err).__name__}: {err}")
        raise
    finished = time.time()
    prior = row["seconds"] if row and row.get("seconds") else 0.0
    store.set_status(run_id, result.status, result.message, finished=finished, seconds=prior + finished - started)
    if result.status == "finished":
        for name, path in save_topology(trainer.model, folder / "topology").items():
            store.add_artefact(run_id, f"topology/{name}", path, "links", trainer.epoch)
        store.add_artefact(run_id, "checkpoint", folder / CHECKPOINT, "checkpoint", trainer.epoch)
    return {"run_id": run_id, "name": cfg.name, "status": result.status, "message": result.message,
            "epochs": trainer.epoch, "test_accuracy": _last(store, run_id, "test_accuracy")}


def _last(store: Store, run_id: str, name: str) -> float | None:
    df = store.metrics([run_id])
    df = df[df.name == name]
    return float(df.sort_values("epoch").value.iloc[-1]) if len(df) else None


def run_worker(args: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    """Process-pool entry point: ``(runs_dir, raw single-run config)`` -> run summary."""
    runs_dir, raw = args
    cfg = parse_config(raw)
    try:
        return run_experiment(cfg, Store(runs_dir))
    except PrunelabError as err:
        return {"run_id": cfg.run_id(), "name": cfg.name, "status": "failed", "message": str(err),
                "epochs": 0, "test_accuracy": None}

"""Run one training experiment against the store: build data, model and hooks, train, resume.

:func:`run_experiment` is the item of the ``train`` study kind (a run or a sweep); it goes
through the one run lifecycle (:class:`~prunelab.experiments.lifecycle.RunLifecycle`), so a
finished run is skipped, an unfinished one resumes from its last checkpoint and a run that
another live process holds is left alone.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from prunelab.core.faults import fault_point
from prunelab.core.files import atomic_write
from prunelab.core.registry import Registry
from prunelab.errors import DamagedFileError, PrunelabError, StoreError
from prunelab.experiments.config import ExperimentConfig, ModelConfig, parse_config
from prunelab.experiments.lifecycle import RunLifecycle
from prunelab.experiments.store import Store
from prunelab.nn import sparse_layers
from prunelab.nn.families import build_model
from prunelab.training import Hook, Trainer
from prunelab.training.checkpoints import safe_load

CHECKPOINT = "checkpoint.pt"

HookFactory = Callable[[Any, ExperimentConfig], list[Hook]]

#: config sections that add training hooks: section name -> ``factory(section, cfg) -> hooks``
HOOK_SECTIONS: Registry[HookFactory] = Registry("config section with training hooks")


def _pai_hooks(section: ModelConfig, cfg: ExperimentConfig) -> list[Hook]:
    from prunelab.pai import PaIHook, PaITopology

    return [PaIHook(section.topology)] if isinstance(section.topology, PaITopology) else []


def _dst_hooks(section: Any, cfg: ExperimentConfig) -> list[Hook]:
    from prunelab.dst import DSTHook

    return [DSTHook(section)]


def _observe_hooks(section: Any, cfg: ExperimentConfig) -> list[Hook]:
    from prunelab.phase.observables import ObserveHook

    return [ObserveHook(section)]


def _prune_hooks(section: Any, cfg: ExperimentConfig) -> list[Hook]:
    from prunelab.pruning.hook import PruneHook

    return [PruneHook(section)]


def _game_hooks(section: Any, cfg: ExperimentConfig) -> list[Hook]:
    from prunelab.game.hook import GameHook

    return [GameHook(section)]


# the PaI hook first: its topology is the one dynamic sparse training starts from
HOOK_SECTIONS.register(
    "model", _pai_hooks, help="model.topology: {pai: ...} prunes at the start of training"
)
HOOK_SECTIONS.register("dst", _dst_hooks, help="dynamic sparse training (topology updates)")
HOOK_SECTIONS.register(
    "observe", _observe_hooks, help="observables measured after every epoch (obs/<key>)"
)
HOOK_SECTIONS.register(
    "prune", _prune_hooks, help="one-shot pruning then fine-tuning (magnitude-pruned controls)"
)
HOOK_SECTIONS.register(
    "game",
    _game_hooks,
    help="pruning as a game: participation gates updated every step (game/<key>)",
)


def build_data(cfg: ExperimentConfig):
    """Load the data set named by ``cfg.data`` (see :func:`prunelab.data.load_dataset`)."""
    from prunelab.data import load_dataset

    return load_dataset(
        cfg.data.name, data_dir=cfg.data.data_dir, download=cfg.data.download, **cfg.data.options
    )


def model_of(model_cfg: ModelConfig, seed: int, data=None, device: str = "cpu") -> torch.nn.Module:
    """The ``mlp`` family model of a training config's ``model:`` section (sizes checked against ``data``).

    With a PaI topology the sparse layers are built complete; :class:`prunelab.pai.PaIHook` prunes them.
    """
    params = model_cfg.model_dump()
    if isinstance(params["topology"], dict):
        params.update(topology="er", density=1.0)
    return build_model("mlp", seed, data, device=device, **params)


def model_for(cfg: ExperimentConfig, data=None, device: str | None = None) -> torch.nn.Module:
    """The (untrained) model of a run config: its ``model:`` section, or the ``imported`` family's
    empty architecture of an imported run (its weights come from the checkpoint)."""
    device = device or cfg.train.device
    if cfg.imported is not None:
        return build_model(
            "imported", cfg.train.seed, data, device=device, **cfg.imported.architecture()
        )
    return model_of(cfg.model, cfg.train.seed, data, device=device)


def build_hooks(cfg: ExperimentConfig) -> list[Hook]:
    """Hooks implied by the config: one factory per set section of :data:`HOOK_SECTIONS`."""
    hooks: list[Hook] = []
    for section in HOOK_SECTIONS.names():
        value = getattr(cfg, section, None)
        if value is not None:
            hooks.extend(HOOK_SECTIONS.get(section)(value, cfg))
    return hooks


def save_topology(model: torch.nn.Module, folder: Path) -> dict[str, Path]:
    """Write each sparse layer's links (rows, cols, values) to ``folder/<layer>.npz``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name, layer in sparse_layers(model):
        links = layer.links()
        path = folder / f"{name}.npz"
        with atomic_write(path, fault="topology") as fh:
            np.savez_compressed(
                fh,
                rows=links.rows,
                cols=links.cols,
                values=layer.link_values().detach().numpy(),
                shape=np.array(links.shape),
            )
        paths[name] = path
    return paths


def load_run_model(store: Store, run_id: str) -> torch.nn.Module:
    """The trained model of a stored run, rebuilt from its config and last checkpoint.

    The checkpoint is loaded with ``weights_only=True``: a file that needs arbitrary unpickling
    is refused (:class:`~prunelab.errors.UnsafeFileError`), a damaged one gives a one-line
    :class:`~prunelab.errors.DamagedFileError`.
    """
    row = store.get_run(run_id)
    if row is None:
        raise StoreError(f"no run {run_id!r} in {str(store.root)!r}; list runs with `prunelab ls`")
    cfg = parse_config(row["config"])
    ckpt = store.root / run_id / CHECKPOINT
    if not ckpt.exists():
        raise PrunelabError(f"run {run_id} has no checkpoint yet; run it first with `prunelab run`")
    model = model_for(cfg)
    state = safe_load(ckpt)
    try:
        model.load_state_dict(state["model"])
    except Exception as err:  # noqa: BLE001 - a checkpoint of another network, or a damaged one
        raise DamagedFileError(
            f"checkpoint {ckpt} does not hold the network of run {run_id} "
            f"({type(err).__name__}); rerun the run in a fresh --runs-dir"
        ) from None
    model.eval()
    return model


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
        ``run_id``, ``name``, ``status`` (finished, diverged, interrupted, failed, skipped,
        running elsewhere), ``message``, ``epochs`` completed, final ``test_accuracy``
        (fraction) if any.
    """
    if cfg.sweep is not None:
        raise PrunelabError("run_experiment takes a single run; expand sweeps with expand_sweep")
    if cfg.imported is not None:
        raise PrunelabError(
            "an imported network is not trained by prunelab; analyse it with `prunelab robustness` or `prunelab report`"
        )
    run_id = cfg.run_id()
    run = RunLifecycle(store, run_id, cfg.name, cfg.run_config())
    if run.claim() != "claimed":
        return {
            "run_id": run_id,
            "name": cfg.name,
            "status": run.outcome(),
            "message": "already finished" if run.finished else "another process is training it",
            "epochs": cfg.train.epochs if run.finished else 0,
            "test_accuracy": _last(store, run_id, "test_accuracy"),
        }
    try:
        folder = store.run_dir(run_id)
        with atomic_write(folder / "config.yaml") as fh:
            fh.write(yaml.safe_dump(cfg.run_config(), sort_keys=False).encode())
        torch.manual_seed(cfg.train.seed)
        data = build_data(cfg)
        model = model_of(cfg.model, cfg.train.seed, data, device=cfg.train.device)
        trainer = Trainer(
            model,
            data,
            cfg.train,
            hooks=build_hooks(cfg),
            checkpoint_path=folder / CHECKPOINT,
            on_epoch=lambda epoch, m: (
                store.log_metrics(run_id, epoch, m),
                on_epoch and on_epoch(run_id, epoch, m),
            ),
            on_step=on_step,
        )
        recovery = resume(trainer, run, store, run_id)
        store.drop_metrics_after(run_id, trainer.epoch)
        result = trainer.fit()
        fault_point("run.trained")
        if result.status == "finished":
            # artefacts before the final status: a run marked finished always has them
            for name, path in save_topology(trainer.model, folder / "topology").items():
                store.add_artefact(run_id, f"topology/{name}", path, "links", trainer.epoch)
            store.add_artefact(
                run_id, "checkpoint", folder / CHECKPOINT, "checkpoint", trainer.epoch
            )
            for (
                hook
            ) in trainer.hooks:  # hooks may leave tables (e.g. the game's per-player results)
                for name, table in getattr(hook, "tables", dict)().items():
                    store.save_table(run_id, name, table)
        fault_point("run.finish")
    except BaseException as err:
        run.abort(err)
        raise
    run.finish(result.status, result.message or recovery)
    return {
        "run_id": run_id,
        "name": cfg.name,
        "status": result.status,
        "message": result.message or recovery,
        "epochs": trainer.epoch,
        "test_accuracy": _last(store, run_id, "test_accuracy"),
    }


def resume(trainer: Trainer, run: RunLifecycle, store: Store, run_id: str) -> str:
    """Load the run's newest usable checkpoint into ``trainer``; returns what recovery it took ("" if none).

    A checkpoint is usable when it loads and the store holds the metrics of every epoch it
    covers (a store restored from a backup may hold fewer); else the previous checkpoint is
    tried, else the run starts from epoch 0. The run's message says which.
    """
    stored = set(store.metrics([run_id]).epoch.astype(int))

    def accept(state: dict[str, Any]) -> str | None:
        epoch = int(state["epoch"])
        if all(e in stored for e in range(1, epoch + 1)):
            return None
        return f"it is at epoch {epoch} but the store has metrics of {len(stored)} epochs"

    resumed = trainer.resume_if_possible(accept)
    note = trainer.resume_note
    if resumed:
        note = f"{note}; resumed at epoch {trainer.epoch}" if note else ""
        run.note(note or f"resumed at epoch {trainer.epoch}")
    elif note:
        run.note(note)
    return note


def _last(store: Store, run_id: str, name: str) -> float | None:
    df = store.metrics([run_id])
    df = df[df.name == name]
    return float(df.sort_values("epoch").value.iloc[-1]) if len(df) else None

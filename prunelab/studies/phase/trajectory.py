"""One trajectory of a phase study: pretrain dense, then prune / rewind / fine-tune / measure along
the schedule, every step stored and checkpointed so a killed study resumes at the next step.

Store layout of a trajectory run: step ``k``'s row of observables is ``log_metrics(run_id, k, row)``;
its layer masks are the artefact ``masks/stepKKK.npz``; ``trajectory.pt`` is the checkpoint after
the last stored step and ``rewind.pt`` the rewind weights.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from prunelab.core.faults import fault_point
from prunelab.core.files import atomic_write
from prunelab.core.rng import as_generator
from prunelab.core.scoring import ScoreContext
from prunelab.errors import ConfigError, DamagedFileError, PrunelabError
from prunelab.experiments.lifecycle import RunLifecycle
from prunelab.experiments.store import Store
from prunelab.nn.families import build_model
from prunelab.phase.measure import measure
from prunelab.pruning import (
    apply_rewind,
    model_density,
    model_masks,
    prunable_layers,
    prune_model,
    rewind_snapshot,
    validate_schedule,
)
from prunelab.studies.phase.config import PhaseStudyConfig
from prunelab.training import Trainer, atomic_torch_save, make_optimizer
from prunelab.training.checkpoints import load_checkpoint, safe_load

TRAJECTORY_CHECKPOINT = "trajectory.pt"
REWIND_STATE = "rewind.pt"


@functools.lru_cache(maxsize=4)
def _load_data(data_json: str):
    from prunelab.data import load_dataset

    d = json.loads(data_json)
    return load_dataset(
        d["name"],
        data_dir=d.get("data_dir"),
        download=d.get("download", True),
        **d.get("options", {}),
    )


def load_data(cfg: PhaseStudyConfig):
    """The study's data set (cached per process)."""
    return _load_data(json.dumps(cfg.data.model_dump(mode="json"), sort_keys=True))


def study_model(cfg: PhaseStudyConfig, data, width: int, seed: int) -> nn.Module:
    """A dense model of the study's family at ``width`` (every layer prunable)."""
    return build_model(
        cfg.family, seed, data, width=width, depth=cfg.n_layers, activation=cfg.activation
    )


def check_schedule_links(cfg: PhaseStudyConfig, model: nn.Module) -> None:
    """ConfigError (one line) when the schedule's last density leaves 0 links (globally or per layer)."""
    possible = [layer.n_in * layer.n_out for layer in prunable_layers(model)]
    validate_schedule(cfg.densities(), sum(possible) if cfg.scope == "global" else possible)


def _masks_path(store: Store, run_id: str, step: int) -> Path:
    return store.run_dir(run_id) / "masks" / f"step{step:03d}.npz"


def save_masks(store: Store, run_id: str, step: int, masks: Sequence[np.ndarray]) -> Path:
    """Store a step's layer masks as the artefact ``masks/stepKKK.npz`` (written atomically)."""
    path = _masks_path(store, run_id, step)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, fault="masks") as fh:
        np.savez_compressed(
            fh, **{f"layer{k}": np.asarray(m, dtype=bool) for k, m in enumerate(masks)}
        )
    store.add_artefact(run_id, f"masks/step{step:03d}", path, "masks", step)
    return path


def load_masks(store: Store, run_id: str, step: int) -> list[np.ndarray]:
    """The (n_in, n_out) masks stored for a trajectory step."""
    path = _masks_path(store, run_id, step)
    if not path.exists():
        raise ConfigError(
            f"trajectory {run_id} has no stored masks for step {step}; run the study first"
        )
    try:
        with np.load(path, allow_pickle=False) as z:
            return [z[f"layer{k}"] for k in range(len(z.files))]
    except Exception as err:  # noqa: BLE001 - truncated or not an npz file
        raise DamagedFileError(
            f"mask file {path} of trajectory {run_id} is damaged ({type(err).__name__}); "
            "rerun the study in a fresh --runs-dir to recompute it"
        ) from None


def _score_context(cfg: PhaseStudyConfig, trainer: Trainer, seed: int, step: int) -> ScoreContext:
    """What the pruning criterion may use: a few training batches (data-dependent scores) and the step's rng."""
    rng = as_generator([seed, step, 7])
    batches = []
    if cfg.method not in ("magnitude", "random"):
        gen = torch.Generator().manual_seed(seed * 1009 + step)
        for _ in range(4):
            idx = torch.randint(len(trainer.y_train), (cfg.train.batch_size,), generator=gen)
            batches.append((trainer.x_train[idx], trainer.y_train[idx]))
    return ScoreContext(batches=batches, loss_fn=trainer.loss_fn, rng=rng)


def run_trajectory(
    cfg: PhaseStudyConfig,
    width: int,
    seed: int,
    store: Store,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Pretrain, then prune / rewind / fine-tune / measure along the schedule; resumable.

    Parameters
    ----------
    cfg : PhaseStudyConfig
    width, seed : int
    store : Store
        One run per (width, seed) with id :meth:`PhaseStudyConfig.trajectory_id`.
    progress : callable, optional
        ``progress(info)`` after each stored step, ``info`` = dict(run_id, width, seed, step,
        n_steps, density, m). An exception raised here stops the trajectory (the step is kept;
        the run is marked ``interrupted``).

    Returns
    -------
    dict
        ``run_id``, ``name``, ``width``, ``seed``, ``status`` (finished, skipped, running
        elsewhere, diverged), ``steps`` (completed), ``resumed_at`` (first step run in this
        call, or None), ``message``.
    """
    densities = cfg.densities()
    run_id = cfg.trajectory_id(width, seed)
    name = f"{cfg.name}/w{width}/s{seed}"
    base = {"run_id": run_id, "name": name, "width": int(width), "seed": int(seed)}
    run = RunLifecycle(store, run_id, name, cfg.trajectory_content(width, seed))
    if run.claim() != "claimed":
        return {
            **base,
            "status": run.outcome(),
            "steps": len(densities) if run.finished else 0,
            "resumed_at": None,
            "message": "already finished" if run.finished else "another process is running it",
        }
    try:
        out = _trajectory(cfg, width, seed, store, run, base, densities, progress)
    except BaseException as err:
        run.abort(err)
        raise
    run.finish(out["status"], out["message"])
    return out


def _fresh_trainer(cfg: PhaseStudyConfig, data, width: int, seed: int) -> Trainer:
    torch.manual_seed(seed)
    model = study_model(cfg, data, width, seed)
    check_schedule_links(cfg, model)
    return Trainer(model, data, cfg.train_config(seed, cfg.pretrain_epochs))


def _resume(cfg: PhaseStudyConfig, store: Store, run_id: str, trainer: Trainer, folder: Path):
    """The newest usable trajectory checkpoint loaded into ``trainer``: ``(state, rewind snapshot, note)``.

    A checkpoint is usable when it loads, its rewind state (if the study rewinds) loads, and the
    store holds every step it covers; else the previous checkpoint, else ``state`` is None.
    """
    stored = set(store.metrics([run_id]).epoch.astype(int))
    loaded: dict[str, Any] = {}

    def apply(ckpt: Any) -> None:
        step = int(ckpt["step"])
        if not all(k in stored for k in range(step + 1)):
            raise ValueError(f"it is at step {step} but the store has {len(stored)} steps")
        snap = safe_load(folder / REWIND_STATE) if cfg.rewind_epoch is not None else None
        trainer.load_state_dict(
            ckpt["trainer"]
        )  # a later candidate or a fresh trainer replaces a partial load
        loaded["snap"] = snap

    state, note = load_checkpoint(folder / TRAJECTORY_CHECKPOINT, apply)
    return state, loaded.get("snap"), note


def _trajectory(
    cfg, width, seed, store, run: RunLifecycle, base, densities, progress
) -> dict[str, Any]:
    folder = store.run_dir(base["run_id"])
    run_id = base["run_id"]
    data = load_data(cfg)
    trainer = _fresh_trainer(cfg, data, width, seed)
    ckpt_path, rewind_path = folder / TRAJECTORY_CHECKPOINT, folder / REWIND_STATE
    ckpt, snap, recovery = _resume(cfg, store, run_id, trainer, folder)
    if ckpt is not None:
        start, acc_dense = int(ckpt["step"]) + 1, float(ckpt["acc_dense"])
        recovery = f"{recovery}; resumed at step {start}" if recovery else ""
        store.drop_metrics_after(run_id, start - 1)
        run.note(recovery or f"resumed at step {start}")
    else:
        if recovery:
            trainer = _fresh_trainer(
                cfg, data, width, seed
            )  # nothing of a rejected checkpoint may remain
            run.note(recovery)
        start = 0
        store.drop_metrics_after(run_id, -1)
        if cfg.rewind_epoch == 0:
            snap = rewind_snapshot(trainer.model)

        def on_epoch(epoch: int, _m: dict[str, float]) -> None:
            nonlocal snap
            if cfg.rewind_epoch == epoch:
                snap = rewind_snapshot(trainer.model)

        trainer.on_epoch = on_epoch
        result = trainer.fit()
        trainer.on_epoch = None
        if result.status != "finished":
            return {
                **base,
                "status": result.status,
                "steps": 0,
                "resumed_at": 0,
                "message": "pretraining: " + result.message,
            }
        fault_point("phase.pretrained")
        if snap is not None:
            atomic_torch_save(snap, rewind_path, keep_previous=False)
        acc_dense = float(measure(trainer.model, data, None)["accuracy"])
        if not acc_dense > 1.0 / data.n_classes:
            raise PrunelabError(
                f"dense accuracy {acc_dense:.3f} is not above chance after pretraining; raise pretrain_epochs or lr"
            )
    model = trainer.model
    for step in range(start, len(densities)):
        density = float(densities[step])
        t0 = time.perf_counter()
        pruned = density < model_density(model) * (1 - 1e-12)
        if pruned:
            prune_model(
                model,
                density,
                scope=cfg.scope,
                method=cfg.method,
                optimizer=trainer.optimizer,
                ctx=_score_context(cfg, trainer, seed, step),
            )
            if snap is not None:
                apply_rewind(model, snap)
                trainer.optimizer = make_optimizer(model.parameters(), trainer.cfg)
        train_metrics: dict[str, float] = {}
        if (pruned or step > 0) and cfg.finetune_epochs > 0:
            trainer.cfg = trainer.cfg.model_copy(
                update={"epochs": trainer.epoch + cfg.finetune_epochs}
            )
            result = trainer.fit()
            if result.status != "finished":
                return {
                    **base,
                    "status": result.status,
                    "steps": step,
                    "resumed_at": start,
                    "message": f"step {step}: {result.message}",
                }
            last = result.history[-1]
            train_metrics = {
                "train_loss": last["train_loss"],
                "train_accuracy": last["train_accuracy"],
                "test_loss": last["test_loss"],
            }
        row = measure(model, data, acc_dense, cfg.observables)
        row.update(train_metrics)
        row.update(
            {
                "density": density,
                "acc_dense": acc_dense,
                "width": float(width),
                "seed": float(seed),
                "epochs_total": float(trainer.epoch),
                "step_seconds": time.perf_counter() - t0,
            }
        )
        store.log_metrics(run_id, step, row)
        fault_point("phase.step")
        save_masks(store, run_id, step, model_masks(model))
        atomic_torch_save(
            {"step": step, "acc_dense": acc_dense, "trainer": trainer.state_dict()}, ckpt_path
        )
        if progress is not None:
            try:
                progress(
                    {
                        **base,
                        "step": step,
                        "n_steps": len(densities),
                        "density": density,
                        "m": row["m"],
                    }
                )
            except BaseException as err:
                run.finish("interrupted", f"stopped after step {step}: {type(err).__name__}")
                raise
    return {
        **base,
        "status": "finished",
        "steps": len(densities),
        "resumed_at": start,
        "message": recovery,
    }


def study_table(cfg: PhaseStudyConfig, store: Store, finished_only: bool = False) -> pd.DataFrame:
    """Tidy table of a study: one row per (width, seed, step) with every observable."""
    ids = {cfg.trajectory_id(w, s): (w, s) for w in cfg.widths for s in cfg.seeds}
    if finished_only:
        ids = {k: v for k, v in ids.items() if (store.get_run(k) or {}).get("status") == "finished"}
    df = store.metrics(list(ids), wide=True)
    if df.empty:
        return pd.DataFrame(columns=["run_id", "width", "seed", "step", "density"])
    df = df.rename(columns={"epoch": "step"})
    df["width"] = df.run_id.map(lambda r: ids[r][0]).astype(int)
    df["seed"] = df.run_id.map(lambda r: ids[r][1]).astype(int)
    df["study"] = cfg.name
    df["family"] = cfg.family
    df["dataset"] = cfg.data.name
    df["log10_density"] = np.log10(df["density"].astype(float))
    if "w_n_links" in df.columns:
        df["links"] = df["w_n_links"]  # surviving links of all prunable layers
    front = [
        "study",
        "dataset",
        "family",
        "width",
        "seed",
        "step",
        "density",
        "log10_density",
        "measured_density",
    ]
    cols = front + [c for c in df.columns if c not in front]
    return df[cols].sort_values(["width", "seed", "step"]).reset_index(drop=True)

"""Running the items of the ``sufficiency`` study kind (pretraining, retraining, the dense
same-weights control, the hysteresis sweeps); :class:`~prunelab.studies.sufficiency.SufficiencyStudy`
dispatches ``run_<kind>`` here."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from prunelab.core.files import atomic_write
from prunelab.core.scoring import ScoreContext
from prunelab.errors import ConfigError
from prunelab.experiments.lifecycle import RunLifecycle
from prunelab.experiments.store import Store
from prunelab.studies.base import Item
from prunelab.sufficiency import hysteresis as hyst
from prunelab.sufficiency.networks import (
    NetworkState,
    build_model,
    control_links,
    dense_network,
    model_state,
    prune_links,
    random_links,
    structure_row,
)
from prunelab.sufficiency.retrain import (
    PROTOCOLS,
    check_finished,
    dst_hooks,
    protocol_train_config,
    run_budgets,
    seed_stream,
    start_state,
)
from prunelab.sufficiency.spectral import load_modes, network_spectrum, save_modes, top_modes
from prunelab.training import TrainConfig, Trainer, evaluate
from prunelab.training.checkpoints import remove_checkpoint

if TYPE_CHECKING:
    from prunelab.studies.sufficiency import SufficiencyStudy


def score_context(
    study: SufficiencyStudy, seed: int, density: float, options: dict[str, Any]
) -> ScoreContext:
    """Score context of a pruning at ``density``: 256 seeded training samples (one batch) and the
    study's ``spectral.k``, merged with the arm's score ``options``."""
    data = study.dataset()
    rng = np.random.default_rng(seed_stream(seed, density, 11))
    pick = rng.choice(len(data.y_train), size=min(256, len(data.y_train)), replace=False)
    batch = (torch.as_tensor(data.x_train[pick]), torch.as_tensor(data.y_train[pick]))
    return ScoreContext(batches=[batch], rng=rng, options={"k": study.spectral.k, **options})


def reference_modes(study: SufficiencyStudy, folder: Path, state: NetworkState) -> list:
    """Top-k modes of every layer of the dense trained network ``state``, cached in ``folder``."""
    path = folder / f"modes_k{study.spectral.k}.npz"
    if not path.exists():
        modes = [
            top_modes(lk, v, study.spectral.k)
            for lk, v in zip(state.links, state.values, strict=True)
        ]
        # workers may compute the same cache at once: each writes its own temporary file and the
        # last rename wins (the contents are identical)
        with atomic_write(path) as fh:
            save_modes(fh, modes)
    return load_modes(path)


def run_pretrain(
    study: SufficiencyStudy, item: Item, store: Store, run: RunLifecycle
) -> dict[str, Any]:
    """Pretrain one (network, seed): dense (or DST-trained sparse); saves ``init.pt``, ``rewind.pt``
    and ``trained.pt`` and stores the final accuracies and spectra; returns the summary."""
    c = item.content
    folder = store.run_dir(item.run_id)
    data = study.dataset()
    torch.manual_seed(c["seed"])
    model = dense_network(c["sizes"], c["seed"], c["activation"])
    # the dense initialisation is the rewind point of every link, also of those DST grows later
    if not (folder / "init.pt").exists():
        model_state(model).save(folder / "init.pt")
    if c["rewind_epoch"] == 0 and not (folder / "rewind.pt").exists():
        model_state(model).save(folder / "rewind.pt")
    hooks = dst_hooks(c.get("dst")) if c.get("start_density") is not None else []
    if hooks:
        state = model_state(model)
        model = build_model(
            state.with_links(
                random_links(c["sizes"], c["start_density"], seed_stream(c["seed"], 17))
            )
        )

    def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
        store.log_metrics(item.run_id, epoch, metrics)
        if epoch == c["rewind_epoch"]:
            model_state(trainer.model).save(folder / "rewind.pt")

    trainer = Trainer(
        model,
        data,
        TrainConfig(**c["train"]),
        hooks=hooks,
        checkpoint_path=folder / "checkpoint.pt",
        on_epoch=on_epoch,
    )
    trainer.resume_if_possible()
    result = trainer.fit()
    check_finished(result.status, result.message)
    state = model_state(trainer.model)
    state.save(folder / "trained.pt")
    n = c["n_eval"]
    row = {
        "acc_test": evaluate(trainer.model, trainer.x_test, trainer.y_test).accuracy,
        "acc_train": evaluate(trainer.model, trainer.x_train[:n], trainer.y_train[:n]).accuracy,
        "possible_links": float(state.possible_links),
        "n_classes": float(data.n_classes),
    }
    row.update(
        network_spectrum(
            state.links,
            state.values,
            study.spectral.k,
            null_draws=study.spectral.null_draws,
            seed=seed_stream(c["seed"], 5),
        )
    )
    store.log_metrics(item.run_id, trainer.cfg.epochs, row)
    remove_checkpoint(folder / "checkpoint.pt")
    return {"acc_test": row["acc_test"]}


def pretrained(
    study: SufficiencyStudy, store: Store, pretrain_id: str
) -> tuple[Path, NetworkState, TrainConfig]:
    """``(folder, trained state, pretraining config)`` of a finished pretraining run."""
    row = store.get_run(pretrain_id)
    if row is None or row["status"] != "finished":
        raise ConfigError(
            f"pretraining run {pretrain_id} is not finished; rerun the study so it trains first"
        )
    folder = store.run_dir(pretrain_id)
    return folder, NetworkState.load(folder / "trained.pt"), TrainConfig(**row["config"]["train"])


def run_retrain(
    study: SufficiencyStudy, item: Item, store: Store, run: RunLifecycle
) -> dict[str, Any]:
    """Prune the trained network to the item's density, start its protocol and retrain for B_max
    epochs, storing Ψ's accuracies (and structure, spectra) at every budget (metrics epoch = B)."""
    c = item.content
    folder, trained, pre_cfg = pretrained(study, store, c["pretrain"])
    seed, density = int(pre_cfg.seed), float(c["density"])
    model = build_model(trained, backend="masked")
    prune_links(
        model,
        density,
        c["criterion"],
        c["scope"],
        c["rounds"],
        score_context(study, seed, density, c["options"]),
    )
    pruned = model_state(model)
    pruned = pruned.with_links(
        control_links(pruned.links, c["mask"], seed_stream(seed, density, c["mask"]))
    )
    protocol = PROTOCOLS.get(c["protocol"])
    start = start_state(
        protocol, pruned, NetworkState.load(folder / "rewind.pt"), seed_stream(seed, 7919)
    )
    structure = structure_row(start)
    reference = reference_modes(study, folder, trained)
    spec = c["spectral"]

    def measure(net: torch.nn.Module, budget: int) -> dict[str, float]:
        if budget not in spec["at"]:
            return {}
        st = model_state(net)
        return network_spectrum(
            st.links, st.values, spec["k"], reference, spec["null_draws"], seed_stream(seed, budget)
        )

    hooks = dst_hooks(c["dst"]) if protocol.topology == "dst" else []
    cfg = protocol_train_config(protocol, pre_cfg, max(c["budgets"]))

    def on_row(budget: int, row: dict[str, float]) -> None:
        store.log_metrics(item.run_id, budget, {**row, **(structure if budget == 0 else {})})

    out = run_budgets(
        build_model(start),
        study.dataset(),
        cfg,
        c["budgets"],
        measure,
        on_row,
        store.run_dir(item.run_id) / "checkpoint.pt",
        hooks,
        c["n_eval"],
    )
    check_finished(out.status, out.message)
    remove_checkpoint(store.run_dir(item.run_id) / "checkpoint.pt")
    return {"acc_test": out.rows.get(max(c["budgets"]), {}).get("acc_test")}


def run_equivalent(
    study: SufficiencyStudy, item: Item, store: Store, run: RunLifecycle
) -> dict[str, Any]:
    """Train the dense same-weights control from scratch, storing its accuracies at every budget."""
    c = item.content
    torch.manual_seed(c["seed"])
    model = dense_network(c["sizes"], c["seed"], c["activation"])
    cfg = TrainConfig(**c["train"]).model_copy(update={"epochs": max(c["budgets"])})

    def on_row(budget: int, row: dict[str, float]) -> None:
        store.log_metrics(item.run_id, budget, {**row, "links": float(model_state(model).n_links)})

    ckpt = store.run_dir(item.run_id) / "checkpoint.pt"
    out = run_budgets(
        model, study.dataset(), cfg, c["budgets"], lambda net, b: {}, on_row, ckpt, (), c["n_eval"]
    )
    check_finished(out.status, out.message)
    remove_checkpoint(ckpt)
    return {"acc_test": out.rows.get(max(c["budgets"]), {}).get("acc_test")}


def run_down(
    study: SufficiencyStudy, item: Item, store: Store, run: RunLifecycle
) -> dict[str, Any]:
    """The hysteresis down sweep: prune step by step down the grid, retraining at each step."""
    c = item.content
    folder, trained, pre_cfg = pretrained(study, store, c["pretrain"])
    seed, dens = int(pre_cfg.seed), c["densities"]
    protocol = PROTOCOLS.get(c["protocol"])
    done = set(store.metrics([item.run_id]).epoch.astype(int))
    advance = hyst.prune_advance(
        dens,
        c["criterion"],
        c["scope"],
        c["rounds"],
        lambda k: score_context(study, seed, dens[k], {}),
    )

    def cfg(k: int) -> TrainConfig:
        return protocol_train_config(protocol, pre_cfg, c["step_epochs"]).model_copy(
            update={"seed": seed * 1000 + k}
        )

    def on_row(k: int, row: dict[str, float]) -> None:
        store.log_metrics(item.run_id, k, {**row, "target_density": dens[k]})

    measure = hyst.sweep_measure(
        reference_modes(study, folder, trained), c["spectral"], seed_stream(seed, 3)
    )
    hyst.run_sweep(
        trained,
        len(dens),
        advance,
        study.dataset(),
        cfg,
        measure,
        store.run_dir(item.run_id) / "steps",
        done,
        on_row,
        c["n_eval"],
    )
    return {}


def run_up(study: SufficiencyStudy, item: Item, store: Store, run: RunLifecycle) -> dict[str, Any]:
    """The hysteresis up sweep: regrow from the bottom of the down sweep, retraining at each step."""
    c = item.content
    down_row = store.get_run(c["down"])
    if down_row is None or down_row["status"] != "finished":
        raise ConfigError(
            f"the down sweep {c['down']} is not finished; rerun the study so it runs first"
        )
    dc = down_row["config"]
    folder, trained, pre_cfg = pretrained(study, store, dc["pretrain"])
    seed, n = int(pre_cfg.seed), len(dc["densities"])
    rows = store.metrics([c["down"]], wide=True).sort_values("epoch")
    n_layers = len(trained.links)
    # up step j restores the per-layer link counts of down step n - 2 - j
    targets = [
        [int(rows.iloc[n - 2 - j][f"links/layer{k}"]) for k in range(n_layers)]
        for j in range(n - 1)
    ]
    bottom = NetworkState.load(store.run_dir(c["down"]) / "steps" / f"step{n - 1:03d}.pt")
    protocol = PROTOCOLS.get(dc["protocol"])
    done = set(store.metrics([item.run_id]).epoch.astype(int))
    advance = hyst.regrow_advance(
        targets, c["rule"], seed_stream(seed, c["rule"]), study.dataset(), c["init"]
    )

    def cfg(j: int) -> TrainConfig:
        return protocol_train_config(protocol, pre_cfg, dc["step_epochs"]).model_copy(
            update={"seed": seed * 1000 + 500 + j}
        )

    def on_row(j: int, row: dict[str, float]) -> None:
        store.log_metrics(item.run_id, j, {**row, "target_density": dc["densities"][n - 2 - j]})

    measure = hyst.sweep_measure(
        reference_modes(study, folder, trained), dc["spectral"], seed_stream(seed, 3)
    )
    hyst.run_sweep(
        bottom,
        n - 1,
        advance,
        study.dataset(),
        cfg,
        measure,
        store.run_dir(item.run_id) / "steps",
        done,
        on_row,
        dc["n_eval"],
    )
    return {}

"""The hysteresis sweep: prune down in steps past F_min, then regrow back up in steps.

Down: from the trained dense network, every step prunes to the next density of the schedule
(the study's criterion) and retrains for ``step_epochs`` epochs. Up: from the last (sparsest)
network of the down sweep, every step regrows links back to the per-layer link counts the down
sweep had at the previous density, with a regrowth rule of :func:`prunelab.dst.regrowth.regrow`
(``random``, ``ch3l3``, ``rigl``), and retrains for ``step_epochs`` epochs. Comparing Ψ at equal
densities on the way down and on the way up shows whether the collapse left a lasting trace.

Both sweeps are resumable: after every step the network is saved to ``<folder>/stepKKK.pt`` and
the step's row is handed to ``on_row``; a rerun continues after the last step that has both.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from prunelab.core.links import Links
from prunelab.core.rng import as_generator
from prunelab.core.scoring import ScoreContext
from prunelab.dst.gradients import layer_gradients
from prunelab.dst.regrowth import regrow
from prunelab.errors import ConfigError
from prunelab.nn.init import WEIGHT_INITS, init_link_values
from prunelab.sufficiency.networks import (
    NetworkState,
    build_model,
    model_state,
    prune_links,
    structure_row,
)
from prunelab.sufficiency.retrain import check_finished
from prunelab.sufficiency.spectral import network_spectrum
from prunelab.training import TrainConfig, Trainer, evaluate

StepMeasure = Callable[[NetworkState, nn.Module], dict[str, float]]


def retrain_step(
    state: NetworkState, data: Any, cfg: TrainConfig, n_eval: int = 10_000
) -> tuple[NetworkState, dict[str, float]]:
    """Train ``state`` for ``cfg.epochs`` epochs with its mask fixed; returns the new state and
    ``acc_test``, ``acc_train`` (fractions)."""
    model = build_model(state)
    trainer = Trainer(model, data, cfg, eval_epochs=())  # evaluated once, below
    result = trainer.fit()
    check_finished(result.status, result.message)
    row = {
        "acc_test": evaluate(model, trainer.x_test, trainer.y_test).accuracy,
        "acc_train": evaluate(model, trainer.x_train[:n_eval], trainer.y_train[:n_eval]).accuracy,
    }
    return model_state(model), row


def regrow_to(
    state: NetworkState,
    targets: Sequence[int],
    rule: str,
    rng: np.random.Generator,
    data: Any = None,
    init: str = "zeros",
    batch_size: int = 256,
) -> NetworkState:
    """Add missing links to every layer until it has ``targets[k]`` links.

    Parameters
    ----------
    state : NetworkState
    targets : sequence of int
        Links wanted per layer (>= the current count).
    rule : {"random", "ch3l3", "l3", "rigl"}
        Regrowth rule of :func:`prunelab.dst.regrowth.regrow`; ``rigl`` uses the loss gradient
        at the missing links on one batch of ``data``'s training split.
    rng : numpy.random.Generator
    data : Dataset-like, optional
        Needed by ``rigl``.
    init : str
        A name in :data:`prunelab.nn.init.WEIGHT_INITS` for the new links' weights (``zeros``
        leaves the function unchanged at the moment of regrowth).
    batch_size : int
        Samples of the gradient batch.
    """
    WEIGHT_INITS.check(init, "regrowth init")
    grads = None
    if rule == "rigl":
        if data is None:
            raise ConfigError("regrowth 'rigl' needs the training data for its gradient batch")
        pick = rng.choice(len(data.y_train), size=min(batch_size, len(data.y_train)), replace=False)
        x = torch.as_tensor(np.asarray(data.x_train[pick], dtype=np.float32))
        y = torch.as_tensor(np.asarray(data.y_train[pick], dtype=np.int64))
        grads = layer_gradients(build_model(state), x, y, torch.nn.functional.cross_entropy)
    links, values = [], []
    for k, (lk, v, want) in enumerate(zip(state.links, state.values, targets, strict=True)):
        add = int(want) - lk.n_links
        if add < 0:
            raise ConfigError(f"layer{k} has {lk.n_links} links, more than the {want} to regrow to")
        if add == 0:
            links.append(lk)
            values.append(v)
            continue
        grown = regrow(
            rule,
            lk,
            add,
            rng,
            grad=grads[f"layer{k}"] if grads is not None else None,
            name=f"layer{k}",
        )
        gen = torch.Generator().manual_seed(int(rng.integers(0, 2**62)))
        new_v = init_link_values(init, add, lk.n_in, int(want) / lk.n_possible, gen).numpy()
        links.append(
            Links(
                np.concatenate([lk.rows, grown.rows]),
                np.concatenate([lk.cols, grown.cols]),
                lk.shape,
            )
        )
        values.append(np.concatenate([v, new_v]).astype(np.float32))
    return state.with_links(links, values)


def _step_path(folder: Path, step: int) -> Path:
    return folder / f"step{step:03d}.pt"


def last_done(folder: Path, done: set[int], n_steps: int) -> int:
    """The last step (``-1`` for none) that has both a saved network and a stored row."""
    k = -1
    while k + 1 < n_steps and (k + 1) in done and _step_path(folder, k + 1).exists():
        k += 1
    return k


def run_sweep(
    start: NetworkState,
    n_steps: int,
    advance: Callable[[int, NetworkState], NetworkState],
    data: Any,
    cfg: Callable[[int], TrainConfig],
    measure: StepMeasure,
    folder: str | Path,
    done: set[int],
    on_row: Callable[[int, dict[str, float]], None],
    n_eval: int = 10_000,
) -> NetworkState:
    """Run (or resume) ``n_steps`` steps: ``advance`` the network, retrain it, measure, save.

    Parameters
    ----------
    start : NetworkState
        The network before step 0.
    n_steps : int
    advance : callable
        ``advance(step, state) -> state``: prune to, or regrow to, the step's size.
    data : Dataset-like
    cfg : callable
        ``cfg(step) -> TrainConfig`` of the step's retraining.
    measure : callable
        ``measure(state, model) -> row`` of extra measures (structure, spectra).
    folder : path
        Where ``stepKKK.pt`` networks are written.
    done : set of int
        Steps whose rows are already stored.
    on_row : callable
        ``on_row(step, row)`` after each step.

    Returns
    -------
    NetworkState
        The network after the last step.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    k0 = last_done(folder, done, n_steps)
    state = start if k0 < 0 else NetworkState.load(_step_path(folder, k0))
    for k in range(k0 + 1, n_steps):
        state = advance(k, state)
        state, row = retrain_step(state, data, cfg(k), n_eval)
        row.update(measure(state, build_model(state)))
        state.save(_step_path(folder, k))
        on_row(k, row)
    return state


def sweep_measure(reference: Sequence[Any], spec: dict[str, Any], seed: Any) -> StepMeasure:
    """A :data:`StepMeasure` giving the structure row and the spectra against ``reference`` modes.

    ``spec`` holds ``k`` and ``null_draws`` (the study's spectral settings).
    """

    def measure(state: NetworkState, model: nn.Module) -> dict[str, float]:
        row = structure_row(state)
        row.update(
            network_spectrum(
                state.links, state.values, spec["k"], reference, spec["null_draws"], seed
            )
        )
        return row

    return measure


def prune_advance(
    densities: Sequence[float],
    criterion: str,
    scope: str,
    rounds: int,
    ctx_for: Callable[[int], ScoreContext],
) -> Callable[[int, NetworkState], NetworkState]:
    """An ``advance`` for the down sweep: prune to ``densities[step]`` with the study's criterion."""

    def advance(step: int, state: NetworkState) -> NetworkState:
        model = build_model(state, backend="masked")
        prune_links(model, float(densities[step]), criterion, scope, rounds, ctx_for(step))
        return model_state(model)

    return advance


def regrow_advance(
    targets: Sequence[Sequence[int]], rule: str, seed: Any, data: Any, init: str = "zeros"
) -> Callable[[int, NetworkState], NetworkState]:
    """An ``advance`` for the up sweep: regrow every layer to ``targets[step]`` links."""

    def advance(step: int, state: NetworkState) -> NetworkState:
        return regrow_to(state, targets[step], rule, as_generator([*seed, step]), data, init)

    return advance

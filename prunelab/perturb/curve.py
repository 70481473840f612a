"""Robustness curves: test accuracy and loss of perturbed networks, without retraining."""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from prunelab.core.evaluation import Evaluation
from prunelab.errors import ConfigError
from prunelab.nn.inference import InferencePlan, plan_unsupported_reason
from prunelab.perturb.kinds import PerturbationKind, check_scope, get_kind
from prunelab.perturb.targets import RunLoader, resolve_networks, select_layers
from prunelab.training.engine import evaluate

CURVE_COLUMNS = (
    "group",
    "network",
    "kind",
    "draw",
    "strength",
    "accuracy",
    "loss",
    "removed_fraction",
    "baseline_accuracy",
    "baseline_loss",
    "chance",
)


def curve_row(
    group: str,
    network: str,
    kind: str,
    draw: int,
    strength: float,
    result: Evaluation,
    removed_fraction: float,
    baseline: Evaluation,
    chance: float,
) -> tuple:
    """One row of a robustness table, in the order of :data:`CURVE_COLUMNS`.

    ``result`` and ``baseline`` are the perturbed and the unperturbed network's
    :class:`Evaluation` (mean cross-entropy in nats, accuracy as a fraction); ``removed_fraction``
    is the fraction of perturbed links set to 0 (NaN where a kind removes none); ``chance`` is
    1 / number of classes.
    """
    return (
        group,
        network,
        kind,
        draw,
        float(strength),
        result.accuracy,
        result.loss,
        removed_fraction,
        baseline.accuracy,
        baseline.loss,
        chance,
    )


def resolve_data(data: Any) -> tuple[torch.Tensor, torch.Tensor, int | None]:
    """Test inputs and labels from a Dataset (``x_test``, ``y_test``) or a tuple ``(x, y)``.

    Returns
    -------
    x : Tensor (n, ...) float32
    y : Tensor (n,) int64
    n_classes : int or None
        ``data.n_classes`` when the dataset has it.
    """
    if hasattr(data, "x_test") and hasattr(data, "y_test"):
        x, y, n_classes = data.x_test, data.y_test, getattr(data, "n_classes", None)
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        (x, y), n_classes = data, None
    else:
        raise ConfigError(
            f"cannot read test data from {type(data).__name__}; pass a Dataset with x_test/y_test or a tuple (x, y)"
        )
    x = torch.as_tensor(np.asarray(x), dtype=torch.float32)
    y = torch.as_tensor(np.asarray(y)).reshape(-1)
    if y.dtype.is_floating_point or y.dtype == torch.bool:
        raise ConfigError(f"labels must be integer class indices, got dtype {y.dtype}")
    if x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ConfigError(
            f"test data needs as many labels as inputs (>0), got {x.shape[0]} inputs and {y.shape[0]} labels"
        )
    return x, y.to(torch.int64), n_classes


def _check_strengths(spec: PerturbationKind, strengths: Sequence[float] | np.ndarray) -> np.ndarray:
    array = np.atleast_1d(np.asarray(strengths, dtype=object))
    if array.ndim != 1 or array.size == 0:
        raise ConfigError(f"strengths must be a non-empty 1-D list of numbers, got {strengths!r}")
    return np.array([spec.check_strength(s) for s in array], dtype=np.float64)


def _check_count(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _model_device(model: nn.Module) -> torch.device:
    first = next(iter(model.parameters()), None)
    return first.device if first is not None else torch.device("cpu")


def robustness_curve(
    model_or_run: Any,
    data: Any,
    kind: str,
    strengths: Sequence[float] | np.ndarray,
    n_draws: int = 1,
    seed: int = 0,
    *,
    layers: str | Sequence[str] = "sparse",
    scope: str = "layer",
    nested: bool = True,
    batch_size: int = 512,
    group: str = "all",
    load_model: RunLoader | None = None,
    compiled: bool = True,
    attack: Any = None,
    source: Any = None,
    image_shape: tuple[int, int] | None = None,
    transfer_cache: dict | None = None,
) -> pd.DataFrame:
    """Test accuracy and loss of perturbed copies of trained networks, without retraining.

    Input kinds (attacks and corruptions, :mod:`prunelab.perturb.input_kinds`) perturb the
    test inputs instead and evaluate the unchanged networks on them (:mod:`prunelab.perturb.input_curve`);
    ``layers``, ``scope`` and ``nested`` do not apply to them.

    For each network a working copy is made once; for each draw the randomness is drawn once
    (nested removals, common random numbers for shuffling/noise) and then, for each strength, the
    perturbed link weights are written into the copy and the test set is evaluated under
    ``torch.inference_mode`` in large batches. Removed links are set to weight 0 (for the forward
    pass identical to removing them), so no layer is rebuilt and any backend works. The models
    and runs passed in are never modified.

    Parameters
    ----------
    model_or_run : nn.Module, run path, object with ``.load_model()``, or a list/dict of them
        The trained network(s); see :mod:`prunelab.perturb.targets`.
    data : Dataset with ``x_test`` (n, features) float32 and ``y_test`` (n,) int64, or ``(x, y)``
    kind : str
        One of :data:`prunelab.perturb.KINDS`.
    strengths : sequence of float
        Fractions removed (pruning, [0, 1]), bin widths p (shuffling, [0, 1]), noise m_p (>= 0);
        for input kinds ε in pixel units of [0, 1] inputs or a corruption's severity in [0, 1].
    n_draws : int
        Independent random draws per network (>= 1).
    seed : int
        Draw ``d`` of network number ``i`` uses ``numpy.random.default_rng([seed, i, d])``.
    layers : {"sparse", "readout", "all"} or list of layer names
        Layers perturbed (sparse layers by default).
    scope : {"layer", "global"}
        Per-layer strength (the paper's choice) or one pool of links over the perturbed layers.
    nested : bool
        Reuse one draw of randomness for all strengths (default; removals are nested so curves
        are monotone in the removed set). False: fresh randomness at every strength.
    batch_size : int
        Test inputs per forward pass (512: fastest for the csr kernels, whose activations then stay in cache).
    group : str
        Label written to the ``group`` column (e.g. the regrowth method ``"CH3-L3"``).
    load_model : callable, optional
        ``run path -> nn.Module`` for runs given as paths.
    compiled : bool
        Evaluate through a :class:`prunelab.nn.inference.InferencePlan` when the model is a
        CPU :class:`SparseMLP` (default): batch-contiguous activations, fused bias and ReLU,
        links of weight 0 skipped; same numbers as ``model(x)`` up to float rounding. False, or
        any other model: a private deep copy of the model is evaluated with ``model(x)``.
    attack : prunelab.perturb.inputs.AttackSettings, optional
        Steps, step size and random start of the PGD kinds (default PGD-10, α = 2.5 ε / 10).
    source : network spec, optional
        The network a transfer kind crafts its adversarial inputs on.
    image_shape : (H, W), optional
        Image shape for corruptions (default ``data.image_shape``, else square).
    transfer_cache : dict, optional
        Keeps a transfer kind's adversarial inputs between calls with the same source, data,
        settings and seed (e.g. one call per target run).

    Returns
    -------
    pandas.DataFrame
        One row per network, draw and strength with columns ``group``, ``network``, ``kind``,
        ``draw``, ``strength``, ``accuracy`` (fraction correct), ``loss`` (mean cross-entropy,
        nats), ``removed_fraction`` (fraction of perturbed links set to 0; NaN for shuffling and
        noise), ``baseline_accuracy``/``baseline_loss`` (unperturbed network) and ``chance``
        (1 / number of classes).

    Examples
    --------
    >>> table = robustness_curve(model, (x_test, y_test), "random_pruning",
    ...                          np.linspace(0, 1, 51), n_draws=4, seed=0)  # doctest: +SKIP
    """
    spec = get_kind(kind)
    strength_grid = _check_strengths(spec, strengths)
    n_draws = _check_count(n_draws, "n_draws", 1)
    seed = _check_count(seed, "seed", 0)
    batch_size = _check_count(batch_size, "batch_size", 1)
    check_scope(scope)
    x_all, y_all, n_classes = resolve_data(data)
    if spec.target == "inputs":
        from prunelab.perturb.input_curve import input_curve  # imports this module (a cycle)

        return input_curve(
            spec,
            model_or_run,
            x_all,
            y_all,
            n_classes,
            strength_grid,
            n_draws,
            seed,
            options=attack,
            source=source,
            image_shape=image_shape or getattr(data, "image_shape", None),
            batch_size=batch_size,
            group=group,
            load_model=load_model,
            compiled=compiled,
            transfer_cache=transfer_cache,
        )
    networks = resolve_networks(model_or_run, load_model)

    rows: list[tuple] = []
    for net_index, (net_name, load) in enumerate(networks):
        network = _Evaluator(load(), layers, x_all, y_all, batch_size, compiled)
        originals = [t.values() for t in network.targets]
        n_perturbed = sum(v.size for v in originals)
        baseline = network.evaluate()
        chance = 1.0 / (n_classes or network.n_outputs())
        for draw in range(n_draws):
            apply = (
                spec.prepare(originals, np.random.default_rng([seed, net_index, draw]), scope)
                if nested
                else None
            )
            for s_index, strength in enumerate(strength_grid):
                if strength == 0.0:  # every kind is the identity at strength 0
                    result, n_removed = baseline, 0
                else:
                    if not nested:
                        rng = np.random.default_rng([seed, net_index, draw, s_index])
                        apply = spec.prepare(originals, rng, scope)
                    perturbed = apply(strength)
                    network.set_values(perturbed.values)
                    result = network.evaluate()
                    n_removed = perturbed.n_removed
                removed = (
                    (n_removed / n_perturbed if n_perturbed else 0.0)
                    if spec.removes_links
                    else math.nan
                )
                rows.append(
                    curve_row(
                        group,
                        net_name,
                        spec.name,
                        draw,
                        strength,
                        result,
                        removed,
                        baseline,
                        chance,
                    )
                )
        del network
    return pd.DataFrame(rows, columns=list(CURVE_COLUMNS))


class _Evaluator:
    """Evaluates one network with overwritable link weights, never touching the caller's model.

    Through an :class:`InferencePlan` (a compiled copy) when the model supports it and
    ``compiled``; otherwise through ``model(x)`` on a private deep copy.
    """

    def __init__(
        self,
        model: nn.Module,
        layers,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        compiled: bool,
    ) -> None:
        self.plan = (
            InferencePlan(model) if compiled and plan_unsupported_reason(model) is None else None
        )
        if self.plan is not None:
            self.targets = select_layers(model, layers)  # read-only: the plan holds the weights
            self.batches = self.plan.prepare_inputs(x, batch_size)
            self.y = y
        else:
            self.work = copy.deepcopy(model).eval()
            self.targets = select_layers(self.work, layers)
            device = _model_device(self.work)
            self.x, self.y = x.to(device), y.to(device)
        self.batch_size = batch_size

    def set_values(self, values: Sequence[np.ndarray]) -> None:
        for target, new_values in zip(self.targets, values, strict=True):
            if self.plan is not None:
                self.plan.set_link_values(target.name, new_values)
            else:
                target.set_values(new_values)

    def evaluate(self) -> Evaluation:
        """Loss (mean cross-entropy, nats) and accuracy on the test set."""
        if self.plan is not None:
            return self.plan.evaluate(self.batches, self.y)
        return evaluate(self.work, self.x, self.y, self.batch_size)

    @torch.inference_mode()
    def n_outputs(self) -> int:
        if self.plan is not None:
            return int(self.plan.logits_t(self.batches[0][:, :1].contiguous()).shape[0])
        return int(self.work(self.x[:1]).shape[1])

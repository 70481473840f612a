"""Robustness curves of input kinds: accuracy on attacked or corrupted test inputs, no retraining.

The body of :func:`prunelab.perturb.robustness_curve` for kinds whose ``target`` is
``"inputs"``; the table has the same columns as for the weight kinds (``removed_fraction`` is
NaN), so ensembles, AUC, ε½ (the ``f_half`` of the strength axis) and plots work unchanged.
"""

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
from prunelab.nn.backends import BACKENDS
from prunelab.nn.inference import InferencePlan, plan_unsupported_reason
from prunelab.nn.layer import SparseLinear
from prunelab.perturb.curve import CURVE_COLUMNS, curve_row
from prunelab.perturb.input_kinds import InputKind
from prunelab.perturb.inputs import AttackSettings, no_input_gradient_reason
from prunelab.perturb.targets import RunLoader, resolve_networks
from prunelab.training.engine import evaluate


class _InputEvaluator:
    """Loss and accuracy of one network on any inputs, never touching the caller's model.

    Through an :class:`InferencePlan` when the model supports it and ``compiled`` (fast,
    no autograd), else ``model(x)`` on a private deep copy.
    """

    def __init__(self, model: nn.Module, batch_size: int, compiled: bool) -> None:
        self.plan = (
            InferencePlan(model) if compiled and plan_unsupported_reason(model) is None else None
        )
        self.work = None if self.plan is not None else copy.deepcopy(model).eval()
        self.batch_size = batch_size

    def evaluate(self, x: torch.Tensor, y: torch.Tensor) -> Evaluation:
        """Mean cross-entropy (nats) and accuracy on ``x`` (n, features), ``y`` (n,)."""
        if self.plan is not None:
            return self.plan.evaluate(self.plan.prepare_inputs(x, self.batch_size), y)
        return evaluate(self.work, x, y, self.batch_size)


#: sparse layers at most this dense are attacked through the csr kernels (see :func:`attack_copy`)
CSR_ATTACK_DENSITY = 0.1


def attack_copy(model: nn.Module) -> nn.Module:
    """The model to take input gradients of: ``model`` itself, or a copy whose sparse layers use csr.

    A magnitude-pruned network stored on the masked backend (a dense weight times a mask)
    costs a dense n_in x n_out product per layer and step although 99% of it is zeros; its
    layers of density <= :data:`CSR_ATTACK_DENSITY` are rebuilt on the csr backend (same links
    and weights; the input gradients of the two backends agree to float rounding), so an attack
    costs O(links) per step. The caller's model is never modified.
    """
    slow = [
        m
        for m in model.modules()
        if isinstance(m, SparseLinear)
        and m.backend_name != "csr"
        and m.density <= CSR_ATTACK_DENSITY
        and not any(p.is_cuda for p in m.parameters())
    ]
    if not slow or "csr" not in BACKENDS:
        return model
    work = copy.deepcopy(model)
    for layer in work.modules():
        if (
            isinstance(layer, SparseLinear)
            and layer.backend_name != "csr"
            and layer.density <= CSR_ATTACK_DENSITY
        ):
            rows, cols = layer.link_index()
            layer.kernel = BACKENDS.get("csr")(
                layer.n_in, layer.n_out, rows, cols, layer.link_values().clone()
            )
            layer.backend_name = "csr"
    return work


def input_curve(
    spec: InputKind,
    networks: Any,
    x: torch.Tensor,
    y: torch.Tensor,
    n_classes: int | None,
    strengths: Sequence[float] | np.ndarray,
    n_draws: int,
    seed: int,
    *,
    options: AttackSettings | None = None,
    source: Any = None,
    image_shape: tuple[int, int] | None = None,
    batch_size: int = 512,
    group: str = "all",
    load_model: RunLoader | None = None,
    compiled: bool = True,
    transfer_cache: dict | None = None,
) -> pd.DataFrame:
    """Curve rows of an input kind for every network (see :func:`prunelab.perturb.robustness_curve`).

    Draw ``d`` of network number ``i`` seeds its perturbation with ``[seed, i, d]``; a transfer
    attack uses ``[seed, d]`` for every target network, so all targets are evaluated on the same
    adversarial inputs (crafted once on the source; ``transfer_cache``, a dict the caller keeps
    for one source, inputs and settings, shares them between calls). Kinds without randomness
    (FGSM, PGD without random start, blur, contrast) are computed for draw 0 and repeated.
    """
    strength_grid = np.array(
        [spec.check_input_strength(s, x.shape[1]) for s in strengths], dtype=np.float64
    )
    source_model = None
    if spec.transfer:
        if source is None:
            raise ConfigError(
                f"{spec.name} needs a source network to craft the adversarial inputs on; "
                "pass source=... (the study option transfer_source: RUN)"
            )
        (_, load_source), *rest = resolve_networks(source, load_model)
        if rest:
            raise ConfigError(
                "a transfer attack takes one source network; pass a single model or run"
            )
        source_model = attack_copy(load_source())
        reason = no_input_gradient_reason(source_model, x)
        if reason is not None:
            raise ConfigError(
                f"cannot craft {spec.name} on the source network: {reason}; choose a differentiable source"
            )
    random = spec.is_random(options)
    # transfer inputs, the same for every target: (draw, strength) -> inputs
    shared: dict[tuple[int, float], torch.Tensor] = (
        transfer_cache if transfer_cache is not None else {}
    )
    rows: list[tuple] = []
    for net_index, (net_name, load) in enumerate(resolve_networks(networks, load_model)):
        model = load()
        if spec.needs_gradients:
            reason = no_input_gradient_reason(model, x)
            if reason is not None:
                raise ConfigError(
                    f"cannot attack network {net_name}: {reason}; use transfer_pgd from a differentiable "
                    "source network or a corruption kind"
                )
        evaluator = _InputEvaluator(model, batch_size, compiled)
        baseline = evaluator.evaluate(x, y)
        chance = 1.0 / (n_classes or int(_n_outputs(model, x)))
        computed: dict[float, Evaluation] = {}
        attacker = None
        for draw in range(n_draws):
            if random or draw == 0:
                rng = np.random.default_rng(
                    [seed, draw] if spec.transfer else [seed, net_index, draw]
                )
                if spec.needs_gradients and attacker is None:
                    attacker = attack_copy(model)
                apply = spec.prepare_inputs(
                    source_model if spec.transfer else attacker,
                    x,
                    y,
                    rng,
                    options,
                    image_shape,
                    batch_size,
                )
                computed = {}
                for strength in strength_grid:
                    if strength == 0.0:  # every kind is the identity at strength 0
                        computed[strength] = baseline
                        continue
                    key = (draw, float(strength))
                    if spec.transfer and key not in shared:
                        shared[key] = apply(strength)
                    perturbed = shared[key] if spec.transfer else apply(strength)
                    computed[strength] = evaluator.evaluate(perturbed, y)
            for strength in strength_grid:
                rows.append(
                    curve_row(
                        group,
                        net_name,
                        spec.name,
                        draw,
                        strength,
                        computed[strength],
                        math.nan,  # inputs are perturbed, no link is removed
                        baseline,
                        chance,
                    )
                )
        del evaluator
    return pd.DataFrame(rows, columns=list(CURVE_COLUMNS))


@torch.inference_mode()
def _n_outputs(model: nn.Module, x: torch.Tensor) -> int:
    return int(model(x[:1]).shape[1])

"""The scores of pruning at initialisation, by name: :data:`PAI_METHODS`.

Definitions follow the Synaptic-Flow reference code (Tanaka et al. 2020, arXiv:2006.05467;
github ganguli-lab/Synaptic-Flow), which the graphon-limit paper (Pham et al. 2025,
arXiv:2510.17515) used to make its masks:

- ``random``: standard Gaussian scores;
- ``magnitude``: ``|W|``;
- ``snip`` (Lee et al. 2019, arXiv:1810.02340): ``|Σ_b ∂L_b/∂m|`` with ``m`` a multiplicative gate
  on every weight evaluated at the current mask (``m = 1`` before any pruning) and ``L_b`` the mean
  cross-entropy of batch ``b``; the absolute value is taken after summing over batches, then the
  scores are divided by their sum over all ranked weights;
- ``grasp`` (Wang et al. 2020, arXiv:2002.07376): logits divided by ``T = 200``,
  ``g = Σ_b ∇_W L_b``, ``Hg = Σ_b ∇_W ⟨g, ∇_W L_b⟩`` with ``g`` held constant, score ``W ⊙ Hg``
  (signed) divided by ``|Σ score| + 1e-10``; the largest scores are kept;
- ``synflow`` (Tanaka et al. 2020): every floating parameter and buffer replaced by its absolute
  value, biases included, in float64; input one all-ones sample; ``R`` the sum of the outputs;
  score ``|∂R/∂W ⊙ W|``. No data needed.

A method is ``fn(twin, masks, batches, generator) -> {name: tensor}``: ``twin`` a
:class:`~prunelab.pai.weights.Twin` (already in the method's dtype, see :data:`DTYPES`),
``masks`` the current float mask of every ranked weight (1 = present), ``batches`` a list of
``(x, y)`` tensors. Scores of pruned positions are set to exactly 0 by the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch.nn import functional as F

from prunelab.core.registry import Registry
from prunelab.errors import ConfigError
from prunelab.pai.weights import Twin

Batches = Sequence[tuple[torch.Tensor, torch.Tensor]]
PaIMethod = Callable[
    [Twin, dict[str, torch.Tensor], Batches, "torch.Generator | None"], dict[str, torch.Tensor]
]

#: pruning-at-initialisation scores by name
PAI_METHODS: Registry[PaIMethod] = Registry("pruning-at-initialisation method")

#: methods that need scoring data (the others ignore it)
NEEDS_DATA = ("snip", "grasp")
#: methods computed in float64 (the others in float32)
DTYPES = {"synflow": torch.float64}

GRASP_TEMPERATURE = 200.0
GRASP_EPS = 1e-10


def _require_data(method: str, batches: Batches) -> None:
    if not batches:
        raise ConfigError(
            f"method {method!r} needs scoring data; pass batch=(x, y) "
            "(the reference uses 10 samples per class)"
        )


@PAI_METHODS.register("random")
def random_scores(
    twin: Twin,
    masks: dict[str, torch.Tensor],
    batches: Batches,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """Standard Gaussian scores (random pruning)."""
    return {
        name: torch.randn(m.shape, generator=generator, dtype=torch.float64)
        for name, m in masks.items()
    }


@PAI_METHODS.register("magnitude")
def magnitude_scores(
    twin: Twin,
    masks: dict[str, torch.Tensor],
    batches: Batches,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """|W|: keep the largest initial weights."""
    return {name: twin.values[name].detach().abs() for name in masks}


@PAI_METHODS.register("snip")
def snip_scores(
    twin: Twin,
    masks: dict[str, torch.Tensor],
    batches: Batches,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """|Σ_b ∂L_b/∂m| at the current mask, normalised to sum 1 (connection sensitivity)."""
    _require_data("snip", batches)
    names = list(masks)
    gates = [masks[n].clone().requires_grad_(True) for n in names]
    total = [torch.zeros_like(g) for g in gates]
    for x, y in batches:
        overrides = {n: twin.values[n] * g for n, g in zip(names, gates)}
        loss = F.cross_entropy(twin.forward(x.to(twin.dtype), overrides), y)
        for acc, grad in zip(total, torch.autograd.grad(loss, gates, allow_unused=True)):
            if grad is not None:
                acc += grad
    # pruned positions score 0 before the normalisation (their gate gradient is not 0)
    scores = {n: t.abs() * masks[n] for n, t in zip(names, total)}
    norm = sum(float(s.sum()) for s in scores.values())
    return {n: s / norm if norm > 0 else s for n, s in scores.items()}


@PAI_METHODS.register("grasp")
def grasp_scores(
    twin: Twin,
    masks: dict[str, torch.Tensor],
    batches: Batches,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """W ⊙ Hg at temperature 200, signed, normalised by |Σ score| + 1e-10 (gradient signal preservation)."""
    _require_data("grasp", batches)
    names = list(masks)
    leaves = [twin.values[n].detach().clone().requires_grad_(True) for n in names]

    def loss_of(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        overrides = {n: w * masks[n] for n, w in zip(names, leaves)}
        return F.cross_entropy(twin.forward(x.to(twin.dtype), overrides) / GRASP_TEMPERATURE, y)

    g = [torch.zeros_like(w) for w in leaves]
    for x, y in batches:
        for acc, grad in zip(g, torch.autograd.grad(loss_of(x, y), leaves, allow_unused=True)):
            if grad is not None:
                acc += grad
    hg = [torch.zeros_like(w) for w in leaves]
    for x, y in batches:
        grads = torch.autograd.grad(loss_of(x, y), leaves, create_graph=True, allow_unused=True)
        inner = sum((gc * gr).sum() for gc, gr in zip(g, grads) if gr is not None)
        if not torch.is_tensor(inner) or not inner.requires_grad:
            continue  # no second-order path (e.g. a linear network): Hg is 0 for this batch
        for acc, h in zip(hg, torch.autograd.grad(inner, leaves, allow_unused=True)):
            if h is not None:
                acc += h
    scores = {n: (w.detach() * h) for n, w, h in zip(names, leaves, hg)}
    norm = abs(sum(float(s.sum()) for s in scores.values())) + GRASP_EPS
    return {n: s / norm for n, s in scores.items()}


@PAI_METHODS.register("synflow")
def synflow_scores(
    twin: Twin,
    masks: dict[str, torch.Tensor],
    batches: Batches,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """|∂R/∂W ⊙ W| of the linearised network (|θ|, all-ones input), data-free (iterative synaptic flow).

    ``twin`` must already be linearised (:meth:`Twin.absolute`) and in float64.
    """
    names = list(masks)
    leaves = [twin.values[n].detach().clone().requires_grad_(True) for n in names]
    x = torch.ones((1, *twin.input_shape), dtype=twin.dtype)
    out = twin.forward(x, {n: w * masks[n] for n, w in zip(names, leaves)})
    grads = torch.autograd.grad(out.sum(), leaves, allow_unused=True)
    return {
        n: (torch.zeros_like(w) if gr is None else (gr * w).abs()).detach()
        for n, w, gr in zip(names, leaves, grads)
    }

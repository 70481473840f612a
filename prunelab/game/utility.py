"""The utilities of the pruning game (Shah & Khan 2025, arXiv:2512.22106), as plain formulas.

Every player ``i`` (a neuron, a channel or a link) has a participation ``s_i`` in [0, 1]; the
network uses ``s_i θ_i``. Its utility is

    U_i(s_i, s_−i) = α s_i b_i − β ‖θ_i‖² s_i² − γ |s_i| − η s_i Σ_{j≠i} s_j ⟨θ_i, θ_j⟩,

where ``b_i`` is the *benefit coefficient*: the inner product ⟨∇L, θ_i⟩ turned by the options
``benefit`` (its sign) and ``gradient`` (which gradient; see :data:`BENEFITS`,
:data:`GRADIENTS` and ``docs/definitions.md``). For fixed θ and fixed ``b`` the utility is a
concave quadratic in ``s_i``, so the best response is a clipped soft threshold
(:func:`best_response`).

The functions below use only arithmetic operators and ``.clip``, so they accept NumPy arrays and
torch tensors alike: the training hook calls them on tensors every step, the equilibrium checker on
arrays. Shapes: every argument is (n_players,) or a scalar; results have the broadcast shape.
Units: utilities are in the units of the loss (nats per sample for a mean-reduced cross-entropy).

Examples
--------
>>> import numpy as np
>>> best_response(b=np.array([1.0, -1.0]), norm_sq=np.array([1.0, 1.0]), competition=0.0,
...               alpha=1.0, beta=1.0, gamma=0.0, eta=0.0).tolist()
[0.5, 0.0]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prunelab.core.registry import Registry

Array = Any  # numpy.ndarray or torch.Tensor of shape (n_players,)

#: sign conventions of the benefit: ``coef -> b`` with ``coef = ⟨∇L, θ_i⟩``
BENEFITS: Registry[Callable[[Array], Array]] = Registry("benefit sign")
BENEFITS.register(
    "paper",
    lambda coef: coef,
    help="+⟨∇L, θ_i⟩ as written: rewards participation when raising s_i raises the loss",
)
BENEFITS.register(
    "descent",
    lambda coef: -coef,
    help="−⟨∇L, θ_i⟩: the first-order loss reduction the player delivers",
)
BENEFITS.register(
    "abs", lambda coef: abs(coef), help="|⟨∇L, θ_i⟩|: the size of the player's first-order effect"
)

#: which gradient enters ⟨∇L, θ_i⟩: ``(dL/ds_i, s_i) -> ⟨∇L, θ_i⟩``
GRADIENTS: Registry[Callable[[Array, Array], Array]] = Registry("benefit gradient")
# ⟨∂L/∂θ_i, θ_i⟩ with θ_i the raw parameters: the network uses s_i θ_i, so ∂L/∂θ_i = s_i ∂L/∂(s_i θ_i)
# and the inner product is s_i dL/ds_i; it vanishes at s_i = 0, which makes s_i = 0 absorbing
GRADIENTS.register(
    "raw",
    lambda dl_ds, s: s * dl_ds,
    help="gradient at the raw θ_i (as written; s_i = 0 is absorbing)",
)
# ⟨∂L/∂(s_i θ_i), θ_i⟩ = dL/ds_i by the chain rule: nonzero at s_i = 0, so a player can come back
GRADIENTS.register(
    "effective",
    lambda dl_ds, s: dl_ds,
    help="gradient at the effective s_i θ_i (a pruned player can come back)",
)


def benefit_coefficient(
    dl_ds: Array, s: Array, benefit: str = "paper", gradient: str = "raw"
) -> Array:
    """The benefit coefficient ``b_i`` (so that ``B_i = α s_i b_i``).

    Parameters
    ----------
    dl_ds : array (n,)
        dL/ds_i, the loss gradient at the participations (units of the loss).
    s : array (n,)
        Participations in [0, 1].
    benefit : str
        A name in :data:`BENEFITS`.
    gradient : str
        A name in :data:`GRADIENTS`.

    Returns
    -------
    array (n,)
    """
    return BENEFITS.get(benefit)(GRADIENTS.get(gradient)(dl_ds, s))


def marginal_utility(
    s: Array,
    b: Array,
    norm_sq: Array,
    competition: Array,
    alpha: float,
    beta: float,
    gamma: float,
    eta: float,
) -> Array:
    """∂U_i/∂s_i = α b_i − 2β‖θ_i‖² s_i − γ − η c_i for s_i ≥ 0.

    Parameters
    ----------
    s, b, norm_sq : array (n,)
        Participations, benefit coefficients and squared group norms ‖θ_i‖².
    competition : array (n,) or float
        c_i = Σ_{j≠i} s_j ⟨θ_i, θ_j⟩ (0 when η = 0).
    alpha, beta, gamma, eta : float
        The game's weights (β, γ, η ≥ 0).
    """
    return alpha * b - 2.0 * beta * norm_sq * s - gamma - eta * competition


def utility(
    s: Array,
    b: Array,
    norm_sq: Array,
    competition: Array,
    alpha: float,
    beta: float,
    gamma: float,
    eta: float,
) -> Array:
    """U_i at participation ``s`` (others' participations enter through ``competition``).

    Returns
    -------
    array (n,)
        α s b − β‖θ‖² s² − γ|s| − η s c, in loss units.
    """
    return alpha * s * b - beta * norm_sq * s * s - gamma * abs(s) - eta * s * competition


def cost_terms(
    s: Array, norm_sq: Array, competition: Array, beta: float, gamma: float, eta: float
) -> tuple[Array, Array, Array]:
    """The three costs ``(β‖θ‖² s², γ|s|, η s c)``, each (n,)."""
    return beta * norm_sq * s * s, gamma * abs(s), eta * s * competition


def best_response(
    b: Array,
    norm_sq: Array,
    competition: Array,
    alpha: float,
    beta: float,
    gamma: float,
    eta: float,
    current: Array | None = None,
) -> Array:
    """argmax over s′ in [0, 1] of U_i(s′, s_−i): the clipped soft threshold.

    ``s* = clip((α b − γ − η c) / (2 β ‖θ‖²), 0, 1)`` where ``β‖θ‖² > 0``. Where the quadratic
    term vanishes U_i is linear: ``s* = 1`` for a positive slope, 0 for a negative one, and the
    ``current`` value (default 0) for a flat one (every s′ is then a best response).

    Returns
    -------
    array (n,)
        Best responses in [0, 1].
    """
    slope = alpha * b - gamma - eta * competition
    curv = 2.0 * beta * norm_sq
    flat = curv <= 0
    safe = curv + flat * 1.0  # avoid 0/0 where U is linear; those entries are replaced below
    out = (slope / safe).clip(0.0, 1.0)
    linear = (slope > 0) * 1.0 + (slope == 0) * (0.0 if current is None else current)
    return out * (1 - flat * 1.0) + linear * flat


#: reduction of the loss in the benefit: ``batch_size -> factor`` on dL/ds of the mean loss
REDUCTIONS: Registry[Callable[[int], float]] = Registry("loss reduction")
REDUCTIONS.register("mean", lambda batch_size: 1.0, help="mean over the batch (the Trainer's loss)")
REDUCTIONS.register(
    "sum",
    lambda batch_size: float(batch_size),
    help="sum over the batch: the benefit is batch_size times that of the mean",
)


def _unit_rows(theta: Any) -> Any:
    norms = ((theta * theta).sum(1) ** 0.5)[:, None]
    return theta / (norms + (norms == 0) * 1.0)


#: inner product of the competition term: ``theta (n, d) -> rows whose Gram matrix is used``
COMPETITIONS: Registry[Callable[[Any], Any]] = Registry("competition inner product")
COMPETITIONS.register("raw", lambda theta: theta, help="⟨θ_i, θ_j⟩")
COMPETITIONS.register("cosine", _unit_rows, help="⟨θ_i, θ_j⟩ / (‖θ_i‖ ‖θ_j‖) (0 for a zero group)")


def competition(theta: Any, s: Array, kind: str = "raw") -> Array:
    """c_i = Σ_{j≠i} s_j K_ij with K the Gram matrix of the (normalised) group vectors.

    Computed as ``Θ (Θᵀ s) − s_i K_ii`` in O(n d), without forming the n x n Gram matrix.

    Parameters
    ----------
    theta : array (n, d)
        Group vectors of the players of one layer (competition stays within a layer).
    s : array (n,)
    kind : str
        A name in :data:`COMPETITIONS`.

    Returns
    -------
    array (n,)
    """
    rows = COMPETITIONS.get(kind)(theta)
    return rows @ (rows.T @ s) - s * (rows * rows).sum(1)

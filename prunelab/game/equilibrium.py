"""Equilibrium analysis of the pruning game for fixed θ: deviation gains, dominance, contraction, solver.

For fixed θ (and fixed benefit coefficients ``b``) the game of each layer is a set of concave
quadratic utilities coupled only through the competition term, so:

- a player's **best unilateral deviation gain** is ``max_{s'∈[0,1]} U_i(s', s_−i) − U_i(s_i, s_−i)``,
  in closed form through :func:`~prunelab.game.utility.best_response`;
- a player is **dominated** when ``U_i(0, s_−i) > U_i(s, s_−i)`` for every ``s > 0``. With
  ``a_i = α b_i − γ − η c_i`` (the slope at 0), ``U_i(s) − U_i(0) = s (a_i − β‖θ_i‖² s)``, so this
  holds exactly when ``a_i < 0``, or ``a_i = 0`` and ``β‖θ_i‖² > 0``;
- the best-response map ``s -> BR(s)`` is Lipschitz in the max-norm with constant
  ``κ = max_i η Σ_{j≠i} |K_ij| / (2β‖θ_i‖²)`` (K the Gram matrix of the competition); ``κ < 1``
  is the sufficient condition for a contraction, hence a unique equilibrium that best-response
  iteration reaches from any start.

Everything here is NumPy on plain arrays (one :class:`LayerGame` per layer; competition never
crosses layers). :func:`solve_best_response` can re-measure ``b`` at every round through a callback,
since in the network the loss, hence the benefit, depends on every participation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from prunelab.game.utility import COMPETITIONS, best_response, competition, utility


@dataclass(frozen=True)
class GameParams:
    """The game's weights: benefit α, L2 cost β, L1 cost γ, competition η (β, γ, η ≥ 0)."""

    alpha: float = 1.0
    beta: float = 0.1
    gamma: float = 0.0
    eta: float = 0.0
    competition: str = "raw"

    @classmethod
    def of(cls, cfg: object) -> GameParams:
        """From a :class:`~prunelab.game.config.GameConfig` (or anything with those attributes)."""
        return cls(cfg.alpha, cfg.beta, cfg.gamma, cfg.eta, cfg.competition)  # type: ignore[attr-defined]


@dataclass
class LayerGame:
    """The players of one layer for fixed θ.

    Attributes
    ----------
    name : str
    s : ndarray (n,), float64
        Participations in [0, 1].
    b : ndarray (n,), float64
        Benefit coefficients (loss units).
    norm_sq : ndarray (n,), float64
        ‖θ_i‖².
    theta : ndarray (n, d), optional
        Group vectors; needed only when η > 0 (competition, contraction bound).
    """

    name: str
    s: np.ndarray
    b: np.ndarray
    norm_sq: np.ndarray
    theta: np.ndarray | None = None

    def competition(self, s: np.ndarray, params: GameParams) -> np.ndarray:
        """c_i = Σ_{j≠i} s_j K_ij (zeros when η = 0 or θ is not given)."""
        if params.eta == 0 or self.theta is None:
            return np.zeros_like(s)
        return competition(self.theta, s, params.competition)


def _args(p: GameParams) -> tuple[float, float, float, float]:
    return p.alpha, p.beta, p.gamma, p.eta


def deviation_gains(layer: LayerGame, params: GameParams) -> tuple[np.ndarray, np.ndarray]:
    """Best responses and best unilateral deviation gains of one layer's players.

    Returns
    -------
    (best, gain) : ndarray (n,), ndarray (n,)
        ``best`` in [0, 1]; ``gain = U(best) − U(s) ≥ 0`` (loss units).
    """
    c = layer.competition(layer.s, params)
    best = best_response(layer.b, layer.norm_sq, c, *_args(params), current=layer.s)
    gain = utility(best, layer.b, layer.norm_sq, c, *_args(params)) - utility(
        layer.s, layer.b, layer.norm_sq, c, *_args(params)
    )
    return best, np.maximum(gain, 0.0)  # clip rounding noise: the best response never loses


def dominated(layer: LayerGame, params: GameParams) -> np.ndarray:
    """Bool (n,): zero participation strictly beats every s > 0 (see the module docstring)."""
    c = layer.competition(layer.s, params)
    slope = params.alpha * layer.b - params.gamma - params.eta * c
    return (slope < 0) | ((slope == 0) & (params.beta * layer.norm_sq > 0))


def row_abs_sums(theta: np.ndarray, kind: str = "raw", block: int = 1024) -> np.ndarray:
    """Σ_{j≠i} |K_ij| for the Gram matrix K of the (normalised) rows of ``theta`` (n, d).

    One-dimensional groups (links) use ``|θ_i| (Σ_j |θ_j| − |θ_i|)`` in O(n); otherwise the Gram
    matrix is formed in row blocks of ``block`` (O(n² d) time, O(block · n) memory).
    """
    rows = np.asarray(COMPETITIONS.get(kind)(np.asarray(theta, dtype=np.float64)))
    if rows.shape[1] == 1:
        a = np.abs(rows[:, 0])
        return a * (a.sum() - a)
    out = np.empty(rows.shape[0])
    for start in range(0, rows.shape[0], block):
        k = np.abs(rows[start : start + block] @ rows.T)
        out[start : start + block] = k.sum(1) - np.diag(k, start)
    return out


def contraction_factor(layers: Sequence[LayerGame], params: GameParams) -> float:
    """κ = max_i η Σ_{j≠i} |K_ij| / (2β‖θ_i‖²) over all players; κ < 1 is a contraction.

    Returns 0 when η = 0 (best responses do not depend on the others) and ``inf`` when some
    player with competition has no quadratic cost.
    """
    if params.eta == 0:
        return 0.0
    worst = 0.0
    for layer in layers:
        if layer.theta is None:
            raise ValueError(f"contraction bound of {layer.name!r} needs theta")
        num = params.eta * row_abs_sums(layer.theta, params.competition)
        den = 2.0 * params.beta * layer.norm_sq
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(num == 0, 0.0, num / den)
        worst = max(worst, float(np.nanmax(ratio)) if ratio.size else 0.0)
    return worst


@dataclass
class EquilibriumReport:
    """What :func:`check_equilibrium` finds.

    Attributes
    ----------
    best, gain : list of ndarray (n_l,)
        Per layer: best responses and deviation gains.
    dominated : list of ndarray (n_l,), bool
    status : list of ndarray (n_l,), str
        ``"at0"`` (s < ε), ``"at1"`` (s > 1 − ε) or ``"between"``.
    summary : dict of str to float
        ``within_tol`` (fraction of players with gain <= tolerance), ``within_tol_at0/at1/between``
        (the same within each status; NaN for an empty status), ``frac_at0/at1/between``,
        ``dominated`` (fraction), ``dominated_at0`` (fraction of dominated players with s < ε),
        ``max_gain``, ``mean_gain`` (loss units), ``kappa`` (contraction factor), ``contraction``
        (1.0 if κ < 1).
    """

    best: list[np.ndarray]
    gain: list[np.ndarray]
    dominated: list[np.ndarray]
    status: list[np.ndarray]
    summary: dict[str, float] = field(default_factory=dict)


def _frac(mask: np.ndarray, within: np.ndarray) -> float:
    return float(within[mask].mean()) if mask.any() else float("nan")


def check_equilibrium(
    layers: Sequence[LayerGame], params: GameParams, tolerance: float = 1e-4, epsilon: float = 0.01
) -> EquilibriumReport:
    """Deviation gains, dominance and the contraction bound of every player.

    Parameters
    ----------
    layers : sequence of LayerGame
    params : GameParams
    tolerance : float
        Gain (loss units) below which a player counts as at equilibrium.
    epsilon : float
        Participation below which a player counts as at 0 (and above 1 − ε, at 1).
    """
    best, gain, dom, status = [], [], [], []
    for layer in layers:
        b, g = deviation_gains(layer, params)
        best.append(b)
        gain.append(g)
        dom.append(dominated(layer, params))
        st = np.where(layer.s < epsilon, "at0", np.where(layer.s > 1 - epsilon, "at1", "between"))
        status.append(st)
    all_gain, all_status, all_dom = (
        np.concatenate(gain),
        np.concatenate(status),
        np.concatenate(dom),
    )
    all_s = np.concatenate([layer.s for layer in layers])
    within = all_gain <= tolerance
    kappa = contraction_factor(layers, params)
    summary = {
        "within_tol": float(within.mean()),
        **{f"within_tol_{k}": _frac(all_status == k, within) for k in ("at0", "at1", "between")},
        **{f"frac_{k}": float((all_status == k).mean()) for k in ("at0", "at1", "between")},
        "dominated": float(all_dom.mean()),
        "dominated_at0": _frac(all_dom, all_s < epsilon),
        "max_gain": float(all_gain.max()),
        "mean_gain": float(all_gain.mean()),
        "kappa": kappa,
        "contraction": float(kappa < 1),
    }
    return EquilibriumReport(best, gain, dom, status, summary)


@dataclass
class SolverResult:
    """The outcome of :func:`solve_best_response`.

    Attributes
    ----------
    s : list of ndarray (n_l,)
        Participations after the last round.
    iterations : int
    converged : bool
        The last round changed no participation by ``tol`` or more.
    changes : list of float
        max_i |Δs_i| of every round.
    """

    s: list[np.ndarray]
    iterations: int
    converged: bool
    changes: list[float]


def solve_best_response(
    layers: Sequence[LayerGame],
    params: GameParams,
    iterations: int = 30,
    damping: float = 0.5,
    tol: float = 1e-4,
    benefit_fn: Callable[[list[np.ndarray]], list[np.ndarray]] | None = None,
) -> SolverResult:
    """Iterate damped simultaneous best responses from the layers' ``s`` for fixed θ.

    ``s <- (1 − damping) s + damping BR(s)``, where BR uses the benefit coefficients of the layers
    or, with ``benefit_fn(s) -> [b_l]``, those re-measured at the current ``s``.

    Returns
    -------
    SolverResult
    """
    s = [np.asarray(layer.s, dtype=np.float64).copy() for layer in layers]
    changes: list[float] = []
    for _ in range(int(iterations)):
        bs = benefit_fn(s) if benefit_fn is not None else [layer.b for layer in layers]
        new = []
        for layer, s_l, b_l in zip(layers, s, bs):
            c = layer.competition(s_l, params)
            br = best_response(
                np.asarray(b_l, dtype=np.float64), layer.norm_sq, c, *_args(params), current=s_l
            )
            new.append((1 - damping) * s_l + damping * br)
        changes.append(max(float(np.max(np.abs(n - o))) if n.size else 0.0 for n, o in zip(new, s)))
        s = new
        if changes[-1] < tol:
            break
    return SolverResult(s, len(changes), bool(changes and changes[-1] < tol), changes)

"""Pruning at initialisation: :func:`score` and :func:`prune` (the public contract of :mod:`prunelab.pai`).

Masks follow the Synaptic-Flow reference (Tanaka et al. 2020, arXiv:2006.05467): with ``N``
weights in the ranking (all ranked weights for ``scope="global"``, one layer's for ``"layer"``),
``k = int((1 − density) · N)`` are removed, the ``k`` smallest scores and every weight tied with
the ``k``-th smallest (:func:`prunelab.core.selection.select_top` with ``ties="drop"``). Iterative
pruning runs ``rounds`` rounds; round ``e`` of ``E`` targets the density of :data:`SCHEDULES`
and recomputes the scores on the masked network, where a pruned weight scores exactly 0.

prunelab's additions (``docs/definitions.md``, "Pruning at initialisation and graphon limits"):
pruned weights stay pruned (masks are nested) — in the ranking a pruned weight's key is its
score 0 when every live score is ≥ 0 (the reference's behaviour) and below every live score
otherwise (GraSP and random scores are signed; the reference could revive such weights).
Positions where a sparse layer has no link count as pruned from the start, so ``density`` is
always relative to the complete layers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from prunelab.core.registry import Registry
from prunelab.core.selection import keep_top
from prunelab.errors import ConfigError, check_density
from prunelab.pai.chain import ChainSynFlow, linear_chain
from prunelab.pai.methods import DTYPES, NEEDS_DATA, PAI_METHODS, _require_data
from prunelab.pai.weights import Twin, as_batches, current_masks, input_shape, select_weights

#: density schedules of iterative pruning: ``fn(density, e, rounds) -> target density of round e``
SCHEDULES: Registry[Any] = Registry("pruning schedule")
#: ranking scopes: ``fn(live_scores, totals, density) -> keep`` over one flat array of live scores
#: and the number of weights (pruned included) per weight tensor
SCOPES: Registry[Any] = Registry("pruning scope")

#: rounds when ``rounds=None``
DEFAULT_ROUNDS = {"synflow": 100}


@SCHEDULES.register("exponential")
def exponential(density: float, e: int, rounds: int) -> float:
    """density^((e+1)/E): equal fractions removed per round (SynFlow's schedule)."""
    return density ** ((e + 1) / rounds)


@SCHEDULES.register("linear")
def linear(density: float, e: int, rounds: int) -> float:
    """1 − (1 − density)(e+1)/E: equal numbers removed per round."""
    return 1.0 - (1.0 - density) * (e + 1) / rounds


def _keep_live(values: np.ndarray, n_total: int, density: float) -> np.ndarray:
    """Which live weights survive one ranking of ``n_total`` weights (the others already pruned).

    Equivalent to ranking :func:`ranking_keys` of all ``n_total`` weights with ``ties="drop"``, but it
    selects among the live weights only (pruned keys sit at the bottom), which is what makes 100
    SynFlow rounds on millions of weights affordable: the selection shrinks with the network.

    Parameters
    ----------
    values : ndarray (n_live,), float64
        Scores of the live weights.
    n_total : int
        Weights in the ranking, pruned ones included.
    density : float

    Returns
    -------
    ndarray (n_live,), bool
    """
    removed = int((1.0 - density) * n_total)
    n_pruned = n_total - values.size
    if removed < 1 or values.size == 0:
        return np.ones(values.size, dtype=bool)
    if removed <= n_pruned:
        # the removed-th smallest key is a pruned one (0 or -inf); live weights tied with it go too
        return values > 0 if values.min() >= 0 else np.ones(values.size, dtype=bool)
    return keep_top(values, n_total - removed, ties="drop")


@SCOPES.register("global")
def global_scope(
    values: Sequence[np.ndarray], totals: Sequence[int], density: float
) -> list[np.ndarray]:
    """All ranked weights compete for one budget (layers may end with different densities)."""
    keep = _keep_live(np.concatenate(list(values)), int(sum(totals)), density)
    return np.split(keep, np.cumsum([v.size for v in values])[:-1])


@SCOPES.register("layer")
def layer_scope(
    values: Sequence[np.ndarray], totals: Sequence[int], density: float
) -> list[np.ndarray]:
    """Every weight tensor keeps the density on its own."""
    return [_keep_live(v, int(t), density) for v, t in zip(values, totals)]


def ranking_keys(scores: Sequence[np.ndarray], masks: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Flat float64 ranking keys: live scores as they are, pruned positions below or at the bottom.

    A pruned position's key is 0 when every live score is ≥ 0 (it then ties with the smallest
    possible score, as in the reference) and ``-inf`` otherwise, so it is always removed first.
    """
    flat_s = [np.asarray(s, dtype=np.float64).ravel() for s in scores]
    flat_m = [np.asarray(m, dtype=bool).ravel() for m in masks]
    live = [s[m] for s, m in zip(flat_s, flat_m)]
    lowest = min((float(v.min()) for v in live if v.size), default=0.0)
    floor = 0.0 if lowest >= 0 else -np.inf
    return [np.where(m, s, floor) for s, m in zip(flat_s, flat_m)]


def _check(
    method: str, density: float | None, rounds: int | None, schedule: str, scope: str
) -> int:
    PAI_METHODS.check(method)
    if density is not None:
        check_density(density)
    SCHEDULES.check(schedule)
    SCOPES.check(scope)
    if rounds is None:
        return DEFAULT_ROUNDS.get(method, 1)
    if isinstance(rounds, bool) or not isinstance(rounds, (int, np.integer)) or rounds < 1:
        raise ConfigError(
            f"rounds must be a whole number >= 1, got {rounds!r}; e.g. rounds=100 for SynFlow"
        )
    return int(rounds)


class _Session:
    """One scoring twin of a model and the current masks of its ranked weights."""

    def __init__(
        self,
        model: nn.Module,
        method: str,
        batch: Any,
        weights: Sequence[str] | None,
        seed: int | None,
    ) -> None:
        self.method = method
        self.batches = as_batches(batch)
        if method in NEEDS_DATA:
            _require_data(method, self.batches)
        self.weights = select_weights(model, weights)
        self.masks = current_masks(model, self.weights)
        self.totals = {n: m.size for n, m in self.masks.items()}
        dtype = DTYPES.get(method, torch.float32)
        self.twin = Twin(model, self.weights, dtype)
        self.twin.input_shape = input_shape(model, self.batches)
        if method == "synflow":
            self.twin.absolute()
        self.batches = [(x.to(dtype), y) for x, y in self.batches]
        self.generator = torch.Generator().manual_seed(int(seed)) if seed is not None else None

    def _raw(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        live = {n: torch.from_numpy(m) for n, m in self.masks.items()}
        gates = {n: m.to(self.twin.dtype) for n, m in live.items()}
        return PAI_METHODS.get(self.method)(self.twin, gates, self.batches, self.generator), live

    def scores(self) -> dict[str, np.ndarray]:
        """Full score arrays (float64, each weight's layout); pruned weights score exactly 0."""
        raw, live = self._raw()
        out = {}
        for name, m in live.items():
            s = raw[name].detach().to(torch.float64).clone()
            s[~m] = 0.0
            out[name] = s.numpy()
        return out

    def step(self, density: float, scope: str) -> None:
        """One pruning round at ``density``: score the masked network, keep the best live weights."""
        raw, live = self._raw()
        values = [raw[n].detach()[m].to(torch.float64).numpy() for n, m in live.items()]
        keep = SCOPES.get(scope)(values, list(self.totals.values()), float(density))
        for mask, k in zip(self.masks.values(), keep):
            mask[mask.copy()] = k  # in place: pruned weights stay pruned


def score(
    model: nn.Module,
    method: str,
    batch: Any = None,
    *,
    weights: Sequence[str] | None = None,
    seed: int | None = None,
) -> dict[str, np.ndarray]:
    """Pruning-at-initialisation scores of every prunable weight of ``model``.

    Parameters
    ----------
    model : torch.nn.Module
        Any module; the prunable weights are those of ``nn.Linear``, ``nn.Conv2d`` and prunelab's
        sparse layers (see :mod:`prunelab.pai.weights`). Not modified.
    method : str
        A name in :data:`~prunelab.pai.methods.PAI_METHODS`: ``random``, ``magnitude``, ``snip``,
        ``grasp``, ``synflow``.
    batch : (x, y) or list of (x, y), optional
        Scoring data, x float (b, ...) as the model takes it, y int64 class labels (b,);
        needed by ``snip`` and ``grasp``. Without it ``synflow`` reads the input shape from the model.
    weights : sequence of str, optional
        Names of the weights to score (default: every prunable weight).
    seed : int, optional
        Seeds ``random``'s Gaussian scores (default: torch's global generator).

    Returns
    -------
    dict of str to ndarray, float64
        ``{<module path>.weight: scores}`` in each weight's own layout (``(out, in)`` for
        ``nn.Linear``, ``(out, in, kh, kw)`` for ``nn.Conv2d``, ``(n_in, n_out)`` for sparse
        layers). Dimensionless; higher means keep. Missing links of a sparse layer score 0.

    Raises
    ------
    ConfigError
        Unknown method, a model without prunable weights, SNIP/GraSP without a batch, a malformed batch.

    Examples
    --------
    >>> from prunelab.pruning import make_fc
    >>> s = score(make_fc(20, 3, width=8, depth=2), "synflow")
    >>> sorted(s), s["layers.0.weight"].shape
    (['layers.0.weight', 'layers.1.weight'], (20, 8))
    """
    _check(method, None, 1, "exponential", "global")
    return _Session(model, method, batch, weights, seed).scores()


def prune(
    model: nn.Module,
    method: str,
    density: float,
    batch: Any = None,
    rounds: int | None = None,
    schedule: str = "exponential",
    scope: str = "global",
    *,
    weights: Sequence[str] | None = None,
    seed: int | None = None,
) -> dict[str, np.ndarray]:
    """Masks of pruning at initialisation at a remaining ``density``.

    Parameters
    ----------
    model : torch.nn.Module
        Not modified (apply the masks with :func:`prunelab.pai.apply_masks`).
    method : str
        As in :func:`score`.
    density : float
        Fraction of the ranked weights kept, in (0, 1] (the reference code calls it "sparsity").
    batch : (x, y) or list of (x, y), optional
        As in :func:`score`.
    rounds : int, optional
        Pruning rounds, scores recomputed on the masked network each round (default 100 for
        ``synflow``, 1 otherwise).
    schedule : {"exponential", "linear"}
        Target density of round ``e`` of ``E``: ``density^((e+1)/E)`` or ``1 − (1 − density)(e+1)/E``.
    scope : {"global", "layer"}
        Rank all weights together, or each weight tensor alone.
    weights, seed
        As in :func:`score`.

    Returns
    -------
    dict of str to ndarray, bool
        ``{name: mask}`` in each weight's own layout; True = kept. Ties at the threshold are
        removed, so slightly fewer than ``density · N`` weights may remain.

    Raises
    ------
    ConfigError
        As :func:`score`; a density outside (0, 1] or above what the model still has; bad
        ``rounds``, ``schedule`` or ``scope``.

    Examples
    --------
    >>> from prunelab.pruning import make_fc
    >>> masks = prune(make_fc(20, 3, width=8, depth=2), "magnitude", 0.25)
    >>> sum(int(m.sum()) for m in masks.values()), 20 * 8 + 8 * 3
    (46, 184)
    """
    n_rounds = _check(method, density, rounds, schedule, scope)
    plan = SCHEDULES.get(schedule)
    chain = linear_chain(model) if method == "synflow" else None
    if chain is not None:
        # a ReLU MLP: the same SynFlow rounds on live link lists instead of autograd (prunelab.pai.chain)
        as_batches(batch)
        ranked = select_weights(model, weights)
        present = current_masks(model, ranked)
        _check_reachable(present, float(density), scope)
        rounds_state = ChainSynFlow(chain, ranked, present)
    else:
        rounds_state = _Session(model, method, batch, weights, seed)
        _check_reachable(rounds_state.masks, float(density), scope)
    for e in range(n_rounds):
        rounds_state.step(plan(float(density), e, n_rounds), scope)
    return rounds_state.masks() if chain is not None else rounds_state.masks


def prune_levels(
    model: nn.Module,
    method: str,
    densities: Sequence[float],
    batch: Any = None,
    rounds: int | None = None,
    schedule: str = "exponential",
    scope: str = "global",
    *,
    weights: Sequence[str] | None = None,
    seed: int | None = None,
) -> dict[float, dict[str, np.ndarray]]:
    """:func:`prune` at several densities, scoring once when the method prunes in one round.

    Returns
    -------
    dict of float to (dict of str to bool ndarray)
        ``{density: masks}``; identical to calling :func:`prune` per density (iterative methods
        are run once per density, since their rounds depend on the target).
    """
    n_rounds = _check(method, None, rounds, schedule, scope)
    for d in densities:
        check_density(d)
    if n_rounds > 1:
        return {
            float(d): prune(
                model, method, d, batch, n_rounds, schedule, scope, weights=weights, seed=seed
            )
            for d in densities
        }
    session = _Session(model, method, batch, weights, seed)
    for d in densities:
        _check_reachable(session.masks, float(d), scope)
    scores = session.scores()
    return {float(d): masks_from_scores(scores, float(d), scope, session.masks) for d in densities}


def masks_from_scores(
    scores: dict[str, np.ndarray],
    density: float,
    scope: str = "global",
    current: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """One pruning step: the masks that keep ``density`` of the weights by score (the rule of this module).

    Parameters
    ----------
    scores : dict of str to ndarray
        As returned by :func:`score`.
    density : float
        Fraction of the ranked weights kept, in (0, 1].
    scope : {"global", "layer"}
    current : dict of str to bool ndarray, optional
        Masks before this step (default all True); pruned weights stay pruned.

    Returns
    -------
    dict of str to ndarray, bool
        Same keys and shapes as ``scores``.
    """
    check_density(density)
    names = list(scores)
    masks = [
        np.ones(np.shape(scores[n]), dtype=bool)
        if current is None
        else np.asarray(current[n], dtype=bool)
        for n in names
    ]
    values = [np.asarray(scores[n], dtype=np.float64)[m] for n, m in zip(names, masks)]
    keep = SCOPES.get(SCOPES.check(scope))(values, [m.size for m in masks], float(density))
    out = {}
    for n, m, k in zip(names, masks, keep):
        new = m.copy()
        new[m] = k
        out[n] = new
    return out


def _check_reachable(masks: dict[str, np.ndarray], density: float, scope: str) -> None:
    """Pruning only removes weights: the target must not exceed what is present now."""
    groups = [list(masks.items())] if scope == "global" else [[item] for item in masks.items()]
    for group in groups:
        present = sum(int(m.sum()) for _, m in group)
        total = sum(m.size for _, m in group)
        if total - int((1.0 - density) * total) > present:
            where = "its prunable weights" if scope == "global" else group[0][0]
            raise ConfigError(
                f"density {density:g} is above the current density {present / total:.4g} of {where}; "
                "pruning only removes weights: choose a lower density or start from a denser model"
            )

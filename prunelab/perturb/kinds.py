"""The five perturbations of Sulyok et al. (2026, sec. 2.2) as pure functions of link weights.

Every perturbation takes the weights of the links of one layer, float (n_links,) in
``layer.link_index()`` order, or a list of such vectors (one per perturbed layer), a strength and
a random generator, and returns *new* vectors of the same shapes; its input is never modified.

=============================  =========  ===========  ===========================================
kind                           strength   range        effect
=============================  =========  ===========  ===========================================
``random_pruning``             fraction   [0, 1]       remove a fraction of links uniformly at random
``weight_order_pruning``       fraction   [0, 1]       remove the largest ``|w|`` first
``reverse_weight_order_pruning`` fraction [0, 1]       remove the smallest ``|w|`` first
``weight_shuffling``           p          [0, 1]       permute values within bins of width
                                                       ``p * (max w - min w)``
``weight_noise``               m_p        [0, inf)     add N(0, sigma^2), sigma = m_p * mean |w|
=============================  =========  ===========  ===========================================

Removing a link is represented by setting its weight to exactly zero: for the forward pass a
zero-weight link and a missing link are the same, and the topology (hence ``link_index()``)
stays untouched, so a perturbation can be evaluated on any backend without rebuilding a layer.

``scope="layer"`` (the paper's choice, default) applies a perturbation to each layer separately:
each layer loses ``round(f * n_links)`` links, bins and ``mean |w|`` are those of the layer.
``scope="global"`` pools the links of all given layers: one removal order over all of them,
one weight range, one ``mean |w|``.

For a curve over many strengths, :meth:`PerturbationKind.prepare` draws the randomness once and
returns a function of the strength. For the removals this makes the removals *nested* (a larger
fraction removes a superset of the links a smaller one removes); for shuffling and noise the same
random numbers are reused at every strength (common random numbers), so curves are smooth per draw.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

import numpy as np
import torch

from prunelab.core.registry import Registry
from prunelab.core.selection import rank
from prunelab.errors import ConfigError

SCOPES = ("layer", "global")

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)
# One group of links (a layer, or all layers pooled) -> function of the strength returning the
# new values of the group and the number of links removed.
GroupApplier = Callable[[float], tuple[np.ndarray, int]]


class Perturbed(NamedTuple):
    """Result of applying a prepared perturbation at one strength.

    Attributes
    ----------
    values : list of ndarray of shape (n_links_l,), dtype float32
        New link weights of each layer, in the order the layers were given.
    n_removed : int
        Number of links set to zero by a removal (0 for shuffling and noise).
    """

    values: list[np.ndarray]
    n_removed: int


@dataclass(frozen=True)
class PerturbationKind:
    """A named perturbation with its strength parameter and range.

    Attributes
    ----------
    name : str
        Registry key, e.g. ``"random_pruning"``.
    strength_name : str
        Name of the strength (``"fraction"``, ``"p"``, ``"m_p"``), used in messages and plots.
    strength_label : str
        Axis label for plots.
    low, high : float
        Closed range of valid strengths (``high`` may be ``inf``).
    removes_links : bool
        True for the three pruning orders (the strength is a fraction of links removed).
    description : str
        One line for help texts.
    prepare_group : callable
        ``(values float32 (n,), rng) -> (strength -> (new values, n_removed))``.
    target : {"weights", "inputs"}
        What the kind perturbs: link weights (these five), or the test inputs
        (:class:`prunelab.perturb.input_kinds.InputKind`).
    """

    name: str
    strength_name: str
    strength_label: str
    low: float
    high: float
    removes_links: bool
    description: str
    prepare_group: Callable[[np.ndarray, np.random.Generator], GroupApplier]
    target: str = "weights"

    def check_strength(self, strength: float) -> float:
        """Return ``strength`` as a float, or raise :class:`ConfigError` if outside its range."""
        try:
            value = float(strength)
        except (TypeError, ValueError):
            raise ConfigError(
                f"{self.strength_name} for {self.name} must be a number, got {strength!r}"
            ) from None
        if not math.isfinite(value) or not (self.low <= value <= self.high):
            upper = "inf)" if math.isinf(self.high) else f"{self.high:g}]"
            raise ConfigError(
                f"{self.strength_name} for {self.name} must be in [{self.low:g}, {upper}, got {strength!r}; "
                f"e.g. strengths=numpy.linspace(0, {1 if math.isinf(self.high) else self.high:g}, 51)"
            )
        return value

    def prepare(
        self,
        values: Sequence[np.ndarray | torch.Tensor],
        rng: np.random.Generator | int | None = None,
        scope: str = "layer",
    ) -> Callable[[float], Perturbed]:
        """Draw the randomness of one perturbation once; return a function of the strength.

        Parameters
        ----------
        values : list of array of shape (n_links_l,)
            Link weights of each perturbed layer (link order); not modified.
        rng : numpy.random.Generator or int or None
            Randomness (an int is a seed).
        scope : {"layer", "global"}
            Perturb each layer separately, or all given layers as one pool of links.

        Returns
        -------
        callable
            ``strength -> Perturbed``; calling it at increasing fractions gives nested removals.
        """
        check_scope(scope)
        arrays = [_as_link_vector(v) for v in values]
        if not arrays:
            raise ConfigError("no layers to perturb; pass at least one vector of link weights")
        generator = np.random.default_rng(rng)
        sizes = [a.size for a in arrays]
        groups = arrays if scope == "layer" else [np.concatenate(arrays)]
        appliers = [self.prepare_group(g, generator) for g in groups]

        def apply(strength: float) -> Perturbed:
            value = self.check_strength(strength)
            results = [applier(value) for applier in appliers]
            outs = [r[0] for r in results]
            if scope == "global":
                outs = np.split(outs[0], np.cumsum(sizes)[:-1])
            return Perturbed(outs, sum(r[1] for r in results))

        return apply


def check_scope(scope: str) -> str:
    """Validate ``scope`` (``"layer"`` or ``"global"``)."""
    if scope not in SCOPES:
        raise ConfigError(
            f"unknown scope {scope!r}; choose 'layer' (per-layer, the paper's) or 'global'"
        )
    return scope


# --- per-group implementations -------------------------------------------------------------------


def _removal(order_of: Callable[[np.ndarray, np.random.Generator], np.ndarray]):
    """A removal kind from a function giving the order in which the links of a group go."""

    def prepare_group(w: np.ndarray, rng: np.random.Generator) -> GroupApplier:
        order = order_of(w, rng)

        def apply(fraction: float) -> tuple[np.ndarray, int]:
            # floor(x + 0.5) is monotone in the fraction, so removals stay nested.
            k = min(w.size, int(math.floor(fraction * w.size + 0.5)))
            out = w.copy()
            out[order[:k]] = 0.0
            return out, k

        return apply

    return prepare_group


def _random_order(w: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # a uniform random order: what ranking i.i.d. uniform scores gives, drawn as a permutation
    return rng.permutation(w.size)


def _largest_first(w: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # the one ranking rule (prunelab.core.selection): |w| first, random keys break ties
    return rank(np.abs(w), tiebreak=-rng.random(w.size))


def _smallest_first(w: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return rank(-np.abs(w), tiebreak=-rng.random(w.size))


def _prepare_shuffling(w: np.ndarray, rng: np.random.Generator) -> GroupApplier:
    keys = rng.random(w.size)
    w_min = float(w.min()) if w.size else 0.0
    w_range = float(w.max()) - w_min if w.size else 0.0

    def apply(p: float) -> tuple[np.ndarray, int]:
        if p == 0.0 or w_range == 0.0 or w.size < 2:
            return w.copy(), 0
        width = p * w_range
        n_bins = max(1, math.ceil(1.0 / p - 1e-9))
        bins = np.minimum(np.floor((w.astype(np.float64) - w_min) / width), n_bins - 1).astype(
            np.int64
        )
        # Slots of a bin in position order receive the bin's values in random-key order: a
        # uniform permutation within each bin, and the same keys couple different p.
        slots = np.argsort(bins, kind="stable")
        donors = np.lexsort((keys, bins))
        out = np.empty_like(w)
        out[slots] = w[donors]
        return out, 0

    return apply


def _prepare_noise(w: np.ndarray, rng: np.random.Generator) -> GroupApplier:
    z = rng.standard_normal(w.size)
    mean_abs = float(np.abs(w).mean()) if w.size else 0.0

    def apply(m_p: float) -> tuple[np.ndarray, int]:
        return (w + (m_p * mean_abs) * z).astype(np.float32), 0

    return apply


#: perturbation kinds by name (a :class:`PerturbationKind` each)
KINDS: Registry[PerturbationKind] = Registry("perturbation kind")
for _kind in (
    PerturbationKind(
        "random_pruning",
        "fraction",
        "fraction of links removed",
        0.0,
        1.0,
        True,
        "remove a fraction of the links of each layer uniformly at random",
        _removal(_random_order),
    ),
    PerturbationKind(
        "weight_order_pruning",
        "fraction",
        "fraction of links removed",
        0.0,
        1.0,
        True,
        "remove a fraction of the links, largest |w| first",
        _removal(_largest_first),
    ),
    PerturbationKind(
        "reverse_weight_order_pruning",
        "fraction",
        "fraction of links removed",
        0.0,
        1.0,
        True,
        "remove a fraction of the links, smallest |w| first",
        _removal(_smallest_first),
    ),
    PerturbationKind(
        "weight_shuffling",
        "p",
        "bin width p (fraction of the weight range)",
        0.0,
        1.0,
        False,
        "permute weights within bins of width p * (max - min) of the layer's weights",
        _prepare_shuffling,
    ),
    PerturbationKind(
        "weight_noise",
        "m_p",
        "noise m_p (std in units of mean |w|)",
        0.0,
        math.inf,
        False,
        "add Gaussian noise with std m_p * mean |w| of the layer",
        _prepare_noise,
    ),
):
    KINDS.register(_kind.name, _kind, help=_kind.description)

#: the built-in kinds that remove links / change weights (see :func:`kinds_where` for registered ones;
#: the input kinds of :mod:`prunelab.perturb.input_kinds` register after these are taken)
REMOVAL_KINDS = tuple(name for name, k in KINDS.items() if k.removes_links)
WEIGHT_KINDS = tuple(name for name, k in KINDS.items() if not k.removes_links)


def kinds_where(removes_links: bool) -> tuple[str, ...]:
    """Names of the registered weight kinds that remove links (True) or change weights (False)."""
    return tuple(
        name
        for name, k in KINDS.items()
        if k.removes_links == removes_links and k.target == "weights"
    )


def kinds_of(target: str) -> tuple[str, ...]:
    """Names of the registered kinds that perturb ``target`` (``"weights"`` or ``"inputs"``)."""
    return tuple(name for name, k in KINDS.items() if k.target == target)


def get_kind(kind: str | PerturbationKind) -> PerturbationKind:
    """The :class:`PerturbationKind` registered under ``kind`` (ConfigError if unknown)."""
    if isinstance(kind, PerturbationKind):
        return kind
    return KINDS.get(kind)


# --- the pure functions ----------------------------------------------------------------------------


def _as_link_vector(values: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    array = np.asarray(values, dtype=np.float32)
    if array.ndim != 1:
        raise ConfigError(
            f"link weights must be a 1-D vector (layer.link_values()), got shape {array.shape}"
        )
    return array


def _like(template: np.ndarray | torch.Tensor, values: np.ndarray) -> np.ndarray | torch.Tensor:
    if isinstance(template, torch.Tensor):
        return torch.from_numpy(values).to(template.device)
    return values


def apply_perturbation(
    kind: str | PerturbationKind,
    values: ArrayT | Sequence[ArrayT],
    strength: float,
    rng: np.random.Generator | int | None = None,
    scope: str = "layer",
) -> ArrayT | list[ArrayT]:
    """Apply one perturbation at one strength; the shared body of the five named functions.

    Parameters
    ----------
    kind : str
        A key of :data:`KINDS`.
    values : array of shape (n_links,) or list of them
        Link weights of one layer, or of several layers (link order); never modified.
    strength : float
        Fraction of links removed, bin width ``p``, or noise ``m_p`` (see :data:`KINDS`).
    rng : numpy.random.Generator or int or None
        Randomness (an int is a seed).
    scope : {"layer", "global"}
        Per-layer perturbation (default), or one pool of all given layers.

    Returns
    -------
    array or list of arrays
        New float32 weights with the structure and array type (numpy/torch) of ``values``.
    """
    spec = get_kind(kind)
    single = isinstance(values, (np.ndarray, torch.Tensor))
    layers = [values] if single else list(values)
    result = spec.prepare(layers, rng, scope)(strength).values
    out = [_like(t, r) for t, r in zip(layers, result, strict=True)]
    return out[0] if single else out


def random_pruning(values, fraction: float, rng=None, scope: str = "layer"):
    """Remove ``round(fraction * n_links)`` links of each layer uniformly at random.

    Parameters
    ----------
    values : array of shape (n_links,), float, or list of them (one per layer)
        Link weights in link order; not modified.
    fraction : float
        Fraction of links removed, in [0, 1].
    rng : numpy.random.Generator or int or None
    scope : {"layer", "global"}

    Returns
    -------
    array or list of arrays
        New weights, float32, with removed links set to exactly 0 (zero weight == removed link).

    Examples
    --------
    >>> w = np.array([0.5, -1.0, 0.1, 2.0], dtype=np.float32)
    >>> int((random_pruning(w, 0.5, rng=0) == 0).sum())
    2
    """
    return apply_perturbation("random_pruning", values, fraction, rng, scope)


def weight_order_pruning(values, fraction: float, rng=None, scope: str = "layer"):
    """Remove ``round(fraction * n_links)`` links of each layer, largest ``|w|`` first.

    Same parameters and return value as :func:`random_pruning`; ``rng`` only breaks ties.

    Examples
    --------
    >>> weight_order_pruning(np.array([0.5, -1.0, 0.1, 2.0], dtype=np.float32), 0.5)
    array([0.5, 0. , 0.1, 0. ], dtype=float32)
    """
    return apply_perturbation("weight_order_pruning", values, fraction, rng, scope)


def reverse_weight_order_pruning(values, fraction: float, rng=None, scope: str = "layer"):
    """Remove ``round(fraction * n_links)`` links of each layer, smallest ``|w|`` first.

    Same parameters and return value as :func:`random_pruning`; ``rng`` only breaks ties.

    Examples
    --------
    >>> reverse_weight_order_pruning(np.array([0.5, -1.0, 0.1, 2.0], dtype=np.float32), 0.5)
    array([ 0., -1.,  0.,  2.], dtype=float32)
    """
    return apply_perturbation("reverse_weight_order_pruning", values, fraction, rng, scope)


def weight_shuffling(values, p: float, rng=None, scope: str = "layer"):
    """Permute the weights of each layer within bins of width ``p * (max w - min w)``.

    Bins start at the layer's smallest (signed) weight; the largest weight belongs to the last
    bin. Each link keeps a value from its own bin, so a weight moves by less than one bin width;
    ``p = 0`` leaves the weights unchanged and ``p = 1`` permutes all of them.

    Parameters
    ----------
    values : array of shape (n_links,), float, or list of them (one per layer)
    p : float
        Bin width as a fraction of the layer's weight range, in [0, 1].
    rng : numpy.random.Generator or int or None
    scope : {"layer", "global"}

    Returns
    -------
    array or list of arrays
        New float32 weights; the multiset of values within each bin is unchanged.
    """
    return apply_perturbation("weight_shuffling", values, p, rng, scope)


def weight_noise(values, m_p: float, rng=None, scope: str = "layer"):
    """Add Gaussian noise N(0, sigma^2) with ``sigma = m_p * mean |w|`` of each layer.

    Parameters
    ----------
    values : array of shape (n_links,), float, or list of them (one per layer)
    m_p : float
        Noise strength, >= 0, in units of the layer's mean weight magnitude.
    rng : numpy.random.Generator or int or None
    scope : {"layer", "global"}

    Returns
    -------
    array or list of arrays
        New float32 weights (every link gets noise, none is removed).
    """
    return apply_perturbation("weight_noise", values, m_p, rng, scope)

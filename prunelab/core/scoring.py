"""Link scores: one interface for every "how good is this link" policy.

A *link score* gives one number per existing link of each layer it is shown; higher means more
worth keeping. Magnitude pruning, DST removal, the perturbation orders, pruning at
initialisation (SNIP, GraSP, SynFlow), mode-preserving pruning and the pruning game all express
their policy as a score registered in :data:`LINK_SCORES`; the mechanism that turns scores into
kept links is always :func:`prunelab.core.selection.select_top` (one tie rule).

A score is a callable ``score(layers, ctx) -> list of arrays``:

- ``layers``: the layers to score, a sequence of :class:`LinkLayer` (a name, the link weights in
  link order, and when available the :class:`~prunelab.core.links.Links` and the module);
- ``ctx``: a :class:`ScoreContext` with whatever else the policy may need (the model, a few
  batches, the loss function, per-link gradients, a random generator);
- returns one float array of shape (n_links_l,) per layer, aligned with the layer's link order.

Scores that only need a layer's own weights are written per layer with :func:`per_layer`.

Examples
--------
>>> import numpy as np
>>> layer = ArrayLayer("layer0", np.array([0.5, -2.0, 0.1]))
>>> score_links("magnitude", [layer])[0].tolist()
[0.5, 2.0, 0.1]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from prunelab.core.links import Links
from prunelab.core.registry import Registry
from prunelab.errors import ConfigError


@runtime_checkable
class LinkLayer(Protocol):
    """What a score sees of one layer."""

    name: str

    def values(self) -> np.ndarray:
        """Link weights, float (n_links,), link order."""
        ...


@dataclass
class ArrayLayer:
    """A layer given as plain arrays (for pure functions of link weights).

    Attributes
    ----------
    name : str
    weights : ndarray of shape (n_links,)
    links : Links, optional
    module : torch.nn.Module, optional
        The layer object, for scores that need more than the weights.
    """

    name: str
    weights: np.ndarray
    links: Links | None = None
    module: Any = None

    def values(self) -> np.ndarray:
        """Link weights, float64 (n_links,)."""
        return np.asarray(self.weights, dtype=np.float64).ravel()


def layer_view(name: str, layer: Any) -> ArrayLayer:
    """An :class:`ArrayLayer` of a prunelab layer (anything with ``link_values()``)."""
    values = layer.link_values()
    values = values.detach().cpu().numpy() if hasattr(values, "detach") else np.asarray(values)
    links = Links.of(layer) if hasattr(layer, "link_index") else None
    return ArrayLayer(name, values.astype(np.float64), links, layer)


@dataclass
class ScoreContext:
    """Everything a link score may use besides the layers.

    Attributes
    ----------
    model : torch.nn.Module, optional
        The whole network (scores such as SNIP or SynFlow need it).
    batches : sequence of (x, y), optional
        A few batches of data: x float (batch, features), y int64 (batch,).
    loss_fn : callable, optional
        ``loss_fn(logits, y) -> scalar``; cross-entropy when None.
    link_grads : mapping of layer name to ndarray (n_links,), optional
        Loss gradient at each link, when the caller already has it.
    rng : numpy.random.Generator, optional
        Randomness of random scores and tie breaks.
    options : dict
        Score-specific options (e.g. ``{"temperature": 200}`` for GraSP).
    """

    model: Any = None
    batches: Sequence[tuple[Any, Any]] = ()
    loss_fn: Callable[..., Any] | None = None
    link_grads: Mapping[str, np.ndarray] | None = None
    rng: np.random.Generator | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def require(self, what: str, by: str) -> Any:
        """The attribute ``what``, or a one-line :class:`ConfigError` naming the score that needs it."""
        value = getattr(self, what)
        if value is None or (what == "batches" and len(value) == 0):
            raise ConfigError(f"link score {by!r} needs {what} in its context; pass {what}=...")
        return value


class LinkScore(Protocol):
    """``score(layers, ctx) -> [float array (n_links_l,) per layer]``."""

    def __call__(self, layers: Sequence[LinkLayer], ctx: ScoreContext) -> list[np.ndarray]: ...


#: every link score by name
LINK_SCORES: Registry[LinkScore] = Registry("link score")


def per_layer(fn: Callable[[LinkLayer, ScoreContext], np.ndarray]) -> LinkScore:
    """Turn ``fn(layer, ctx) -> (n_links,)`` into a :class:`LinkScore` over a list of layers."""

    def score(layers: Sequence[LinkLayer], ctx: ScoreContext) -> list[np.ndarray]:
        return [np.asarray(fn(layer, ctx), dtype=np.float64).ravel() for layer in layers]

    score.__doc__ = fn.__doc__
    score.__name__ = getattr(fn, "__name__", "score")
    return score


def score_links(
    method: str | LinkScore, layers: Sequence[LinkLayer], ctx: ScoreContext | None = None
) -> list[np.ndarray]:
    """Scores of every link of ``layers`` under ``method`` (a name in :data:`LINK_SCORES` or a callable).

    Returns
    -------
    list of ndarray of shape (n_links_l,), float64
        One per layer, aligned with the layer's link order.

    Raises
    ------
    ConfigError
        Unknown method, a context without what the method needs, or a score of the wrong shape.
    """
    fn = LINK_SCORES.get(method) if isinstance(method, str) else method
    ctx = ctx if ctx is not None else ScoreContext()
    layers = list(layers)
    out = fn(layers, ctx)
    if len(out) != len(layers):
        raise ConfigError(
            f"link score {method!r} returned {len(out)} arrays for {len(layers)} layers"
        )
    checked = []
    for layer, s in zip(layers, out, strict=True):
        s = np.asarray(s, dtype=np.float64).ravel()
        n = np.asarray(layer.values()).size
        if s.size != n:
            raise ConfigError(
                f"link score {method!r} gave {s.size} scores for layer {layer.name!r} with {n} links"
            )
        checked.append(s)
    return checked


# --- the scores every layer supports ------------------------------------------------------------


@LINK_SCORES.register("magnitude")
@per_layer
def magnitude(layer: LinkLayer, ctx: ScoreContext) -> np.ndarray:
    """|w|: keep the largest weights (magnitude pruning, DST removal)."""
    return np.abs(layer.values())


@LINK_SCORES.register("random")
@per_layer
def random(layer: LinkLayer, ctx: ScoreContext) -> np.ndarray:
    """i.i.d. uniform scores in [0, 1): the random-pruning baseline (comparable across layers)."""
    rng = ctx.require("rng", "random")
    return rng.random(np.asarray(layer.values()).size)


@LINK_SCORES.register("gradient_magnitude")
@per_layer
def gradient_magnitude(layer: LinkLayer, ctx: ScoreContext) -> np.ndarray:
    """|w · dL/dw|: first-order loss change of removing the link (Taylor / SNIP-style at the current weights)."""
    grads = ctx.require("link_grads", "gradient_magnitude")
    if layer.name not in grads:
        raise ConfigError(
            f"link score 'gradient_magnitude' has no gradient for layer {layer.name!r}"
        )
    return np.abs(layer.values() * np.asarray(grads[layer.name], dtype=np.float64))

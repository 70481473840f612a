"""SNIP, GraSP and SynFlow as link scores (:data:`prunelab.core.scoring.LINK_SCORES`).

Each entry computes :func:`prunelab.pai.score` on ``ctx.model`` (the whole network: these scores
depend on every layer) and returns, for every layer shown, the scores at its existing links in
link order. The layers must be prunelab sparse layers of ``ctx.model`` (``ArrayLayer.module``
set, as :func:`prunelab.core.scoring.layer_view` does); only those layers are ranked together.

The entries are registered when :mod:`prunelab.pai` is imported (the experiment configs import it,
so every config and command line sees them; pure ``prunelab.core`` code imports ``prunelab.pai`` first).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from prunelab.core.links import Links
from prunelab.core.scoring import LINK_SCORES, LinkLayer, ScoreContext
from prunelab.errors import ConfigError
from prunelab.pai.methods import NEEDS_DATA
from prunelab.pai.prune import score
from prunelab.pai.weights import prunable_weights


def _link_scores(method: str, layers: Sequence[LinkLayer], ctx: ScoreContext) -> list[np.ndarray]:
    model = ctx.require("model", method)
    batches = (
        list(ctx.require("batches", method)) if method in NEEDS_DATA else list(ctx.batches or [])
    )
    by_module = {id(m): path for path, m in model.named_modules()}
    sparse = {w.module: w.name for w in prunable_weights(model) if w.kind == "sparse"}
    names = []
    for layer in layers:
        module = getattr(layer, "module", None)
        path = by_module.get(id(module))
        if path not in sparse:
            raise ConfigError(
                f"link score {method!r} needs layer {layer.name!r} to be a sparse layer of ctx.model; "
                "build the layers with prunelab.core.scoring.layer_view"
            )
        names.append(sparse[path])
    seed = int(ctx.rng.integers(0, 2**31 - 1)) if ctx.rng is not None else None
    scores = score(model, method, batches or None, weights=names, seed=seed)
    out = []
    for layer, name in zip(layers, names):
        links = getattr(layer, "links", None) or Links.of(layer.module)
        out.append(scores[name][links.rows, links.cols])
    return out


def snip(layers: Sequence[LinkLayer], ctx: ScoreContext) -> list[np.ndarray]:
    """SNIP connection sensitivity |Σ_b ∂L_b/∂m| at every link (needs ctx.model and ctx.batches)."""
    return _link_scores("snip", layers, ctx)


def grasp(layers: Sequence[LinkLayer], ctx: ScoreContext) -> list[np.ndarray]:
    """GraSP W ⊙ Hg at every link, signed (needs ctx.model and ctx.batches)."""
    return _link_scores("grasp", layers, ctx)


def synflow(layers: Sequence[LinkLayer], ctx: ScoreContext) -> list[np.ndarray]:
    """SynFlow |∂R/∂W ⊙ W| of the linearised network at every link (needs ctx.model)."""
    return _link_scores("synflow", layers, ctx)


LINK_SCORES.register("snip", snip)
LINK_SCORES.register("grasp", grasp)
LINK_SCORES.register("synflow", synflow)

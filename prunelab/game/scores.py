"""The game's utility as a link score (registered in :data:`prunelab.core.scoring.LINK_SCORES`).

``game_utility`` scores each link as a player at full participation: ``U_l(1) = α b_l − β w_l² − γ``
with ``b_l`` the benefit coefficient of ⟨∂L/∂w_l, w_l⟩ under the ``benefit`` sign (η = 0: no
competition between links). Ranking links by it and keeping the top ones is the one-shot,
"best response from s = 1" reading of the game; the dynamic game is the ``game:`` section.

Options (``ScoreContext.options``): ``alpha`` (1), ``beta`` (0.1), ``gamma`` (0), ``benefit``
(``"paper"``). Needs ``ctx.link_grads`` (dL/dw per layer, link order).
"""

from __future__ import annotations

import numpy as np

from prunelab.core.scoring import LINK_SCORES, LinkLayer, ScoreContext, per_layer
from prunelab.errors import ConfigError
from prunelab.game.utility import BENEFITS


@LINK_SCORES.register("game_utility")
@per_layer
def game_utility(layer: LinkLayer, ctx: ScoreContext) -> np.ndarray:
    """α b − β w² − γ: a link's utility at full participation in the pruning game."""
    grads = ctx.require("link_grads", "game_utility")
    if layer.name not in grads:
        raise ConfigError(f"link score 'game_utility' has no gradient for layer {layer.name!r}")
    opts = ctx.options
    w = layer.values()
    coef = w * np.asarray(grads[layer.name], dtype=np.float64)
    b = BENEFITS.get(str(opts.get("benefit", "paper")))(coef)
    return (
        float(opts.get("alpha", 1.0)) * b
        - float(opts.get("beta", 0.1)) * w * w
        - float(opts.get("gamma", 0.0))
    )

"""Pruning as a game (Shah & Khan 2025, arXiv:2512.22106): participation gates, equilibria, hard pruning.

Players are parameter groups (hidden neurons, CNN channels or links) with a participation
``s_i ∈ [0, 1]``; the network uses ``s_i θ_i``, and every training step moves ``s`` up the gradient
of each player's utility (benefit minus L2, L1 and competition costs). After training the players
with ``s < ε`` are removed (:func:`hard_prune`), and the final state is checked against the
game's equilibrium conditions (:func:`check_equilibrium`, :func:`solve_best_response`).

A training run gets the game through its ``game:`` config section (:class:`GameConfig`,
:class:`GameHook`). This package is pure: it builds on ``core``, ``nn`` and ``training`` only.
"""

from prunelab.game import scores as _scores  # noqa: F401 - registers the "game_utility" link score
from prunelab.game.config import GameConfig, SolverConfig, game_section
from prunelab.game.equilibrium import (
    EquilibriumReport,
    GameParams,
    LayerGame,
    SolverResult,
    check_equilibrium,
    contraction_factor,
    deviation_gains,
    dominated,
    solve_best_response,
)
from prunelab.game.gates import GROUPS, PLAYERS, GateSet, PlayerLayer, weight_layers
from prunelab.game.prune import (
    PruneResult,
    count_parameters,
    hard_prune,
    keep_units,
    prune_links,
    prune_units,
)
from prunelab.game.update import S_OPTIMIZERS
from prunelab.game.utility import (
    BENEFITS,
    COMPETITIONS,
    GRADIENTS,
    REDUCTIONS,
    benefit_coefficient,
    best_response,
    marginal_utility,
    utility,
)

__all__ = [
    "BENEFITS",
    "COMPETITIONS",
    "GRADIENTS",
    "GROUPS",
    "PLAYERS",
    "REDUCTIONS",
    "S_OPTIMIZERS",
    "EquilibriumReport",
    "GameConfig",
    "GameParams",
    "GateSet",
    "LayerGame",
    "PlayerLayer",
    "PruneResult",
    "SolverConfig",
    "SolverResult",
    "benefit_coefficient",
    "best_response",
    "check_equilibrium",
    "contraction_factor",
    "count_parameters",
    "deviation_gains",
    "dominated",
    "game_section",
    "hard_prune",
    "keep_units",
    "marginal_utility",
    "prune_links",
    "prune_units",
    "solve_best_response",
    "utility",
    "weight_layers",
]

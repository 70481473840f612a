"""Pruning and weight perturbations of trained networks, without retraining (Sulyok et al. 2026).

- :mod:`~prunelab.perturb.kinds`: the five perturbations as pure functions of link weights and
  the :data:`KINDS` registry (name -> strength name and range).
- :mod:`~prunelab.perturb.curve`: :func:`robustness_curve`, accuracy/loss vs strength as a tidy table.
- :mod:`~prunelab.perturb.ensemble`: bands over networks and draws, AUC and f-half with bootstrap.
- :mod:`~prunelab.perturb.weights`: weight-magnitude densities and moments per layer.
- :mod:`~prunelab.perturb.plots`: the figures (PNG).
- :mod:`~prunelab.perturb.targets`: networks (models, runs) and the layers perturbed.
- :mod:`~prunelab.perturb.inputs`, :mod:`~prunelab.perturb.corruptions`,
  :mod:`~prunelab.perturb.input_kinds`: FGSM/PGD (L∞, L2), transfer attacks and image
  corruptions as input kinds of the same registry (:mod:`~prunelab.perturb.input_curve`).

Example
-------
>>> from prunelab.perturb import robustness_curve, curve_summary
>>> table = robustness_curve(model, data, "reverse_weight_order_pruning",
...                          numpy.linspace(0, 1, 51), n_draws=1, seed=0)   # doctest: +SKIP
>>> curve_summary(table)                                                     # doctest: +SKIP
"""

# input kinds (attacks, corruptions) register into KINDS after the five weight kinds of kinds.py
from prunelab.perturb.corruptions import CORRUPTIONS, corrupt, prepare_corruption
from prunelab.perturb.curve import CURVE_COLUMNS, robustness_curve
from prunelab.perturb.ensemble import curve_auc, curve_summary, f_half, summarize_curves
from prunelab.perturb.input_kinds import ATTACK_KINDS, CORRUPTION_KINDS, INPUT_KINDS, InputKind
from prunelab.perturb.inputs import (
    ATTACK_ENGINES,
    NORMS,
    AttackSettings,
    attack,
    check_epsilon,
    fgsm_settings,
    input_gradient,
)
from prunelab.perturb.kinds import (
    KINDS,
    REMOVAL_KINDS,
    SCOPES,
    WEIGHT_KINDS,
    PerturbationKind,
    apply_perturbation,
    get_kind,
    kinds_of,
    random_pruning,
    reverse_weight_order_pruning,
    weight_noise,
    weight_order_pruning,
    weight_shuffling,
)
from prunelab.perturb.targets import link_values, select_layers
from prunelab.perturb.weights import (
    magnitude_density,
    weight_density_table,
    weight_moments,
    weight_moments_table,
)
from prunelab.training import evaluate  # the one evaluate, re-exported for robustness scripts

__all__ = [
    "KINDS",
    "REMOVAL_KINDS",
    "WEIGHT_KINDS",
    "SCOPES",
    "CURVE_COLUMNS",
    "PerturbationKind",
    "get_kind",
    "apply_perturbation",
    "random_pruning",
    "weight_order_pruning",
    "reverse_weight_order_pruning",
    "weight_shuffling",
    "weight_noise",
    "robustness_curve",
    "evaluate",
    "summarize_curves",
    "curve_auc",
    "f_half",
    "curve_summary",
    "magnitude_density",
    "weight_moments",
    "weight_moments_table",
    "weight_density_table",
    "plot_removal_curves",
    "plot_weight_perturbation_curves",
    "plot_weight_densities",
    "select_layers",
    "link_values",
    "INPUT_KINDS",
    "ATTACK_KINDS",
    "CORRUPTION_KINDS",
    "InputKind",
    "kinds_of",
    "NORMS",
    "ATTACK_ENGINES",
    "AttackSettings",
    "attack",
    "fgsm_settings",
    "check_epsilon",
    "input_gradient",
    "CORRUPTIONS",
    "corrupt",
    "prepare_corruption",
    "plot_input_curves",
]

_PLOTS = (
    "plot_removal_curves",
    "plot_weight_perturbation_curves",
    "plot_weight_densities",
    "plot_input_curves",
)


def __getattr__(name: str):
    # matplotlib is imported only when a plot is asked for.
    if name in _PLOTS:
        from prunelab.perturb import plots

        return getattr(plots, name)
    raise AttributeError(f"module 'prunelab.perturb' has no attribute {name!r}")

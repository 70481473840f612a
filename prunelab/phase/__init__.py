"""Order parameters, critical points and finite-size scaling of pruning transitions."""

from prunelab.phase.critical import (
    chi_peak,
    compare_transitions,
    critical_points,
    inflection,
    susceptibility,
)
from prunelab.phase.order import (
    accuracy,
    normalized_accuracy,
    order_parameters,
    outcome_entropy,
    predicted_classes,
    prediction_entropy,
    weight_statistics,
)
from prunelab.phase.percolation import site_percolation
from prunelab.phase.scaling import CollapseResult, collapse_quality, fit_collapse

__all__ = [
    "CollapseResult",
    "accuracy",
    "chi_peak",
    "collapse_quality",
    "compare_transitions",
    "critical_points",
    "fit_collapse",
    "inflection",
    "normalized_accuracy",
    "order_parameters",
    "outcome_entropy",
    "predicted_classes",
    "prediction_entropy",
    "site_percolation",
    "susceptibility",
    "weight_statistics",
]

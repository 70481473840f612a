"""Minimal structural sufficiency: recoverability Ψ(ρ, B), F_min, irreversibility, spectral modes.

Pure analysis on stored results plus the network-level procedures the ``sufficiency`` study kind
(:mod:`prunelab.studies.sufficiency`) runs; nothing here reads or writes the results store.

- :mod:`~prunelab.sufficiency.spectral`: sparse-aware singular values, top modes, effective
  rank, energy modes, null edge, subspace overlap, retained share;
- :mod:`~prunelab.sufficiency.modes`: the first-order mode change and the ``mode_preserving``
  link score (registered in :data:`prunelab.core.scoring.LINK_SCORES` on import);
- :mod:`~prunelab.sufficiency.fmin`: F_min and threshold densities with bootstrap intervals;
- :mod:`~prunelab.sufficiency.rosenfeld`: the error–density law of Rosenfeld et al. (2021), its fit
  and the plateau exit d_κ;
- :mod:`~prunelab.sufficiency.tables`: Ψ surfaces and every table of the study's analysis, the
  graded irreversibility tests and the hysteresis areas;
- :mod:`~prunelab.sufficiency.networks`, :mod:`~prunelab.sufficiency.retrain`,
  :mod:`~prunelab.sufficiency.hysteresis`: link-list networks, pruning by any link score,
  retraining protocols (:data:`PROTOCOLS`) and the hysteresis sweeps;
- :mod:`~prunelab.sufficiency.plots` and :mod:`~prunelab.sufficiency.summary`: figures and the
  study's report.

Definitions: ``docs/definitions.md``, section *Minimal structural sufficiency*.
"""

from prunelab.sufficiency import modes as _modes  # noqa: F401 - registers the mode_preserving link score
from prunelab.sufficiency.fmin import bootstrap_threshold, f_min, f_min_table, threshold_density
from prunelab.sufficiency.modes import exact_change, first_order_change, mode_scores
from prunelab.sufficiency.retrain import PROTOCOLS, Protocol
from prunelab.sufficiency.rosenfeld import (
    RosenfeldFit,
    fit_rosenfeld,
    plateau_exit,
    rosenfeld_error,
)
from prunelab.sufficiency.spectral import (
    Modes,
    effective_rank,
    energy_modes,
    null_edge,
    retained_share,
    singular_values,
    subspace_overlap,
    top_modes,
)

__all__ = [
    "PROTOCOLS",
    "Modes",
    "Protocol",
    "RosenfeldFit",
    "bootstrap_threshold",
    "effective_rank",
    "energy_modes",
    "exact_change",
    "f_min",
    "f_min_table",
    "first_order_change",
    "fit_rosenfeld",
    "mode_scores",
    "null_edge",
    "plateau_exit",
    "retained_share",
    "rosenfeld_error",
    "singular_values",
    "subspace_overlap",
    "threshold_density",
    "top_modes",
]

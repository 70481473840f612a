"""The pruning phase-transition study (Pesce, He & Caldarelli 2026, arXiv:2602.15224), kind ``phase``.

- :mod:`~prunelab.studies.phase.config`: the validated config, its variants and run ids;
- :mod:`~prunelab.studies.phase.trajectory`: one (width, seed) trajectory, resumable per step;
- :mod:`~prunelab.studies.phase.null`: the degree-preserving null;
- :mod:`~prunelab.studies.phase.study`: the study kind tying them together.

The measurements and the analysis are pure functions in :mod:`prunelab.phase`.
"""

from prunelab.studies.phase.config import PhaseStudyConfig, quick_variant
from prunelab.studies.phase.null import null_items, run_null, run_null_item
from prunelab.studies.phase.study import (
    PhaseStudy,
    load_study_config,
    parse_study_config,
    run_study,
)
from prunelab.studies.phase.trajectory import load_masks, run_trajectory, study_table

__all__ = [
    "PhaseStudy",
    "PhaseStudyConfig",
    "load_masks",
    "load_study_config",
    "null_items",
    "parse_study_config",
    "quick_variant",
    "run_null",
    "run_null_item",
    "run_study",
    "run_trajectory",
    "study_table",
]

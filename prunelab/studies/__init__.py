"""Studies: every job prunelab runs, as a hashed description with resumable items.

Study kinds (``kind:`` in a config; ``prunelab run CONFIG`` runs any of them):

- ``train``: a training run or a sweep (:mod:`prunelab.studies.train`), the default;
- ``phase``: the pruning phase-transition study (:mod:`prunelab.studies.phase`);
- ``robustness``: perturbation curves of trained runs (:mod:`prunelab.studies.robustness`);
- ``game``: the pruning game's configuration grid, baselines and frontier (:mod:`prunelab.studies.game`).

Adding a kind is one module with a :class:`Study` subclass plus one line here.
"""

from prunelab.studies.base import (
                     STUDY_KINDS,
                     Item,
                     Study,
                     StudyRun,
                     execute_item,
                     load_study,
                     parse_study,
                     run_study,
)

STUDY_KINDS.register("train", "prunelab.studies.train:TrainStudy", help="a training run or a sweep of them")
STUDY_KINDS.register("phase", "prunelab.studies.phase:PhaseStudy", help="pruning phase transitions: order parameters vs density")
STUDY_KINDS.register("robustness", "prunelab.studies.robustness:RobustnessStudy",
                     help="accuracy of trained runs under pruning and weight perturbations")
STUDY_KINDS.register("game", "prunelab.studies.game:GameStudy",
                     help="pruning as a game: configuration grid x benefit signs x seeds, baselines, frontier")

__all__ = ["STUDY_KINDS", "Item", "Study", "StudyRun", "execute_item", "load_study", "parse_study", "run_study"]

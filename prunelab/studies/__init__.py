"""Studies: every job prunelab runs, as a hashed description with resumable items.

Study kinds (``kind:`` in a config; ``prunelab run CONFIG`` runs any of them):

- ``train``: a training run or a sweep (:mod:`prunelab.studies.train`), the default;
- ``phase``: the pruning phase-transition study (:mod:`prunelab.studies.phase`);
- ``robustness``: perturbation curves of trained runs (:mod:`prunelab.studies.robustness`);
- ``graphon``: graphon limits of pruning-at-initialisation masks (:mod:`prunelab.studies.graphon`);
- ``ntk``: NTK spectra of PaI networks and their early training (:mod:`prunelab.studies.ntk`);
- ``sufficiency``: recoverability Ψ(ρ, B), F_min and irreversible collapse (:mod:`prunelab.studies.sufficiency`);
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

STUDY_KINDS.register(
    "train", "prunelab.studies.train:TrainStudy", help="a training run or a sweep of them"
)
STUDY_KINDS.register(
    "phase",
    "prunelab.studies.phase:PhaseStudy",
    help="pruning phase transitions: order parameters vs density",
)
STUDY_KINDS.register(
    "robustness",
    "prunelab.studies.robustness:RobustnessStudy",
    help="accuracy of trained runs under pruning and weight perturbations",
)
STUDY_KINDS.register(
    "graphon",
    "prunelab.studies.graphon:GraphonStudy",
    help="graphon estimates of PaI masks against width: convergence, rates, heat maps",
)
STUDY_KINDS.register(
    "ntk",
    "prunelab.studies.ntk:NTKStudy",
    help="empirical and Graphon NTK spectra of PaI networks against sparsity, and early training loss",
)
STUDY_KINDS.register(
    "sufficiency",
    "prunelab.studies.sufficiency:SufficiencyStudy",
    help="minimal structural sufficiency: recoverability after pruning, F_min, irreversibility",
)
STUDY_KINDS.register(
    "game",
    "prunelab.studies.game:GameStudy",
    help="pruning as a game: configuration grid x benefit signs x seeds, baselines, frontier",
)

__all__ = [
    "STUDY_KINDS",
    "Item",
    "Study",
    "StudyRun",
    "execute_item",
    "load_study",
    "parse_study",
    "run_study",
]

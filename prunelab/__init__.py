"""prunelab: study sparse neural networks the way a physicist studies matter.

Subpackages by concept:

- ``prunelab.data``        data sets by name (IDX/npz readers, checksums, downloads)
- ``prunelab.nn``          sparse layers (swappable storage/kernel backends) and models
- ``prunelab.training``    the training engine (optimizers, schedules, hooks, checkpoints)
- ``prunelab.experiments`` configs, the resumable SQLite results store, sweeps, executors
- ``prunelab.report``      HTML/PNG reports from the store
- ``prunelab.linkpred``    link prediction scores on bipartite layer masks (CH3-L3, L3)
- ``prunelab.dst``         dynamic sparse training (removal, chain removal, regrowth)
- ``prunelab.perturb``     pruning and weight perturbations of trained networks
- ``prunelab.pruning``     magnitude pruning with fine-tuning
- ``prunelab.phase``       order parameters, critical points, finite-size scaling
- ``prunelab.graph``       graph measures and degree-preserving nulls on layer masks
- ``prunelab.cli``         the ``prunelab`` command line (a thin layer)
"""

__version__ = "0.1.0"

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

import os as _os

__version__ = "0.1.0"

# Bit-for-bit reproducible dense products: Intel MKL (torch's CPU BLAS) otherwise picks code
# paths by the memory alignment of the operands, so the same run in another process (a resumed
# run, a worker) can differ in the last bits. Strict conditional numerical reproducibility keeps
# the fastest instruction set and removes the dependence on alignment and on the thread count.
# MKL reads it at its first product, so it must be set before any torch computation; a value
# the user set is kept.
_os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")

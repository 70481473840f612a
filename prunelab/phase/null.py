"""The degree-preserving null model of a pruned network (pure functions of layer masks).

Pesce, He & Caldarelli (arXiv:2602.15224) claim that many subnetworks with the degrees of the
pruned one learn about as well; prunelab tests it by retraining the pruned masks, their
degree-preserving rewirings (Curveball, per layer) and Erdős–Rényi masks with the same link
count per layer. This module makes the masks; the study kind trains them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from torch import nn

from prunelab.core.registry import Registry
from prunelab.core.rng import as_generator
from prunelab.errors import ConfigError
from prunelab.graph import has_unique_realization, rewire_network
from prunelab.pruning import scale_to_sparse_init

#: the mask variants of the null, in a fixed order (their index seeds their randomness)
NULL_VARIANTS = ("pruned", "rewired/same-init", "rewired/scratch", "er")

#: how the weights under a null mask start: ``init(model)`` applied after the mask, in place
NULL_INITS: Registry[Callable[[nn.Module], None]] = Registry("null initialisation")
NULL_INITS.register(
    "dense", lambda model: None, help="the dense initialisation restricted to the mask"
)
NULL_INITS.register(
    "swi",
    scale_to_sparse_init,
    help="scaled by 1/sqrt(layer density): CHT's N(0, 2/(density fan_in))",
)


def er_masks(masks: Sequence[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """Erdős–Rényi masks with the shape and link count of every layer of ``masks``."""
    out = []
    for m in masks:
        flat = np.zeros(m.size, dtype=bool)
        flat[rng.choice(m.size, size=int(m.sum()), replace=False)] = True
        out.append(flat.reshape(m.shape))
    return out


def rewire_masks(
    masks: Sequence[np.ndarray], seed: int | np.random.Generator, method: str = "curveball"
) -> list[np.ndarray]:
    """Degree-preserving rewiring of every layer; layers with a unique realisation stay as they are.

    :func:`prunelab.graph.rewire_network` with a check that at least one layer can change.

    Raises
    ------
    ConfigError
        When no layer can be rewired (every layer is the only graph with its degrees).
    """
    masks = [np.asarray(m, dtype=bool) for m in masks]
    if all(has_unique_realization(m) for m in masks):
        raise ConfigError(
            f"none of the {len(masks)} layer masks can be rewired (each is the only graph with its "
            "degrees, e.g. complete or a single link per unit); choose a lower null density"
        )
    return rewire_network(masks, method=method, seed=as_generator(seed))


def null_densities(
    schedule: np.ndarray,
    requested: Sequence[float] | str,
    critical: pd.DataFrame | None,
    width: int,
    n_auto: int,
) -> list[float]:
    """The schedule densities at which the null is tested.

    Parameters
    ----------
    schedule : ndarray (n_steps,)
        The study's remaining densities, decreasing.
    requested : list of float or "auto"
        Explicit densities (each must be on the schedule to the 4 significant digits an error
        message prints), or ``"auto"``: the ``n_auto`` schedule densities nearest in log to the
        χ-peak of ``m`` at ``width``.
    critical : DataFrame, optional
        Critical points (observable, width, method, xc) for ``"auto"``.

    Returns
    -------
    list of float, decreasing
    """
    sched = np.asarray(schedule, dtype=float)
    if requested != "auto":
        chosen = []
        for d in requested:
            k = int(np.argmin(np.abs(np.log(sched) - np.log(d))))
            if not np.isclose(sched[k], d, rtol=1e-3):
                raise ConfigError(
                    f"null density {d:g} is not in the schedule; use one of {', '.join(f'{x:.4g}' for x in sched)}"
                )
            chosen.append(float(sched[k]))
        return chosen
    xc = np.nan
    if critical is not None and len(critical):
        sel = critical[
            (critical.observable == "m") & (critical.method == "chi") & (critical.width == width)
        ]
        if len(sel):
            xc = float(sel.xc.iloc[0])
    if not np.isfinite(xc):
        raise ConfigError(
            "null.densities is 'auto' but no critical density of m is known; run the analysis first or list null.densities"
        )
    order = np.argsort(np.abs(np.log(sched[1:]) - np.log(xc)), kind="stable")[:n_auto] + 1
    return sorted((float(sched[k]) for k in order), reverse=True)
